//! The plan: [`plan_setup`] decides (refuse, keep or replace the cross-signing keys, what
//! becomes of the old backup version) and returns the requests in the crash-safe order.

use backup_cipher::BackupDecryptionKey;
use serde_json::json;
use ssss::{
    AccountDataError, CrossSigningKeys, DEFAULT_KEY_EVENT, MEGOLM_BACKUP_SECRET, Unlocked,
    setup::{SecureBackupSetup, SetupSecret},
};

#[cfg(doc)]
use super::with_password;
use super::{AccountSituation, AccountState, KEY_BACKUP_EVENT, PlanError, SetupChoices};
use crate::{Request, requests};

/// The old backup's sessions, to copy into the new version between `create_version` and
/// `account_data`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct CarryOver {
    /// The old version id.
    pub old_version: String,
    /// Its key.
    pub old_key: BackupDecryptionKey,
}

/// Everything to send, in order (see the module documentation).
#[derive(Debug)]
#[non_exhaustive]
pub struct SetupPlan {
    /// The new key, backup key and the rest: show `setup.secret_storage_key` once.
    pub setup: SecureBackupSetup,
    /// The cross-signing keys the setup uses (new or kept).
    pub cross_signing: CrossSigningKeys,
    /// `POST /keys/device_signing/upload`, when the keys are new.
    pub upload_cross_signing: Option<Request>,
    /// `POST /room_keys/version`; its answer's `version` is the new version.
    pub create_version: Request,
    /// The old sessions to copy, when they can be read.
    pub carry_over: Option<CarryOver>,
    /// The old version that stays on the server (its sessions cannot be read without a
    /// key the caller does not have), when there is one and it is not deleted.
    pub old_version_kept: Option<String>,
    /// The old version deleted unread, by the caller's choice
    /// ([`SetupChoices::delete_unreadable_old_version`]).
    pub old_version_deleted_unread: Option<String>,
    /// `PUT /user/{userId}/account_data/{type}`, the default-key pointer last.
    pub account_data: Vec<Request>,
    /// `DELETE /room_keys/version/{old}`: once the old sessions are copied, or at once
    /// when the caller chose to delete an unreadable old version.
    pub delete_old_version: Option<Request>,
    /// `PUT /user/{userId}/account_data/m.key_backup` `{"enabled": true}`: the last write.
    pub key_backup_enabled: Request,
    /// What the plan decided, one line each, for the user.
    pub notes: Vec<String>,
}

/// What [`decide`] settled before the new keys are made.
#[derive(Debug)]
pub(crate) struct Decision {
    old_key: Option<BackupDecryptionKey>,
    cross_signing: Option<CrossSigningKeys>,
    notes: Vec<String>,
}

/// Everything [`plan_setup`] decides that needs no secret of the new setup: refuse, keep
/// or replace the cross-signing keys, what to do with the old backup version.
pub(crate) fn decide(
    state: &AccountState,
    choices: &SetupChoices<'_>,
) -> Result<Decision, PlanError> {
    let user = &state.user_id;
    let store = &state.secret_storage;
    let current_id = state.version.as_ref().and_then(|v| v.version.clone());
    match state.situation() {
        AccountSituation::KeysOnOtherDevices { master, version }
            if !choices.replace_cross_signing =>
        {
            return Err(PlanError::KeysOnOtherDevices {
                user: user.clone(),
                master,
                version,
            });
        }
        // Replacing the keys of Element X's devices is the explicit choice it needs.
        AccountSituation::KeysOnOtherDevices { .. } | AccountSituation::Fresh => {}
        _ if choices.reset => {}
        AccountSituation::SetUp { key, version } => {
            return Err(PlanError::AlreadySetUp {
                user: user.clone(),
                key,
                version,
            });
        }
        // As good as set up: the caller has the key it was handed.
        AccountSituation::SetupInterrupted { key, version } => {
            return Err(PlanError::AlreadySetUp {
                user: user.clone(),
                key,
                version: version.unwrap_or_else(|| "none".into()),
            });
        }
        AccountSituation::BackupWithoutSecretStorage { version } => {
            return Err(PlanError::BackupWithoutSecretStorage {
                user: user.clone(),
                version,
            });
        }
        AccountSituation::SecretStorageWithoutBackup { key } => {
            return Err(PlanError::SecretStorageWithoutBackup {
                user: user.clone(),
                key,
                master: state.master_key.clone(),
            });
        }
    }
    let mut notes = Vec::new();

    // What the old setup gives: the old backup's key, the cross-signing keys.
    let mut old_key = None;
    let mut old_cross_signing = None;
    if let Some(text) = choices.old_input {
        // The key that reads the stored backup key: the default one, or the one a setup
        // stopped before its last write left the secrets under.
        let unlocked = store.unlock_for(MEGOLM_BACKUP_SECRET, text).ok();
        old_cross_signing = unlocked
            .as_ref()
            .and_then(|u| CrossSigningKeys::from_secret_store(store, &u.key).ok());
        let recovered = match ssss::recover_backup_key(text, Some(store), state.version.as_ref()) {
            Ok(found) => Ok(found),
            Err(e) if unlocked.is_none() => return Err(PlanError::OldKey(e)),
            Err(e) => Err(e),
        };
        let stored = check_stored_backup_key(state, choices, unlocked.as_ref(), &mut notes)?;
        match (recovered, stored) {
            (Ok(found), _) => {
                notes.push(format!("old key: {}", found.describe()));
                old_key = Some(found.backup_key);
            }
            // Read under a secret-storage key no pointer names (a setup stopped before its
            // last write), and it opens the current version.
            (Err(_), Some(key)) => {
                notes.push(
                    "old key: the backup key stored in secret storage, under the key given"
                        .to_owned(),
                );
                old_key = Some(key);
            }
            // Secret storage opened, but its backup key is not the current backup's (or
            // there is none): the cross-signing keys, if any, still come along.
            (Err(e), None) => notes.push(format!("warning: {e}")),
        }
    } else if !store.events().contains_key(DEFAULT_KEY_EVENT) {
        // Secrets stored without a default-key pointer (a setup stopped before its last
        // write): nothing given reads them, and the new secret storage writes over them.
        // (A pointer emptied to `{}` is a client turning secret storage off on purpose.)
        check_stored_backup_key(state, choices, None, &mut notes)?;
    }

    // Keep, make or refuse the cross-signing keys.
    let cross_signing = match &state.master_key {
        None => None,
        Some(master) => match old_cross_signing.filter(|k| &k.master_public_key() == master) {
            Some(keys) => {
                notes.push(format!(
                    "keeping this account's cross-signing keys (master key {master})"
                ));
                Some(keys)
            }
            None if !choices.replace_cross_signing => {
                return Err(PlanError::CrossSigningExists(master.clone()));
            }
            None if !choices.have_password => return Err(PlanError::NeedsPassword),
            None => {
                notes.push(format!(
                    "replacing the cross-signing keys (master key {master}): other people and \
                     your other devices will see a new identity and must verify you again"
                ));
                None
            }
        },
    };
    if let (Some(old), None) = (&current_id, &old_key) {
        notes.push(if choices.delete_unreadable_old_version {
            format!(
                "backup version {old} will be deleted unread, as chosen: its sessions are lost \
                 to every device that does not hold them"
            )
        } else {
            format!(
                "backup version {old} stays on the server: its sessions are readable only with \
                 its key, which was not given, so they are not copied into the new version"
            )
        });
    }
    Ok(Decision {
        old_key,
        cross_signing,
        notes,
    })
}

/// Refuses a reset that would write over a stored backup key (`m.megolm_backup.v1`) that
/// may be the only copy of a backup version's key — one that opens no current version
/// ([`PlanError::StoredBackupKeyStale`]), or a copy the key given cannot read
/// ([`PlanError::StoredBackupKeyUnreadable`]: under another secret-storage key, damaged,
/// or no secret-storage key given) — unless the caller chose to discard it. The stored
/// key, when the key given reads it and it opens the current version.
fn check_stored_backup_key(
    state: &AccountState,
    choices: &SetupChoices<'_>,
    unlocked: Option<&Unlocked>,
    notes: &mut Vec<String>,
) -> Result<Option<BackupDecryptionKey>, PlanError> {
    let store = &state.secret_storage;
    let copies = store.key_ids_of(MEGOLM_BACKUP_SECRET);
    // No current version: a stored key opens nothing left on the server. No copy (`{}`,
    // as a client leaves a removed secret): nothing to write over.
    let Some(current) = &state.version else {
        return Ok(None);
    };
    if copies.is_empty() {
        return Ok(None);
    }
    let given = unlocked.map(|u| u.key.key_id());
    let mut under: Vec<String> = copies
        .into_iter()
        .filter(|id| Some(id.as_str()) != given)
        .collect();
    let mut reason = None;
    let mut opens_current = None;
    match unlocked.map(|u| store.backup_key(&u.key)) {
        Some(Ok(secret)) if secret.key.matches(&current.auth_data) => {
            opens_current = Some(secret.key);
        }
        Some(Ok(secret)) => {
            let stored = secret.key.public_key().to_base64();
            if !choices.discard_stale_backup_key {
                return Err(PlanError::StoredBackupKeyStale {
                    user: state.user_id.clone(),
                    version: current.version.clone().unwrap_or_else(|| "?".into()),
                    stored,
                    current: current.auth_data.public_key.clone(),
                    opens: None,
                });
            }
            notes.push(format!(
                "warning: the backup key in the old secret storage (public key {stored}), \
                 which opens no current backup version, is written over, as chosen"
            ));
        }
        Some(Err(e)) => {
            if let Some(id) = given
                && !matches!(
                    e,
                    AccountDataError::NotForKey { .. } | AccountDataError::MissingSecret(_)
                )
            {
                // The copy under the key given is there but damaged.
                under.push(id.to_owned());
            }
            reason = Some(e);
        }
        None => {}
    }
    if under.is_empty() && reason.is_none() {
        return Ok(opens_current);
    }
    if !choices.discard_stale_backup_key {
        return Err(PlanError::StoredBackupKeyUnreadable {
            user: state.user_id.clone(),
            under,
            reason,
        });
    }
    notes.push(format!(
        "warning: the backup key stored in secret storage under key {}, which the key given \
         cannot read, is written over, as chosen",
        under.join(", ")
    ));
    Ok(opens_current)
}

/// Plans a setup on an account in `state`: the requests, in the order that keeps the
/// account usable if the caller stops half-way:
///
/// 1. `upload_cross_signing` (new keys only; answer a 401 with [`with_password`]): when the
///    server refuses, nothing else has changed;
/// 2. `create_version` (the new backup, signed by the master key): from here until the
///    `m.megolm_backup.v1` secret of step 4 is sent, the new version's key is stored
///    nowhere, so a caller that stops in between (a refusal, or a request without an
///    answer) deletes the new version again ([`SetupFlow`](crate::SetupFlow) does:
///    [`RolledBack`](crate::RolledBack), [`SetupFlow::no_answer`](crate::SetupFlow::no_answer));
/// 3. the caller copies the old backup's sessions into the new version ([`CarryOver`]);
/// 4. `account_data`: the key description, the secrets, and last the default-key pointer;
/// 5. `delete_old_version`, only when the old sessions were copied (or when the caller
///    chose to delete an old version whose key it does not have);
/// 6. `key_backup_enabled`: `m.key_backup` `{"enabled": true}`, read by Element X, last.
///
/// A reset given an old key is refused when the old secret storage holds a backup key
/// that opens no current version ([`PlanError::StoredBackupKeyStale`]) or that the old
/// key cannot read ([`PlanError::StoredBackupKeyUnreadable`]), unless
/// [`SetupChoices::discard_stale_backup_key`]: step 4 would write over it.
pub fn plan_setup(state: &AccountState, choices: SetupChoices<'_>) -> Result<SetupPlan, PlanError> {
    let decision = decide(state, &choices)?;
    build(state, &choices, decision)
}

pub(crate) fn build(
    state: &AccountState,
    choices: &SetupChoices<'_>,
    decision: Decision,
) -> Result<SetupPlan, PlanError> {
    let user = &state.user_id;
    let current_id = state.version.as_ref().and_then(|v| v.version.clone());
    let Decision {
        old_key,
        cross_signing,
        notes,
    } = decision;
    let (cross_signing, new_keys) = match cross_signing {
        Some(keys) => (keys, false),
        None => (CrossSigningKeys::generate()?, true),
    };
    let mut setup = SecureBackupSetup::create(
        choices.secret,
        Some(secret_name(choices.secret)),
        choices.signer,
    )?;
    setup.add_cross_signing(&cross_signing, user)?;
    let upload_cross_signing = if new_keys {
        Some(requests::upload_cross_signing(
            cross_signing.upload_body(user)?,
        ))
    } else {
        None
    };
    let create_version = requests::create_backup_version(&setup.backup_version);
    let account_data = setup
        .account_data
        .iter()
        .map(|(event_type, content)| requests::set_account_data(user, event_type, content.clone()))
        .collect();
    let mut plan = SetupPlan {
        setup,
        cross_signing,
        upload_cross_signing,
        create_version,
        carry_over: None,
        old_version_kept: None,
        old_version_deleted_unread: None,
        account_data,
        delete_old_version: None,
        key_backup_enabled: requests::set_account_data(
            user,
            KEY_BACKUP_EVENT,
            json!({"enabled": true}),
        ),
        notes,
    };
    match (current_id, old_key) {
        (Some(old_version), Some(old_key)) => {
            plan.delete_old_version = Some(requests::delete_backup_version(&old_version));
            plan.carry_over = Some(CarryOver {
                old_version,
                old_key,
            });
        }
        (Some(old_version), None) if choices.delete_unreadable_old_version => {
            plan.delete_old_version = Some(requests::delete_backup_version(&old_version));
            plan.old_version_deleted_unread = Some(old_version);
        }
        (Some(old_version), None) => plan.old_version_kept = Some(old_version),
        (None, _) => {}
    }
    Ok(plan)
}

fn secret_name(secret: SetupSecret<'_>) -> &'static str {
    match secret {
        SetupSecret::Passphrase(_) => "Security Phrase",
        _ => "Security Key",
    }
}

#[cfg(test)]
pub(super) mod tests {
    use backup_cipher::BackupVersion;
    use ssss::SecretStore;

    use super::*;

    /// An account with no backup and no secret storage, and `master_key` if given.
    pub(in crate::setup) fn fresh(master_key: Option<String>) -> AccountState {
        AccountState {
            user_id: "@alice:example.org".into(),
            version: None,
            secret_storage: SecretStore::default(),
            master_key,
            key_backup_enabled: None,
        }
    }

    /// Element X used without recovery: cross-signing keys, a backup, no secret storage.
    pub(in crate::setup) fn element_x() -> AccountState {
        let mut state = fresh(Some("bWFzdGVy".into()));
        let key = BackupDecryptionKey::from_bytes(&[7; 32]);
        let mut version = BackupVersion::new(key.public_key());
        version.version = Some("4".into());
        state.version = Some(version);
        state
    }

    #[test]
    fn a_fresh_account_gets_everything_in_a_safe_order() {
        let plan = plan_setup(&fresh(None), SetupChoices::new(SetupSecret::GenerateKey)).unwrap();
        let upload = plan.upload_cross_signing.as_ref().unwrap();
        assert_eq!(upload.path, "/_matrix/client/v3/keys/device_signing/upload");
        let body = upload.body.as_ref().unwrap();
        let master = plan.cross_signing.master_public_key();
        assert_eq!(
            body["master_key"]["keys"][format!("ed25519:{master}")],
            master.as_str()
        );
        // The backup is signed by the master key.
        let version = plan.create_version.body.as_ref().unwrap();
        assert!(
            version["auth_data"]["signatures"]["@alice:example.org"]
                .get(format!("ed25519:{master}"))
                .is_some()
        );
        // Description first, the default-key pointer last, the secrets between.
        let types: Vec<&str> = plan
            .account_data
            .iter()
            .map(|r| r.path.rsplit('/').next().unwrap())
            .collect();
        assert!(types[0].starts_with("m.secret_storage.key."), "{types:?}");
        assert_eq!(*types.last().unwrap(), "m.secret_storage.default_key");
        for needed in [
            "m.megolm_backup.v1",
            "m.cross_signing.master",
            "m.cross_signing.self_signing",
            "m.cross_signing.user_signing",
        ] {
            assert!(types.contains(&needed), "{types:?}");
        }
        assert!(plan.carry_over.is_none() && plan.delete_old_version.is_none());
    }

    #[test]
    fn existing_keys_are_never_replaced_silently() {
        let mut state = fresh(Some("bWFzdGVy".into()));
        state.secret_storage.create_key(None, None).unwrap();
        let choice = SetupChoices::new(SetupSecret::GenerateKey).reset(None);
        assert!(matches!(
            plan_setup(&state, choice),
            Err(PlanError::CrossSigningExists(_))
        ));
        assert!(matches!(
            plan_setup(&state, choice.replace_cross_signing(true)),
            Err(PlanError::NeedsPassword)
        ));
        let plan = plan_setup(
            &state,
            choice.replace_cross_signing(true).have_password(true),
        )
        .unwrap();
        assert!(plan.upload_cross_signing.is_some());
        assert!(plan.notes.iter().any(|n| n.contains("new identity")));
    }

    /// Element X without recovery: the state is named, Element X's own way is given, the
    /// cost of replacing the identity is said, and the old version's fate is explicit.
    #[test]
    fn element_x_without_recovery_is_named_with_what_each_choice_costs() {
        let state = element_x();
        assert_eq!(
            state.situation(),
            AccountSituation::KeysOnOtherDevices {
                master: "bWFzdGVy".into(),
                version: Some("4".into())
            }
        );
        let new = SetupChoices::new(SetupSecret::GenerateKey);
        for choice in [new, new.reset(None)] {
            let e = plan_setup(&state, choice).unwrap_err();
            assert!(matches!(e, PlanError::KeysOnOtherDevices { .. }), "{e}");
            let text = e.to_string();
            for said in [
                "Element X without recovery",
                "\"Set up recovery\" in Element X",
                "costs the identity",
                "verified devices",
                "backup version 4",
                "stays on the server",
                "Nothing was changed",
            ] {
                assert!(text.contains(said), "{said}: {text}");
            }
        }
        // Replacing needs the password, then keeps the old version unless told.
        let replace = new.replace_cross_signing(true);
        assert!(matches!(
            plan_setup(&state, replace),
            Err(PlanError::NeedsPassword)
        ));
        let plan = plan_setup(&state, replace.have_password(true)).unwrap();
        assert!(plan.upload_cross_signing.is_some());
        assert_eq!(plan.old_version_kept.as_deref(), Some("4"));
        assert!(plan.delete_old_version.is_none() && plan.carry_over.is_none());
        assert!(
            plan.notes
                .iter()
                .any(|n| n.contains("version 4 stays on the server")),
            "{:?}",
            plan.notes
        );
        let plan = plan_setup(
            &state,
            replace
                .have_password(true)
                .delete_unreadable_old_version(true),
        )
        .unwrap();
        assert_eq!(plan.old_version_deleted_unread.as_deref(), Some("4"));
        assert!(plan.old_version_kept.is_none());
        assert!(
            plan.delete_old_version
                .as_ref()
                .is_some_and(|r| r.path.ends_with("/room_keys/version/4"))
        );
    }

    #[test]
    fn every_state_is_named() {
        let mut set_up = element_x();
        set_up.secret_storage.create_key(None, None).unwrap();
        let mut backup_only = element_x();
        backup_only.master_key = None;
        let mut storage_only = fresh(None);
        storage_only.secret_storage.create_key(None, None).unwrap();
        assert_eq!(fresh(None).situation(), AccountSituation::Fresh);
        assert!(
            matches!(set_up.situation(), AccountSituation::SetUp { version, .. } if version == "4")
        );
        assert_eq!(
            backup_only.situation(),
            AccountSituation::BackupWithoutSecretStorage {
                version: "4".into()
            }
        );
        assert!(matches!(
            storage_only.situation(),
            AccountSituation::SecretStorageWithoutBackup { .. }
        ));
        assert!(matches!(
            plan_setup(&backup_only, SetupChoices::new(SetupSecret::GenerateKey)),
            Err(PlanError::BackupWithoutSecretStorage { .. })
        ));
        assert!(matches!(
            plan_setup(&storage_only, SetupChoices::new(SetupSecret::GenerateKey)),
            Err(PlanError::SecretStorageWithoutBackup { .. })
        ));
        // The last write is m.key_backup {"enabled": true}.
        let plan = plan_setup(&fresh(None), SetupChoices::new(SetupSecret::GenerateKey)).unwrap();
        assert!(
            plan.key_backup_enabled
                .path
                .ends_with("/account_data/m.key_backup")
        );
        assert_eq!(plan.key_backup_enabled.body, Some(json!({"enabled": true})));
    }

    #[test]
    fn an_existing_setup_needs_reset() {
        let mut state = element_x();
        state.secret_storage.create_key(None, None).unwrap();
        assert!(matches!(
            plan_setup(&state, SetupChoices::new(SetupSecret::GenerateKey)),
            Err(PlanError::AlreadySetUp { .. })
        ));
    }
}
