#![doc = include_str!("../README.md")]
// Denied everywhere but `x25519::simd`, which enters AVX-512 or AVX2 code after run-time
// detection in one commented `unsafe` block (SECURITY.md).
#![deny(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

// One path per public item: the modules are private and everything public is re-exported
// below. The only public modules are `x25519` (feature `hazmat`) and `fixtures` (feature
// `test-fixtures`), each the one path to what it holds.
mod cipher;
mod encrypt;
/// Synthetic sessions and backups for tests and benches (feature `test-fixtures`).
#[cfg(any(test, feature = "test-fixtures"))]
pub mod fixtures;
mod keys;
mod par;
mod restore;
mod room_key;
mod signatures;
mod split;
mod types;
/// The X25519 backends behind one boundary. Public only with the `hazmat` feature: a
/// misused scalar API is a footgun, and a client needs none of it.
#[cfg(feature = "hazmat")]
pub mod x25519;
#[cfg(not(feature = "hazmat"))]
#[allow(unreachable_pub, dead_code)]
mod x25519;

/// Which X25519 implementation this build computes with: `"aws-lc-rs"` (feature `aws-lc`)
/// or `"x25519-dalek"`. For reports and bug reports; every backend computes the same.
pub const X25519_BACKEND: &str = x25519::BACKEND;

pub use cipher::entry::restore_entry;
pub use cipher::{DecryptError, EncryptError, EncryptedSessionData};
pub use encrypt::{EncryptSessionError, encrypt_session, encrypt_sessions};
pub use keys::{BackupDecryptionKey, BackupPublicKey, KeyError};
pub use restore::{
    BodyCheck, BodyRequest, MAX_TRACKED, Progress, RestoreError, RestoreErrorClass, RestoreFailure,
    RestoreOptions, RestoreResult, RestoreSink, RestoredSession, ResumeNotice, ResumeSource,
    RoomFilter, body_entries, check_backup_version, check_body, restore_keys, restore_reader,
    restore_resumable, restore_room_reader, restore_slice, session_ids,
};
pub use room_key::RoomKey;
pub use signatures::{
    CanonicalJsonError, SignatureCheck, SignatureStatus, canonical_json, sign_auth_data,
    signed_bytes, verify_auth_data,
};
pub use split::{MAX_DEPTH, MAX_ENTRY_BYTES, MAX_ID_BYTES};
pub use types::{
    AuthData, BACKUP_ALGORITHM, BackedUpRoomKey, BackupVersion, KeyBackupData, KeysBackup,
    MEGOLM_ALGORITHM, RoomKeyBackup, SessionKey,
};
