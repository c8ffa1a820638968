//! Why no setup is planned: [`PlanError`], in the account's terms and this API's.

use ssss::RecoverError;
use ssss::setup::SetupError;

/// Why no setup is planned. Each message says what the account's state is and what is
/// needed, in this API's terms (a reset, the old key, replacing the cross-signing keys,
/// the password); nothing was changed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PlanError {
    /// Secret storage and a backup exist (as Element's "Set up recovery" leaves them) and
    /// `reset` was not chosen.
    #[error(
        "secure backup is already set up on {user} (secret-storage key {key}, backup version \
         {version}); nothing was changed. Replacing it needs a reset, with the old Security \
         Key or Phrase to carry the old sessions over"
    )]
    AlreadySetUp {
        /// The user.
        user: String,
        /// The default key id, or "none".
        key: String,
        /// The backup version, or "none".
        version: String,
    },
    /// A backup exists without secret storage (set up by an older client with a recovery
    /// key only) and `reset` was not chosen.
    #[error(
        "{user} has key backup version {version} but no secret storage; nothing was changed. \
         Setting up recovery needs a reset: given the backup's recovery key, its sessions are \
         copied into the new version and version {version} is deleted; without it, version \
         {version} stays on the server (readable only with that key) unless you choose to \
         delete it"
    )]
    BackupWithoutSecretStorage {
        /// The user.
        user: String,
        /// The backup version.
        version: String,
    },
    /// Secret storage exists without a backup and `reset` was not chosen.
    #[error(
        "{user} has secret storage (key {key}) but no key backup; nothing was changed. \
         Setting up recovery replaces the secret-storage key: {}",
        secret_storage_reset(master.as_deref())
    )]
    SecretStorageWithoutBackup {
        /// The user.
        user: String,
        /// The default key id.
        key: String,
        /// The cross-signing master public key the server publishes, if the account has
        /// cross-signing keys (their private parts may be stored in that secret storage).
        master: Option<String>,
    },
    /// Element X used without recovery: the account has cross-signing keys but no secret
    /// storage, so their private keys are only on the devices that made them (and so is
    /// the key of the backup, when there is one).
    #[error("{}", keys_on_other_devices(user, master, version.as_deref()))]
    KeysOnOtherDevices {
        /// The user.
        user: String,
        /// The master public key the server publishes.
        master: String,
        /// The backup version whose key never left those devices, if any.
        version: Option<String>,
    },
    /// The account has cross-signing keys whose private parts could not be read.
    #[error(
        "this account already has cross-signing keys (master key {0}), and their private \
         parts could not be read from its secret storage. Reset with the old Security Key or \
         Phrase to keep them, or choose to replace them: other people and your other devices \
         will then see a new identity and must verify you again. Nothing was changed"
    )]
    CrossSigningExists(String),
    /// Replacing cross-signing keys needs the account password.
    #[error(
        "replacing cross-signing keys needs your account password (the server asks for it). \
         Nothing was changed"
    )]
    NeedsPassword,
    /// A reset given the old Security Key or Phrase, whose secret storage holds a backup
    /// key that does not open the current backup version: the backup was replaced
    /// without updating secret storage, and that key may be the only copy of the key of
    /// an older version (or of entries of the current version still encrypted to it). A
    /// reset writes the new backup key over it, so none is planned.
    #[error(
        "the old secret storage holds a backup key (public key {stored}) that does not open \
         the current backup version {version} (public key {current}){}: it may be the only \
         copy of the key of an older backup version's sessions, and a reset writes the new \
         backup key over it. Nothing was changed. First move what that key opens into \
         backup version {version} (the doctor's migration, given version {version}'s key, \
         which then stores that key in secret storage), or save the stale key elsewhere and \
         choose to discard it",
        opens_text(opens.as_deref())
    )]
    StoredBackupKeyStale {
        /// The user.
        user: String,
        /// The current backup version.
        version: String,
        /// The public key (base64) of the backup key in secret storage.
        stored: String,
        /// The current version's public key.
        current: String,
        /// The older version, still on the server, that the stored key opens, when one
        /// was found ([`SetupFlow`](crate::SetupFlow) looks at the versions below the
        /// current one; [`plan_setup`](crate::plan_setup) alone cannot tell).
        opens: Option<String>,
    },
    /// A setup that would write over a copy of the stored backup key
    /// (`m.megolm_backup.v1`) it cannot read: encrypted under another secret-storage key,
    /// damaged, or read with no secret-storage key (the key given is the backup's own, or
    /// none was given and no default-key pointer names the key it is under, as a setup
    /// stopped before its last write leaves it). Unread, it cannot be compared with the
    /// current version's key, and it may be the only copy of a backup version's key; the
    /// new secret storage writes over it, so none is planned.
    #[error(
        "the old secret storage holds a backup key (m.megolm_backup.v1, encrypted under \
         secret-storage key {}) that {}: it may be the only copy of the key of an older \
         backup version's sessions, and a reset writes the new backup key over it. Nothing \
         was changed. Reset with the Security Key or Phrase of that secret-storage key, or \
         save the stored backup key elsewhere and choose to discard it",
        under.join(", "),
        unreadable_text(reason.as_ref())
    )]
    StoredBackupKeyUnreadable {
        /// The user.
        user: String,
        /// The ids of the secret-storage keys it is encrypted under.
        under: Vec<String>,
        /// Why the key given cannot read it; `None` when the key given is not a
        /// secret-storage key of this account (it was taken as the backup's own key).
        reason: Option<ssss::AccountDataError>,
    },
    /// The old key opens neither the old backup nor the old secret storage.
    #[error("the old Security Key or Phrase (or the old backup's key): {0}")]
    OldKey(RecoverError),
    /// The new setup could not be built.
    #[error(transparent)]
    Setup(#[from] SetupError),
    /// New cross-signing keys could not be made or signed.
    #[error(transparent)]
    CrossSigning(#[from] ssss::CrossSigningError),
}

fn opens_text(opens: Option<&str>) -> String {
    opens
        .map(|v| format!("; it opens backup version {v}, still on the server"))
        .unwrap_or_default()
}

fn unreadable_text(reason: Option<&ssss::AccountDataError>) -> String {
    match reason {
        Some(e) => format!("the key given cannot read ({e})"),
        None => "cannot be read with the key given (none was given, or it opens no secret \
                 storage of this account), so not compared with the current backup version"
            .to_owned(),
    }
}

fn keys_on_other_devices(user: &str, master: &str, version: Option<&str>) -> String {
    let backup = match version {
        Some(v) => format!(
            ", and backup version {v}, whose key never left them either (its sessions are \
             readable only with that key, which this library does not have)"
        ),
        None => String::new(),
    };
    let fate = match version {
        Some(v) => format!(
            " Backup version {v} then stays on the server, unread, unless you also choose \
             to delete it (its sessions are then lost to every device that lacks them)."
        ),
        None => String::new(),
    };
    format!(
        "{user} was used by Element X without recovery: it has cross-signing keys (master \
         key {master}) whose private keys are only on the devices that made them{backup}. \
         Nothing was changed. To keep this identity, use \"Set up recovery\" in Element X on \
         a device that holds the keys. Setting up here instead means replacing the \
         cross-signing keys, which needs your account password and costs the identity: \
         other people's verification of you and your own verified devices are lost, and \
         everyone must verify you again.{fate}"
    )
}

fn secret_storage_reset(master: Option<&str>) -> String {
    match master {
        Some(master) => format!(
            "reset with the old Security Key or Phrase to keep the cross-signing keys \
             (master key {master}) stored in it"
        ),
        None => "a reset does it (the account has no cross-signing keys to keep)".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use ssss::setup::SetupSecret;

    use super::*;
    use crate::setup::{
        SetupChoices,
        plan::tests::{element_x, fresh},
        plan_setup,
    };

    /// The library says what is needed in its own terms; the CLI adds its options.
    #[test]
    fn plan_errors_name_no_command_line_option() {
        let mut set_up = fresh(None);
        set_up.secret_storage.create_key(None, None).unwrap();
        let mut keys = fresh(Some("bWFzdGVy".into()));
        keys.secret_storage.create_key(None, None).unwrap();
        let mut backup_only = element_x();
        backup_only.master_key = None;
        let mut storage_only = fresh(None);
        storage_only.secret_storage.create_key(None, None).unwrap();
        let new = SetupChoices::new(SetupSecret::GenerateKey);
        let reset = new.reset(None);
        let errors = [
            plan_setup(&set_up, new).unwrap_err(),
            plan_setup(&keys, reset).unwrap_err(),
            plan_setup(&keys, reset.replace_cross_signing(true)).unwrap_err(),
            plan_setup(&element_x(), new).unwrap_err(),
            plan_setup(&element_x(), reset).unwrap_err(),
            plan_setup(&backup_only, new).unwrap_err(),
            plan_setup(&storage_only, new).unwrap_err(),
        ];
        for e in errors {
            let text = e.to_string();
            assert!(!text.contains("--"), "{text}");
            assert!(!text.contains("FILE"), "{text}");
        }
    }

    /// Secret storage without a backup: the message offers to keep cross-signing keys
    /// only when the account has them, and names their master key.
    #[test]
    fn secret_storage_without_backup_names_cross_signing_keys_only_when_there_are_some() {
        let new = SetupChoices::new(SetupSecret::GenerateKey);
        let mut bare = fresh(None);
        bare.secret_storage.create_key(None, None).unwrap();
        let text = plan_setup(&bare, new).unwrap_err().to_string();
        assert!(text.contains("has secret storage"), "{text}");
        assert!(text.contains("but no key backup"), "{text}");
        assert!(!text.contains("cross-signing keys stored"), "{text}");
        assert!(text.contains("no cross-signing keys to keep"), "{text}");
        let shown = bare.situation().to_string();
        assert!(!shown.contains("keeps the cross-signing keys"), "{shown}");

        let mut with_keys = fresh(Some("bWFzdGVy".into()));
        with_keys.secret_storage.create_key(None, None).unwrap();
        let e = plan_setup(&with_keys, new).unwrap_err();
        assert!(
            matches!(
                &e,
                PlanError::SecretStorageWithoutBackup { master: Some(m), .. } if m == "bWFzdGVy"
            ),
            "{e:?}"
        );
        let text = e.to_string();
        assert!(text.contains("but no key backup"), "{text}");
        assert!(
            text.contains("keep the cross-signing keys (master key bWFzdGVy) stored in it"),
            "{text}"
        );
    }
}
