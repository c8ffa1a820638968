//! One entry, from its parts to its checked plaintext: the `session_data` decoded, the
//! key agreement (for a group of entries at once), the MAC, AES-CBC, and the checks on
//! the plaintext (a session object whose key belongs to the session id it is filed
//! under), ending in a [`RestoredSession`] or one [`RestoreFailure`] with its class.
//! Following one entry stays in this file; the algorithm's primitives (key derivation,
//! MAC, cipher) are the parent module's.

use std::{borrow::Cow, fmt};

use serde::{
    Deserialize, Deserializer,
    de::{IgnoredAny, Visitor},
};
use serde_json::{Map, Value};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use cbc::cipher::{BlockModeDecrypt, block_padding::Pkcs7};
use recovery_key::{decode_base64_public, encoding::decode_base64_public_into};

use super::{DecryptError, ExpandedKeys, MAC_LEN, Scalar, SharedSecret};
use crate::{
    BackupDecryptionKey, EncryptedSessionData, MEGOLM_ALGORITHM, RestoreErrorClass, RestoreFailure,
    RestoredSession, types::session_id_of,
};

/// Decrypts and checks one entry.
pub fn restore_entry(
    key: &BackupDecryptionKey,
    room_id: &str,
    session_id: &str,
    data: &EncryptedSessionData,
) -> Result<RestoredSession, RestoreFailure> {
    let pending = Pending::new(
        room_id,
        session_id,
        (&data.ephemeral, &data.ciphertext, &data.mac),
    );
    let shared = pending
        .decoded
        .as_ref()
        .ok()
        .and_then(|d| key.scalar().diffie_hellman(&d.ephemeral));
    pending.finish(shared)
}

/// The fields of a `KeyBackupData` a restore needs; the rest is ignored so that entries
/// from lenient servers still restore.
#[derive(Deserialize)]
pub(crate) struct EntryShape<'a> {
    #[serde(borrow)]
    session_data: SessionDataRef<'a>,
}

/// `session_data` borrowed from the entry's JSON text (copied only when escaped).
#[derive(Deserialize)]
struct SessionDataRef<'a> {
    #[serde(borrow)]
    ephemeral: Cow<'a, str>,
    #[serde(borrow)]
    ciphertext: Cow<'a, str>,
    #[serde(borrow)]
    mac: Cow<'a, str>,
}

/// The longest message of a failure record made from another error's text.
const MESSAGE_MAX: usize = 300;

/// The fields a restore checks, read without copying the plaintext.
#[derive(Deserialize)]
struct SessionFields<'a> {
    #[serde(borrow, default)]
    algorithm: Option<PlainStr<'a>>,
    #[serde(borrow, default)]
    session_key: Option<PlainStr<'a>>,
    #[serde(default)]
    room_id: Option<IgnoredAny>,
    #[serde(default)]
    session_id: Option<IgnoredAny>,
}

/// A string of the decrypted plaintext: borrowed from it when it has no escapes (always,
/// for base64), else a copy that is wiped on drop. (serde's own `Option<Cow<str>>` always
/// copies, and that copy of the session key was freed unwiped: the spy allocator of
/// `crates/zeroize-audit` found it.)
enum PlainStr<'a> {
    Borrowed(&'a str),
    Owned(Zeroizing<String>),
}

impl PlainStr<'_> {
    fn as_str(&self) -> &str {
        match self {
            Self::Borrowed(s) => s,
            Self::Owned(s) => s,
        }
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for PlainStr<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = PlainStr<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(PlainStr::Borrowed(v))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(PlainStr::Owned(Zeroizing::new(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
                Ok(PlainStr::Owned(Zeroizing::new(v)))
            }
        }
        d.deserialize_str(V)
    }
}

type EntryError = (RestoreErrorClass, String);

fn entry_error(e: DecryptError) -> EntryError {
    (RestoreErrorClass::from(&e), e.to_string())
}

/// One entry of a group: its ids, and its `session_data` decoded (or why not).
pub(crate) struct Pending<'a> {
    room_id: &'a str,
    session_id: &'a str,
    decoded: Result<DecodedParts, EntryError>,
}

impl<'a> Pending<'a> {
    pub(crate) fn new(room_id: &'a str, session_id: &'a str, parts: (&str, &str, &str)) -> Self {
        Self {
            room_id,
            session_id,
            decoded: DecodedParts::decode(parts.0, parts.1, parts.2).map_err(entry_error),
        }
    }

    /// Finishes the entry with the X25519 result for its ephemeral key (`None` when it did
    /// not decode, or the result is non-contributory): MAC, decryption, plaintext checks.
    fn finish(self, shared: Option<SharedSecret>) -> Result<RestoredSession, RestoreFailure> {
        let Self {
            room_id,
            session_id,
            decoded,
        } = self;
        decoded
            .and_then(|d| {
                let plaintext = d.decrypt(shared).map_err(entry_error)?;
                check_plaintext(room_id, session_id, &plaintext)
            })
            .map_err(|(error, message)| RestoreFailure {
                room_id: room_id.to_owned(),
                session_id: session_id.to_owned(),
                error,
                message,
            })
    }
}

/// Restores a group of entries given as their JSON text (as the walk of the body found
/// them): each is read as a `KeyBackupData` (one `malformed` failure when it is not), and
/// the group is finished together ([`finish_group`]). One result per entry, in order.
pub(crate) fn restore_entry_texts(
    key: &BackupDecryptionKey,
    entries: &[(&str, &str, &[u8])],
    out: &mut Vec<Result<RestoredSession, RestoreFailure>>,
) {
    // The parsed entries borrow from the text; keep them alive for the group.
    let parsed: Vec<Result<EntryShape<'_>, String>> = entries
        .iter()
        .map(|(_, _, raw)| match std::str::from_utf8(raw) {
            Ok(text) => serde_json::from_str::<EntryShape>(text).map_err(|e| e.to_string()),
            Err(_) => Err("it is not UTF-8 text".into()),
        })
        .collect();
    let group: Vec<Pending<'_>> = entries
        .iter()
        .zip(&parsed)
        .map(|((room, sid, _), entry)| match entry {
            Ok(e) => {
                let d = &e.session_data;
                Pending::new(room, sid, (&d.ephemeral, &d.ciphertext, &d.mac))
            }
            Err(e) => {
                // serde_json quotes what it refused: keep the message short.
                let mut message = format!("the backup entry is not a KeyBackupData object: {e}");
                crate::split::truncate_text(&mut message, MESSAGE_MAX);
                Pending {
                    room_id: room,
                    session_id: sid,
                    decoded: Err((RestoreErrorClass::Malformed, message)),
                }
            }
        })
        .collect();
    finish_group(key, group, out);
}

/// Entries whose key agreements are computed together: several lane groups of the wide
/// X25519, so their inversions are batched (`x25519/lanes.rs`).
pub(crate) const GROUP: usize = 64;

/// Finishes a group: one [`Scalar::diffie_hellman_many`](crate::x25519::Scalar) call for
/// every entry that decoded, then each entry on its own, in order.
pub(crate) fn finish_group(
    key: &BackupDecryptionKey,
    group: Vec<Pending<'_>>,
    out: &mut Vec<Result<RestoredSession, RestoreFailure>>,
) {
    // A bug must cost the entries of its group, never the whole restore: a panic becomes
    // one `internal` failure per entry.
    let ids: Vec<(&str, &str)> = group.iter().map(|p| (p.room_id, p.session_id)).collect();
    let start = out.len();
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        finish_group_unguarded(key, group, out);
    }));
    if outcome.is_err() {
        out.truncate(start);
        out.extend(ids.into_iter().map(|(room_id, session_id)| {
            Err(RestoreFailure {
                room_id: room_id.to_owned(),
                session_id: session_id.to_owned(),
                error: RestoreErrorClass::Internal,
                message: "an internal error (a bug in this tool) stopped this entry's restore; \
                          the other entries were restored. Please report it"
                    .into(),
            })
        }));
    }
}

/// Entries filed under this room make their group panic, to test the guard above.
#[cfg(test)]
pub(crate) const PANIC_ROOM: &str = "!panic-for-the-test:example.org";

fn finish_group_unguarded(
    key: &BackupDecryptionKey,
    group: Vec<Pending<'_>>,
    out: &mut Vec<Result<RestoredSession, RestoreFailure>>,
) {
    #[cfg(test)]
    if group.iter().any(|p| p.room_id == PANIC_ROOM) {
        panic!("a test asked this group to panic");
    }
    let points: Vec<[u8; 32]> = group
        .iter()
        .filter_map(|p| p.decoded.as_ref().ok().map(|d| d.ephemeral))
        .collect();
    let mut shared = key.scalar().diffie_hellman_many(&points).into_iter();
    for p in group {
        // One result per decoded entry, in the same order as `points`.
        let s = if p.decoded.is_ok() {
            shared.next().flatten()
        } else {
            None
        };
        out.push(p.finish(s));
    }
}

/// The checks on a decrypted plaintext, and the restored session's JSON text.
fn check_plaintext(
    room_id: &str,
    session_id: &str,
    plaintext: &[u8],
) -> Result<RestoredSession, EntryError> {
    let json = |m: &str| (RestoreErrorClass::Json, m.to_owned());
    let text = std::str::from_utf8(plaintext)
        .map_err(|_| json("the decrypted session is not UTF-8 JSON"))?;
    let fields: SessionFields<'_> = serde_json::from_str(text)
        .map_err(|_| json("the decrypted session is not a JSON object"))?;
    let algorithm = fields
        .algorithm
        .as_ref()
        .map(PlainStr::as_str)
        .ok_or_else(|| json("the decrypted session has no algorithm"))?;
    let embedded = fields
        .session_key
        .as_ref()
        .map(PlainStr::as_str)
        .and_then(session_id_of)
        .ok_or_else(|| {
            json("the decrypted session has no valid session_key (165-byte export form)")
        })?;
    if algorithm != MEGOLM_ALGORITHM {
        return Err((
            RestoreErrorClass::Algorithm,
            format!("the session's algorithm is {algorithm:?}, not {MEGOLM_ALGORITHM}"),
        ));
    }
    let filed = recovery_key::decode_base64_public(session_id).ok();
    if !filed.is_some_and(|f| bool::from(f.as_slice().ct_eq(&embedded))) {
        return Err((
            RestoreErrorClass::SessionId,
            "the session key inside does not belong to the session id it is filed under".into(),
        ));
    }
    let output = if fields.room_id.is_some() || fields.session_id.is_some() {
        // The plaintext names ids of its own: overwrite them in place (rare).
        let mut map: Map<String, Value> = serde_json::from_str(text)
            .map_err(|_| json("the decrypted session is not a JSON object"))?;
        map.insert("room_id".into(), Value::String(room_id.to_owned()));
        map.insert("session_id".into(), Value::String(session_id.to_owned()));
        serde_json::to_string(&map)
            .map_err(|_| json("the decrypted session is not a JSON object"))?
    } else {
        // Write the ids in front of the plaintext's own members, untouched.
        let body = text.trim_start().strip_prefix('{').unwrap_or_default();
        let mut out = String::with_capacity(text.len() + room_id.len() + session_id.len() + 32);
        // Serializing a &str cannot fail; it only escapes.
        out.push_str("{\"room_id\":");
        out.push_str(&serde_json::to_string(room_id).unwrap_or_default());
        out.push_str(",\"session_id\":");
        out.push_str(&serde_json::to_string(session_id).unwrap_or_default());
        if !body.trim_start().starts_with('}') {
            out.push(',');
        }
        out.push_str(body);
        out
    };
    Ok(RestoredSession {
        room_id: room_id.to_owned(),
        session_id: session_id.to_owned(),
        json: Zeroizing::new(output),
    })
}

pub(crate) fn decrypt_parts(
    scalar: &Scalar,
    ephemeral: &str,
    ciphertext: &str,
    mac: &str,
) -> Result<Zeroizing<Vec<u8>>, DecryptError> {
    let decoded = DecodedParts::decode(ephemeral, ciphertext, mac)?;
    decoded.decrypt(scalar.diffie_hellman(&decoded.ephemeral))
}

/// One entry's `session_data` decoded and length-checked: everything that comes before
/// the key agreement, so that a bulk restore can compute many agreements together
/// ([`Scalar::diffie_hellman_many`]) and then finish each entry with [`Self::decrypt`].
pub(crate) struct DecodedParts {
    /// The sender's ephemeral public key.
    pub(crate) ephemeral: [u8; 32],
    mac: [u8; MAC_LEN + 1],
    mac_len: usize,
    ciphertext: Vec<u8>,
}

impl DecodedParts {
    /// Decodes the three fields, reporting the first problem in a fixed order
    /// (ephemeral base64, MAC base64, ciphertext base64, ephemeral length).
    pub(crate) fn decode(
        ephemeral: &str,
        ciphertext: &str,
        mac: &str,
    ) -> Result<Self, DecryptError> {
        // Decode into stack buffers sized one byte over, so an over-long field is caught
        // without allocating.
        let mut eph = [0u8; 33];
        let eph_len = decode_base64_public_into(ephemeral, &mut eph).map_err(|_| {
            if looks_base64(ephemeral) {
                DecryptError::Key("not 32 bytes")
            } else {
                DecryptError::Base64 { field: "ephemeral" }
            }
        })?;
        let mut mac_buf = [0u8; MAC_LEN + 1];
        let mac_len = decode_base64_public_into(mac, &mut mac_buf).map_err(|_| {
            if looks_base64(mac) {
                DecryptError::Mac
            } else {
                DecryptError::Base64 { field: "mac" }
            }
        })?;
        let ct = decode_base64_public(ciphertext).map_err(|_| DecryptError::Base64 {
            field: "ciphertext",
        })?;
        let eph: [u8; 32] = eph[..eph_len]
            .try_into()
            .map_err(|_| DecryptError::Key("not 32 bytes"))?;
        Ok(Self {
            ephemeral: eph,
            mac: mac_buf,
            mac_len,
            ciphertext: ct,
        })
    }

    /// Finishes with the X25519 result for [`Self::ephemeral`] (`None`: non-contributory):
    /// derives the keys, checks the MAC in constant time, then decrypts.
    pub(crate) fn decrypt(
        &self,
        shared: Option<SharedSecret>,
    ) -> Result<Zeroizing<Vec<u8>>, DecryptError> {
        let shared = shared.ok_or(DecryptError::Key(
            "a low-order point (the shared secret is all zero)",
        ))?;
        let keys = ExpandedKeys::derive(shared.as_bytes());
        // Project decision: exactly 8 bytes (libolm, mautrix), compared in constant time.
        if self.mac_len != MAC_LEN || !bool::from(keys.empty_mac().ct_eq(&self.mac[..MAC_LEN])) {
            return Err(DecryptError::Mac);
        }
        let ct = &self.ciphertext;
        if ct.is_empty() || !ct.len().is_multiple_of(16) {
            return Err(DecryptError::Padding);
        }
        let pt = keys
            .decryptor()
            .decrypt_padded_vec::<Pkcs7>(ct)
            .map_err(|_| DecryptError::Padding)?;
        Ok(Zeroizing::new(pt))
    }
}

/// True when `s` uses only base64 characters (so a decode failure is about length).
fn looks_base64(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/' || b == b'=')
}
