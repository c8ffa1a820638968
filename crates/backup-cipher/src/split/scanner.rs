//! The scanner under the walk: a buffered reader that keeps what is being looked at
//! (up to a limit), and the byte-level primitives the walk is made of — a token, a
//! string, one value's extent — each bounded by a look-ahead limit. Also the reader
//! wrapper that counts the body's bytes and refuses to read past the size limit.

use std::{
    io::{self, Read},
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
};

use super::{CHUNK, MAX_DEPTH, SHOWN, WalkError, truncate_text};

/// The typed value a [`CountingReader`] fails with when the body is over its limit.
#[derive(Debug)]
pub(crate) struct LimitExceeded(pub(crate) u64);

impl std::fmt::Display for LimitExceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the body is larger than the limit of {} bytes", self.0)
    }
}

impl std::error::Error for LimitExceeded {}

/// Counts the bytes read and refuses to read past a limit (with [`LimitExceeded`]).
pub(crate) struct CountingReader<R> {
    pub(crate) inner: R,
    pub(crate) count: Arc<AtomicU64>,
    pub(crate) limit: u64,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let total = self.count.fetch_add(n as u64, Ordering::Relaxed) + n as u64;
        if total > self.limit {
            return Err(io::Error::other(LimitExceeded(self.limit)));
        }
        Ok(n)
    }
}

/// Why an inner scan stopped.
pub(super) enum Stop {
    /// The walk cannot go on.
    Abort(WalkError),
    /// The input ended (or its reader failed).
    Eof,
    /// A look-ahead limit was reached.
    Cap,
    /// The structure is broken: why.
    Damage(&'static str),
}

impl From<WalkError> for Stop {
    fn from(f: WalkError) -> Self {
        Self::Abort(f)
    }
}

pub(super) type Scan<T> = Result<T, Stop>;

/// A buffered reader with the scanning primitives.
pub(super) struct Scanner<R> {
    pub(super) reader: R,
    /// Unconsumed bytes (from `mark` or `pos` on) and what was read after them.
    pub(super) buf: Vec<u8>,
    pub(super) pos: usize,
    /// The start of what is being looked at: kept in `buf` while it is at most `keep`
    /// bytes behind `pos`; past that, its first [`SHOWN`] bytes go to `prefix`, the mark
    /// is dropped and `overflowed` is set.
    pub(super) mark: Option<usize>,
    pub(super) keep: usize,
    pub(super) overflowed: bool,
    pub(super) prefix: Vec<u8>,
    /// Offset of `buf[0]` in the body.
    pub(super) base: u64,
    pub(super) eof: bool,
    /// Why the input ended early, when its reader failed.
    pub(super) read_error: Option<String>,
    /// No byte at or past this offset is looked at ([`Stop::Cap`]).
    pub(super) limit: u64,
}

impl<R: Read> Scanner<R> {
    pub(super) fn abs(&self, i: usize) -> u64 {
        self.base + i as u64
    }

    /// The index in `buf` of an absolute offset that is still held.
    pub(super) fn idx(&self, abs: u64) -> usize {
        abs.saturating_sub(self.base) as usize
    }

    /// Starts keeping from `at` (an index into `buf`), up to `keep` bytes.
    pub(super) fn begin(&mut self, at: usize, keep: usize) {
        self.mark = Some(at);
        self.keep = keep;
        self.overflowed = false;
        self.prefix.clear();
    }

    pub(super) fn end(&mut self) {
        self.mark = None;
        self.keep = usize::MAX;
        self.limit = u64::MAX;
    }

    /// Reads more; `false` at the end of the input.
    pub(super) fn fill(&mut self) -> Scan<bool> {
        if self.eof {
            return Ok(false);
        }
        if let Some(m) = self.mark
            && self.pos.saturating_sub(m) > self.keep
        {
            let shown = (m + SHOWN + 1).min(self.buf.len());
            self.prefix = self.buf[m..shown].to_vec();
            self.mark = None;
            self.overflowed = true;
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
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.buf.truncate(len);
                    if let Some(l) = e.get_ref().and_then(|i| i.downcast_ref::<LimitExceeded>()) {
                        return Err(Stop::Abort(WalkError::TooLarge(l.0)));
                    }
                    self.eof = true;
                    let mut text = e.to_string();
                    truncate_text(&mut text, 200);
                    self.read_error = Some(text);
                    return Ok(false);
                }
            }
        };
        self.buf.truncate(len + n);
        self.eof = n == 0;
        Ok(n > 0)
    }

    /// The byte at `pos`, reading more if needed.
    pub(super) fn peek(&mut self) -> Scan<u8> {
        if self.abs(self.pos) >= self.limit {
            return Err(Stop::Cap);
        }
        while self.pos >= self.buf.len() {
            if !self.fill()? {
                return Err(Stop::Eof);
            }
        }
        Ok(self.buf[self.pos])
    }

    /// The next byte that is not JSON whitespace.
    pub(super) fn peek_token(&mut self) -> Scan<u8> {
        loop {
            match self.peek()? {
                b' ' | b'\t' | b'\n' | b'\r' => self.pos += 1,
                b => return Ok(b),
            }
        }
    }

    /// Whether the bytes at `pos` start with `text` (reading more if needed; `false`
    /// when the input ends first).
    pub(super) fn looking_at(&mut self, text: &[u8]) -> Scan<bool> {
        while self.buf.len() - self.pos < text.len() {
            if !self.fill()? {
                return Ok(false);
            }
        }
        Ok(self.buf[self.pos..].starts_with(text))
    }

    /// Steps over a string (at its opening quote). Its content is not validated here.
    pub(super) fn scan_string(&mut self) -> Scan<()> {
        self.pos += 1;
        self.scan_string_rest()
    }

    /// Steps over the rest of a string whose opening quote is behind `pos`.
    pub(super) fn scan_string_rest(&mut self) -> Scan<()> {
        loop {
            let here = self.abs(self.pos);
            if here >= self.limit {
                return Err(Stop::Cap);
            }
            let room = (self.limit - here).min((self.buf.len() - self.pos) as u64) as usize;
            let end = self.pos + room;
            let rest = &self.buf[self.pos..end];
            match memchr::memchr2(b'"', b'\\', rest) {
                Some(i) if rest[i] == b'"' => {
                    self.pos += i + 1;
                    return Ok(());
                }
                Some(i) => {
                    // An escape: step over the backslash and the byte it escapes.
                    self.pos += i + 1;
                    self.peek()?;
                    self.pos += 1;
                }
                None => {
                    self.pos = end;
                    if end == self.buf.len() && !self.fill()? {
                        return Err(Stop::Eof);
                    }
                }
            }
        }
    }

    /// Steps over one value (after whitespace): its extent only (strings closed,
    /// brackets of matching kinds, depth at most [`MAX_DEPTH`]). With a `guard`, a value
    /// that holds what it must not is [`Stop::Damage`]: a room or an entry read as
    /// another member because a brace was lost or added.
    pub(super) fn scan_value(&mut self, guard: Guard) -> Scan<()> {
        let first = self.peek_token()?;
        let mut stack: Vec<u8> = Vec::new();
        let mut sessions = false;
        let mut entries = 0u32;
        loop {
            let b = match self.peek() {
                Ok(b) => b,
                Err(Stop::Eof) if stack.is_empty() && !matches!(first, b'"' | b'{' | b'[') => {
                    break;
                }
                Err(e) => return Err(e),
            };
            match b {
                b'"' => {
                    if guard == Guard::OneEntry {
                        if !stack.is_empty() && self.looking_at(b"\"session_data\"")? {
                            entries += 1;
                            if entries > 1 {
                                return Err(Stop::Damage(
                                    "an entry's text runs into the next entry",
                                ));
                            }
                        }
                    } else if guard != Guard::None && !stack.is_empty() {
                        if (sessions || guard == Guard::Entries)
                            && self.looking_at(b"\"session_data\"")?
                        {
                            return Err(Stop::Damage(if guard == Guard::Entries {
                                "a backup entry outside its room's sessions"
                            } else {
                                "a member that is not a room holds a room's sessions"
                            }));
                        }
                        sessions = sessions || self.looking_at(b"\"sessions\"")?;
                    }
                    self.scan_string()?;
                }
                b'{' | b'[' => {
                    if stack.len() >= MAX_DEPTH {
                        return Err(Stop::Abort(WalkError::Body(format!(
                            "it nests deeper than {MAX_DEPTH} levels at byte {}",
                            self.abs(self.pos)
                        ))));
                    }
                    stack.push(if b == b'{' { b'}' } else { b']' });
                    self.pos += 1;
                }
                b'}' | b']' if !stack.is_empty() => {
                    if stack.pop() != Some(b) {
                        return Err(Stop::Damage("brackets of different kinds meet"));
                    }
                    self.pos += 1;
                }
                b'}' | b']' | b',' | b':' | b' ' | b'\t' | b'\n' | b'\r' if stack.is_empty() => {
                    break;
                }
                _ => self.pos += 1,
            }
            if stack.is_empty() && matches!(first, b'{' | b'[' | b'"') {
                break;
            }
        }
        Ok(())
    }
}

/// What a value stepped over must not hold.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Guard {
    /// Anything goes.
    None,
    /// A room's shape: a `"sessions"` member and then a `"session_data"` one (for the
    /// body's own members).
    RoomShape,
    /// Any `"session_data"` member (for a room's members other than `"sessions"`).
    Entries,
    /// One entry: a second `"session_data"` means its text ran into the next entry.
    OneEntry,
}
