//! Wire types of server-side key backup, with serde exactly as the spec JSON.

use std::collections::BTreeMap;

use recovery_key::{decode_base64, encode_base64};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::{BackupPublicKey, EncryptedSessionData, KeyError};

/// The backup algorithm this crate implements.
pub const BACKUP_ALGORITHM: &str = "m.megolm_backup.v1.curve25519-aes-sha2";
/// The room-key algorithm of backed-up sessions.
pub const MEGOLM_ALGORITHM: &str = "m.megolm.v1.aes-sha2";
/// The names under which clients write the `shared_history` flag (docs/interop.md P10): the
/// spec's, rust-sdk's stable one, and the MSC3061 unstable one.
pub(crate) const SHARED_HISTORY_NAMES: [&str; 3] = [
    "shared_history",
    "m.shared_history",
    "org.matrix.msc3061.shared_history",
];
/// Length of a Megolm session key in export form.
pub(crate) const EXPORTED_SESSION_KEY_LEN: usize = 165;

/// A Megolm session key in export form (base64 of 165 bytes): whoever holds it reads the
/// room's messages. Wiped when dropped, never shown by `Debug`; serde reads and writes it
/// as the plain string of the wire format.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
#[serde(transparent)]
pub struct SessionKey(String);

impl SessionKey {
    /// Wraps the base64 text.
    pub fn new(text: impl Into<String>) -> Self {
        Self(text.into())
    }

    /// The base64 text. This exposes the secret.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionKey(<redacted>)")
    }
}

/// The decrypted plaintext of one backed-up session (`BackedUpSessionData`).
///
/// Unknown fields are kept in [`extra`](Self::extra), including `shared_history` under
/// whichever name the writer used; read it with [`shared_history`](Self::shared_history).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BackedUpRoomKey {
    /// `m.megolm.v1.aes-sha2`.
    pub algorithm: String,
    /// Curve25519 key of the device that created the session.
    pub sender_key: String,
    /// The session key in Megolm export form (165 bytes, base64).
    pub session_key: SessionKey,
    /// Keys the sending device claimed, `{"ed25519": …}`.
    #[serde(default)]
    pub sender_claimed_keys: BTreeMap<String, String>,
    /// Curve25519 keys of the devices the key was forwarded through.
    #[serde(default)]
    pub forwarding_curve25519_key_chain: Vec<String>,
    /// Every other field, kept as written.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl BackedUpRoomKey {
    /// The `shared_history` flag under any of its three names; absent or non-boolean
    /// means false.
    pub fn shared_history(&self) -> bool {
        SHARED_HISTORY_NAMES
            .iter()
            .any(|n| self.extra.get(*n).and_then(Value::as_bool) == Some(true))
    }

    /// Sets `shared_history` under the spec's name (other spellings are removed).
    pub fn set_shared_history(&mut self, value: bool) {
        for n in SHARED_HISTORY_NAMES {
            self.extra.remove(n);
        }
        self.extra
            .insert("shared_history".into(), Value::Bool(value));
    }

    /// The session id this key belongs to: the Ed25519 key at bytes 133..165 of the
    /// exported session key, unpadded base64.
    pub fn session_id(&self) -> Option<String> {
        session_id_of(self.session_key.expose()).map(|k| encode_base64(&k))
    }

    /// The first message index the key can decrypt (bytes 1..5 of the export form).
    pub fn first_message_index(&self) -> Option<u32> {
        let bytes = decode_base64(self.session_key.expose()).ok()?;
        (bytes.len() == EXPORTED_SESSION_KEY_LEN)
            .then(|| u32::from_be_bytes([bytes[1], bytes[2], bytes[3], bytes[4]]))
    }
}

/// The Ed25519 key inside an exported session key, when it is one.
pub(crate) fn session_id_of(session_key: &str) -> Option<[u8; 32]> {
    let bytes = zeroize::Zeroizing::new(decode_base64(session_key).ok()?);
    if bytes.len() != EXPORTED_SESSION_KEY_LEN {
        return None;
    }
    bytes[133..165].try_into().ok()
}

/// One session in a backup (`KeyBackupData`). The spec requires the three counters, but
/// a restore needs only `session_data`, so an entry from a lenient server that lacks
/// them reads as 0 / 0 / false on every restore path (the streaming one never looks).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyBackupData {
    /// The first message index the backed-up key can decrypt.
    #[serde(default)]
    pub first_message_index: u64,
    /// How many times the key was forwarded.
    #[serde(default)]
    pub forwarded_count: u64,
    /// Whether the device that backed the key up had verified its sender.
    #[serde(default)]
    pub is_verified: bool,
    /// The encrypted session.
    pub session_data: EncryptedSessionData,
}

/// The sessions of one room: `{"sessions": {session_id: KeyBackupData}}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomKeyBackup {
    /// Sessions by session id.
    pub sessions: BTreeMap<String, KeyBackupData>,
}

/// The body of `GET`/`PUT /room_keys/keys`: `{"rooms": {room_id: RoomKeyBackup}}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeysBackup {
    /// Rooms by room id.
    pub rooms: BTreeMap<String, RoomKeyBackup>,
}

impl KeysBackup {
    /// How many sessions the body holds.
    pub fn session_count(&self) -> usize {
        self.rooms.values().map(|r| r.sessions.len()).sum()
    }

    /// The body cut into bodies of at most `per_chunk` sessions each (at least one), rooms
    /// and sessions in order: what a client uploads one `PUT /room_keys/keys` at a time.
    /// An empty body gives no chunk.
    pub fn into_chunks(self, per_chunk: usize) -> Vec<KeysBackup> {
        let per_chunk = per_chunk.max(1);
        let mut chunks = Vec::new();
        let mut chunk = KeysBackup::default();
        let mut n = 0;
        for (room, r) in self.rooms {
            for (sid, data) in r.sessions {
                chunk
                    .rooms
                    .entry(room.clone())
                    .or_default()
                    .sessions
                    .insert(sid, data);
                n += 1;
                if n == per_chunk {
                    chunks.push(std::mem::take(&mut chunk));
                    n = 0;
                }
            }
        }
        if n > 0 {
            chunks.push(chunk);
        }
        chunks
    }

    /// Every entry as (room id, session id, entry), rooms in order, then sessions.
    pub fn entries(&self) -> impl Iterator<Item = (&str, &str, &KeyBackupData)> {
        self.rooms.iter().flat_map(|(room, r)| {
            r.sessions
                .iter()
                .map(move |(sid, d)| (room.as_str(), sid.as_str(), d))
        })
    }
}

/// The `auth_data` of a backup version. Unknown fields (including the legacy
/// `private_key_*` ones) are kept, so signatures verify over exactly what was signed.
/// `public_key` stays text: a malformed one from another client must not make the whole
/// version unreadable (docs/interop.md P5); [`public_key`](Self::public_key) decodes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuthData {
    /// The backup's Curve25519 public key, base64.
    pub public_key: String,
    /// `signatures[user_id][key_id]`, base64 Ed25519 signatures.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub signatures: BTreeMap<String, BTreeMap<String, String>>,
    /// Every other field, kept as written.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl AuthData {
    /// `auth_data` for a public key, unsigned.
    pub fn new(public_key: &BackupPublicKey) -> Self {
        Self {
            public_key: public_key.to_base64(),
            signatures: BTreeMap::new(),
            extra: Map::new(),
        }
    }

    /// Decodes `public_key`.
    pub fn public_key(&self) -> Result<BackupPublicKey, KeyError> {
        BackupPublicKey::from_base64(&self.public_key)
    }
}

/// A backup version, as `GET /room_keys/version` returns it; `count`, `etag` and
/// `version` are absent in the `POST` request that creates one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BackupVersion {
    /// The backup algorithm.
    pub algorithm: String,
    /// Algorithm-dependent data: the public key and its signatures.
    pub auth_data: AuthData,
    /// Number of keys stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    /// Changes whenever the stored keys change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    /// The version id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

impl BackupVersion {
    /// A new version (the `POST /room_keys/version` body) for a public key.
    pub fn new(public_key: &BackupPublicKey) -> Self {
        Self {
            algorithm: BACKUP_ALGORITHM.to_owned(),
            auth_data: AuthData::new(public_key),
            count: None,
            etag: None,
            version: None,
        }
    }
}
