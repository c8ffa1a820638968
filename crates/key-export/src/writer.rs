//! Writing an export as a stream: plaintext in, armoured text out, with nothing held but
//! the current 96-byte base64 chunk.

use std::io::{self, Write};

use ctr::cipher::StreamCipher;
use hmac::{Hmac, Mac};
use recovery_key::encoding::encode_base64_padded;
use serde::Serialize;
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::format::{Aes256Ctr64, ExportError, ExportKeys, HEADER, MAX_ROUNDS, TRAILER, header};

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
}

impl<W: Write> ExportWriter<W> {
    /// Starts an export with a random salt and IV (bit 63 cleared). `rounds` of 0 or
    /// above the cap is refused.
    pub fn new(out: W, passphrase: &str, rounds: u32) -> Result<Self, ExportError> {
        let mut salt = [0u8; 16];
        let mut iv = [0u8; 16];
        getrandom::fill(&mut salt).map_err(ExportError::Random)?;
        getrandom::fill(&mut iv).map_err(ExportError::Random)?;
        iv[8] &= 0x7f;
        Self::with_parameters(out, passphrase, &salt, &iv, rounds)
    }

    /// Starts an export with the given salt, IV and rounds. **For vectors and tests.**
    pub fn with_parameters(
        mut out: W,
        passphrase: &str,
        salt: &[u8; 16],
        iv: &[u8; 16],
        rounds: u32,
    ) -> Result<Self, ExportError> {
        if rounds == 0 || rounds > MAX_ROUNDS {
            return Err(ExportError::Rounds(rounds));
        }
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
        };
        w.pending.extend_from_slice(&head);
        w.flush_chunks(false).map_err(io)?;
        Ok(w)
    }

    /// Encrypts and writes raw plaintext bytes.
    pub fn write_raw(&mut self, plaintext: &[u8]) -> io::Result<()> {
        for piece in plaintext.chunks(4096) {
            let mut buf = Zeroizing::new(piece.to_vec());
            self.cipher.apply_keystream(&mut buf);
            self.hmac.update(&buf);
            self.pending.extend_from_slice(&buf);
            self.flush_chunks(false)?;
        }
        Ok(())
    }

    /// Writes one session as the next element of the JSON array.
    pub fn write_session<T: Serialize>(&mut self, session: &T) -> io::Result<()> {
        let json = Zeroizing::new(serde_json::to_vec(session).map_err(io::Error::other)?);
        self.write_session_json(&json)
    }

    /// Writes one session given as JSON text (one object) as the next array element.
    pub fn write_session_json(&mut self, json: &[u8]) -> io::Result<()> {
        self.write_raw(if self.sessions == 0 { b"[\n" } else { b",\n" })?;
        self.sessions += 1;
        self.write_raw(json)
    }

    /// Closes the JSON array (if sessions were written), appends the MAC and the
    /// trailer, and returns the writer.
    pub fn finish(mut self) -> io::Result<W> {
        if self.sessions > 0 {
            self.write_raw(b"\n]\n")?;
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
            .finish_non_exhaustive()
    }
}
