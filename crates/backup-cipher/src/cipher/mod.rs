//! `m.megolm_backup.v1.curve25519-aes-sha2`: one session in, one `session_data` out.
//!
//! # Hazard
//!
//! The MAC of this algorithm, as deployed by every client since libolm, is the HMAC of
//! the **empty string** (spec "m.megolm_backup.v1.curve25519-aes-sha2"; docs/interop.md P1). It proves only that the entry was
//! encrypted to the key we hold; it does **not** authenticate the ciphertext. Anyone who
//! knows the backup's public key — that is, the homeserver — can write entries that
//! decrypt and verify. Treat restored sessions as unauthenticated.
//!
//! ```
//! use backup_cipher::BackupDecryptionKey;
//!
//! let key = BackupDecryptionKey::generate()?;
//! let data = key.public_key().encrypt(br#"{"hello":"world"}"#)?;
//! assert_eq!(key.decrypt(&data)?.as_slice(), br#"{"hello":"world"}"#);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use aes::Aes256;
use cbc::cipher::{BlockModeEncrypt, KeyIvInit, block_padding::Pkcs7};
use hkdf::HkdfExtract;
use hmac::{Hmac, KeyInit, Mac, digest::Key};
use recovery_key::encode_base64;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

pub(crate) mod entry;

use crate::{
    BackupDecryptionKey, BackupPublicKey, RestoreErrorClass,
    x25519::{Scalar, SharedSecret},
};

/// Length of the deployed (truncated) MAC.
pub(crate) const MAC_LEN: usize = 8;
const HKDF_SALT: [u8; 32] = [0; 32];

/// HKDF-Extract keyed with the constant zero salt, prepared once: every session clones
/// it instead of re-deriving the HMAC pads from the salt (saves two SHA-256
/// compressions per session).
static ZERO_SALT_EXTRACT: std::sync::LazyLock<HkdfExtract<Sha256>> =
    std::sync::LazyLock::new(|| HkdfExtract::<Sha256>::new(Some(&HKDF_SALT)));

/// The encrypted `session_data` of one backed-up session:
/// `{"ephemeral", "ciphertext", "mac"}`, unpadded base64.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EncryptedSessionData {
    /// The sender's ephemeral Curve25519 public key.
    pub ephemeral: String,
    /// AES-256-CBC ciphertext of the session JSON.
    pub ciphertext: String,
    /// First 8 bytes of HMAC-SHA-256 of the empty string (see the module hazard note).
    pub mac: String,
}

/// HKDF output split into its three parts, boxed and wiped on drop. Each is a fixed-size
/// array, so AES-CBC and the MAC are built by constructors that cannot fail.
#[derive(Zeroize, ZeroizeOnDrop)]
struct ExpandedKeys(Box<SplitKeys>);

#[derive(Zeroize)]
struct SplitKeys {
    aes: [u8; 32],
    mac: [u8; 32],
    iv: [u8; 16],
}

impl ExpandedKeys {
    fn derive(shared: &[u8; 32]) -> Self {
        let mut okm = Zeroizing::new([0u8; 80]);
        // HKDF-SHA-256 with 32 zero bytes of salt and empty info (§3.2 step 3);
        // HKDF-Expand fails only for outputs over 255 × 32 bytes, and this one is 80.
        let mut extract = ZERO_SALT_EXTRACT.clone();
        extract.input_ikm(shared);
        let (_, hkdf) = extract.finalize();
        let _ = hkdf.expand(&[], okm.as_mut_slice());
        let mut keys = Box::new(SplitKeys {
            aes: [0; 32],
            mac: [0; 32],
            iv: [0; 16],
        });
        keys.aes.copy_from_slice(&okm[..32]);
        keys.mac.copy_from_slice(&okm[32..64]);
        keys.iv.copy_from_slice(&okm[64..]);
        Self(keys)
    }

    /// BUG (deployed, kept for compatibility): libolm MACed zero bytes of the
    /// ciphertext, so the MAC is HMAC(mac_key, "") truncated to 8 bytes.
    /// HMAC is keyed through the constructor that cannot fail: it zero-pads a key shorter
    /// than its 64-byte block (RFC 2104 §2), so the padded block is the same key.
    fn empty_mac(&self) -> [u8; MAC_LEN] {
        let mut block = Key::<Hmac<Sha256>>::default();
        block[..32].copy_from_slice(&self.0.mac);
        let mac = <Hmac<Sha256> as KeyInit>::new(&block);
        block.as_mut_slice().zeroize();
        let mut out = [0u8; MAC_LEN];
        out.copy_from_slice(&mac.finalize().into_bytes()[..MAC_LEN]);
        out
    }

    fn encryptor(&self) -> cbc::Encryptor<Aes256> {
        cbc::Encryptor::<Aes256>::new(&self.0.aes.into(), &self.0.iv.into())
    }

    fn decryptor(&self) -> cbc::Decryptor<Aes256> {
        cbc::Decryptor::<Aes256>::new(&self.0.aes.into(), &self.0.iv.into())
    }
}

/// Why one `session_data` could not be decrypted. The class names are the vector
/// profile's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecryptError {
    /// A field is not base64.
    #[error("the entry's {field} is not valid base64: the backup entry is corrupt")]
    Base64 {
        /// Which field.
        field: &'static str,
    },
    /// The ephemeral key is malformed or non-contributory (low-order point).
    #[error("the entry's ephemeral key is {0}: the backup entry is corrupt or malicious")]
    Key(&'static str),
    /// The MAC does not verify: the entry was encrypted to a different key.
    #[error(
        "the MAC does not match: this entry was encrypted to a different backup key (wrong \
         key, or an entry left over from another backup version)"
    )]
    Mac,
    /// The plaintext padding is invalid: the ciphertext is corrupt.
    #[error(
        "the decrypted data has invalid padding: the key is right but the entry's ciphertext \
         is corrupt (a known problem of some uploaded entries)"
    )]
    Padding,
}

impl DecryptError {
    /// The error class of the vector profile (the same classes a restore's failure
    /// records carry; [`RestoreErrorClass::as_str`] gives its name).
    pub fn class(&self) -> RestoreErrorClass {
        match self {
            Self::Base64 { .. } => RestoreErrorClass::Base64,
            Self::Key(_) => RestoreErrorClass::Key,
            Self::Mac => RestoreErrorClass::Mac,
            Self::Padding => RestoreErrorClass::Padding,
        }
    }
}

/// Why encryption failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncryptError {
    /// The system random number generator failed.
    #[error("the system random number generator failed: {0}")]
    Random(#[source] getrandom::Error),
    /// The public key is a low-order point: no secret can be agreed with it.
    #[error("the backup public key is a low-order point and cannot be encrypted to")]
    Key,
}

impl BackupPublicKey {
    /// Encrypts one session's plaintext JSON with a fresh ephemeral key.
    pub fn encrypt(&self, plaintext: &[u8]) -> Result<EncryptedSessionData, EncryptError> {
        let mut eph = Zeroizing::new([0u8; 32]);
        getrandom::fill(eph.as_mut_slice()).map_err(EncryptError::Random)?;
        self.seal_with(plaintext, &eph)
    }

    /// Encrypts with the given ephemeral private key. **For known-answer vectors only**
    /// (feature `hazmat`): reusing an ephemeral key across sessions reuses the AES key
    /// and IV.
    #[cfg(feature = "hazmat")]
    pub fn encrypt_with_ephemeral_key(
        &self,
        plaintext: &[u8],
        ephemeral_private_key: &[u8; 32],
    ) -> Result<EncryptedSessionData, EncryptError> {
        self.seal_with(plaintext, ephemeral_private_key)
    }

    fn seal_with(
        &self,
        plaintext: &[u8],
        ephemeral_private_key: &[u8; 32],
    ) -> Result<EncryptedSessionData, EncryptError> {
        let eph = Scalar::new(ephemeral_private_key);
        let shared = eph.diffie_hellman(&self.0).ok_or(EncryptError::Key)?;
        let keys = ExpandedKeys::derive(&shared.0);
        let ct = keys.encryptor().encrypt_padded_vec::<Pkcs7>(plaintext);
        Ok(EncryptedSessionData {
            ephemeral: encode_base64(&eph.public_key()),
            ciphertext: encode_base64(&ct),
            mac: encode_base64(&keys.empty_mac()),
        })
    }
}

impl BackupDecryptionKey {
    /// Decrypts one entry's `session_data`, returning the plaintext (wiped on drop).
    /// The MAC is checked in constant time before anything is decrypted.
    pub fn decrypt(&self, data: &EncryptedSessionData) -> Result<Zeroizing<Vec<u8>>, DecryptError> {
        entry::decrypt_parts(self.scalar(), &data.ephemeral, &data.ciphertext, &data.mac)
    }
}
