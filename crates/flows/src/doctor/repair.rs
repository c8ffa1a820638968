//! The safe repairs of a diagnosis, as requests.

use backup_cipher::{BackupDecryptionKey, sign_auth_data};
use ssss::{CROSS_SIGNING_SECRETS, recover_backup_key};

use super::{
    Diagnosis, FindingCode,
    diagnose::{published_keys, version_id},
};

use crate::{KEY_BACKUP_EVENT, Request, requests};

/// One safe repair: the request that makes it, and what it repairs.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Repair {
    /// The finding it repairs.
    pub fixes: FindingCode,
    /// What it does, for the user to approve.
    pub description: String,
    /// The request to send (`PUT` of account data or of the backup version).
    pub request: Request,
}

/// The safe repairs for a diagnosis, in the order to send them, and the findings left.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct RepairPlan {
    /// The repairs, in order: the backup key stored, the version signed, this tool's
    /// logins logged out, `m.key_backup` last. Each is idempotent: after a crash at any
    /// step, diagnose and plan again.
    pub repairs: Vec<Repair>,
    /// Repairs to make only after the migration ([`plan_migration`](super::plan_migration))
    /// finished with [`MigrationOutcome::kept_nothing`](super::MigrationOutcome::kept_nothing):
    /// storing the current backup key over a stale one in secret storage. The stale key
    /// may be the only copy of the key of older versions or entries, so it is replaced
    /// only once everything it opens is in the current version. When the migration does
    /// not run, or keeps something, these are not made (the findings they fix stay).
    pub after_migration: Vec<Repair>,
    /// Findings no safe repair covers, with why.
    pub not_repaired: Vec<(FindingCode, String)>,
}

/// Where a repair of `code` goes in a plan: the key first (a signature or the flag
/// without it would vouch for a backup no client can open), the signature next, then the
/// `m.key_backup` flag, once the backup it announces is in order, and last the logout of
/// this tool's logins: the one repair the server may want the account password for, so
/// that with an access token alone every other repair is made before it is refused. One
/// rank per repair.
fn rank(code: FindingCode) -> u8 {
    use FindingCode as C;
    match code {
        C::BackupKeyNotStored | C::BackupKeyStale => 0,
        C::BackupNotSignedByMasterKey | C::BackupSignedByOldMasterKey => 1,
        C::KeyBackupEventMissing | C::KeyBackupDisabled => 2,
        C::ToolLoginsLeft => 3,
        // No repair is planned for any other finding; should one be, it goes before the
        // logout.
        _ => 2,
    }
}

/// The backup key stored in secret storage, when `input` unlocks it and it opens the
/// current version.
fn stored_current_key(diagnosis: &Diagnosis, input: &str) -> Option<BackupDecryptionKey> {
    let store = &diagnosis.account.secret_storage;
    let version = diagnosis.account.version.as_ref()?;
    let unlocked = store.unlock(input).ok()?;
    store
        .backup_key(&unlocked.key)
        .ok()
        .map(|s| s.key)
        .filter(|k| k.matches(&version.auth_data))
}

/// The key that opens the current backup version, from what the user has: the backup key
/// in secret storage (unlocked with `input`), `backup_key` (the backup's own key), or
/// `input` itself taken as the backup's own key. `None` when there is no version or
/// nothing opens it. A Security Phrase costs a PBKDF2 derivation.
pub fn current_backup_key(
    diagnosis: &Diagnosis,
    input: &str,
    backup_key: Option<&str>,
) -> Option<BackupDecryptionKey> {
    let version = diagnosis.account.version.as_ref()?;
    stored_current_key(diagnosis, input)
        .or_else(|| {
            backup_key
                .and_then(|text| recover_backup_key(text, None, Some(version)).ok())
                .map(|found| found.backup_key)
        })
        .or_else(|| {
            recover_backup_key(input, None, Some(version))
                .ok()
                .map(|found| found.backup_key)
        })
}

/// Plans the safe repairs (nothing is deleted, nothing replaced that is not kept
/// elsewhere) of `diagnosis`, with what the user has: `input` (Security Key or Phrase,
/// unlocking secret storage) and `backup_key` (the current backup's own key, when secret
/// storage does not hold it):
///
/// - the backup key stored in secret storage, when a key the user gave opens the current
///   version; over a stale backup key, only after the migration
///   ([`RepairPlan::after_migration`]);
/// - the version signed with the master key from secret storage, when that key is the
///   published one **and** a key the user holds opens the version (a version the user
///   cannot open may be the server's, and signing it would make clients trust it);
/// - `m.key_backup` set to `{"enabled": true}` while a backup exists;
/// - this tool's logins left behind logged out (devices hold no keys of their own here:
///   this tool's logins never upload device keys).
pub fn plan_repairs(diagnosis: &Diagnosis, input: &str, backup_key: Option<&str>) -> RepairPlan {
    use FindingCode as C;
    let account = &diagnosis.account;
    let user = account.user_id.as_str();
    let store = &account.secret_storage;
    let mut plan = RepairPlan::default();
    let version = account.version.as_ref();
    let unlocked = store.unlock(input).ok();
    let stored = stored_current_key(diagnosis, input);
    let opening = current_backup_key(diagnosis, input, backup_key);
    let [master, ..] = published_keys(&account.keys_query, user);

    for f in &diagnosis.findings {
        // The backup findings exist only when there is a version.
        match (f.code, version) {
            (C::BackupKeyNotStored | C::BackupKeyStale, Some(version)) => {
                match (&unlocked, &opening) {
                    (Some(u), Some(key)) if stored.is_none() => {
                        let mut scratch = store.clone();
                        // A stale key is the only copy of an older key until the
                        // migration has moved what it opens.
                        let list = if f.code == C::BackupKeyStale {
                            &mut plan.after_migration
                        } else {
                            &mut plan.repairs
                        };
                        match scratch.set_backup_key(&u.key, key) {
                            Ok((event_type, content)) => list.push(Repair {
                                fixes: f.code,
                                description: format!(
                                    "store the key of backup version {} in secret storage (under \
                                 key {})",
                                    version_id(version),
                                    u.key.key_id()
                                ),
                                request: requests::set_account_data(user, &event_type, content),
                            }),
                            Err(e) => plan.not_repaired.push((f.code, e.to_string())),
                        }
                    }
                    (None, _) => plan
                        .not_repaired
                        .push((f.code, "secret storage is not unlocked".into())),
                    _ => plan.not_repaired.push((
                        f.code,
                        "no key opens the current backup version: give its own key".into(),
                    )),
                }
            }
            (C::BackupNotSignedByMasterKey | C::BackupSignedByOldMasterKey, Some(version)) => {
                let seed = unlocked.as_ref().and_then(|u| {
                    store
                        .cross_signing_seeds(&u.key)
                        .into_iter()
                        .find(|(name, _)| *name == CROSS_SIGNING_SECRETS[0])
                        .and_then(|(_, s)| s.ok())
                });
                match (seed, &master, &opening) {
                    (Some(seed), Some(m), Some(_)) if seed.public_key == *m => {
                        let signer = ed25519_dalek::SigningKey::from_bytes(seed.seed());
                        let mut signed = version.clone();
                        match sign_auth_data(
                            &mut signed.auth_data,
                            user,
                            &format!("ed25519:{m}"),
                            &signer,
                        ) {
                            Ok(()) => plan.repairs.push(Repair {
                                fixes: f.code,
                                description: format!(
                                    "sign backup version {} with the master key {m}",
                                    version_id(version)
                                ),
                                request: requests::update_backup_version(
                                    version_id(version),
                                    &signed,
                                ),
                            }),
                            Err(e) => plan.not_repaired.push((f.code, e.to_string())),
                        }
                    }
                    (_, _, None) => plan.not_repaired.push((
                        f.code,
                        "no key the user gave opens this backup version, so it is not signed \
                         (it may not be the user's)"
                            .into(),
                    )),
                    _ => plan.not_repaired.push((
                        f.code,
                        "the published master key's private key is not in secret storage (or \
                         it is not unlocked)"
                            .into(),
                    )),
                }
            }
            (C::KeyBackupEventMissing | C::KeyBackupDisabled, _) => plan.repairs.push(Repair {
                fixes: f.code,
                description: format!("write {KEY_BACKUP_EVENT} {{\"enabled\": true}}"),
                request: requests::set_account_data(
                    user,
                    KEY_BACKUP_EVENT,
                    serde_json::json!({"enabled": true}),
                ),
            }),
            (C::ToolLoginsLeft, _) => {
                let ids = &diagnosis.tool_logins_left;
                plan.repairs.push(Repair {
                    fixes: f.code,
                    description: format!(
                        "log out this tool's logins left on the account: devices {} (the \
                         server may ask for the account password)",
                        ids.join(", ")
                    ),
                    request: requests::delete_devices(ids),
                });
            }
            (other, _) => plan
                .not_repaired
                .push((other, "no safe automatic repair".into())),
        }
    }
    // Each repair its own rank: sorted by it, the order is the documented one whatever
    // the order of the findings.
    plan.repairs.sort_by_key(|r| rank(r.fixes));
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::{AccountSnapshot, Finding};

    /// The `m.key_backup` write goes before the logout of this tool's logins (which may
    /// need a password) whichever the diagnosis found first.
    #[test]
    fn the_logout_goes_last_whatever_the_findings_order() {
        let first = [
            FindingCode::KeyBackupEventMissing,
            FindingCode::ToolLoginsLeft,
        ];
        for codes in [first, [first[1], first[0]]] {
            let diagnosis = Diagnosis {
                findings: codes.iter().map(|c| Finding::new(*c, "")).collect(),
                version: None,
                key_description: None,
                entries: None,
                tool_logins_left: vec!["LEFT".to_owned()],
                account: AccountSnapshot::new("@a:x"),
            };
            let plan = plan_repairs(&diagnosis, "not a key", None);
            let order: Vec<FindingCode> = plan.repairs.iter().map(|r| r.fixes).collect();
            assert_eq!(
                order,
                [
                    FindingCode::KeyBackupEventMissing,
                    FindingCode::ToolLoginsLeft
                ],
                "findings in the order {codes:?}"
            );
        }
    }
}
