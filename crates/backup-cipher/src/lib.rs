#![doc = include_str!("../README.md")]
// Denied everywhere but `x25519::ifma`, which enters AVX-512 code after run-time
// detection in one commented `unsafe` block (SECURITY.md).
#![deny(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod cipher;
pub mod encrypt;
pub mod fixtures;
mod keys;
pub mod restore;
pub mod signatures;
mod types;
pub mod x25519;

pub use cipher::{DecryptError, EncryptError, EncryptedSessionData};
pub use encrypt::{EncryptSessionError, encrypt_session, encrypt_sessions};
pub use keys::{BackupDecryptionKey, BackupPublicKey, KeyError};
pub use restore::{
    Progress, RestoreError, RestoreErrorClass, RestoreFailure, RestoreOptions, RestoreResult,
    RestoreSink, RestoredSession, check_backup_version, restore_entry, restore_keys,
    restore_reader, restore_slice,
};
pub use types::{
    AuthData, BACKUP_ALGORITHM, BackedUpRoomKey, BackupVersion, EXPORTED_SESSION_KEY_LEN,
    KeyBackupData, KeysBackup, MEGOLM_ALGORITHM, RoomKeyBackup, SHARED_HISTORY_NAMES, SessionKey,
};
