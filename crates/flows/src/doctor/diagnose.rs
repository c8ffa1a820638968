//! From what was read to the findings: each check in the order a user would fix things.

use std::collections::BTreeMap;

use backup_cipher::{
    BackupDecryptionKey, BackupVersion, SignatureStatus, canonical_json, verify_auth_data,
};
use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use serde_json::Value;
use ssss::{AccountDataError, MEGOLM_BACKUP_SECRET, SecretStore, Unlocked, recover_backup_key};

use super::{
    AccountSnapshot, Device, Diagnosis, DoctorOptions, EntryProgress, Finding, FindingCode, entries,
};

/// Diagnoses an account from what was read, with what the user has (`input`; `None`
/// skips what needs a key). Never fails: what cannot be read is a finding.
pub fn diagnose(
    account: &AccountSnapshot,
    input: Option<&str>,
    options: &DoctorOptions,
) -> Diagnosis {
    diagnose_with_progress(account, input, options, None)
}

/// The published cross-signing keys: (master, self-signing, user-signing).
pub(super) fn published_keys(query: &Value, user_id: &str) -> [Option<String>; 3] {
    let key = |field: &str| {
        query
            .get(field)?
            .get(user_id)?
            .get("keys")?
            .as_object()?
            .values()
            .find_map(|v| v.as_str().map(str::to_owned))
    };
    [
        key("master_keys"),
        key("self_signing_keys"),
        key("user_signing_keys"),
    ]
}

pub(super) fn verifying_key(public: &str) -> Option<VerifyingKey> {
    let bytes: [u8; 32] = recovery_key::decode_base64_public(public)
        .ok()?
        .try_into()
        .ok()?;
    VerifyingKey::from_bytes(&bytes).ok()
}

/// Does `object` (a device's keys) carry a valid signature of `user_id` by `key`?
pub(super) fn signed_by(object: &Value, user_id: &str, key_public: &str) -> bool {
    let Some(key) = verifying_key(key_public) else {
        return false;
    };
    let Some(sig) = object
        .get("signatures")
        .and_then(|s| s.get(user_id))
        .and_then(|s| s.get(format!("ed25519:{key_public}")))
        .and_then(Value::as_str)
        .and_then(|s| recovery_key::decode_base64_public(s).ok())
        .and_then(|b| Signature::from_slice(&b).ok())
    else {
        return false;
    };
    let mut unsigned = object.clone();
    if let Value::Object(map) = &mut unsigned {
        map.remove("signatures");
        map.remove("unsigned");
    }
    canonical_json(&unsigned).is_ok_and(|message| key.verify(message.as_bytes(), &sig).is_ok())
}

/// The user's devices whose keys the self-signing key signed: (`ed25519:DEVICE`, the
/// device's Ed25519 key).
fn cross_signed_devices(
    query: &Value,
    user_id: &str,
    self_signing: Option<&str>,
) -> Vec<(String, VerifyingKey)> {
    let (Some(ssk), Some(devices)) = (
        self_signing,
        query
            .get("device_keys")
            .and_then(|d| d.get(user_id))
            .and_then(Value::as_object),
    ) else {
        return Vec::new();
    };
    devices
        .iter()
        .filter(|(_, keys)| signed_by(keys, user_id, ssk))
        .filter_map(|(id, keys)| {
            let key_id = format!("ed25519:{id}");
            let public = keys.get("keys")?.get(&key_id)?.as_str()?;
            Some((key_id, verifying_key(public)?))
        })
        .collect()
}

pub(super) fn version_id(v: &BackupVersion) -> &str {
    v.version.as_deref().unwrap_or("?")
}

/// Is this key id's name a device of the account (not a cross-signing key)?
fn device_named(devices: &[Device], query: &Value, user: &str, name: &str) -> Option<String> {
    let known = devices.iter().find(|d| d.device_id == name);
    let in_query = query
        .get("device_keys")
        .and_then(|d| d.get(user))
        .and_then(|d| d.get(name))
        .is_some();
    match known {
        Some(d) => Some(match &d.display_name {
            Some(n) => format!("device {name} (\"{n}\")"),
            None => format!("device {name}"),
        }),
        None if in_query => Some(format!("device {name}")),
        // A device id is short; a public key is 43 characters of base64.
        None if name.len() < 40 => Some(format!("device {name} (no longer on the account)")),
        None => None,
    }
}

pub(super) fn diagnose_with_progress(
    account: &AccountSnapshot,
    input: Option<&str>,
    options: &DoctorOptions,
    progress: Option<&mut EntryProgress>,
) -> Diagnosis {
    use FindingCode as C;
    let user = account.user_id.as_str();
    let store = &account.secret_storage;
    let version = account.version.as_ref();
    let mut findings = Vec::new();
    let [master, self_signing, user_signing] = published_keys(&account.keys_query, user);

    // Secret storage, unlocked with what the user has.
    let mut unlocked: Option<Unlocked> = None;
    match store.default_key_id() {
        None => findings.push(Finding::new(
            C::SecretStorageNotSetUp,
            "no m.secret_storage.default_key in the account data",
        )),
        Some(id) => match store.key_description(id) {
            Err(e) => findings.push(Finding::new(C::DefaultKeyDescriptionMissing, e.to_string())),
            Ok(_) => {
                if let Some(input) = input {
                    match store.unlock(input) {
                        Ok(u) => unlocked = Some(u),
                        Err(e) => findings.push(Finding::new(
                            C::RecoveryKeyIncorrect,
                            format!("secret-storage key {id}: {e}"),
                        )),
                    }
                }
            }
        },
    }

    // The backup key: from secret storage, or what the user gave directly.
    let mut stored_key: Option<BackupDecryptionKey> = None;
    let mut backup_key: Option<BackupDecryptionKey> = None;
    let mut key_description = None;
    if let Some(u) = &unlocked {
        match store.backup_key(&u.key) {
            Ok(secret) => stored_key = Some(secret.key),
            Err(e) => {
                if version.is_some() {
                    let detail = match e {
                        AccountDataError::MissingSecret(_) | AccountDataError::NotForKey { .. } => {
                            format!(
                                "{MEGOLM_BACKUP_SECRET} is not stored under the default key {}",
                                u.key.key_id()
                            )
                        }
                        other => format!("{MEGOLM_BACKUP_SECRET} cannot be read: {other}"),
                    };
                    findings.push(Finding::new(C::BackupKeyNotStored, detail));
                }
            }
        }
    }
    match version {
        None => findings.push(Finding::new(C::NoBackup, "GET /room_keys/version: none")),
        Some(v) => {
            if let Some(stored) = &stored_key {
                if stored.matches(&v.auth_data) {
                    backup_key = Some(stored.clone());
                } else {
                    let opens = account
                        .old_versions
                        .iter()
                        .find(|old| stored.matches(&old.auth_data))
                        .map(|old| {
                            format!(
                                "; it opens version {} (still on the server)",
                                version_id(old)
                            )
                        })
                        .unwrap_or_default();
                    findings.push(Finding::new(
                        C::BackupKeyStale,
                        format!(
                            "the stored backup key (public key {}) is not the key of backup \
                             version {} (public key {}){opens}",
                            stored.public_key().to_base64(),
                            version_id(v),
                            v.auth_data.public_key
                        ),
                    ));
                }
            }
            if backup_key.is_none()
                && let Some(input) = input
                && let Ok(found) = recover_backup_key(input, None, Some(v))
            {
                key_description = Some(found.describe());
                backup_key = Some(found.backup_key);
                // The backup's own key is not the Security Key: say so where it was refused.
                for f in findings
                    .iter_mut()
                    .filter(|f| f.code == C::RecoveryKeyIncorrect)
                {
                    f.detail.push_str(&format!(
                        "; what was given is the {}: it opens backup version {} but not secret \
                         storage",
                        found.source,
                        version_id(v)
                    ));
                }
            }
            if backup_key.is_some() && key_description.is_none() {
                key_description = Some(format!(
                    "the backup key stored in secret storage opens backup version {}",
                    version_id(v)
                ));
            }
            findings.extend(made_by_device(account, v, master.as_deref(), &findings));
            // Trust, as Element decides it: a valid signature by the published master key,
            // or by one of the user's devices that the self-signing key signed.
            if let Some(m) = &master {
                findings.extend(backup_trust(account, v, m, self_signing.as_deref()));
            }
            findings.extend(key_backup_event(account, v));
        }
    }
    findings.extend(old_versions(account));

    // Cross-signing.
    match &master {
        None => findings.push(Finding::new(
            C::CrossSigningNotSetUp,
            "POST /keys/query shows no master key",
        )),
        Some(_) => {
            if let Some(u) = &unlocked {
                findings.extend(stored_cross_signing(
                    store,
                    u,
                    [&master, &self_signing, &user_signing],
                ));
            }
            if let Some(ssk) = &self_signing {
                findings.extend(devices_not_cross_signed(account, ssk));
            }
        }
    }

    // The entries.
    let entries = match (&backup_key, &account.entries) {
        (Some(key), Some(body)) => {
            let stale = stored_key
                .as_ref()
                .filter(|s| version.is_some_and(|v| !s.matches(&v.auth_data)));
            let report = entries::check_entries(key, stale, body, options.entries, progress);
            entries::entry_findings(&report, &mut findings);
            Some(report)
        }
        _ => None,
    };

    let tool_logins_left = tool_login_ids(account, options);
    if !tool_logins_left.is_empty() {
        findings.push(Finding::new(
            C::ToolLoginsLeft,
            format!(
                "devices named \"{}\": {}",
                options.tool_device_name,
                tool_logins_left.join(", ")
            ),
        ));
    }

    findings.sort_by_key(|f| std::cmp::Reverse(f.code.severity()));
    Diagnosis {
        findings,
        version: version.and_then(|v| v.version.clone()),
        key_description,
        entries,
        tool_logins_left,
        account: AccountSnapshot {
            entries: None,
            ..account.clone()
        },
    }
}

/// Who made a version whose key is not in secret storage: the devices that signed it.
fn made_by_device(
    account: &AccountSnapshot,
    v: &BackupVersion,
    master: Option<&str>,
    findings: &[Finding],
) -> Option<Finding> {
    use FindingCode as C;
    let user = account.user_id.as_str();
    let key_not_stored = findings
        .iter()
        .any(|f| matches!(f.code, C::BackupKeyNotStored | C::BackupKeyStale));
    if !key_not_stored {
        return None;
    }
    let makers: Vec<String> = v
        .auth_data
        .signatures
        .get(user)
        .into_iter()
        .flat_map(|s| s.keys())
        .filter_map(|k| k.strip_prefix("ed25519:"))
        .filter(|name| Some(*name) != master)
        .filter_map(|name| device_named(&account.devices, &account.keys_query, user, name))
        .collect();
    (!makers.is_empty()).then(|| {
        Finding::new(
            C::BackupMadeByDevice,
            format!(
                "backup version {} was made (signed) by {}",
                version_id(v),
                makers.join(", ")
            ),
        )
    })
}

/// Whether Element trusts the version: a valid signature by the master key `m`, or by a
/// device the self-signing key signed; if not, whether an older master key signed it.
fn backup_trust(
    account: &AccountSnapshot,
    v: &BackupVersion,
    m: &str,
    self_signing: Option<&str>,
) -> Option<Finding> {
    use FindingCode as C;
    let user = account.user_id.as_str();
    let mut keys: BTreeMap<String, VerifyingKey> = verifying_key(m)
        .map(|k| (format!("ed25519:{m}"), k))
        .into_iter()
        .collect();
    keys.extend(cross_signed_devices(
        &account.keys_query,
        user,
        self_signing,
    ));
    let checks = verify_auth_data(&v.auth_data, user, &keys).unwrap_or_default();
    if checks.iter().any(|c| c.status == SignatureStatus::Valid) {
        return None;
    }
    let old_master: Vec<&str> = checks
        .iter()
        .filter(|c| c.status == SignatureStatus::UnknownKey)
        .filter_map(|c| c.key_id.strip_prefix("ed25519:"))
        .filter(|name| {
            name.len() >= 40
                && device_named(&account.devices, &account.keys_query, user, name).is_none()
        })
        .collect();
    Some(if old_master.is_empty() {
        let invalid = checks.iter().any(|c| c.status == SignatureStatus::Invalid);
        Finding::new(
            C::BackupNotSignedByMasterKey,
            format!(
                "backup version {}: {} by the master key {m}",
                version_id(v),
                if invalid {
                    "the signature does not verify"
                } else {
                    "no signature"
                }
            ),
        )
    } else {
        Finding::new(
            C::BackupSignedByOldMasterKey,
            format!(
                "backup version {} is signed by {}; the master key is now {m}",
                version_id(v),
                old_master.join(", ")
            ),
        )
    })
}

/// `m.key_backup` while a backup exists.
fn key_backup_event(account: &AccountSnapshot, v: &BackupVersion) -> Option<Finding> {
    use FindingCode as C;
    match account
        .key_backup_event
        .as_ref()
        .map(|e| e.get("enabled").and_then(Value::as_bool))
    {
        None => Some(Finding::new(
            C::KeyBackupEventMissing,
            format!("backup version {} exists", version_id(v)),
        )),
        Some(Some(true)) => None,
        Some(other) => Some(Finding::new(
            C::KeyBackupDisabled,
            format!(
                "m.key_backup is {}, yet backup version {} exists",
                match other {
                    Some(_) => "{\"enabled\": false}",
                    None => "set without \"enabled\": true",
                },
                version_id(v)
            ),
        )),
    }
}

/// The versions below the current one still on the server.
fn old_versions(account: &AccountSnapshot) -> Option<Finding> {
    if account.old_versions.is_empty() {
        return None;
    }
    let list: Vec<String> = account
        .old_versions
        .iter()
        .map(|o| match o.count {
            Some(c) => format!("{} ({c} keys)", version_id(o)),
            None => version_id(o).to_owned(),
        })
        .collect();
    Some(Finding::new(
        FindingCode::OldBackupVersions,
        format!("older versions on the server: {}", list.join(", ")),
    ))
}

/// The cross-signing private keys in secret storage against the published public keys
/// (master, self-signing, user-signing).
fn stored_cross_signing(
    store: &SecretStore,
    u: &Unlocked,
    published: [&Option<String>; 3],
) -> Vec<Finding> {
    use FindingCode as C;
    let mut findings = Vec::new();
    let mut missing = Vec::new();
    let mut mismatched = Vec::new();
    for ((name, seed), public) in store.cross_signing_seeds(&u.key).into_iter().zip(published) {
        match seed {
            Ok(seed) => {
                if let Some(p) = public
                    && *p != seed.public_key
                {
                    mismatched.push(format!(
                        "{name} (stored {}, published {p})",
                        seed.public_key
                    ));
                }
            }
            Err(AccountDataError::MissingSecret(_) | AccountDataError::NotForKey { .. }) => {
                missing.push(name.to_owned());
            }
            Err(e) => missing.push(format!("{name} (unreadable: {e})")),
        }
    }
    if !missing.is_empty() {
        findings.push(Finding::new(
            C::CrossSigningKeysNotStored,
            format!("not in secret storage: {}", missing.join(", ")),
        ));
    }
    if !mismatched.is_empty() {
        findings.push(Finding::new(
            C::CrossSigningKeysMismatch,
            mismatched.join("; "),
        ));
    }
    findings
}

/// The user's devices with device keys that the self-signing key `ssk` did not sign.
fn devices_not_cross_signed(account: &AccountSnapshot, ssk: &str) -> Option<Finding> {
    let user = account.user_id.as_str();
    let devices = account
        .keys_query
        .get("device_keys")
        .and_then(|d| d.get(user))
        .and_then(Value::as_object)?;
    let unsigned: Vec<String> = devices
        .iter()
        .filter(|(_, keys)| !signed_by(keys, user, ssk))
        .map(|(id, _)| {
            device_named(&account.devices, &account.keys_query, user, id)
                .unwrap_or_else(|| format!("device {id}"))
        })
        .collect();
    (!unsigned.is_empty()).then(|| {
        Finding::new(
            FindingCode::DevicesNotCrossSigned,
            format!(
                "not signed by the self-signing key: {}",
                unsigned.join(", ")
            ),
        )
    })
}

/// Devices named as this tool names its logins and with no published device keys, but
/// the one the diagnosis runs on. The name alone is not enough (another program may use
/// it, and a user may rename a real device so): this tool's logins never upload device
/// keys, so a device with keys in the keys query is never one, and without a keys query
/// answer none is (logging out a real device loses its keys).
fn tool_login_ids(account: &AccountSnapshot, options: &DoctorOptions) -> Vec<String> {
    // A query that answered lists the user (a server may leave out a user with no
    // device keys at all: then no device has any).
    let Some(queried) = account
        .keys_query
        .get("device_keys")
        .and_then(Value::as_object)
    else {
        return Vec::new();
    };
    let with_keys = match queried.get(&account.user_id) {
        None => None,
        Some(Value::Object(devices)) => Some(devices),
        // Not a device map: which devices have keys cannot be told.
        Some(_) => return Vec::new(),
    };
    account
        .devices
        .iter()
        .filter(|d| d.display_name.as_deref() == Some(options.tool_device_name.as_str()))
        .filter(|d| options.own_device_id.as_deref() != Some(d.device_id.as_str()))
        .filter(|d| with_keys.is_none_or(|k| !k.contains_key(&d.device_id)))
        .map(|d| d.device_id.clone())
        .collect()
}
