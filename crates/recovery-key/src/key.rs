//! The 32-byte secret behind a recovery key, and its base58 representation.

use std::{fmt, str::FromStr};

use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::base58::{is_base58_char, looks_like_passphrase};

/// Length of the raw key in bytes.
pub const KEY_LEN: usize = 32;
/// Length of the compact base58 form of every recovery key (48 characters; MSC1219's
/// "58" is wrong, see docs/interop.md P8).
pub const ENCODED_LEN: usize = 48;
const PREFIX: [u8; 2] = [0x8b, 0x01];
/// Longer base58 input cannot be a key (48 characters) and is not decoded.
const MAX_DECODE_CHARS: usize = 2 * ENCODED_LEN;
const DECODED_LEN: usize = PREFIX.len() + KEY_LEN + 1;

/// A 32-byte secret in the Matrix "cryptographic key representation": the raw bytes of a
/// secret-storage key or a backup decryption key.
///
/// The bytes are boxed (so moves do not leave copies on the stack), wiped on drop, never
/// printed by `Debug`, and compared in constant time. The raw bytes are stored unclamped,
/// exactly as encoded (docs/interop.md P18).
///
/// ```
/// use recovery_key::RecoveryKey;
/// let key: RecoveryKey = "EsTc LW2K PGiF wKEA 3As5 g5c4 BXwk qeeJ ZJV8 Q9fu gUMN UE4d".parse()?;
/// assert_eq!(key.as_bytes()[0], 0x77);
/// assert_eq!(key.to_base58().as_str(), "EsTcLW2KPGiFwKEA3As5g5c4BXwkqeeJZJV8Q9fugUMNUE4d");
/// # Ok::<(), recovery_key::DecodeError>(())
/// ```
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct RecoveryKey {
    bytes: Box<[u8; KEY_LEN]>,
}

impl RecoveryKey {
    /// A fresh random key from the operating system's random number generator.
    pub fn generate() -> Result<Self, getrandom::Error> {
        let mut bytes = Box::new([0u8; KEY_LEN]);
        getrandom::fill(bytes.as_mut_slice())?;
        Ok(Self { bytes })
    }

    /// Wraps raw key bytes. The caller's array is wiped.
    pub fn from_bytes(bytes: &mut [u8; KEY_LEN]) -> Self {
        let key = Self {
            bytes: Box::new(*bytes),
        };
        bytes.zeroize();
        key
    }

    /// Copies raw key bytes from a slice; fails unless it is exactly 32 bytes.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, DecodeError> {
        let arr: &[u8; KEY_LEN] = bytes
            .try_into()
            .map_err(|_| DecodeError::KeyLength { len: bytes.len() })?;
        Ok(Self {
            bytes: Box::new(*arr),
        })
    }

    /// The raw secret bytes.
    pub fn as_bytes(&self) -> &[u8; KEY_LEN] {
        &self.bytes
    }

    /// Decodes a recovery key: strip all Unicode whitespace → base58 → length 35 → prefix
    /// `8B 01` → parity, with one error per step.
    pub fn from_base58(input: &str) -> Result<Self, DecodeError> {
        // One pass: strip whitespace, find the first character outside the alphabet,
        // and copy at most what a key can be (base58 decoding is quadratic in its input,
        // so a 100 MB paste must never reach it).
        let mut compact = Zeroizing::new(String::with_capacity(ENCODED_LEN));
        let mut characters = 0usize;
        for c in input.chars().filter(|c| !c.is_whitespace()) {
            if !is_base58_char(c) {
                // A passphrase is a secret: none of its characters goes into the error.
                let passphrase = looks_like_passphrase(input);
                return Err(DecodeError::Base58 {
                    character: if passphrase { '\0' } else { c },
                    position: if passphrase { 0 } else { characters },
                    looks_like_passphrase: passphrase,
                });
            }
            if characters < MAX_DECODE_CHARS {
                compact.push(c);
            }
            characters += 1;
        }
        if characters > MAX_DECODE_CHARS {
            return Err(DecodeError::Length {
                decoded_len: characters * 733 / 1000 + 1,
                characters,
                looks_like_passphrase: looks_like_passphrase(input),
            });
        }
        // Every character is in the alphabet, so the only failure left is arithmetic
        // overflow of the output buffer, which cannot happen with `into_vec`.
        let decoded =
            Zeroizing::new(bs58::decode(compact.as_bytes()).into_vec().map_err(|_| {
                DecodeError::Base58 {
                    character: '?',
                    position: 0,
                    looks_like_passphrase: false,
                }
            })?);
        if decoded.len() != DECODED_LEN {
            return Err(DecodeError::Length {
                decoded_len: decoded.len(),
                characters,
                looks_like_passphrase: looks_like_passphrase(input),
            });
        }
        if !bool::from(decoded[..2].ct_eq(&PREFIX)) {
            return Err(DecodeError::Prefix);
        }
        let parity = decoded.iter().fold(0u8, |acc, b| acc ^ b);
        if !bool::from(parity.ct_eq(&0)) {
            return Err(DecodeError::Parity);
        }
        let mut bytes = Box::new([0u8; KEY_LEN]);
        bytes.copy_from_slice(&decoded[2..2 + KEY_LEN]);
        Ok(Self { bytes })
    }

    /// The compact base58 form (48 characters, no spaces), wiped when dropped. This
    /// exposes the secret.
    pub fn to_base58(&self) -> Zeroizing<String> {
        let mut buf = Zeroizing::new([0u8; DECODED_LEN]);
        buf[..2].copy_from_slice(&PREFIX);
        buf[2..2 + KEY_LEN].copy_from_slice(self.bytes.as_slice());
        buf[DECODED_LEN - 1] = buf[..DECODED_LEN - 1].iter().fold(0u8, |acc, b| acc ^ b);
        // Encoded into a buffer of the final size, so no reallocation leaves a copy behind.
        let mut out = Zeroizing::new(String::with_capacity(ENCODED_LEN + 8));
        let _ = bs58::encode(buf.as_slice()).onto(&mut *out);
        out
    }

    /// The displayed form: a space after every 4th character (12 groups, 59 characters),
    /// wiped when dropped. This exposes the secret.
    pub fn to_base58_grouped(&self) -> Zeroizing<String> {
        let compact = self.to_base58();
        let mut out = Zeroizing::new(String::with_capacity(compact.len() + compact.len() / 4));
        for (i, c) in compact.chars().enumerate() {
            if i > 0 && i % 4 == 0 {
                out.push(' ');
            }
            out.push(c);
        }
        out
    }
}

impl FromStr for RecoveryKey {
    type Err = DecodeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_base58(s)
    }
}

impl PartialEq for RecoveryKey {
    fn eq(&self, other: &Self) -> bool {
        self.bytes.as_slice().ct_eq(other.bytes.as_slice()).into()
    }
}
impl Eq for RecoveryKey {}

impl fmt::Debug for RecoveryKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RecoveryKey([redacted])")
    }
}

/// Why a recovery key could not be decoded. Each variant is one step of the decoder.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// A character outside the base58 alphabet.
    #[error("{}", base58_message(*character, *position, *looks_like_passphrase))]
    Base58 {
        /// The first offending character; `'\0'` when the input reads like a passphrase
        /// (a secret: none of its characters is kept).
        character: char,
        /// Its position among the non-whitespace characters (0 for a passphrase).
        position: usize,
        /// The input reads like a passphrase rather than a key.
        looks_like_passphrase: bool,
    },
    /// The base58 text does not decode to 35 bytes.
    #[error("{}", length_message(*decoded_len, *characters, *looks_like_passphrase))]
    Length {
        /// How many bytes the input decoded to.
        decoded_len: usize,
        /// How many non-whitespace characters the input had.
        characters: usize,
        /// The input reads like a passphrase rather than a key.
        looks_like_passphrase: bool,
    },
    /// The decoded bytes do not start with `8B 01`.
    #[error(
        "this is not a Matrix recovery key: it does not start with the recovery-key prefix \
         (a real key starts with \"Es\"); check that you copied the right text"
    )]
    Prefix,
    /// The parity byte does not match.
    #[error(
        "the recovery key's check digit does not match: a character was mistyped or two were \
         swapped; compare it with your saved copy character by character"
    )]
    Parity,
    /// Raw key bytes of the wrong length.
    #[error("a key must be exactly 32 bytes, got {len}")]
    KeyLength {
        /// The length given.
        len: usize,
    },
}

impl DecodeError {
    /// The error class of the vector profile (`base58`, `length`, `prefix`, `parity`).
    pub fn class(&self) -> &'static str {
        match self {
            Self::Base58 { .. } => "base58",
            Self::Length { .. } | Self::KeyLength { .. } => "length",
            Self::Prefix => "prefix",
            Self::Parity => "parity",
        }
    }

    /// The input reads like a passphrase, not a recovery key.
    pub fn looks_like_passphrase(&self) -> bool {
        matches!(
            self,
            Self::Base58 {
                looks_like_passphrase: true,
                ..
            } | Self::Length {
                looks_like_passphrase: true,
                ..
            }
        )
    }
}

const PASSPHRASE_HINT: &str = "this looks like a passphrase (Security Phrase), not a recovery \
     key (Security Key); enter it where a passphrase is asked for";

fn base58_message(c: char, position: usize, passphrase: bool) -> String {
    let shown = if c.is_control() {
        format!("{:?}", c)
    } else {
        format!("'{c}'")
    };
    let what = match c {
        '0' | 'O' | 'I' | 'l' => " (recovery keys never contain 0, O, I or l)",
        _ => "",
    };
    if passphrase {
        format!("not a recovery key: {PASSPHRASE_HINT}")
    } else {
        format!(
            "not a recovery key: character {shown} at position {} is not used in recovery keys{what}",
            position + 1
        )
    }
}

fn length_message(decoded: usize, characters: usize, passphrase: bool) -> String {
    if passphrase {
        format!(
            "not a recovery key: it has {characters} characters instead of 48; {PASSPHRASE_HINT}"
        )
    } else {
        format!(
            "a recovery key has 48 characters (not counting spaces), this one has {characters} \
             (decoding to {decoded} bytes instead of 35); check for missing or extra characters"
        )
    }
}
