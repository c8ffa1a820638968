//! The secret-storage key and its description (`m.secret_storage.key.<id>`).

use std::fmt;

use recovery_key::{PassphraseError, PassphraseInfo, RecoveryKey, decode_base64};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::{
    SecretError,
    cipher::{key_check_mac, mac_matches, read_iv, read_mac},
};

/// The secret-storage algorithm this crate implements.
pub const SECRET_STORAGE_ALGORITHM: &str = "m.secret_storage.v1.aes-hmac-sha2";
const KEY_ID_LEN: usize = 32;

/// A secret-storage key: 32 secret bytes and the id its description is stored under.
///
/// Boxed, wiped on drop, `Debug` shows only the key id. Users hold it as a recovery key
/// (Element's "Security Key") or derive it from a passphrase ("Security Phrase").
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct SecretStorageKey {
    bytes: Box<[u8; 32]>,
    #[zeroize(skip)]
    key_id: String,
}

impl SecretStorageKey {
    /// A fresh random key with a fresh 32-character alphanumeric key id.
    pub fn generate() -> Result<Self, getrandom::Error> {
        let key = RecoveryKey::generate()?;
        Ok(Self::from_recovery_key(&key, random_key_id()?))
    }

    /// The key a recovery key carries, for the description stored under `key_id`.
    pub fn from_recovery_key(key: &RecoveryKey, key_id: impl Into<String>) -> Self {
        Self {
            bytes: Box::new(*key.as_bytes()),
            key_id: key_id.into(),
        }
    }

    /// Decodes a recovery key ("EsT… …") for the description stored under `key_id`.
    pub fn from_base58(
        text: &str,
        key_id: impl Into<String>,
    ) -> Result<Self, recovery_key::DecodeError> {
        Ok(Self::from_recovery_key(
            &RecoveryKey::from_base58(text)?,
            key_id,
        ))
    }

    /// Derives the key from a passphrase with the description's `m.pbkdf2` parameters
    /// (iterations capped and `bits` checked before any work).
    pub fn from_passphrase(
        passphrase: &str,
        info: &PassphraseInfo,
        key_id: impl Into<String>,
    ) -> Result<Self, PassphraseError> {
        Ok(Self::from_recovery_key(
            &info.derive_key(passphrase)?,
            key_id,
        ))
    }

    /// The key id (the `<id>` of `m.secret_storage.key.<id>`).
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// The raw secret bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.bytes
    }

    /// The key as a recovery key to show the user. This exposes the secret.
    pub fn to_recovery_key(&self) -> RecoveryKey {
        let mut copy = *self.bytes;
        RecoveryKey::from_bytes(&mut copy)
    }

    /// A key description for this key, with the key check (32 zero bytes encrypted under
    /// the empty name with a fresh IV; only `iv` and `mac` are kept).
    pub fn describe(&self, name: Option<&str>) -> Result<KeyDescription, SecretError> {
        let mut iv = [0u8; 16];
        getrandom::fill(&mut iv).map_err(SecretError::Random)?;
        iv[8] &= 0x7f;
        Ok(KeyDescription {
            name: name.map(str::to_owned),
            algorithm: SECRET_STORAGE_ALGORITHM.to_owned(),
            passphrase: None,
            iv: Some(recovery_key::encode_base64(&iv)),
            mac: Some(recovery_key::encode_base64(&key_check_mac(self, &iv))),
            extra: Map::new(),
        })
    }
}

impl fmt::Debug for SecretStorageKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretStorageKey")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

impl PartialEq for SecretStorageKey {
    fn eq(&self, other: &Self) -> bool {
        bool::from(self.bytes.as_slice().ct_eq(other.bytes.as_slice()))
            && self.key_id == other.key_id
    }
}
impl Eq for SecretStorageKey {}

pub(crate) fn random_key_id() -> Result<String, getrandom::Error> {
    recovery_key::passphrase::random_alphanumeric(KEY_ID_LEN)
}

/// The content of `m.secret_storage.key.<id>`, with serde exactly as the spec JSON.
/// Unknown fields are kept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyDescription {
    /// A name for the key, shown to users.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `m.secret_storage.v1.aes-hmac-sha2`.
    pub algorithm: String,
    /// How to derive the key from a passphrase, when it was made from one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passphrase: Option<PassphraseInfo>,
    /// The key check's IV.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iv: Option<String>,
    /// The key check's MAC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac: Option<String>,
    /// Every other field, kept as written.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// What the key check says of a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyCheck {
    /// The key is the one described.
    Ok,
    /// The key is not the one described.
    Mismatch,
    /// The description has no `iv`/`mac`: the spec says to assume the key is right
    /// (the MAC of each secret still decides).
    Unverifiable,
}

impl KeyCheck {
    /// `ok`, `mismatch` or `unverifiable`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Mismatch => "mismatch",
            Self::Unverifiable => "unverifiable",
        }
    }
}

impl KeyDescription {
    /// Runs the key check (spec "Key storage"): re-encrypts 32 zero bytes under the empty name
    /// with the stored IV and compares MACs as bytes, in constant time. IVs longer than 16
    /// bytes use their first 16 (project decision); a MAC of another length than 32 bytes
    /// never matches, one shorter than 32 is an error.
    pub fn check(&self, key: &SecretStorageKey) -> Result<KeyCheck, SecretError> {
        let (Some(iv), Some(mac)) = (&self.iv, &self.mac) else {
            return Ok(KeyCheck::Unverifiable);
        };
        let iv = read_iv(iv)?;
        let mac = read_mac(mac)?;
        Ok(if mac_matches(&key_check_mac(key, &iv), &mac) {
            KeyCheck::Ok
        } else {
            KeyCheck::Mismatch
        })
    }

    /// Is this description of an algorithm this crate implements?
    pub fn is_supported(&self) -> bool {
        self.algorithm == SECRET_STORAGE_ALGORITHM
    }
}

/// Decodes the base64 of a secret value, padded or not (for callers that store bytes),
/// in constant time.
pub(crate) fn decode_secret_bytes(text: &str) -> Option<Zeroizing<Vec<u8>>> {
    decode_base64(text.trim()).ok()
}
