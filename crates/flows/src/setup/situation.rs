//! The states Element and Element X leave an account in, named.

use std::fmt;

use ssss::{CROSS_SIGNING_SECRETS, DEFAULT_KEY_EVENT, MEGOLM_BACKUP_SECRET};

use super::AccountState;

/// What an account has, in the terms of Element's "Set up recovery": read from an
/// [`AccountState`] with [`AccountState::situation`]. Its `Display` says what the state
/// is and what setting up recovery costs in it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AccountSituation {
    /// No secret storage, no backup, no cross-signing keys.
    Fresh,
    /// Secret storage and a backup, as Element's "Set up recovery" leaves them (with or
    /// without cross-signing keys).
    SetUp {
        /// The default secret-storage key id.
        key: String,
        /// The current backup version.
        version: String,
    },
    /// A backup but no secret storage and no cross-signing keys: a backup made by an
    /// older client with a recovery key only.
    BackupWithoutSecretStorage {
        /// The current backup version.
        version: String,
    },
    /// Secret storage but no backup.
    SecretStorageWithoutBackup {
        /// The default secret-storage key id.
        key: String,
    },
    /// Element X used without recovery: cross-signing keys on the server but no secret
    /// storage, so their private keys are only on the devices that made them, and so is
    /// the key of the backup when there is one.
    KeysOnOtherDevices {
        /// The master public key the server publishes.
        master: String,
        /// The backup version whose key never left those devices, if any.
        version: Option<String>,
    },
    /// Secrets stored without a default-key pointer event: a setup stopped before its
    /// last write (the pointer is written last), whose Security Key the caller was
    /// handed. (A pointer emptied to `{}` is secret storage turned off by a client, e.g.
    /// Element X's "Reset your identity": not this.)
    SetupInterrupted {
        /// The secret-storage key the stored backup key (or another secret) is encrypted
        /// under.
        key: String,
        /// The current backup version, if any.
        version: Option<String>,
    },
}

impl AccountState {
    /// Which of the states Element and Element X leave an account in this one is.
    pub fn situation(&self) -> AccountSituation {
        let key = self.secret_storage.default_key_id().map(str::to_owned);
        let version = self
            .version
            .as_ref()
            .map(|v| v.version.clone().unwrap_or_default());
        let store = &self.secret_storage;
        // No pointer event at all (a client turning secret storage off writes `{}`).
        if !store.events().contains_key(DEFAULT_KEY_EVENT)
            && let Some(key) = std::iter::once(MEGOLM_BACKUP_SECRET)
                .chain(CROSS_SIGNING_SECRETS)
                .find_map(|name| store.key_ids_of(name).into_iter().next())
        {
            return AccountSituation::SetupInterrupted { key, version };
        }
        match (key, version, &self.master_key) {
            (Some(key), Some(version), _) => AccountSituation::SetUp { key, version },
            (Some(key), None, _) => AccountSituation::SecretStorageWithoutBackup { key },
            (None, version, Some(master)) => AccountSituation::KeysOnOtherDevices {
                master: master.clone(),
                version,
            },
            (None, Some(version), None) => AccountSituation::BackupWithoutSecretStorage { version },
            (None, None, None) => AccountSituation::Fresh,
        }
    }
}

impl fmt::Display for AccountSituation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Fresh => f.write_str(
                "a fresh account: no secret storage, no key backup, no cross-signing keys",
            ),
            Self::SetUp { key, version } => write!(
                f,
                "recovery is set up (as Element does it): secret-storage key {key}, backup \
                 version {version}; replacing it needs a reset, and the old Security Key or \
                 Phrase carries the old sessions and the cross-signing keys over"
            ),
            Self::BackupWithoutSecretStorage { version } => write!(
                f,
                "key backup version {version} without secret storage: with the backup's \
                 recovery key its sessions are copied into a new version; without it the old \
                 version stays on the server, unread, unless chosen to be deleted"
            ),
            Self::SecretStorageWithoutBackup { key } => write!(
                f,
                "secret storage (key {key}) without a key backup: a reset with the Security \
                 Key or Phrase keeps any cross-signing keys stored in it"
            ),
            Self::KeysOnOtherDevices { master, version } => {
                write!(
                    f,
                    "used by Element X without recovery: cross-signing keys (master key \
                     {master}) whose private keys are only on the devices that made them"
                )?;
                if let Some(v) = version {
                    write!(f, ", and backup version {v} whose key never left them")?;
                }
                f.write_str(
                    "; Element X's \"Set up recovery\" on such a device keeps the identity, \
                     while replacing the cross-signing keys here costs it (others' \
                     verification of this user, the user's own verified devices)",
                )
            }
            Self::SetupInterrupted { key, version } => {
                write!(
                    f,
                    "a setup that stopped before its last write: secrets stored under \
                     secret-storage key {key} but no default-key pointer"
                )?;
                if let Some(v) = version {
                    write!(f, ", backup version {v}")?;
                }
                f.write_str(
                    "; a reset with the Security Key that setup gave carries the sessions and \
                     the cross-signing keys over",
                )
            }
        }
    }
}
