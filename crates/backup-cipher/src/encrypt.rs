//! The reverse of a restore: exported room keys (the Element key-export / restore
//! output form) in, a `PUT /room_keys/keys` body out.

use crate::par::*;

use crate::{
    BackupPublicKey, EncryptError, KeyBackupData, KeysBackup, RoomKey,
    types::EXPORTED_SESSION_KEY_LEN,
};

/// Why a session could not be encrypted into a backup.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncryptSessionError {
    /// A required field is missing or not a string.
    #[error("session {index}: {field} is missing or not a string")]
    Field {
        /// Position in the input.
        index: usize,
        /// The field.
        field: &'static str,
    },
    /// `session_key` is not a 165-byte exported session key.
    #[error("session {index}: session_key is not an exported Megolm session key")]
    SessionKey {
        /// Position in the input.
        index: usize,
    },
    /// Encryption failed.
    #[error("session {index}: {source}")]
    Encrypt {
        /// Position in the input.
        index: usize,
        /// The cause.
        source: EncryptError,
    },
}

/// Encrypts one room key: the plaintext is the key without `room_id` and `session_id`
/// (which the backup files it under), every other member as read and in the order read.
/// `first_message_index` comes from the session key, `forwarded_count` from the
/// forwarding chain, `is_verified` is false (as rust-sdk writes).
pub fn encrypt_session(
    public_key: &BackupPublicKey,
    index: usize,
    session: &RoomKey,
) -> Result<(String, String, KeyBackupData), EncryptSessionError> {
    let key = zeroize::Zeroizing::new(
        recovery_key::decode_base64(session.session_key.expose())
            .map_err(|_| EncryptSessionError::SessionKey { index })?,
    );
    if key.len() != EXPORTED_SESSION_KEY_LEN {
        return Err(EncryptSessionError::SessionKey { index });
    }
    let first_message_index = u32::from_be_bytes([key[1], key[2], key[3], key[4]]);
    let forwarded_count = session
        .forwarding_curve25519_key_chain
        .as_ref()
        .map_or(0, Vec::len);
    let bytes = session
        .plaintext_json()
        .map_err(|_| EncryptSessionError::Field {
            index,
            field: "extra",
        })?;
    let session_data = public_key
        .encrypt(&bytes)
        .map_err(|source| EncryptSessionError::Encrypt { index, source })?;
    Ok((
        session.room_id.clone(),
        session.session_id.clone(),
        KeyBackupData {
            first_message_index: u64::from(first_message_index),
            forwarded_count: forwarded_count as u64,
            is_verified: false,
            session_data,
        },
    ))
}

/// Encrypts many sessions on all cores. Bad sessions are reported, the rest encrypted.
pub fn encrypt_sessions(
    public_key: &BackupPublicKey,
    sessions: &[RoomKey],
) -> (KeysBackup, Vec<EncryptSessionError>) {
    let results: Vec<_> = sessions
        .par_iter()
        .enumerate()
        .map(|(i, s)| encrypt_session(public_key, i, s))
        .collect();
    let mut body = KeysBackup::default();
    let mut errors = Vec::new();
    for r in results {
        match r {
            Ok((room, sid, data)) => {
                body.rooms
                    .entry(room)
                    .or_default()
                    .sessions
                    .insert(sid, data);
            }
            Err(e) => errors.push(e),
        }
    }
    (body, errors)
}
