//! The streaming restore's reader: finds each session entry of a `GET /room_keys/keys`
//! body in a buffered byte stream and hands it on as its own JSON text, so the calling
//! thread never parses the body byte by byte through serde_json's `IoRead` (which the
//! profile showed taking a third of that thread).
//!
//! It walks only the structure `{"rooms": {ROOM: {"sessions": {SESSION: ENTRY}}}}`,
//! with the same rules as the serde visitors `restore_slice` uses: other members are
//! skipped (the first `"rooms"` and `"sessions"` count), `"rooms"`, each room and
//! `"sessions"` must be objects, anything may follow an entry's id. Every piece of JSON
//! it steps over is still validated by serde_json, from a slice: keys are decoded with
//! it, each entry becomes a [`RawValue`] through it, each skipped member is checked as
//! [`IgnoredAny`]. Nesting deeper than serde_json's own limit (128) is refused before any
//! of that, and a body must end after its object (whitespace aside).

use std::{io::Read, ops::Range, sync::Arc};

use serde::de::{Error as _, IgnoredAny};
use serde_json::value::RawValue;

/// Bytes asked of the reader at a time.
const CHUNK: usize = 1 << 16;

type Result<T> = std::result::Result<T, serde_json::Error>;

/// What the splitter asks of its caller for each entry: `false` stops the restore
/// (cancelled).
pub(crate) trait EntrySink {
    fn entry(&mut self, room: Arc<str>, session_id: String, raw: Box<RawValue>) -> bool;
}

/// Reads a whole body from `reader`, handing each entry to `sink` in order.
pub(crate) fn split_body<R: Read>(reader: R, sink: &mut dyn EntrySink) -> Result<()> {
    let mut s = Splitter {
        reader,
        buf: Vec::with_capacity(CHUNK),
        pos: 0,
        mark: None,
        base: 0,
        eof: false,
    };
    s.body(sink)
}

struct Splitter<R> {
    reader: R,
    /// Unconsumed bytes (from `mark` or `pos` on) and what was read after them.
    buf: Vec<u8>,
    pos: usize,
    /// The start of the value being scanned: kept in `buf` until it is taken.
    mark: Option<usize>,
    /// Offset of `buf[0]` in the body, for error messages.
    base: u64,
    eof: bool,
}

impl<R: Read> Splitter<R> {
    fn error(&self, what: &str) -> serde_json::Error {
        serde_json::Error::custom(format!("{what} at byte {}", self.base + self.pos as u64))
    }

    /// Reads more; `false` at the end of the input.
    fn fill(&mut self) -> Result<bool> {
        if self.eof {
            return Ok(false);
        }
        let keep = self.mark.unwrap_or(self.pos);
        if keep > 0 {
            self.buf.drain(..keep);
            self.base += keep as u64;
            self.pos -= keep;
            self.mark = self.mark.map(|m| m - keep);
        }
        let len = self.buf.len();
        self.buf.resize(len + CHUNK, 0);
        let n = loop {
            match self.reader.read(&mut self.buf[len..]) {
                Ok(n) => break n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.buf.truncate(len);
                    return Err(serde_json::Error::io(e));
                }
            }
        };
        self.buf.truncate(len + n);
        self.eof = n == 0;
        Ok(n > 0)
    }

    /// The byte at `pos`, reading more if needed; `None` at the end of the input.
    fn peek(&mut self) -> Result<Option<u8>> {
        while self.pos >= self.buf.len() {
            if !self.fill()? {
                return Ok(None);
            }
        }
        Ok(Some(self.buf[self.pos]))
    }

    /// The next byte that is not JSON whitespace.
    fn peek_token(&mut self) -> Result<Option<u8>> {
        loop {
            match self.peek()? {
                Some(b' ' | b'\t' | b'\n' | b'\r') => self.pos += 1,
                other => return Ok(other),
            }
        }
    }

    fn expect(&mut self, byte: u8, what: &str) -> Result<()> {
        if self.peek_token()? == Some(byte) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.error(what))
        }
    }

    /// Steps over a string (at its opening quote); the caller validates it.
    fn scan_string(&mut self) -> Result<()> {
        self.pos += 1;
        loop {
            let rest = &self.buf[self.pos..];
            match rest.iter().position(|&b| b == b'"' || b == b'\\') {
                Some(i) if rest[i] == b'"' => {
                    self.pos += i + 1;
                    return Ok(());
                }
                Some(i) => {
                    // An escape: step over the backslash and the byte it escapes.
                    self.pos += i + 1;
                    if self.peek()?.is_none() {
                        return Err(self.error("EOF while parsing a string"));
                    }
                    self.pos += 1;
                }
                None => {
                    self.pos = self.buf.len();
                    if !self.fill()? {
                        return Err(self.error("EOF while parsing a string"));
                    }
                }
            }
        }
    }

    /// Steps over one value (after whitespace) and returns where it lies in `buf`,
    /// which stays there until the next call that reads. Only its extent is found here
    /// (nesting is counted, not recursed into): the caller validates it with serde_json.
    fn scan_value(&mut self) -> Result<Range<usize>> {
        let (start, first) = match self.peek_token()? {
            Some(b) => (self.pos, b),
            None => return Err(self.error("EOF while parsing a value")),
        };
        self.mark = Some(start);
        let mut depth = 0usize;
        loop {
            let Some(b) = self.peek()? else {
                if depth == 0 {
                    break;
                }
                return Err(self.error("EOF while parsing a value"));
            };
            match b {
                b'"' => self.scan_string()?,
                b'{' | b'[' => {
                    depth += 1;
                    self.pos += 1;
                }
                b'}' | b']' if depth > 0 => {
                    depth -= 1;
                    self.pos += 1;
                }
                // The end of a scalar at the top of the value.
                b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r' if depth == 0 => break,
                _ => self.pos += 1,
            }
            if depth == 0 && matches!(first, b'{' | b'[' | b'"') {
                break;
            }
        }
        // `mark` moves only in `fill`, which adjusts it with `pos`.
        let start = self.mark.take().unwrap_or(start);
        Ok(start..self.pos)
    }

    /// An object member's key (after whitespace), decoded.
    fn key(&mut self) -> Result<String> {
        if self.peek_token()? != Some(b'"') {
            return Err(self.error("expected a string key"));
        }
        let range = self.scan_value()?;
        serde_json::from_slice(&self.buf[range])
    }

    /// Steps over a member's value that is not used, checking it is JSON.
    fn skip_value(&mut self) -> Result<()> {
        let range = self.scan_value()?;
        serde_json::from_slice::<IgnoredAny>(&self.buf[range]).map(|_| ())
    }

    /// The members of an object (at its `{`), each handed to `member` after its key
    /// and colon; `member` must consume the value.
    fn object(
        &mut self,
        what: &str,
        mut member: impl FnMut(&mut Self, String) -> Result<()>,
    ) -> Result<()> {
        self.expect(b'{', what)?;
        if self.peek_token()? == Some(b'}') {
            self.pos += 1;
            return Ok(());
        }
        loop {
            let key = self.key()?;
            self.expect(b':', "expected ':'")?;
            member(self, key)?;
            match self.peek_token()? {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(());
                }
                _ => return Err(self.error("expected ',' or '}'")),
            }
        }
    }

    fn body(&mut self, sink: &mut dyn EntrySink) -> Result<()> {
        let mut rooms = false;
        self.object(
            r#"invalid type: expected a GET /room_keys/keys body {"rooms": {…}}"#,
            |s, key| {
                if key == "rooms" && !rooms {
                    rooms = true;
                    s.rooms(sink)
                } else {
                    s.skip_value()
                }
            },
        )?;
        if self.peek_token()?.is_some() {
            return Err(self.error("trailing characters"));
        }
        if !rooms {
            // A version-info file passed by mistake must not "restore" nothing silently.
            return Err(serde_json::Error::custom(
                "it has no \"rooms\" field, so it is not a GET /room_keys/keys body (is it the backup version info?)",
            ));
        }
        Ok(())
    }

    fn rooms(&mut self, sink: &mut dyn EntrySink) -> Result<()> {
        self.object(
            "invalid type: expected an object of rooms by room id",
            |s, room| {
                let room: Arc<str> = Arc::from(room);
                let mut sessions = false;
                let what =
                    format!(r#"invalid type: expected room {room} as {{"sessions": {{…}}}}"#);
                s.object(&what, |s, key| {
                    if key == "sessions" && !sessions {
                        sessions = true;
                        s.sessions(&room, sink)
                    } else {
                        s.skip_value()
                    }
                })
            },
        )
    }

    fn sessions(&mut self, room: &Arc<str>, sink: &mut dyn EntrySink) -> Result<()> {
        let what = format!("invalid type: expected the sessions of room {room} by session id");
        self.object(&what, |s, session_id| {
            let range = s.scan_value()?;
            let raw: Box<RawValue> = serde_json::from_slice(&s.buf[range])?;
            if sink.entry(room.clone(), session_id, raw) {
                Ok(())
            } else {
                // Stop reading: the caller asked to (the error becomes `Cancelled`).
                Err(serde_json::Error::custom("cancelled"))
            }
        })
    }
}
