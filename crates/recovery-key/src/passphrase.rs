//! Passphrase-derived keys: the `m.pbkdf2` passphrase object of secret-storage key
//! descriptions, and the legacy `private_key_*` fields of passphrase backups.
//!
//! The passphrase is used as its UTF-8 bytes exactly as typed (no Unicode normalisation,
//! no trimming) and the salt as the UTF-8 bytes of the stored string, never base64-decoded
//! (spec "Deriving keys from passphrases"; docs/interop.md P9). The iteration count is chosen by whoever wrote the account data (the
//! homeserver can change it), so it is capped before any work is done.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use zeroize::Zeroizing;

use crate::{RecoveryKey, kdf::pbkdf2_hmac_sha512};

/// The only passphrase algorithm Matrix defines.
pub const PBKDF2_ALGORITHM: &str = "m.pbkdf2";
/// The largest iteration count accepted (project decision: docs/interop.md).
pub const MAX_ITERATIONS: u64 = 10_000_000;
/// Iterations used for fresh parameters, as Element and the rust SDK use.
pub const DEFAULT_ITERATIONS: u32 = 500_000;
/// Output size of keys: secret-storage and backup keys are always 256 bits.
pub const KEY_BITS: u32 = 256;
const SALT_LEN: usize = 32;
const ALPHANUMERIC: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// `len` characters drawn uniformly from `[A-Za-z0-9]` with the OS random number
/// generator, as Element makes salts and secret-storage key ids.
pub fn random_alphanumeric(len: usize) -> Result<String, getrandom::Error> {
    let mut out = String::with_capacity(len);
    while out.len() < len {
        let mut buf = [0u8; 64];
        getrandom::fill(&mut buf)?;
        // Rejection sampling keeps the characters uniform: 62 * 4 = 248.
        for b in buf {
            if (b as usize) < ALPHANUMERIC.len() * 4 && out.len() < len {
                out.push(ALPHANUMERIC[b as usize % ALPHANUMERIC.len()] as char);
            }
        }
    }
    Ok(out)
}

/// The `passphrase` object of an `m.secret_storage.key.*` description:
/// `{"algorithm": "m.pbkdf2", "salt": …, "iterations": …, "bits": …}`.
///
/// `bits` is kept as written (absent stays absent) so the object round-trips; [`bits`]
/// applies the default of 256. Unknown fields are kept.
///
/// [`bits`]: PassphraseInfo::bits
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PassphraseInfo {
    /// The key-derivation algorithm; only `m.pbkdf2` is defined.
    pub algorithm: String,
    /// The salt, used as the UTF-8 bytes of this string.
    pub salt: String,
    /// PBKDF2 iteration count.
    pub iterations: u64,
    /// Output length in bits, 256 when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bits: Option<u64>,
    /// Fields this crate does not know, kept for round trips.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl PassphraseInfo {
    /// Fresh parameters: 32 random alphanumeric salt characters and 500,000 iterations,
    /// as Element writes them (`bits` omitted, meaning 256).
    pub fn generate() -> Result<Self, getrandom::Error> {
        let salt = random_alphanumeric(SALT_LEN)?;
        Ok(Self {
            algorithm: PBKDF2_ALGORITHM.to_owned(),
            salt,
            iterations: u64::from(DEFAULT_ITERATIONS),
            bits: None,
            extra: Map::new(),
        })
    }

    /// The output length in bits (256 when the object has none).
    pub fn bits(&self) -> u64 {
        self.bits.unwrap_or(u64::from(KEY_BITS))
    }

    /// Reads the legacy passphrase fields of a backup version's `auth_data`
    /// (`private_key_salt`, `private_key_iterations`, optional `private_key_bits`), written
    /// by old Element versions for passphrase-derived backup keys.
    pub fn from_legacy_auth_data(auth_data: &Value) -> Result<Self, PassphraseError> {
        let salt = auth_data
            .get("private_key_salt")
            .and_then(Value::as_str)
            .ok_or(PassphraseError::MissingLegacyParameters)?;
        let iterations = auth_data
            .get("private_key_iterations")
            .and_then(Value::as_u64)
            .ok_or(PassphraseError::MissingLegacyParameters)?;
        let bits = match auth_data.get("private_key_bits") {
            None | Some(Value::Null) => None,
            Some(v) => Some(v.as_u64().ok_or(PassphraseError::Bits { bits: 0 })?),
        };
        Ok(Self {
            algorithm: PBKDF2_ALGORITHM.to_owned(),
            salt: salt.to_owned(),
            iterations,
            bits,
            extra: Map::new(),
        })
    }

    /// Derives the 32-byte key these parameters describe. Rejects an algorithm other than
    /// `m.pbkdf2`, iterations outside 1..=10,000,000 and `bits` other than 256, before any
    /// work is done.
    pub fn derive_key(&self, passphrase: &str) -> Result<RecoveryKey, PassphraseError> {
        if self.algorithm != PBKDF2_ALGORITHM {
            return Err(PassphraseError::Algorithm {
                algorithm: self.algorithm.clone(),
            });
        }
        let rounds = check_iterations(self.iterations)?;
        if self.bits() != u64::from(KEY_BITS) {
            return Err(PassphraseError::Bits { bits: self.bits() });
        }
        let mut out = Zeroizing::new([0u8; 32]);
        pbkdf2_hmac_sha512(
            passphrase.as_bytes(),
            self.salt.as_bytes(),
            rounds,
            out.as_mut_slice(),
        );
        Ok(RecoveryKey::from_bytes(&mut out))
    }
}

fn check_iterations(iterations: u64) -> Result<u32, PassphraseError> {
    if iterations == 0 || iterations > MAX_ITERATIONS {
        return Err(PassphraseError::Iterations { iterations });
    }
    u32::try_from(iterations).map_err(|_| PassphraseError::Iterations { iterations })
}

/// Matrix's passphrase derivation, PBKDF2-HMAC-SHA-512 of the passphrase's bytes, to
/// `bits / 8` bytes, for any multiple of 8 from 8 to 512, with the iteration cap (1 to
/// [`MAX_ITERATIONS`], refused before any work). [`PassphraseInfo::derive_key`] is its
/// 256-bit `m.pbkdf2` use; Element's key export derives its AES-256 and HMAC-SHA-256 keys
/// with it at 512 bits; the vectors' `passphrase.derive` kind checks it bare.
pub fn derive_bits(
    passphrase: &[u8],
    salt: &[u8],
    iterations: u64,
    bits: u64,
) -> Result<Zeroizing<Vec<u8>>, PassphraseError> {
    let rounds = check_iterations(iterations)?;
    if bits == 0 || !bits.is_multiple_of(8) || bits > 512 {
        return Err(PassphraseError::Bits { bits });
    }
    let mut out = Zeroizing::new(vec![0u8; (bits / 8) as usize]);
    pbkdf2_hmac_sha512(passphrase, salt, rounds, &mut out);
    Ok(out)
}

/// Why a passphrase could not be turned into a key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PassphraseError {
    /// The iteration count is 0 or above the cap.
    #[error(
        "refusing PBKDF2 with {iterations} iterations: the count must be between 1 and \
         10,000,000 (real clients use 100,000–500,000); the account data may be corrupt \
         or tampered with"
    )]
    Iterations {
        /// The count found.
        iterations: u64,
    },
    /// The requested key size is not supported.
    #[error(
        "unsupported key size of {bits} bits: secret-storage and backup keys are 256 bits \
         (PBKDF2 output must be a multiple of 8 bits up to 512)"
    )]
    Bits {
        /// The size found.
        bits: u64,
    },
    /// The passphrase algorithm is not `m.pbkdf2`.
    #[error("unknown passphrase algorithm {algorithm:?}: only \"m.pbkdf2\" is defined")]
    Algorithm {
        /// The algorithm found.
        algorithm: String,
    },
    /// A legacy backup's `auth_data` has no salt or iteration count.
    #[error(
        "this backup was not created from a passphrase: its auth_data has no \
         private_key_salt / private_key_iterations; use the recovery key instead"
    )]
    MissingLegacyParameters,
}

impl PassphraseError {
    /// The error class of the vector profile (`iterations`, `bits`).
    pub fn class(&self) -> &'static str {
        match self {
            Self::Iterations { .. } => "iterations",
            Self::Bits { .. } => "bits",
            Self::Algorithm { .. } => "algorithm",
            Self::MissingLegacyParameters => "missing_parameters",
        }
    }
}
