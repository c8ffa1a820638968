//! The 32-byte secret behind a recovery key, and its base58 representation.

use std::{fmt, str::FromStr};

use subtle::{Choice, ConstantTimeEq};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::base58::{ct_decode, ct_digit, ct_encode, ct_in_range, is_space, looks_like_passphrase};

/// Length of the raw key in bytes.
pub const KEY_LEN: usize = 32;
/// Length of the compact base58 form of every recovery key (48 characters; MSC1219's
/// "58" is wrong, see docs/interop.md P8).
pub const ENCODED_LEN: usize = 48;
const PREFIX: [u8; 2] = [0x8b, 0x01];
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

    /// Decodes a recovery key: drop a leading byte-order mark and all Unicode whitespace →
    /// 48 base58 characters → 35 bytes → prefix `8B 01` → parity, with one error per step,
    /// in constant time over the key's characters: each is compared with the whole
    /// alphabet, the digits are converted with fixed-width arithmetic, and prefix and
    /// parity are checked with `subtle`. Only facts no key has steer a branch: which
    /// characters are whitespace, how many others there are, which are outside the
    /// alphabet, and the class of the failure (what the error says anyway). Nothing past
    /// the 48th character is kept, so no buffer grows whatever is pasted.
    ///
    /// Strict otherwise (SPEC P8): base58 is case-sensitive and dashes are not
    /// separators, but a key in the wrong case or grouped with dashes gets its own error
    /// ([`DecodeError::Case`], [`DecodeError::Dashes`]) instead of being taken for a
    /// passphrase.
    pub fn from_base58(input: &str) -> Result<Self, DecodeError> {
        // A BOM is what a browser's FileReader drops from a key file; drop it too.
        let text = input.strip_prefix('\u{feff}').unwrap_or(input);
        // Only the first 48 characters are kept (as digits), whatever the input's length:
        // nothing grows, and base58's quadratic work is bounded.
        let mut digits = Zeroizing::new([0u8; ENCODED_LEN]);
        let mut characters = 0usize;
        let mut first_bad: Option<(char, usize)> = None;
        let mut only_dashes_bad = true;
        let mut dashes = 0usize;
        let mut upper = 0u32;
        let mut lower = 0u32;
        let mut starts_es_lower = Choice::from(1);
        let mut starts_es_upper = Choice::from(1);
        for c in text.chars().filter(|&c| !is_space(c)) {
            let (digit, valid) = match u8::try_from(c) {
                Ok(b) if b < 0x80 => {
                    upper += u32::from(ct_in_range(b, b'A', b'Z').unwrap_u8());
                    lower += u32::from(ct_in_range(b, b'a', b'z').unwrap_u8());
                    if characters < 2 {
                        let (l, u) = if characters == 0 {
                            (b'e', b'E')
                        } else {
                            (b's', b'S')
                        };
                        starts_es_lower &= b.ct_eq(&l);
                        starts_es_upper &= b.ct_eq(&u);
                    }
                    ct_digit(b)
                }
                _ => (0, Choice::from(0)),
            };
            // Validity steers the branch: a character outside the alphabet is never
            // part of a key (public, see above).
            if !bool::from(valid) {
                if c == '-' {
                    dashes += 1;
                } else {
                    only_dashes_bad = false;
                }
                first_bad.get_or_insert((c, characters));
            }
            if characters < ENCODED_LEN {
                digits[characters] = digit;
            }
            characters += 1;
        }
        let case = Case {
            characters,
            upper,
            lower,
            starts_lower: starts_es_lower.into(),
            starts_upper: starts_es_upper.into(),
        };
        if let Some((c, position)) = first_bad {
            if only_dashes_bad && characters - dashes == ENCODED_LEN {
                return Err(DecodeError::Dashes);
            }
            if let Some(e) = case.diagnose(text) {
                return Err(e);
            }
            // A passphrase is a secret: none of its characters goes into the error.
            let passphrase = looks_like_passphrase(text);
            return Err(DecodeError::Base58 {
                character: if passphrase { '\0' } else { c },
                position: if passphrase { 0 } else { position },
                looks_like_passphrase: passphrase,
            });
        }
        if characters != ENCODED_LEN {
            return Err(DecodeError::Length {
                characters,
                looks_like_passphrase: looks_like_passphrase(text),
            });
        }
        let wide = ct_decode(&digits);
        // Flags gathered without branches; looked at once, in the order of the steps.
        let fits = wide[0].ct_eq(&0);
        let prefix = wide[1..3].ct_eq(&PREFIX);
        let parity = wide[1..].iter().fold(0u8, |acc, b| acc ^ b).ct_eq(&0);
        let ok = fits & prefix & parity;
        if !bool::from(ok) {
            if let Some(e) = case.diagnose(text) {
                return Err(e);
            }
            // A 48-character value above 35 bytes cannot start with the prefix either.
            return Err(if bool::from(fits & prefix) {
                DecodeError::Parity
            } else {
                DecodeError::Prefix
            });
        }
        let mut bytes = Box::new([0u8; KEY_LEN]);
        bytes.copy_from_slice(&wide[3..3 + KEY_LEN]);
        Ok(Self { bytes })
    }

    /// The compact base58 form (48 characters, no spaces), computed in constant time and
    /// wiped when dropped. This exposes the secret.
    pub fn to_base58(&self) -> Zeroizing<String> {
        let mut buf = Zeroizing::new([0u8; DECODED_LEN]);
        buf[..2].copy_from_slice(&PREFIX);
        buf[2..2 + KEY_LEN].copy_from_slice(self.bytes.as_slice());
        buf[DECODED_LEN - 1] = buf[..DECODED_LEN - 1].iter().fold(0u8, |acc, b| acc ^ b);
        let chars = ct_encode(&buf);
        // Allocated once at its final size: no reallocation leaves a copy behind.
        let mut out = Zeroizing::new(String::with_capacity(ENCODED_LEN));
        out.extend(chars.iter().map(|&b| char::from(b)));
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
    /// The input does not have the 48 characters of every key (whitespace not counted).
    #[error("{}", length_message(*characters, *looks_like_passphrase))]
    Length {
        /// How many non-whitespace characters the input had.
        characters: usize,
        /// The input reads like a passphrase rather than a key.
        looks_like_passphrase: bool,
    },
    /// A key-shaped text in the wrong case: base58 is case-sensitive, so a key that was
    /// lowercased (or uppercased) on the way is a different, invalid key.
    #[error(
        "base58 is case-sensitive: this key looks {}cased (it has no {} letters); \
         enter it exactly as saved, with its capital and small letters",
        if *lowercase { "lower" } else { "upper" },
        if *lowercase { "capital" } else { "small" }
    )]
    Case {
        /// Lowercased (no capital letter); else uppercased.
        lowercase: bool,
    },
    /// A key written with dashes between its groups. Recovery keys are grouped with
    /// spaces; dashes are not accepted (SPEC P8: strip whitespace, nothing else).
    #[error(
        "this is a Security Key (recovery key) written with dashes between its groups: \
         replace the dashes with spaces (or remove them) and try again"
    )]
    Dashes,
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
    /// The error class of the vector profile (`base58`, `length`, `prefix`, `parity`),
    /// or `case` / `dashes` for a key in the wrong case / grouped with dashes.
    pub fn class(&self) -> &'static str {
        match self {
            Self::Base58 { .. } => "base58",
            Self::Length { .. } | Self::KeyLength { .. } => "length",
            Self::Case { .. } => "case",
            Self::Dashes => "dashes",
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

fn length_message(characters: usize, passphrase: bool) -> String {
    if passphrase {
        format!(
            "not a recovery key: it has {characters} characters instead of 48; {PASSPHRASE_HINT}"
        )
    } else if characters == 0 {
        "no recovery key given: the input is empty".to_owned()
    } else if characters == 2 * ENCODED_LEN {
        "a recovery key has 48 characters (not counting spaces), this one has 96: was it \
         pasted twice?"
            .to_owned()
    } else {
        format!(
            "a recovery key has 48 characters (not counting spaces), this one has {characters}; \
             check for missing or extra characters"
        )
    }
}

/// What is known about a failed key's letters, to tell a key in the wrong case.
struct Case {
    characters: usize,
    upper: u32,
    lower: u32,
    starts_lower: bool,
    starts_upper: bool,
}

impl Case {
    /// A key in the wrong case: 48 characters starting "es" with no capital (or "ES" with
    /// no small letter), laid out like a key (no spaces, a few runs, or groups of four),
    /// so a phrase is never taken for one.
    fn diagnose(&self, text: &str) -> Option<DecodeError> {
        if self.characters != ENCODED_LEN {
            return None;
        }
        let lowercase = if self.upper == 0 && self.starts_lower {
            true
        } else if self.lower == 0 && self.starts_upper {
            false
        } else {
            return None;
        };
        let words: Vec<&str> = text.split_whitespace().take(16).collect();
        let grouped = words.len() <= 3
            || words[..words.len() - 1]
                .iter()
                .all(|w| w.chars().count() == 4);
        grouped.then_some(DecodeError::Case { lowercase })
    }
}
