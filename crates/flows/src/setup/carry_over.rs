//! The carry-over: the old backup's sessions, restored with the old key, re-encrypted to
//! the new backup key and cut into chunks of at most [`CARRY_OVER_CHUNK`] sessions, one
//! upload each.

use std::collections::VecDeque;

use backup_cipher::{BackupPublicKey, KeysBackup, RestoreError, RestoreOptions, restore_slice};

use super::CarryOver;

/// How many sessions one upload request of the carry-over holds.
const CARRY_OVER_CHUNK: usize = 1000;

/// The old sessions, encrypted to the new key.
pub(super) struct Reencrypted {
    /// The upload bodies, in order.
    pub(super) chunks: VecDeque<KeysBackup>,
    /// How many sessions they hold.
    pub(super) sessions: u64,
    /// Entries of the old backup that could not be read or re-encrypted.
    pub(super) unreadable: u64,
}

/// Restores `body` (the bytes of the old version's `GET /room_keys/keys` answer, read
/// with the restore's grammar: a room listed twice keeps both copies' sessions) with
/// `old`'s key and re-encrypts every session it opens to `new_key`.
pub(super) fn reencrypt(
    old: &CarryOver,
    new_key: &BackupPublicKey,
    body: &[u8],
) -> Result<Reencrypted, RestoreError> {
    let restored = restore_slice(&old.old_key, body, &RestoreOptions::default())?;
    let restored_count = restored.sessions.len();
    let sessions: Vec<_> = restored
        .sessions
        .into_iter()
        .filter_map(|s| s.room_key().ok())
        .collect();
    let (body, errors) = backup_cipher::encrypt_sessions(new_key, &sessions);
    let unreadable = restored.failures.len() + errors.len() + (restored_count - sessions.len());
    let total = body.session_count() as u64;
    let chunks: VecDeque<KeysBackup> = body.into_chunks(CARRY_OVER_CHUNK).into();
    Ok(Reencrypted {
        chunks,
        sessions: total,
        unreadable: unreadable as u64,
    })
}
