//! One room key, the same type from restore to export to upload.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize, Serializer, ser::SerializeMap};
use serde_json::{Map, Value};

use crate::{BackedUpRoomKey, SessionKey, types::session_id_of};

/// One Megolm room key as a restore writes it, an Element key export holds it and an
/// upload takes it (the spec's `ExportedSessionData`): the backed-up session plus the
/// `room_id` and `session_id` it is filed under.
///
/// Serde reads and writes the wire JSON: unknown fields are kept in
/// [`extra`](Self::extra), members are written back in the order they were read (so a
/// backup → export → backup round trip is byte for byte), and the session key is a
/// [`SessionKey`] — wiped on drop, redacted in `Debug`.
#[derive(Debug, Clone)]
pub struct RoomKey {
    /// The room.
    pub room_id: String,
    /// The session id (the session key's Ed25519 key, base64).
    pub session_id: String,
    /// `m.megolm.v1.aes-sha2`.
    pub algorithm: String,
    /// Curve25519 key of the device that created the session.
    pub sender_key: String,
    /// The session key in export form.
    pub session_key: SessionKey,
    /// Keys the sending device claimed, when present.
    pub sender_claimed_keys: Option<BTreeMap<String, String>>,
    /// Devices the key was forwarded through, when present.
    pub forwarding_curve25519_key_chain: Option<Vec<String>>,
    /// Every other field, kept as written (`shared_history` under any name, `untrusted` …).
    pub extra: Map<String, Value>,
    /// Member names in the order they were read; empty for a key built in code.
    order: Vec<String>,
}

const KNOWN: [&str; 7] = [
    "room_id",
    "session_id",
    "algorithm",
    "sender_key",
    "session_key",
    "sender_claimed_keys",
    "forwarding_curve25519_key_chain",
];

impl RoomKey {
    /// A room key from a backup entry's decrypted plaintext and the ids it is filed under.
    pub fn from_backed_up(room_id: &str, session_id: &str, key: BackedUpRoomKey) -> Self {
        Self {
            room_id: room_id.to_owned(),
            session_id: session_id.to_owned(),
            algorithm: key.algorithm,
            sender_key: key.sender_key,
            session_key: key.session_key,
            sender_claimed_keys: Some(key.sender_claimed_keys),
            forwarding_curve25519_key_chain: Some(key.forwarding_curve25519_key_chain),
            extra: key.extra,
            order: Vec::new(),
        }
    }

    /// The backup plaintext of this key (without the ids).
    pub fn to_backed_up(&self) -> BackedUpRoomKey {
        BackedUpRoomKey {
            algorithm: self.algorithm.clone(),
            sender_key: self.sender_key.clone(),
            session_key: self.session_key.clone(),
            sender_claimed_keys: self.sender_claimed_keys.clone().unwrap_or_default(),
            forwarding_curve25519_key_chain: self
                .forwarding_curve25519_key_chain
                .clone()
                .unwrap_or_default(),
            extra: self.extra.clone(),
        }
    }

    /// The first message index the session key can decrypt, when it is an exported
    /// session key.
    pub fn first_message_index(&self) -> Option<u32> {
        self.to_backed_up().first_message_index()
    }

    /// Whether the session key is really the key of `session_id` (its Ed25519 key).
    pub fn session_id_matches(&self) -> bool {
        let filed = recovery_key::decode_base64_public(&self.session_id).ok();
        match (session_id_of(self.session_key.expose()), filed) {
            (Some(inside), Some(filed)) => {
                subtle::ConstantTimeEq::ct_eq(inside.as_slice(), filed.as_slice()).into()
            }
            _ => false,
        }
    }

    /// Writes the members, in the order read, leaving out `skip`.
    fn write<S: Serializer>(&self, s: S, skip: &[&str]) -> Result<S::Ok, S::Error> {
        let mut names: Vec<&str> = self.order.iter().map(String::as_str).collect();
        for name in KNOWN
            .iter()
            .copied()
            .chain(self.extra.keys().map(String::as_str))
        {
            if !names.contains(&name) {
                names.push(name);
            }
        }
        let mut map = s.serialize_map(None)?;
        for name in names.into_iter().filter(|n| !skip.contains(n)) {
            match name {
                "room_id" => map.serialize_entry(name, &self.room_id)?,
                "session_id" => map.serialize_entry(name, &self.session_id)?,
                "algorithm" => map.serialize_entry(name, &self.algorithm)?,
                "sender_key" => map.serialize_entry(name, &self.sender_key)?,
                "session_key" => map.serialize_entry(name, &self.session_key)?,
                "sender_claimed_keys" => {
                    if let Some(v) = &self.sender_claimed_keys {
                        map.serialize_entry(name, v)?;
                    }
                }
                "forwarding_curve25519_key_chain" => {
                    if let Some(v) = &self.forwarding_curve25519_key_chain {
                        map.serialize_entry(name, v)?;
                    }
                }
                other => {
                    if let Some(v) = self.extra.get(other) {
                        map.serialize_entry(other, v)?;
                    }
                }
            }
        }
        map.end()
    }

    /// The backup plaintext as JSON bytes: this key without `room_id` and `session_id`,
    /// every other member in the order it was read.
    pub fn plaintext_json(&self) -> Result<zeroize::Zeroizing<Vec<u8>>, serde_json::Error> {
        struct Plain<'a>(&'a RoomKey);
        impl Serialize for Plain<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                self.0.write(s, &["room_id", "session_id"])
            }
        }
        let mut out = zeroize::Zeroizing::new(Vec::with_capacity(512));
        serde_json::to_writer(&mut *out, &Plain(self))?;
        Ok(out)
    }
}

/// Equal when every field is (the member order read from JSON does not count).
impl PartialEq for RoomKey {
    fn eq(&self, other: &Self) -> bool {
        self.room_id == other.room_id
            && self.session_id == other.session_id
            && self.algorithm == other.algorithm
            && self.sender_key == other.sender_key
            && self.session_key == other.session_key
            && self.sender_claimed_keys == other.sender_claimed_keys
            && self.forwarding_curve25519_key_chain == other.forwarding_curve25519_key_chain
            && self.extra == other.extra
    }
}

impl Serialize for RoomKey {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.write(s, &[])
    }
}

impl<'de> Deserialize<'de> for RoomKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let mut map = Map::<String, Value>::deserialize(d)?;
        let order: Vec<String> = map.keys().cloned().collect();
        let mut text = |name: &'static str| match map.shift_remove(name) {
            Some(Value::String(s)) => Ok(s),
            Some(_) => Err(D::Error::custom(format!("{name} is not a string"))),
            None => Err(D::Error::missing_field(name)),
        };
        let room_id = text("room_id")?;
        let session_id = text("session_id")?;
        let algorithm = text("algorithm")?;
        let sender_key = text("sender_key")?;
        // Moved, not copied, into the wiped type.
        let session_key = SessionKey::new(text("session_key")?);
        let mut typed = |name: &'static str| -> Result<Option<Value>, D::Error> {
            Ok(map.shift_remove(name).filter(|v| !v.is_null()))
        };
        let sender_claimed_keys = typed("sender_claimed_keys")?
            .map(serde_json::from_value)
            .transpose()
            .map_err(D::Error::custom)?;
        let forwarding_curve25519_key_chain = typed("forwarding_curve25519_key_chain")?
            .map(serde_json::from_value)
            .transpose()
            .map_err(D::Error::custom)?;
        Ok(Self {
            room_id,
            session_id,
            algorithm,
            sender_key,
            session_key,
            sender_claimed_keys,
            forwarding_curve25519_key_chain,
            extra: map,
            order,
        })
    }
}
