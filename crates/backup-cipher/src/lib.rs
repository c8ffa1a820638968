#![doc = include_str!("../README.md")]
// Denied everywhere but `x25519::simd`, which enters AVX-512 or AVX2 code after run-time
// detection in one commented `unsafe` block (SECURITY.md).
#![deny(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod cipher;
pub mod encrypt;
/// Synthetic sessions and backups for tests and benches (feature `test-fixtures`).
#[cfg(any(test, feature = "test-fixtures"))]
pub mod fixtures;
mod keys;
mod par;
pub mod restore;
mod resume;
mod room_key;
pub mod signatures;
mod split;
mod types;
/// The X25519 backends behind one boundary. Public only with the `hazmat` feature: a
/// misused scalar API is a footgun, and a client needs none of it.
#[cfg(feature = "hazmat")]
pub mod x25519;
#[cfg(not(feature = "hazmat"))]
#[allow(unreachable_pub, dead_code)]
mod x25519;

/// The name of the X25519 implementation compiled in (for reports and benches).
pub const X25519_BACKEND: &str = x25519::BACKEND;

pub use cipher::{DecryptError, EncryptError, EncryptedSessionData};
pub use encrypt::{EncryptSessionError, encrypt_session, encrypt_sessions};
pub use keys::{BackupDecryptionKey, BackupPublicKey, KeyError};
pub use restore::{
    BATCH_BYTES, BodyCheck, Progress, RestoreError, RestoreErrorClass, RestoreFailure,
    RestoreOptions, RestoreResult, RestoreSink, RestoredSession, RoomFilter, check_backup_version,
    check_body, restore_entry, restore_keys, restore_reader, restore_room_reader, restore_slice,
};
pub use resume::{BodyRequest, MAX_TRACKED, ResumeNotice, ResumeSource, restore_resumable};
pub use room_key::RoomKey;
pub use split::{MAX_DEPTH, MAX_ENTRY_BYTES, MAX_ID_BYTES, SMALL_VALUE};
pub use types::{
    AuthData, BACKUP_ALGORITHM, BackedUpRoomKey, BackupVersion, EXPORTED_SESSION_KEY_LEN,
    KeyBackupData, KeysBackup, MEGOLM_ALGORITHM, RoomKeyBackup, SHARED_HISTORY_NAMES, SessionKey,
};
