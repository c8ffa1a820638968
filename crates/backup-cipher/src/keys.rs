//! The backup's key pair: [`BackupDecryptionKey`] (secret) and [`BackupPublicKey`].

use std::fmt;

use recovery_key::{PassphraseError, PassphraseInfo, RecoveryKey, decode_base64, encode_base64};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::{AuthData, x25519::Scalar};

/// The backup decryption key: the 32-byte X25519 private key of a
/// `m.megolm_backup.v1.curve25519-aes-sha2` backup (Element shows it as the recovery
/// key of older setups, and keeps it in secret storage as `m.megolm_backup.v1`).
///
/// Stored unclamped, exactly as encoded; wiped on drop; `Debug` prints only the public
/// key. Exporting the secret takes a method named for it.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct BackupDecryptionKey {
    bytes: Box<[u8; 32]>,
    #[zeroize(skip)]
    scalar: Scalar,
    #[zeroize(skip)]
    public: BackupPublicKey,
}

impl BackupDecryptionKey {
    /// A fresh random key.
    pub fn generate() -> Result<Self, getrandom::Error> {
        let key = RecoveryKey::generate()?;
        Ok(Self::from_recovery_key(&key))
    }

    /// The key whose bytes a recovery key (or any 32-byte secret) carries.
    pub fn from_recovery_key(key: &RecoveryKey) -> Self {
        Self::from_array(key.as_bytes())
    }

    /// Decodes a recovery key ("EsT… …").
    pub fn from_base58(text: &str) -> Result<Self, KeyError> {
        let key = RecoveryKey::from_base58(text).map_err(KeyError::RecoveryKey)?;
        Ok(Self::from_recovery_key(&key))
    }

    /// Decodes base64 (padded or not) of the 32 raw bytes, as stored in secret storage.
    pub fn from_base64(text: &str) -> Result<Self, KeyError> {
        let bytes = Zeroizing::new(
            decode_base64(text.trim()).map_err(|e| KeyError::Base64(e.to_string()))?,
        );
        Self::from_slice(&bytes)
    }

    /// From 32 raw bytes.
    pub fn from_bytes(bytes: &[u8; 32]) -> Self {
        Self::from_array(bytes)
    }

    /// From exactly 32 raw bytes.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, KeyError> {
        let arr: &[u8; 32] = bytes
            .try_into()
            .map_err(|_| KeyError::Length { len: bytes.len() })?;
        Ok(Self::from_array(arr))
    }

    /// Derives the key of a legacy passphrase backup from its `auth_data`
    /// (`private_key_salt` / `private_key_iterations` / `private_key_bits`).
    pub fn from_legacy_passphrase(
        passphrase: &str,
        auth_data: &AuthData,
    ) -> Result<Self, PassphraseError> {
        let value = serde_json::to_value(auth_data)
            .map_err(|_| PassphraseError::MissingLegacyParameters)?;
        let info = PassphraseInfo::from_legacy_auth_data(&value)?;
        Ok(Self::from_recovery_key(&info.derive_key(passphrase)?))
    }

    fn from_array(bytes: &[u8; 32]) -> Self {
        let scalar = Scalar::new(bytes);
        let public = BackupPublicKey(scalar.public_key());
        Self {
            bytes: Box::new(*bytes),
            scalar,
            public,
        }
    }

    /// The matching public key, as published in `auth_data.public_key`.
    pub fn public_key(&self) -> &BackupPublicKey {
        &self.public
    }

    /// The raw secret bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.bytes
    }

    /// The secret as unpadded base64 (the `m.megolm_backup.v1` secret-storage form).
    pub fn to_base64_secret(&self) -> Zeroizing<String> {
        Zeroizing::new(encode_base64(self.bytes.as_slice()))
    }

    /// The secret as a grouped recovery key.
    pub fn to_recovery_key(&self) -> RecoveryKey {
        let mut copy = *self.bytes;
        RecoveryKey::from_bytes(&mut copy)
    }

    /// Does this key belong to the backup whose `auth_data` is given? Compares decoded
    /// public-key bytes in constant time (a padded `public_key` string still matches).
    pub fn matches(&self, auth_data: &AuthData) -> bool {
        auth_data
            .public_key()
            .is_ok_and(|pk| bool::from(pk.0.ct_eq(&self.public.0)))
    }

    pub(crate) fn scalar(&self) -> &Scalar {
        &self.scalar
    }
}

impl fmt::Debug for BackupDecryptionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BackupDecryptionKey")
            .field("public_key", &self.public)
            .finish_non_exhaustive()
    }
}

impl PartialEq for BackupDecryptionKey {
    fn eq(&self, other: &Self) -> bool {
        self.bytes.as_slice().ct_eq(other.bytes.as_slice()).into()
    }
}
impl Eq for BackupDecryptionKey {}

/// The backup's Curve25519 public key. Serialised as unpadded base64; read padded or
/// unpadded; compared as bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct BackupPublicKey(pub(crate) [u8; 32]);

impl BackupPublicKey {
    /// From 32 raw bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// Decodes base64 of exactly 32 bytes.
    pub fn from_base64(text: &str) -> Result<Self, KeyError> {
        let bytes = decode_base64(text).map_err(|e| KeyError::Base64(e.to_string()))?;
        let arr: [u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| KeyError::Length { len: bytes.len() })?;
        Ok(Self(arr))
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Unpadded base64.
    pub fn to_base64(&self) -> String {
        encode_base64(&self.0)
    }
}

impl fmt::Debug for BackupPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BackupPublicKey({})", self.to_base64())
    }
}

impl fmt::Display for BackupPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_base64())
    }
}

impl Serialize for BackupPublicKey {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_base64())
    }
}

impl<'de> Deserialize<'de> for BackupPublicKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::from_base64(&s).map_err(serde::de::Error::custom)
    }
}

/// A key that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The text is not base64.
    #[error("the key is not valid base64: {0}")]
    Base64(String),
    /// The decoded key is not 32 bytes.
    #[error(
        "a Curve25519 key is 32 bytes, this one is {len}; if the backup was created by \
         another client its public key may be malformed — reset the backup"
    )]
    Length {
        /// The decoded length.
        len: usize,
    },
    /// The recovery key could not be decoded.
    #[error(transparent)]
    RecoveryKey(recovery_key::DecodeError),
}
