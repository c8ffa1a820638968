//! Criterion benches for the workspace live in `benches/`; this library holds the
//! fixtures they share.
#![forbid(unsafe_code)]

use backup_cipher::{BackupDecryptionKey, fixtures};

/// A fixed backup key for benches.
pub fn bench_key() -> BackupDecryptionKey {
    BackupDecryptionKey::from_bytes(&[7u8; 32])
}

/// A `GET /room_keys/keys` body of `n` realistic sessions, as JSON text.
pub fn backup_json(key: &BackupDecryptionKey, n: usize) -> Vec<u8> {
    serde_json::to_vec(&fixtures::synthetic_backup(key.public_key(), n, 1)).unwrap_or_default()
}
