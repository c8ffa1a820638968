#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod cipher;
pub mod cross_signing;
mod key;
pub mod recover;
pub mod setup;
mod store;

#[cfg(feature = "hazmat")]
pub use cipher::encrypt_secret_with_iv;
pub use cipher::{EncryptedSecret, SecretError, decrypt_secret, encrypt_secret};
pub use cross_signing::{CrossSigningError, CrossSigningKeys};
pub use key::{KeyCheck, KeyDescription, SECRET_STORAGE_ALGORITHM, SecretStorageKey};
pub use recover::{KeySource, RecoverError, RecoveredBackupKey, element_name, recover_backup_key};
pub use store::{
    AccountDataError, BackupKeyFormat, BackupKeySecret, CROSS_SIGNING_SECRETS, CreateKeyError,
    CrossSigningSeed, DEFAULT_KEY_EVENT, MEGOLM_BACKUP_SECRET, SecretStore, UNLOCK_TRIES,
    UnlockError, UnlockMethod, Unlocked,
};
