//! The plaintext of an export: a JSON array of exported room keys.

use std::collections::BTreeMap;

use backup_cipher::SessionKey;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// One exported room key (`ExportedSessionData`): the backup plaintext plus `room_id`
/// and `session_id`. Optional fields stay absent when they were absent, and unknown
/// fields (`untrusted`, `shared_history` under any name, …) are kept, so an entry
/// round-trips.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExportedRoomKey {
    /// `m.megolm.v1.aes-sha2`.
    pub algorithm: String,
    /// The room the session belongs to.
    pub room_id: String,
    /// The session id.
    pub session_id: String,
    /// Curve25519 key of the device that created the session.
    pub sender_key: String,
    /// The session key in export form, base64 (a secret: wiped on drop, redacted in
    /// `Debug`).
    pub session_key: SessionKey,
    /// Keys the sending device claimed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender_claimed_keys: Option<BTreeMap<String, String>>,
    /// Devices the key was forwarded through.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forwarding_curve25519_key_chain: Option<Vec<String>>,
    /// Every other field, kept as written.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}
