//! Encrypting one secret (spec "m.secret_storage.v1.aes-hmac-sha2").

use aes::Aes256;
use ctr::cipher::{KeyIvInit, StreamCipher};
use hkdf::Hkdf;
use hmac::{Hmac, KeyInit, Mac, digest::Key};
use recovery_key::{decode_base64_public, encode_base64};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::SecretStorageKey;

/// AES-CTR counting in the low 64 bits of the IV, big-endian, wrapping within 64 bits:
/// WebCrypto's `length: 64`, which Element uses (project decision: docs/interop.md).
type Aes256Ctr64 = ctr::Ctr64BE<Aes256>;

/// One encrypted secret: `{"iv", "ciphertext", "mac"}`, base64 (written unpadded, read
/// either way).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EncryptedSecret {
    /// The AES-CTR initial counter block.
    pub iv: String,
    /// The ciphertext.
    pub ciphertext: String,
    /// HMAC-SHA-256 of the ciphertext.
    pub mac: String,
}

/// Why a secret could not be decrypted or a key checked. Class names are the vector
/// profile's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SecretError {
    /// The MAC does not verify: wrong key, or the secret was stored under another name.
    #[error(
        "the secret's MAC does not match: it was encrypted with a different secret-storage \
         key (or stored under another name)"
    )]
    Mac,
    /// The IV decodes to fewer than 16 bytes.
    #[error("the IV is {0} bytes, at least 16 are needed: the stored data is corrupt")]
    IvLength(usize),
    /// The MAC decodes to fewer than 32 bytes.
    #[error("the MAC is {0} bytes, 32 are needed: the stored data is corrupt")]
    MacLength(usize),
    /// A field is not base64.
    #[error("the secret's {0} is not valid base64: the stored data is corrupt")]
    Base64(&'static str),
    /// The system random number generator failed.
    #[error("the system random number generator failed: {0}")]
    Random(#[source] getrandom::Error),
}

impl SecretError {
    /// The error class of the vector profile.
    pub fn class(&self) -> &'static str {
        match self {
            Self::Mac => "mac",
            Self::IvLength(_) => "iv_length",
            Self::MacLength(_) => "mac_length",
            Self::Base64(_) => "base64",
            Self::Random(_) => "random",
        }
    }
}

/// HKDF-SHA-256(ikm = key, salt = 32 zero bytes, info = name) to 64 bytes: AES key, MAC
/// key, boxed and wiped on drop; the cipher and the MAC are built by constructors that
/// cannot fail.
#[derive(Zeroize, ZeroizeOnDrop)]
pub(crate) struct SecretKeys(Box<SplitKeys>);

#[derive(Zeroize)]
struct SplitKeys {
    aes: [u8; 32],
    mac: [u8; 32],
}

impl SecretKeys {
    pub(crate) fn derive(key: &SecretStorageKey, name: &str) -> Self {
        let mut okm = Zeroizing::new([0u8; 64]);
        // HKDF-Expand fails only for outputs over 255 × 32 bytes; this one is 64.
        let _ = Hkdf::<Sha256>::new(Some(&[0u8; 32]), key.as_bytes())
            .expand(name.as_bytes(), okm.as_mut_slice());
        let mut keys = Box::new(SplitKeys {
            aes: [0; 32],
            mac: [0; 32],
        });
        keys.aes.copy_from_slice(&okm[..32]);
        keys.mac.copy_from_slice(&okm[32..]);
        Self(keys)
    }
    /// HMAC-SHA-256 of `ciphertext` under the MAC key, keyed through the constructor that
    /// cannot fail: HMAC zero-pads a key shorter than its 64-byte block (RFC 2104 §2), so
    /// the padded block is the same key.
    fn mac(&self, ciphertext: &[u8]) -> [u8; 32] {
        let mut block = Key::<Hmac<Sha256>>::default();
        block[..32].copy_from_slice(&self.0.mac);
        let mut mac = <Hmac<Sha256> as KeyInit>::new(&block);
        block.as_mut_slice().zeroize();
        mac.update(ciphertext);
        mac.finalize().into_bytes().into()
    }
    /// AES-256-CTR in place; CTR is its own inverse.
    pub(crate) fn apply(&self, iv: &[u8; 16], data: &mut [u8]) {
        Aes256Ctr64::new(&self.0.aes.into(), &(*iv).into()).apply_keystream(data);
    }
}

/// Encrypts `plaintext` as the secret `name` with a fresh IV (bit 63 cleared).
pub fn encrypt_secret(
    key: &SecretStorageKey,
    name: &str,
    plaintext: &[u8],
) -> Result<EncryptedSecret, SecretError> {
    let mut iv = [0u8; 16];
    getrandom::fill(&mut iv).map_err(SecretError::Random)?;
    // Clear bit 63 (the top bit of byte 8) so 64- and 128-bit counters agree (§5.2).
    iv[8] &= 0x7f;
    Ok(seal_with_iv(key, name, plaintext, &iv))
}

/// Encrypts with the given IV. **For known-answer vectors only** (feature `hazmat`):
/// reusing an IV under the same key and name reveals the XOR of the plaintexts.
#[cfg(feature = "hazmat")]
pub fn encrypt_secret_with_iv(
    key: &SecretStorageKey,
    name: &str,
    plaintext: &[u8],
    iv: &[u8; 16],
) -> EncryptedSecret {
    seal_with_iv(key, name, plaintext, iv)
}

pub(crate) fn seal_with_iv(
    key: &SecretStorageKey,
    name: &str,
    plaintext: &[u8],
    iv: &[u8; 16],
) -> EncryptedSecret {
    let keys = SecretKeys::derive(key, name);
    let mut data = Zeroizing::new(plaintext.to_vec());
    keys.apply(iv, &mut data);
    EncryptedSecret {
        iv: encode_base64(iv),
        ciphertext: encode_base64(&data),
        mac: encode_base64(&keys.mac(&data)),
    }
}

/// Reads an IV: at least 16 bytes, of which the first 16 are used (project decision:
/// longer IVs written by some clients are accepted and the MAC decides).
pub(crate) fn read_iv(iv: &str) -> Result<[u8; 16], SecretError> {
    let bytes = decode_base64_public(iv).map_err(|_| SecretError::Base64("iv"))?;
    bytes
        .get(..16)
        .and_then(|b| <[u8; 16]>::try_from(b).ok())
        .ok_or(SecretError::IvLength(bytes.len()))
}

/// Reads a MAC: fewer than 32 bytes is an error of its own.
pub(crate) fn read_mac(mac: &str) -> Result<Vec<u8>, SecretError> {
    let bytes = decode_base64_public(mac).map_err(|_| SecretError::Base64("mac"))?;
    if bytes.len() < 32 {
        return Err(SecretError::MacLength(bytes.len()));
    }
    Ok(bytes)
}

/// Decrypts the secret `name`, checking its MAC in constant time before decrypting.
pub fn decrypt_secret(
    key: &SecretStorageKey,
    name: &str,
    secret: &EncryptedSecret,
) -> Result<Zeroizing<Vec<u8>>, SecretError> {
    let iv = read_iv(&secret.iv)?;
    let mac = read_mac(&secret.mac)?;
    let mut data = Zeroizing::new(
        decode_base64_public(&secret.ciphertext).map_err(|_| SecretError::Base64("ciphertext"))?,
    );
    let keys = SecretKeys::derive(key, name);
    if !mac_matches(&keys.mac(&data), &mac) {
        return Err(SecretError::Mac);
    }
    keys.apply(&iv, &mut data);
    Ok(data)
}

/// Constant-time comparison; a MAC of another length never matches.
pub(crate) fn mac_matches(expected: &[u8; 32], given: &[u8]) -> bool {
    given.len() == 32 && bool::from(expected.ct_eq(given))
}

/// The key check's MAC: the MAC of 32 zero bytes encrypted as the secret named "".
pub(crate) fn key_check_mac(key: &SecretStorageKey, iv: &[u8; 16]) -> [u8; 32] {
    let keys = SecretKeys::derive(key, "");
    let mut zeros = [0u8; 32];
    keys.apply(iv, &mut zeros);
    keys.mac(&zeros)
}
