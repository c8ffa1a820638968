//! The binary body and its armour (spec "Key exports").
//!
//! | offset | size | content |
//! |---|---|---|
//! | 0 | 1 | version `0x01` |
//! | 1 | 16 | salt |
//! | 17 | 16 | IV (bit 63 cleared when generated) |
//! | 33 | 4 | PBKDF2 rounds, u32 big-endian |
//! | 37 | n | AES-256-CTR ciphertext of the UTF-8 JSON |
//! | 37+n | 32 | HMAC-SHA-256 over bytes `[0, 37+n)` |

use aes::Aes256;
use ctr::cipher::{KeyIvInit, StreamCipher};
use hmac::{Hmac, KeyInit, Mac, digest::Key};
use recovery_key::{decode_base64_public, derive_bits, passphrase::MAX_ITERATIONS};
use sha2::Sha256;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::ExportedRoomKey;

/// The armour's first line.
pub const HEADER: &str = "-----BEGIN MEGOLM SESSION DATA-----";
/// The armour's last line.
pub const TRAILER: &str = "-----END MEGOLM SESSION DATA-----";
/// Rounds Element uses, and our default.
pub const DEFAULT_ROUNDS: u32 = 500_000;
/// The fewest PBKDF2 rounds an export is written with unless the caller explicitly allows
/// fewer ([`ExportOptions::allow_low_rounds`]): the spec's "at least 100,000", which is
/// also matrix-nio's default (Element writes 500,000). Below it, a guessed passphrase is
/// tried too cheaply for a file that holds every room key. Reading is not limited by it:
/// a file someone already has is opened whatever its rounds (up to [`MAX_ROUNDS`]).
pub const MIN_ROUNDS: u32 = 100_000;
/// The most rounds accepted (project decision): more is refused before any work.
pub const MAX_ROUNDS: u32 = 10_000_000;
// The derivation (recovery-key's passphrase PBKDF2) has the same cap, so every count this
// crate accepts is one it derives with.
const _: () = assert!(MAX_ROUNDS as u64 == MAX_ITERATIONS);
const VERSION: u8 = 1;
pub(crate) const HEAD_LEN: usize = 37;
pub(crate) const MAC_LEN: usize = 32;

/// AES-CTR with WebCrypto's `length: 64` counter, as Element uses it.
pub(crate) type Aes256Ctr64 = ctr::Ctr64BE<Aes256>;

/// Why an export file could not be read. Class names are the vector profile's.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ExportError {
    /// No BEGIN line (or the END line before it).
    #[error(
        "not an Element key export: the \"{HEADER}\" and \"{TRAILER}\" lines were not found \
         (in that order)"
    )]
    Armor,
    /// The BEGIN line, but no END line after it: the file was cut off.
    #[error(
        "the export file is cut off: it has no END line (\"{TRAILER}\"); was it copied \
         whole?"
    )]
    Truncated,
    /// An empty (or whitespace-only) passphrase for a new export.
    #[error(
        "the export passphrase is empty (or only whitespace): it would protect nothing, and \
         Element refuses it; choose a passphrase"
    )]
    EmptyPassphrase,
    /// Fewer PBKDF2 rounds than [`MIN_ROUNDS`] for a new export, not explicitly allowed.
    #[error(
        "refusing to write a key export with {0} PBKDF2 rounds: fewer than 100,000 (the \
         spec's minimum; Element uses 500,000) make the passphrase cheap to guess; fewer are \
         only written when explicitly allowed"
    )]
    LowRounds(u32),
    /// The text between the armour lines is not base64.
    #[error("the key export is damaged: its contents are not valid base64")]
    Base64,
    /// The body is shorter than the fixed header plus the MAC.
    #[error("the key export is damaged or truncated: {0} bytes, at least 69 are needed")]
    TooShort(usize),
    /// Unknown format version.
    #[error(
        "unsupported key export version {0} (only version 1 exists); was it written by a newer client?"
    )]
    Version(u8),
    /// The PBKDF2 round count is 0 or above the cap.
    #[error("refusing a key export with {0} PBKDF2 rounds: it must be between 1 and 10,000,000")]
    Rounds(u32),
    /// The passphrase is wrong (or the file was altered).
    #[error("wrong passphrase for this key export (or the file was modified)")]
    Mac,
    /// The system random number generator failed.
    #[error("the system random number generator failed: {0}")]
    Random(#[source] getrandom::Error),
    /// Writing the export failed.
    #[error("cannot write the key export: {0}")]
    Io(#[source] std::sync::Arc<std::io::Error>),
    /// The decrypted plaintext is not a JSON array of room keys.
    #[error("the key export decrypted, but it is not a list of room keys: {0}")]
    Json(#[source] std::sync::Arc<serde_json::Error>),
}

impl ExportError {
    /// The error class of the vector profile.
    pub fn class(&self) -> &'static str {
        match self {
            Self::Armor | Self::Truncated => "armor",
            Self::EmptyPassphrase => "empty_passphrase",
            Self::LowRounds(_) => "low_rounds",
            Self::Base64 => "base64",
            Self::TooShort(_) => "too_short",
            Self::Version(_) => "version",
            Self::Rounds(_) => "rounds",
            Self::Mac => "mac",
            Self::Random(_) => "random",
            Self::Io(_) => "io",
            Self::Json(_) => "json",
        }
    }
}

/// How a new export is protected: its PBKDF2 rounds, and whether fewer than
/// [`MIN_ROUNDS`] are allowed. A plain `u32` converts into strict options.
///
/// ```
/// use key_export::{ExportOptions, MIN_ROUNDS};
/// assert!(ExportOptions::new(1_000).check("pw").is_err());
/// assert!(ExportOptions::new(1_000).allow_low_rounds().check("pw").is_ok());
/// assert!(ExportOptions::new(MIN_ROUNDS).check("").is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExportOptions {
    rounds: u32,
    allow_low_rounds: bool,
}

impl ExportOptions {
    /// `rounds` PBKDF2 rounds, at least [`MIN_ROUNDS`].
    pub fn new(rounds: u32) -> Self {
        Self {
            rounds,
            allow_low_rounds: false,
        }
    }

    /// Allows fewer rounds than [`MIN_ROUNDS`] (tests, or a device too slow for more).
    /// Never 0, never above [`MAX_ROUNDS`].
    pub fn allow_low_rounds(mut self) -> Self {
        self.allow_low_rounds = true;
        self
    }

    /// The rounds.
    pub fn rounds(&self) -> u32 {
        self.rounds
    }

    /// Checks the rounds alone (before a passphrase is asked for).
    pub fn check_rounds(&self) -> Result<(), ExportError> {
        if self.rounds == 0 || self.rounds > MAX_ROUNDS {
            return Err(ExportError::Rounds(self.rounds));
        }
        if self.rounds < MIN_ROUNDS && !self.allow_low_rounds {
            return Err(ExportError::LowRounds(self.rounds));
        }
        Ok(())
    }

    /// Checks everything before any work: the rounds, and a passphrase that is not empty
    /// or only whitespace.
    pub fn check(&self, passphrase: &str) -> Result<(), ExportError> {
        self.check_rounds()?;
        if passphrase.trim().is_empty() {
            return Err(ExportError::EmptyPassphrase);
        }
        Ok(())
    }
}

impl Default for ExportOptions {
    fn default() -> Self {
        Self::new(DEFAULT_ROUNDS)
    }
}

impl From<u32> for ExportOptions {
    fn from(rounds: u32) -> Self {
        Self::new(rounds)
    }
}

/// Checks a new export's passphrase and rounds before any work (the same checks
/// [`ExportWriter::new`](crate::ExportWriter::new) makes): a caller that asks for a
/// passphrase and then does a long restore runs this first.
pub fn check_export_params(
    passphrase: &str,
    rounds: u32,
    allow_low_rounds: bool,
) -> Result<(), ExportError> {
    let mut options = ExportOptions::new(rounds);
    options.allow_low_rounds = allow_low_rounds;
    options.check(passphrase)
}

/// PBKDF2-HMAC-SHA-512 to 64 bytes: AES key, HMAC key, boxed and wiped on drop; the
/// cipher and the MAC are built by constructors that cannot fail.
#[derive(Zeroize, ZeroizeOnDrop)]
pub(crate) struct ExportKeys(Box<SplitKeys>);

#[derive(Zeroize)]
struct SplitKeys {
    aes: [u8; 32],
    mac: [u8; 32],
}

impl ExportKeys {
    /// The keys of an export with these `rounds` (already checked to be in
    /// 1..=[`MAX_ROUNDS`] by every caller): the passphrase derivation of Matrix
    /// (recovery-key's PBKDF2-HMAC-SHA-512, the one `m.pbkdf2` uses) to 512 bits.
    pub(crate) fn derive(passphrase: &str, salt: &[u8], rounds: u32) -> Result<Self, ExportError> {
        // It refuses only a count outside 1..=MAX_ITERATIONS (= MAX_ROUNDS) and an output
        // that is not a whole number of bytes up to 64; this one is 64.
        let okm = derive_bits(passphrase.as_bytes(), salt, u64::from(rounds), 512)
            .map_err(|_| ExportError::Rounds(rounds))?;
        let mut keys = Box::new(SplitKeys {
            aes: [0; 32],
            mac: [0; 32],
        });
        keys.aes.copy_from_slice(&okm[..32]);
        keys.mac.copy_from_slice(&okm[32..]);
        Ok(Self(keys))
    }
    pub(crate) fn cipher(&self, iv: &[u8; 16]) -> Aes256Ctr64 {
        Aes256Ctr64::new(&self.0.aes.into(), &(*iv).into())
    }
    /// HMAC-SHA-256 keyed with the MAC key, through the constructor that cannot fail: HMAC
    /// zero-pads a key shorter than its 64-byte block (RFC 2104 §2), so the padded block
    /// is the same key.
    pub(crate) fn hmac(&self) -> Hmac<Sha256> {
        let mut block = Key::<Hmac<Sha256>>::default();
        block[..32].copy_from_slice(&self.0.mac);
        let mac = <Hmac<Sha256> as KeyInit>::new(&block);
        block.as_mut_slice().zeroize();
        mac
    }
}

/// The fixed header: version, salt, IV, rounds (big-endian).
pub(crate) fn header(salt: &[u8; 16], iv: &[u8; 16], rounds: u32) -> [u8; HEAD_LEN] {
    let mut head = [0u8; HEAD_LEN];
    head[0] = VERSION;
    head[1..17].copy_from_slice(salt);
    head[17..33].copy_from_slice(iv);
    head[33..37].copy_from_slice(&rounds.to_be_bytes());
    head
}

/// The text without a leading byte-order mark (Element's reader, a browser, drops it).
fn without_bom(text: &str) -> &str {
    text.strip_prefix('\u{feff}').unwrap_or(text)
}

/// Is this text an export file (does it have the header line)?
pub fn looks_like_export(text: &str) -> bool {
    without_bom(text).lines().any(|l| l.trim() == HEADER)
}

/// The binary body of an armoured export: the text between the header and trailer lines
/// (a leading byte-order mark, surrounding whitespace and CRLF ignored), all whitespace
/// removed, decoded once (padded or unpadded base64, any wrapping).
pub fn dearmor(armored: &str) -> Result<Vec<u8>, ExportError> {
    let mut lines = without_bom(armored).lines().map(str::trim);
    lines
        .by_ref()
        .find(|l| *l == HEADER)
        .ok_or(ExportError::Armor)?;
    let mut b64 = String::new();
    let mut closed = false;
    for line in lines {
        if line == TRAILER {
            closed = true;
            break;
        }
        b64.extend(line.chars().filter(|c| !c.is_whitespace()));
    }
    if !closed {
        // An END line only before the BEGIN line is a mangled file, not a cut one.
        let trailer_anywhere = without_bom(armored).lines().any(|l| l.trim() == TRAILER);
        return Err(if trailer_anywhere {
            ExportError::Armor
        } else {
            ExportError::Truncated
        });
    }
    decode_base64_public(&b64).map_err(|_| ExportError::Base64)
}

/// Decrypts an armoured export with `passphrase`, returning the plaintext JSON text
/// (wiped on drop). The version and rounds are checked before any key derivation, and
/// the HMAC (constant time) before anything is decrypted.
pub fn decrypt_export(armored: &str, passphrase: &str) -> Result<Zeroizing<Vec<u8>>, ExportError> {
    let body = dearmor(armored)?;
    if body.len() < HEAD_LEN + MAC_LEN {
        return Err(ExportError::TooShort(body.len()));
    }
    if body[0] != VERSION {
        return Err(ExportError::Version(body[0]));
    }
    let rounds = u32::from_be_bytes([body[33], body[34], body[35], body[36]]);
    if rounds == 0 || rounds > MAX_ROUNDS {
        return Err(ExportError::Rounds(rounds));
    }
    let (salt, iv) = (&body[1..17], &body[17..33]);
    let keys = ExportKeys::derive(passphrase, salt, rounds)?;
    let (signed, mac) = body.split_at(body.len() - MAC_LEN);
    let mut hmac = keys.hmac();
    hmac.update(signed);
    hmac.verify_slice(mac).map_err(|_| ExportError::Mac)?;
    let mut plaintext = Zeroizing::new(signed[HEAD_LEN..].to_vec());
    let iv: [u8; 16] = iv
        .try_into()
        .map_err(|_| ExportError::TooShort(body.len()))?;
    keys.cipher(&iv).apply_keystream(&mut plaintext);
    Ok(plaintext)
}

/// Decrypts an export and parses its room keys. An empty plaintext — what earlier
/// versions of this tool wrote for an export of no sessions — reads as no sessions.
pub fn decrypt_sessions(
    armored: &str,
    passphrase: &str,
) -> Result<Vec<ExportedRoomKey>, ExportError> {
    let text = decrypt_export(armored, passphrase)?;
    if text.iter().all(u8::is_ascii_whitespace) {
        return Ok(Vec::new());
    }
    serde_json::from_slice(&text).map_err(|e| ExportError::Json(e.into()))
}

/// Encrypts `plaintext` with a random salt and IV (bit 63 cleared), in Element's layout.
/// The passphrase and rounds are checked first ([`ExportOptions::check`]).
pub fn encrypt_export(
    plaintext: &[u8],
    passphrase: &str,
    options: impl Into<ExportOptions>,
) -> Result<String, ExportError> {
    let mut out = Vec::new();
    let mut w = crate::ExportWriter::new(&mut out, passphrase, options)?;
    w.write_raw(plaintext)
        .map_err(|e| ExportError::Io(e.into()))?;
    w.finish().map_err(|e| ExportError::Io(e.into()))?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// The binary body for a given salt, IV and rounds. **For known-answer vectors**: a
/// reused salt and IV under the same passphrase reuse the keystream, and neither the
/// [`MIN_ROUNDS`] floor nor the empty-passphrase check applies (vectors use few rounds).
pub fn encrypt_body_with(
    plaintext: &[u8],
    passphrase: &str,
    salt: &[u8; 16],
    iv: &[u8; 16],
    rounds: u32,
) -> Result<Vec<u8>, ExportError> {
    if rounds == 0 || rounds > MAX_ROUNDS {
        return Err(ExportError::Rounds(rounds));
    }
    let keys = ExportKeys::derive(passphrase, salt, rounds)?;
    let mut body = Vec::with_capacity(HEAD_LEN + plaintext.len() + MAC_LEN);
    body.extend_from_slice(&header(salt, iv, rounds));
    let start = body.len();
    body.extend_from_slice(plaintext);
    keys.cipher(iv).apply_keystream(&mut body[start..]);
    let mut hmac = keys.hmac();
    hmac.update(&body);
    body.extend_from_slice(&hmac.finalize().into_bytes());
    Ok(body)
}
