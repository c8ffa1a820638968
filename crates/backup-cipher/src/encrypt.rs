//! The reverse of a restore: exported room keys (the Element key-export / restore
//! output form) in, a `PUT /room_keys/keys` body out.

use crate::par::*;
use serde_json::{Map, Value};

use crate::{
    BackupPublicKey, EncryptError, KeyBackupData, KeysBackup, types::EXPORTED_SESSION_KEY_LEN,
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

/// Encrypts one exported room key: the plaintext is the object without `room_id` and
/// `session_id` (which the backup files it under), byte for byte as given otherwise.
/// `first_message_index` comes from the session key, `forwarded_count` from the
/// forwarding chain, `is_verified` is false (as rust-sdk writes).
pub fn encrypt_session(
    public_key: &BackupPublicKey,
    index: usize,
    session: &Map<String, Value>,
) -> Result<(String, String, KeyBackupData), EncryptSessionError> {
    let text = |field: &'static str| {
        session
            .get(field)
            .and_then(Value::as_str)
            .ok_or(EncryptSessionError::Field { index, field })
    };
    let room_id = text("room_id")?.to_owned();
    let session_id = text("session_id")?.to_owned();
    let key = zeroize::Zeroizing::new(
        recovery_key::decode_base64(text("session_key")?)
            .map_err(|_| EncryptSessionError::SessionKey { index })?,
    );
    if key.len() != EXPORTED_SESSION_KEY_LEN {
        return Err(EncryptSessionError::SessionKey { index });
    }
    let first_message_index = u32::from_be_bytes([key[1], key[2], key[3], key[4]]);
    let forwarded_count = session
        .get("forwarding_curve25519_key_chain")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    let mut plain = session.clone();
    plain.shift_remove("room_id");
    plain.shift_remove("session_id");
    let bytes = zeroize::Zeroizing::new(serde_json::to_vec(&plain).unwrap_or_default());
    let session_data = public_key
        .encrypt(&bytes)
        .map_err(|source| EncryptSessionError::Encrypt { index, source })?;
    Ok((
        room_id,
        session_id,
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
    sessions: &[Map<String, Value>],
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
