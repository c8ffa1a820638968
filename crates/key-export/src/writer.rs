//! Writing an export as a stream: plaintext in, armoured text out, with nothing held but
//! the current 96-byte base64 chunk.
//!
//! Every file written here is read by every importer: zero sessions are the JSON array
//! `[]` (matrix-nio and our reader refuse an empty plaintext), and each session carries
//! the members the spec requires of `ExportedSessionData` — a backup entry without
//! `forwarding_curve25519_key_chain` makes matrix-nio reject the whole file, one without
//! `sender_claimed_keys` is dropped by it — completed with empty values and counted.

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

/// Members the spec requires of every exported session that have an empty value a
/// reader accepts, with that value: `(name, JSON text)`.
const COMPLETED: [(&str, &str); 2] = [
    ("forwarding_curve25519_key_chain", "[]"),
    ("sender_claimed_keys", "{}"),
];

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
        let keys = ExportKeys::derive(passphrase, salt, rounds);
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
    /// Members the spec requires that are missing (or `null`) are added with empty values
    /// (`"forwarding_curve25519_key_chain": []`, `"sender_claimed_keys": {}`); every other
    /// member is written as given. [`completed`](Self::completed) counts such sessions.
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
        if found.null {
            // Rare: rewrite the object with the nulls replaced (and wipe the copy).
            self.completed += 1;
            let fixed = complete_nulls(json)?;
            return self.encrypt(&fixed);
        }
        let missing: Vec<(&str, &str)> = COMPLETED
            .iter()
            .zip(found.present)
            .filter(|(_, present)| !present)
            .map(|(m, _)| *m)
            .collect();
        if missing.is_empty() {
            return self.encrypt(json);
        }
        // Add the members before the closing brace, writing the given bytes as they are.
        self.completed += 1;
        let end = json
            .iter()
            .rposition(|&b| b == b'}')
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no closing brace"))?;
        let body = &json[..end];
        let empty_object = body.trim_ascii() == b"{";
        self.encrypt(body)?;
        for (i, (name, value)) in missing.iter().enumerate() {
            if i > 0 || !empty_object {
                self.encrypt(b",")?;
            }
            self.encrypt(format!("\"{name}\":{value}").as_bytes())?;
        }
        self.encrypt(&json[end..])
    }

    /// How many sessions lacked a member the spec requires and were completed with an
    /// empty value (see [`write_session_json`](Self::write_session_json)).
    pub fn completed(&self) -> u64 {
        self.completed
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
            .finish_non_exhaustive()
    }
}

/// Which completable members a session object has, found without copying any value
/// (values are skipped, not parsed into strings).
struct Members {
    /// Per [`COMPLETED`] entry: present with a non-null value.
    present: [bool; 2],
    /// One of them is present but `null`.
    null: bool,
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
                    present: [false; 2],
                    null: false,
                };
                while let Some(name) = map.next_key::<String>()? {
                    match COMPLETED.iter().position(|(n, _)| *n == name) {
                        Some(i) => match map.next_value::<Option<IgnoredAny>>()? {
                            Some(_) => found.present[i] = true,
                            None => found.null = true,
                        },
                        None => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
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

/// The session object with `null` completable members replaced (and missing ones added),
/// in a wiped buffer; the parsed copy's strings are wiped before it is dropped.
fn complete_nulls(json: &[u8]) -> io::Result<Zeroizing<Vec<u8>>> {
    let mut value: Value = serde_json::from_slice(json).map_err(io::Error::other)?;
    if let Value::Object(map) = &mut value {
        for (name, empty) in COMPLETED {
            if map.get(name).is_none_or(Value::is_null) {
                let empty: Value = serde_json::from_str(empty).map_err(io::Error::other)?;
                map.insert(name.to_owned(), empty);
            }
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
