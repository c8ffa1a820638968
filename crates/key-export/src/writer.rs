//! Writing an export as a stream: plaintext in, armoured text out, with nothing held but
//! the current 96-byte base64 chunk.
//!
//! Every file written here is read by every importer (checked with matrix-nio's importer
//! and Element's reader):
//! - zero sessions are the JSON array `[]` (matrix-nio and our reader refuse an empty
//!   plaintext);
//! - a session without `forwarding_curve25519_key_chain` (required by the spec; matrix-nio
//!   refuses the *whole file* over one such entry) gets `[]`, counted in
//!   [`ExportWriter::completed`];
//! - a session without `sender_claimed_keys` is written without it, and counted in
//!   [`ExportWriter::without_claimed_keys`]. The value is the sending device's Ed25519 key,
//!   which nothing here knows: inventing one would misattribute messages, and the empty
//!   map `{}` makes matrix-nio refuse the whole file (its schema requires `ed25519`),
//!   while left out, matrix-nio skips only that entry and Element (matrix-sdk-crypto,
//!   which defaults it) imports it. A `null` one is left out the same way.
//!
//! Every other member is written byte for byte as given.

use std::io::{self, Write};

use ctr::cipher::StreamCipher;
use hmac::{Hmac, Mac};
use recovery_key::encoding::encode_base64_padded;
use serde::{
    Deserializer, Serialize,
    de::{IgnoredAny, MapAccess, Visitor},
};
use serde_json::Value;
use sha2::Sha256;
use zeroize::{Zeroize, Zeroizing};

use crate::format::{Aes256Ctr64, ExportError, ExportKeys, ExportOptions, HEADER, TRAILER, header};

/// The member completed with an empty list when missing or `null`.
const CHAIN: &str = "forwarding_curve25519_key_chain";
/// The member left out when missing or `null` (see the module docs).
const CLAIMED: &str = "sender_claimed_keys";

/// What has been written so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Written {
    Nothing,
    Raw,
    Sessions,
}

/// Element base64-encodes the body 96 bytes at a time: 128-character lines, padding only
/// on the last one.
const CHUNK: usize = 96;

/// Streams a key export to `W` in Element's layout. Sessions are written one at a time
/// as JSON array elements ([`write_session`](Self::write_session)), or raw plaintext
/// with [`write_raw`](Self::write_raw); [`finish`](Self::finish) appends the MAC and the
/// trailer.
pub struct ExportWriter<W: Write> {
    out: W,
    cipher: Aes256Ctr64,
    hmac: Hmac<Sha256>,
    pending: Zeroizing<Vec<u8>>,
    sessions: u64,
    completed: u64,
    without_claimed_keys: u64,
    written: Written,
}

impl<W: Write> ExportWriter<W> {
    /// Starts an export with a random salt and IV (bit 63 cleared). The passphrase and
    /// rounds are checked first ([`ExportOptions::check`]): an empty passphrase, rounds
    /// of 0 or above the cap, and fewer than [`MIN_ROUNDS`](crate::MIN_ROUNDS) unless
    /// allowed, are refused. A plain `u32` is strict options with those rounds.
    pub fn new(
        out: W,
        passphrase: &str,
        options: impl Into<ExportOptions>,
    ) -> Result<Self, ExportError> {
        let options = options.into();
        options.check(passphrase)?;
        let mut salt = [0u8; 16];
        let mut iv = [0u8; 16];
        getrandom::fill(&mut salt).map_err(ExportError::Random)?;
        getrandom::fill(&mut iv).map_err(ExportError::Random)?;
        iv[8] &= 0x7f;
        Self::with_parameters(out, passphrase, &salt, &iv, options)
    }

    /// Starts an export with the given salt, IV and options (checked as by
    /// [`new`](Self::new)). **For vectors and tests**: a reused salt and IV reuse the
    /// keystream.
    pub fn with_parameters(
        mut out: W,
        passphrase: &str,
        salt: &[u8; 16],
        iv: &[u8; 16],
        options: impl Into<ExportOptions>,
    ) -> Result<Self, ExportError> {
        let options = options.into();
        options.check(passphrase)?;
        let rounds = options.rounds();
        let keys = ExportKeys::derive(passphrase, salt, rounds)?;
        let cipher = keys.cipher(iv);
        let mut hmac = keys.hmac();
        let head = header(salt, iv, rounds);
        hmac.update(&head);
        let io = |e: io::Error| ExportError::Io(e.into());
        out.write_all(HEADER.as_bytes()).map_err(io)?;
        out.write_all(b"\n").map_err(io)?;
        let mut w = Self {
            out,
            cipher,
            hmac,
            pending: Zeroizing::new(Vec::with_capacity(2 * CHUNK)),
            sessions: 0,
            completed: 0,
            without_claimed_keys: 0,
            written: Written::Nothing,
        };
        w.pending.extend_from_slice(&head);
        w.flush_chunks(false).map_err(io)?;
        Ok(w)
    }

    /// Encrypts and writes raw plaintext bytes: the caller writes the whole JSON text
    /// (do not mix with [`write_session`](Self::write_session)).
    pub fn write_raw(&mut self, plaintext: &[u8]) -> io::Result<()> {
        if self.written == Written::Nothing && !plaintext.is_empty() {
            self.written = Written::Raw;
        }
        self.encrypt(plaintext)
    }

    fn encrypt(&mut self, plaintext: &[u8]) -> io::Result<()> {
        for piece in plaintext.chunks(4096) {
            let mut buf = Zeroizing::new(piece.to_vec());
            self.cipher.apply_keystream(&mut buf);
            self.hmac.update(&buf);
            self.pending.extend_from_slice(&buf);
            self.flush_chunks(false)?;
        }
        Ok(())
    }

    /// Writes one session as the next element of the JSON array, completed as
    /// [`write_session_json`](Self::write_session_json) completes it.
    pub fn write_session<T: Serialize>(&mut self, session: &T) -> io::Result<()> {
        let json = Zeroizing::new(serde_json::to_vec(session).map_err(io::Error::other)?);
        self.write_session_json(&json)
    }

    /// Writes one session given as JSON text (one object) as the next array element.
    ///
    /// A missing or `null` `forwarding_curve25519_key_chain` is written as `[]`
    /// ([`completed`](Self::completed) counts those sessions); a missing or `null`
    /// `sender_claimed_keys` is left out ([`without_claimed_keys`](Self::without_claimed_keys)
    /// counts them; see the module docs for why). Every other member is written as given.
    pub fn write_session_json(&mut self, json: &[u8]) -> io::Result<()> {
        let found = Members::scan(json).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("a session is not a JSON object: {e}"),
            )
        })?;
        self.encrypt(if self.sessions == 0 { b"[\n" } else { b",\n" })?;
        self.written = Written::Sessions;
        self.sessions += 1;
        if found.chain != Member::Present {
            self.completed += 1;
        }
        if found.claimed != Member::Present {
            self.without_claimed_keys += 1;
        }
        if found.chain == Member::Null || found.claimed == Member::Null {
            // Rare: rewrite the object without the nulls (and wipe the parsed copy).
            let fixed = complete_nulls(json)?;
            return self.encrypt(&fixed);
        }
        if found.chain == Member::Present {
            return self.encrypt(json);
        }
        // Add the chain before the closing brace, writing the given bytes as they are.
        let end = json
            .iter()
            .rposition(|&b| b == b'}')
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no closing brace"))?;
        let body = &json[..end];
        self.encrypt(body)?;
        if body.trim_ascii() != b"{" {
            self.encrypt(b",")?;
        }
        self.encrypt(format!("\"{CHAIN}\":[]").as_bytes())?;
        self.encrypt(&json[end..])
    }

    /// How many sessions lacked `forwarding_curve25519_key_chain` (or had `null`) and were
    /// written with an empty one.
    pub fn completed(&self) -> u64 {
        self.completed
    }

    /// How many sessions were written without `sender_claimed_keys` (the backup held none,
    /// or `null`): Element imports them, matrix-nio skips them.
    pub fn without_claimed_keys(&self) -> u64 {
        self.without_claimed_keys
    }

    /// Closes the JSON array (`[]` when no session was written and no raw plaintext
    /// either: an export of nothing is still a list), appends the MAC and the trailer,
    /// and returns the writer.
    pub fn finish(mut self) -> io::Result<W> {
        match self.written {
            Written::Sessions => self.encrypt(b"\n]\n")?,
            Written::Nothing => self.encrypt(b"[]")?,
            Written::Raw => {}
        }
        let mac = self.hmac.clone().finalize().into_bytes();
        self.pending.extend_from_slice(&mac);
        self.flush_chunks(true)?;
        self.out.write_all(TRAILER.as_bytes())?;
        self.out.write_all(b"\n")?;
        self.out.flush()?;
        Ok(self.out)
    }

    /// How many sessions were written.
    pub fn sessions(&self) -> u64 {
        self.sessions
    }

    fn flush_chunks(&mut self, all: bool) -> io::Result<()> {
        let mut start = 0;
        while self.pending.len() - start >= CHUNK || (all && start < self.pending.len()) {
            let end = (start + CHUNK).min(self.pending.len());
            let line = encode_base64_padded(&self.pending[start..end]);
            self.out.write_all(line.as_bytes())?;
            self.out.write_all(b"\n")?;
            start = end;
        }
        self.pending.drain(..start);
        Ok(())
    }
}

impl<W: Write> std::fmt::Debug for ExportWriter<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExportWriter")
            .field("sessions", &self.sessions)
            .field("completed", &self.completed)
            .field("without_claimed_keys", &self.without_claimed_keys)
            .finish_non_exhaustive()
    }
}

/// How a member appears in a session object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Member {
    Missing,
    Null,
    Present,
}

/// How the two members appear, found without copying any value (values are skipped, not
/// parsed into strings).
struct Members {
    chain: Member,
    claimed: Member,
}

impl Members {
    fn scan(json: &[u8]) -> Result<Self, serde_json::Error> {
        struct Scan;
        impl<'de> Visitor<'de> for Scan {
            type Value = Members;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Members, A::Error> {
                let mut found = Members {
                    chain: Member::Missing,
                    claimed: Member::Missing,
                };
                while let Some(name) = map.next_key::<String>()? {
                    let slot = match name.as_str() {
                        CHAIN => &mut found.chain,
                        CLAIMED => &mut found.claimed,
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                            continue;
                        }
                    };
                    *slot = match map.next_value::<Option<IgnoredAny>>()? {
                        Some(_) => Member::Present,
                        None => Member::Null,
                    };
                }
                Ok(found)
            }
        }
        let mut de = serde_json::Deserializer::from_slice(json);
        let found = (&mut de).deserialize_map(Scan)?;
        de.end()?;
        Ok(found)
    }
}

/// The session object with a `null` or missing chain set to `[]` and a `null`
/// `sender_claimed_keys` removed, in a wiped buffer; the parsed copy's strings are wiped
/// before it is dropped.
fn complete_nulls(json: &[u8]) -> io::Result<Zeroizing<Vec<u8>>> {
    let mut value: Value = serde_json::from_slice(json).map_err(io::Error::other)?;
    if let Value::Object(map) = &mut value {
        if map.get(CHAIN).is_none_or(Value::is_null) {
            map.insert(CHAIN.to_owned(), Value::Array(Vec::new()));
        }
        if map.get(CLAIMED).is_some_and(Value::is_null) {
            map.shift_remove(CLAIMED);
        }
    }
    // Room for any re-rendering, so the buffer never moves (a move frees an unwiped copy).
    let mut out = Zeroizing::new(Vec::with_capacity(2 * json.len() + 64));
    let written = serde_json::to_writer(&mut *out, &value).map_err(io::Error::other);
    wipe(&mut value);
    written?;
    Ok(out)
}

fn wipe(value: &mut Value) {
    match value {
        Value::String(s) => s.zeroize(),
        Value::Array(items) => items.iter_mut().for_each(wipe),
        Value::Object(map) => map.values_mut().for_each(wipe),
        _ => {}
    }
}
