//! The one grammar of a backup body: finds each session entry of a `GET /room_keys/keys`
//! body (or of a per-room `GET /room_keys/keys/{roomId}` body) in a buffered byte stream
//! and hands it on as its own JSON text, in bounded memory, keeping what arrived and
//! stepping over what is damaged. Every restore path ([`restore_reader`],
//! [`restore_slice`], [`restore_room_reader`]) and [`check_body`] walk bodies with it.
//!
//! [`restore_reader`]: crate::restore_reader
//! [`restore_slice`]: crate::restore_slice
//! [`restore_room_reader`]: crate::restore_room_reader
//! [`check_body`]: crate::check_body
//!
//! # Structure
//!
//! It walks `{"rooms": {ROOM: {"sessions": {SESSION: ENTRY}}}}`. Other members are
//! stepped over; a second `"rooms"` or a second `"sessions"` in a room is read as well
//! as the first (each entry is authenticated on its own, so nothing is lost whatever the
//! server meant; Synapse and Python would keep only the last). An entry's text is found
//! by its extent (strings and brackets) and validated later by serde_json, as a
//! `KeyBackupData`, in the worker that decrypts it.
//!
//! # What each kind of damage costs
//!
//! - The body is empty or not an object, `"rooms"` is not an object, or there is no
//!   `"rooms"` (then something after the closing brace is refused too): the whole body
//!   is refused (there is nothing to keep, or it is not a backup body). Nesting deeper
//!   than [`MAX_DEPTH`] anywhere is refused too: no backup nests that deep, so it is
//!   hostile, not damage.
//! - The body ends early, or its reader fails: every complete entry before the cut is
//!   kept, and the cut becomes one `truncated` record naming the room (and the entry) in
//!   progress. Input that ends inside an entry is a cut only if no whole room or entry
//!   follows the entry's start (else the entry's text ran on through damage); a
//!   resynchronisation that reaches the end of input which ends as a body does (more
//!   closing braces after the last quote than levels open) found damage in a complete
//!   body, not a cut. A reader that fails after the closing brace lost nothing.
//! - An entry whose extent is found but which is not a `KeyBackupData`: one `malformed`
//!   record for that entry.
//! - A room whose value, or whose `"sessions"`, is not an object; a room or session id
//!   longer than [`MAX_ID_BYTES`]; an entry longer than [`MAX_ENTRY_BYTES`]: one
//!   `malformed` record for that room or entry, which is stepped over.
//! - Structural damage that loses the walker's place (a missing quote or brace, a byte
//!   where a `,` or `:` belongs, a body member shaped like a room — a `"sessions"` and
//!   then a `"session_data"` inside —, a room member other than `"sessions"` holding a
//!   `"session_data"`, an entry extent that spans two `"session_data"` members, bytes
//!   after a backup body's closing brace): one `damaged` record naming the bytes
//!   skipped, after *resynchronisation*. (A lost or added brace makes rooms and entries
//!   look like members of the level above; these are the shapes it leaves.)
//!
//! # Resynchronisation
//!
//! From the damaged place (the start of the damaged entry or member, which is looked at
//! again and refused, or the stray byte), the walker looks at every `"` for either
//! - a room start `"ROOM" : { "sessions" : {` (ROOM at most [`MAX_ID_BYTES`]): the walk
//!   goes on inside that room's sessions; or
//! - an entry start `"SESSION" : {…}` whose object is found whole within
//!   [`MAX_ENTRY_BYTES`], holds exactly one `"session_data"` and reads as a
//!   `KeyBackupData`: it is filed under the room whose object or sessions were being
//!   read when the damage was found — but only if the damage was found inside a room,
//!   and only if the bytes skipped do not contain the text `"sessions`.
//!
//! The rule is conservative on purpose: a room boundary always carries the word
//! `sessions` (`}}, "ROOM": {"sessions": {`), so a skipped stretch without it cannot have
//! crossed into another room, and an entry found after it belongs to the same room. When
//! the stretch may hold a boundary, the entries after it are *given up* (counted in the
//! record) until the next recognisable room start, rather than filed under a room they
//! may not belong to. Entries found after a resynchronisation go through every check as
//! usual (MAC, padding, session id). Each candidate looked at costs at most
//! [`MAX_ENTRY_BYTES`] of look-ahead, held in memory while it is looked at. Whether a
//! damaged member is looked at again from its start depends only on its length (at most
//! [`SMALL_VALUE`], or any entry), never on how the reads were cut, so a body restores
//! the same whatever its reader hands out at a time.
//!
//! # Memory
//!
//! The walker holds at most one chunk of input plus the value it is looking at: an id
//! (at most `6 × MAX_ID_BYTES` bytes of escaped text, then it is only counted), an entry
//! (at most [`MAX_ENTRY_BYTES`]), or an unknown member (validated by serde_json when it is
//! at most [`SMALL_VALUE`] bytes; a larger one is stepped over without being kept, checked
//! only for the structure the walker needs: strings closed, brackets of matching kinds,
//! depth at most [`MAX_DEPTH`]). Messages show at most [`SHOWN`] bytes of any id.

use std::{
    io::{self, Read},
    ops::Range,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
};

use serde::de::IgnoredAny;

use crate::restore::{RestoreErrorClass, RestoreFailure};

/// Bytes asked of the reader at a time.
const CHUNK: usize = 1 << 16;
/// The spec's cap on room and session ids, in bytes.
pub const MAX_ID_BYTES: usize = 255;
/// The longest escaped text of an id of [`MAX_ID_BYTES`] (`\u0000` is 6 bytes for 1),
/// with its quotes: longer text is not kept.
const ID_RAW_MAX: usize = MAX_ID_BYTES * 6 + 2;
/// The cap on one entry's JSON text. Synapse's entries are about 500 bytes; the
/// ciphertext grows with the session's forwarding chain (about 60 bytes of base64 per
/// hop), so 256 KiB leaves room for chains of thousands of hops while a batch of entries
/// stays small in memory.
pub const MAX_ENTRY_BYTES: usize = 256 << 10;
/// Unknown members up to this size are kept and validated by serde_json; larger ones are
/// stepped over with the walker's own structure check.
pub const SMALL_VALUE: usize = 64 << 10;
/// The deepest nesting accepted anywhere (serde_json's own recursion limit).
pub const MAX_DEPTH: usize = 128;
/// At most this many bytes of an id are shown in a message.
pub(crate) const SHOWN: usize = 64;
/// Look-ahead allowed between an entry's key and its value (whitespace).
const GAP: usize = 4096;
/// Look-ahead allowed for one resynchronisation candidate.
const CANDIDATE: u64 = (ID_RAW_MAX + GAP + MAX_ENTRY_BYTES) as u64;

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

/// Why a walk stopped without an outcome.
#[derive(Debug)]
pub(crate) enum Fatal {
    /// Not a body (or a hostile one): the message.
    Body(String),
    /// Over the reader's limit.
    TooLarge(u64),
    /// The consumer asked to stop.
    Stopped,
}

/// What a walk found.
#[derive(Debug, Clone, Default)]
pub(crate) struct Outcome {
    /// The body closed.
    pub(crate) complete: bool,
    /// Where it was cut (bytes received), when it did not close.
    pub(crate) cut_at: Option<u64>,
    /// Damaged stretches stepped over.
    pub(crate) damaged: u64,
    /// Rooms whose object was opened.
    pub(crate) rooms: u64,
    /// Entries handed on.
    pub(crate) entries: u64,
    /// Bytes of the body looked at.
    pub(crate) bytes: u64,
}

/// What the walker reports, in body order.
pub(crate) trait Events {
    /// An entry's JSON text (its extent checked, its content not yet validated).
    fn entry(&mut self, room: &Arc<str>, session_id: String, raw: &[u8]);
    /// A failure record (a room, an entry, damage or the cut).
    fn failure(&mut self, failure: RestoreFailure);
    /// A room's object closed, after every entry in it was handed on.
    fn room_done(&mut self, room: &Arc<str>);
    /// Asked after each event: `true` stops the walk ([`Fatal::Stopped`]).
    fn stop(&self) -> bool;
    /// Rooms to step over without handing on their entries.
    fn skip_room(&self, _room: &str) -> bool {
        false
    }
}

/// What is walked.
pub(crate) enum Shape {
    /// A `GET /room_keys/keys` body.
    Body,
    /// A `GET /room_keys/keys/{roomId}` body, `{"sessions": {…}}`, for this room.
    Room(Arc<str>),
}

/// Walks a body from `reader`, reporting to `ev`.
pub(crate) fn walk<R: Read>(
    reader: R,
    shape: Shape,
    ev: &mut dyn Events,
) -> Result<Outcome, Fatal> {
    let mut w = Walker {
        sc: Scanner {
            reader,
            buf: Vec::with_capacity(CHUNK),
            pos: 0,
            mark: None,
            keep: usize::MAX,
            overflowed: false,
            prefix: Vec::new(),
            base: 0,
            eof: false,
            read_error: None,
            limit: u64::MAX,
        },
        ev,
        stack: Vec::with_capacity(4),
        state: State::Start,
        rooms_seen: false,
        sessions_seen: false,
        room_mode: matches!(shape, Shape::Room(_)),
        out: Outcome::default(),
        entry_in_progress: None,
        member_start: 0,
        resume_at_start: false,
        ended_whole: false,
    };
    // A UTF-8 byte-order mark before the body (some editors and tools write one) is not
    // part of the JSON: step over it, as browsers and Python's utf-8-sig do.
    if matches!(w.sc.looking_at(b"\xEF\xBB\xBF"), Ok(true)) {
        w.sc.pos += 3;
    }
    let result = w.run(shape);
    w.out.bytes = w.sc.base + w.sc.buf.len() as u64;
    result.map(|()| w.out)
}

/// Why an inner scan stopped.
enum Stop {
    /// The walk cannot go on.
    Fatal(Fatal),
    /// The input ended (or its reader failed).
    Eof,
    /// A look-ahead limit was reached.
    Cap,
    /// The structure is broken: why.
    Damage(&'static str),
}

impl From<Fatal> for Stop {
    fn from(f: Fatal) -> Self {
        Self::Fatal(f)
    }
}

type Scan<T> = Result<T, Stop>;

/// A buffered reader with the scanning primitives.
struct Scanner<R> {
    reader: R,
    /// Unconsumed bytes (from `mark` or `pos` on) and what was read after them.
    buf: Vec<u8>,
    pos: usize,
    /// The start of what is being looked at: kept in `buf` while it is at most `keep`
    /// bytes behind `pos`; past that, its first [`SHOWN`] bytes go to `prefix`, the mark
    /// is dropped and `overflowed` is set.
    mark: Option<usize>,
    keep: usize,
    overflowed: bool,
    prefix: Vec<u8>,
    /// Offset of `buf[0]` in the body.
    base: u64,
    eof: bool,
    /// Why the input ended early, when its reader failed.
    read_error: Option<String>,
    /// No byte at or past this offset is looked at ([`Stop::Cap`]).
    limit: u64,
}

impl<R: Read> Scanner<R> {
    fn abs(&self, i: usize) -> u64 {
        self.base + i as u64
    }

    /// The index in `buf` of an absolute offset that is still held.
    fn idx(&self, abs: u64) -> usize {
        abs.saturating_sub(self.base) as usize
    }

    /// Starts keeping from `at` (an index into `buf`), up to `keep` bytes.
    fn begin(&mut self, at: usize, keep: usize) {
        self.mark = Some(at);
        self.keep = keep;
        self.overflowed = false;
        self.prefix.clear();
    }

    fn end(&mut self) {
        self.mark = None;
        self.keep = usize::MAX;
        self.limit = u64::MAX;
    }

    /// Reads more; `false` at the end of the input.
    fn fill(&mut self) -> Scan<bool> {
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
                        return Err(Stop::Fatal(Fatal::TooLarge(l.0)));
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
    fn peek(&mut self) -> Scan<u8> {
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
    fn peek_token(&mut self) -> Scan<u8> {
        loop {
            match self.peek()? {
                b' ' | b'\t' | b'\n' | b'\r' => self.pos += 1,
                b => return Ok(b),
            }
        }
    }

    /// Whether the bytes at `pos` start with `text` (reading more if needed; `false`
    /// when the input ends first).
    fn looking_at(&mut self, text: &[u8]) -> Scan<bool> {
        while self.buf.len() - self.pos < text.len() {
            if !self.fill()? {
                return Ok(false);
            }
        }
        Ok(self.buf[self.pos..].starts_with(text))
    }

    /// Steps over a string (at its opening quote). Its content is not validated here.
    fn scan_string(&mut self) -> Scan<()> {
        self.pos += 1;
        self.scan_string_rest()
    }

    /// Steps over the rest of a string whose opening quote is behind `pos`.
    fn scan_string_rest(&mut self) -> Scan<()> {
        loop {
            let here = self.abs(self.pos);
            if here >= self.limit {
                return Err(Stop::Cap);
            }
            let room = (self.limit - here).min((self.buf.len() - self.pos) as u64) as usize;
            let end = self.pos + room;
            let rest = &self.buf[self.pos..end];
            match rest.iter().position(|&b| b == b'"' || b == b'\\') {
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
    fn scan_value(&mut self, guard: Guard) -> Scan<()> {
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
                        return Err(Stop::Fatal(Fatal::Body(format!(
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
enum Guard {
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

/// How a key read out.
enum Key {
    /// Decoded.
    Text(String),
    /// Longer than an id may be: its length in bytes of escaped text, and its first bytes.
    TooLong(u64, Vec<u8>),
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    /// After `{`: a key or `}`.
    Start,
    /// After `,`: a key.
    Comma,
    /// After a value: `,` or `}`.
    Value,
}

enum Level {
    Top,
    Rooms,
    Room(Arc<str>),
    /// A room's sessions; `true` when the room is stepped over.
    Sessions(Arc<str>, bool),
}

/// A resynchronisation candidate.
enum Candidate {
    Room(Arc<str>),
    Entry(String, Range<u64>),
}

struct Walker<'e, R> {
    sc: Scanner<R>,
    ev: &'e mut dyn Events,
    stack: Vec<Level>,
    state: State,
    rooms_seen: bool,
    sessions_seen: bool,
    room_mode: bool,
    out: Outcome,
    /// The session id of the entry being read, for the record of a cut.
    entry_in_progress: Option<String>,
    /// Where the member being read starts.
    member_start: u64,
    /// Damage in the member resumes from its start (else from where it was found).
    resume_at_start: bool,
    /// A resynchronisation ran to the end of the input, which ended as a whole body
    /// does (closing braces): the body is complete, not cut.
    ended_whole: bool,
}

impl<R: Read> Walker<'_, R> {
    fn run(&mut self, shape: Shape) -> Result<(), Fatal> {
        match self.sc.peek_token() {
            Ok(b'{') => self.sc.pos += 1,
            Ok(_) => {
                return Err(Fatal::Body(match shape {
                    Shape::Body => r#"it is not a JSON object {"rooms": {…}}"#.into(),
                    Shape::Room(_) => r#"it is not a JSON object {"sessions": {…}}"#.into(),
                }));
            }
            Err(Stop::Eof) => {
                return Err(match self.sc.read_error.take() {
                    Some(e) => {
                        Fatal::Body(format!("reading it failed before any byte arrived: {e}"))
                    }
                    None => Fatal::Body("it is empty".into()),
                });
            }
            Err(Stop::Fatal(f)) => return Err(f),
            Err(_) => return Err(Fatal::Body("it is not a JSON object".into())),
        }
        self.stack.push(match shape {
            Shape::Body => Level::Top,
            Shape::Room(room) => {
                self.out.rooms += 1;
                Level::Room(room)
            }
        });
        loop {
            while !self.stack.is_empty() {
                match self.step() {
                    Ok(()) => {}
                    Err(Stop::Fatal(f)) => return Err(f),
                    Err(Stop::Eof) if self.ended_whole => self.stack.clear(),
                    Err(Stop::Eof) => {
                        self.cut();
                        return Ok(());
                    }
                    Err(Stop::Cap | Stop::Damage(_)) => {
                        // Raised outside a member (a separator): resume where it was found.
                        let at = self.sc.pos;
                        let why = "a byte where a ',' or '}' belongs";
                        let room = self.sessions_room();
                        if self.resync(at, why, room)? {
                            if self.ended_whole {
                                self.stack.clear();
                            } else {
                                self.cut();
                                return Ok(());
                            }
                        }
                    }
                }
                if self.ev.stop() {
                    return Err(Fatal::Stopped);
                }
            }
            match self.sc.peek_token() {
                // Bytes after the closing brace of a body: damage (a lost opening brace
                // closes the body early) when it was a backup body, else not a body.
                Ok(_) if self.finish_checks().is_ok() => {
                    let at = self.sc.pos;
                    if self.resync(at, "bytes after the body's closing brace", None)? {
                        break;
                    }
                }
                Ok(_) => {
                    return Err(Fatal::Body(format!(
                        "trailing characters at byte {} after the body's closing brace",
                        self.sc.abs(self.sc.pos)
                    )));
                }
                // A reader that fails after the closing brace lost nothing.
                Err(Stop::Eof) => break,
                Err(Stop::Fatal(f)) => return Err(f),
                Err(_) => break,
            }
        }
        self.out.complete = true;
        self.finish_checks()
    }

    fn finish_checks(&self) -> Result<(), Fatal> {
        if self.room_mode && !self.sessions_seen {
            return Err(Fatal::Body(
                r#"it has no "sessions" field, so it is not a GET /room_keys/keys/{roomId} body"#
                    .into(),
            ));
        }
        if !self.room_mode && !self.rooms_seen {
            // A version-info file passed by mistake must not "restore" nothing silently.
            return Err(Fatal::Body(
                "it has no \"rooms\" field, so it is not a GET /room_keys/keys body (is it the backup version info?)".into(),
            ));
        }
        Ok(())
    }

    /// The innermost room on the stack.
    fn room(&self) -> Option<&Arc<str>> {
        self.stack.iter().rev().find_map(|l| match l {
            Level::Room(r) | Level::Sessions(r, _) => Some(r),
            _ => None,
        })
    }

    fn failure(&mut self, room: &str, session: &str, error: RestoreErrorClass, message: String) {
        self.ev.failure(RestoreFailure {
            room_id: room.to_owned(),
            session_id: session.to_owned(),
            error,
            message,
        });
    }

    /// The input ended before the body closed: one `truncated` record.
    fn cut(&mut self) {
        let at = self.sc.base + self.sc.buf.len() as u64;
        self.out.cut_at = Some(at);
        let message = match self.sc.read_error.take() {
            Some(e) => format!(
                "reading the backup body failed at byte {at} before it was complete ({e}); \
                 what arrived before was kept"
            ),
            None => format!(
                "the backup body ends at byte {at} before it is complete: an interrupted download?"
            ),
        };
        let room = self.room().map(|r| r.to_string()).unwrap_or_default();
        let session = self.entry_in_progress.take().unwrap_or_default();
        self.failure(&room, &session, RestoreErrorClass::Truncated, message);
    }

    /// The room a resynchronisation may file entries under: the room whose object or
    /// sessions are being read, unless it is stepped over.
    fn sessions_room(&self) -> Option<Arc<str>> {
        match self.stack.last() {
            Some(Level::Sessions(r, false) | Level::Room(r)) => Some(r.clone()),
            _ => None,
        }
    }

    /// One member, or a separator, or a close.
    fn step(&mut self) -> Scan<()> {
        let b = self.sc.peek_token()?;
        if self.state == State::Value {
            return match b {
                b',' => {
                    self.sc.pos += 1;
                    self.state = State::Comma;
                    Ok(())
                }
                b'}' => {
                    self.sc.pos += 1;
                    self.close();
                    Ok(())
                }
                _ => {
                    // Resume at the stray byte itself (it may start the next member).
                    let at = self.sc.pos;
                    let room = self.sessions_room();
                    if self.resync(at, "a byte where a ',' or '}' belongs", room)? {
                        return Err(Stop::Eof);
                    }
                    Ok(())
                }
            };
        }
        if b == b'}' && self.state == State::Start {
            self.sc.pos += 1;
            self.close();
            return Ok(());
        }
        let start = self.sc.abs(self.sc.pos);
        // The member is held from its start while it is at most `keep` bytes long, so
        // that damage found in it resumes from its start; whether it does depends only
        // on lengths, never on how the reads were cut.
        let keep = if matches!(self.stack.last(), Some(Level::Sessions(..))) {
            self.sc.limit = start + CANDIDATE;
            usize::MAX
        } else {
            SMALL_VALUE
        };
        self.sc.begin(self.sc.pos, keep);
        self.member_start = start;
        self.resume_at_start = true;
        let member = match self.stack.last() {
            Some(Level::Top) => self.top_member(),
            Some(Level::Rooms) => self.rooms_member(),
            Some(Level::Room(room)) => {
                let room = room.clone();
                self.room_member(room)
            }
            Some(Level::Sessions(room, skip)) => {
                let (room, skip) = (room.clone(), *skip);
                self.entry_member(start, room, skip)
            }
            None => return Ok(()),
        };
        let held =
            self.resume_at_start && self.sc.abs(self.sc.pos).saturating_sub(start) <= keep as u64;
        self.sc.end();
        match member {
            Ok(()) => Ok(()),
            Err(Stop::Damage(why)) => {
                // Resume at the member's start when it is held (the damaged member is
                // looked at again as a candidate, and refused), else where the damage
                // was found.
                let from = if held {
                    self.sc.idx(start)
                } else {
                    self.sc.pos
                };
                let room = self.sessions_room();
                if self.resync(from, why, room)? {
                    return Err(Stop::Eof);
                }
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    fn close(&mut self) {
        self.state = State::Value;
        if let Some(Level::Room(room)) = self.stack.pop() {
            self.ev.room_done(&room);
        }
    }

    fn push(&mut self, level: Level) {
        self.sc.pos += 1;
        self.stack.push(level);
        self.state = State::Start;
    }

    /// A member's key at `pos` (a `"`, the member's start): decoded when it is at most
    /// `keep` bytes of escaped text, else only measured.
    fn key(&mut self, keep: usize) -> Scan<Key> {
        if self.sc.peek_token()? != b'"' {
            return Err(Stop::Damage("a byte where a member's name belongs"));
        }
        let start = self.sc.abs(self.sc.pos);
        self.sc.scan_string()?;
        let len = self.sc.abs(self.sc.pos) - start;
        if len > keep as u64 {
            let prefix = if self.sc.overflowed {
                self.sc.prefix.get(1..).unwrap_or_default().to_vec()
            } else {
                let i = self.sc.idx(start) + 1;
                self.sc.buf[i..(i + SHOWN).min(self.sc.pos)].to_vec()
            };
            return Ok(Key::TooLong(len.saturating_sub(2), prefix));
        }
        let raw = &self.sc.buf[self.sc.idx(start)..self.sc.pos];
        let text = serde_json::from_slice::<String>(raw)
            .map_err(|_| Stop::Damage("a member's name is not a valid JSON string"))?;
        Ok(Key::Text(text))
    }

    fn colon(&mut self) -> Scan<()> {
        if self.sc.peek_token()? != b':' {
            return Err(Stop::Damage("a byte where a ':' belongs"));
        }
        self.sc.pos += 1;
        Ok(())
    }

    /// Steps over a value that is not used (the member started at `member`): validated
    /// by serde_json when it is at most [`SMALL_VALUE`] bytes, else checked for its
    /// structure while it streams by. A value that holds what `guard` forbids is damage
    /// ([`Scanner::scan_value`]).
    fn skip_value(&mut self, guard: Guard) -> Scan<()> {
        self.sc.peek_token()?;
        let value = self.sc.abs(self.sc.pos);
        self.sc.scan_value(guard)?;
        // Held (and so validated) exactly when the member is at most `keep` long.
        let held = self.sc.mark.is_some()
            && self.sc.abs(self.sc.pos).saturating_sub(self.member_start) <= self.sc.keep as u64;
        if held
            && serde_json::from_slice::<IgnoredAny>(&self.sc.buf[self.sc.idx(value)..self.sc.pos])
                .is_err()
        {
            return Err(Stop::Damage("a member's value is not valid JSON"));
        }
        self.sc.mark = None;
        self.state = State::Value;
        Ok(())
    }

    fn top_member(&mut self) -> Scan<()> {
        let key = self.key(64)?;
        self.colon()?;
        if matches!(&key, Key::Text(k) if k == "rooms") {
            if self.sc.peek_token()? != b'{' {
                return Err(Stop::Fatal(Fatal::Body(
                    "its \"rooms\" is not an object of rooms by room id".into(),
                )));
            }
            self.rooms_seen = true;
            self.push(Level::Rooms);
            return Ok(());
        }
        self.skip_value(Guard::RoomShape)
    }

    fn rooms_member(&mut self) -> Scan<()> {
        let key = self.key(ID_RAW_MAX)?;
        self.colon()?;
        let too_long = |len: u64, prefix: &[u8]| {
            format!(
                "a room id of {len} bytes (longer than the {MAX_ID_BYTES} the spec allows) \
                 starting {}: its sessions were skipped",
                shown(prefix)
            )
        };
        let room: Arc<str> = match key {
            Key::TooLong(len, prefix) => {
                self.failure("", "", RestoreErrorClass::Malformed, too_long(len, &prefix));
                return self.skip_value(Guard::None);
            }
            Key::Text(t) if t.len() > MAX_ID_BYTES => {
                self.failure(
                    "",
                    "",
                    RestoreErrorClass::Malformed,
                    too_long(t.len() as u64, t.as_bytes()),
                );
                return self.skip_value(Guard::None);
            }
            Key::Text(t) => Arc::from(t),
        };
        if self.ev.skip_room(&room) {
            return self.skip_value(Guard::None);
        }
        match self.sc.peek_token()? {
            b'{' => {
                self.out.rooms += 1;
                self.push(Level::Room(room));
                Ok(())
            }
            b => {
                let msg = format!(
                    "room {room} holds {}, not an object {{\"sessions\": {{…}}}}: nothing in it was restored",
                    kind(b)
                );
                self.failure(&room, "", RestoreErrorClass::Malformed, msg);
                self.skip_value(Guard::None)
            }
        }
    }

    fn room_member(&mut self, room: Arc<str>) -> Scan<()> {
        let key = self.key(64)?;
        self.colon()?;
        if matches!(&key, Key::Text(k) if k == "sessions") {
            self.sessions_seen = true;
            return match self.sc.peek_token()? {
                b'{' => {
                    let skip = self.room_mode && self.ev.skip_room(&room);
                    self.push(Level::Sessions(room, skip));
                    Ok(())
                }
                b => {
                    let msg = format!(
                        "the \"sessions\" of room {room} hold {}, not an object of sessions by session id",
                        kind(b)
                    );
                    self.failure(&room, "", RestoreErrorClass::Malformed, msg);
                    self.skip_value(Guard::None)
                }
            };
        }
        // A per-room body's other members are not looked into: it holds one room.
        let top = self.room_mode && self.stack.len() == 1;
        self.skip_value(if top { Guard::None } else { Guard::Entries })
    }

    fn entry_member(&mut self, start: u64, room: Arc<str>, skip: bool) -> Scan<()> {
        // The whole member is held (up to the look-ahead limit `step` set) so that damage
        // found in it resumes from its start.
        let too_long = |len: u64, prefix: &[u8]| {
            format!(
                "a session id of {len} bytes (longer than the {MAX_ID_BYTES} the spec allows) \
                 starting {}: the entry was skipped",
                shown(prefix)
            )
        };
        let session = match self.entry_key(start) {
            Ok(Key::Text(t)) if t.len() <= MAX_ID_BYTES => Some(t),
            Ok(Key::Text(t)) => {
                self.failure(
                    &room,
                    "",
                    RestoreErrorClass::Malformed,
                    too_long(t.len() as u64, t.as_bytes()),
                );
                None
            }
            Ok(Key::TooLong(len, prefix)) => {
                self.failure(
                    &room,
                    "",
                    RestoreErrorClass::Malformed,
                    too_long(len, &prefix),
                );
                None
            }
            Err(Stop::Cap) => {
                // An id longer than the look-ahead: it is no longer held, and the walk
                // goes on after it.
                let i = self.sc.idx(start);
                let prefix = self.sc.buf[i + 1..(i + 1 + SHOWN).min(self.sc.buf.len())].to_vec();
                self.sc.end();
                self.resume_at_start = false;
                self.sc.scan_string_rest()?;
                let len = self.sc.abs(self.sc.pos) - start - 2;
                self.failure(
                    &room,
                    "",
                    RestoreErrorClass::Malformed,
                    too_long(len, &prefix),
                );
                self.colon()?;
                self.sc.peek_token()?;
                let at = self.sc.abs(self.sc.pos);
                self.sc.begin(self.sc.pos, usize::MAX);
                self.sc.limit = at + CANDIDATE;
                return self.entry_value(at, room, None, skip);
            }
            Err(e) => return Err(e),
        };
        self.colon()?;
        self.sc.peek_token()?;
        self.entry_value(start, room, session, skip)
    }

    /// An entry's key: the raw text stays held (the caller's mark).
    fn entry_key(&mut self, start: u64) -> Scan<Key> {
        if self.sc.peek_token()? != b'"' {
            return Err(Stop::Damage("a byte where a session id belongs"));
        }
        self.sc.scan_string()?;
        let raw = &self.sc.buf[self.sc.idx(start)..self.sc.pos];
        if raw.len() > ID_RAW_MAX {
            return Ok(Key::TooLong(
                raw.len() as u64 - 2,
                raw[1..(SHOWN + 1).min(raw.len())].to_vec(),
            ));
        }
        serde_json::from_slice::<String>(raw)
            .map(Key::Text)
            .map_err(|_| Stop::Damage("a session id is not a valid JSON string"))
    }

    /// An entry's value at `pos`; its member started at `start` (held). `session` is
    /// `None` when the entry is stepped over for a bad id.
    fn entry_value(
        &mut self,
        start: u64,
        room: Arc<str>,
        session: Option<String>,
        skip: bool,
    ) -> Scan<()> {
        let value = self.sc.abs(self.sc.pos);
        self.entry_in_progress = Some(session.clone().unwrap_or_default());
        let scanned = self.sc.scan_value(Guard::None);
        let spans_two = {
            let i = self.sc.idx(value);
            let end = self.sc.pos.min(self.sc.buf.len()).max(i);
            count(&self.sc.buf[i..end], b"\"session_data\"") > 1
        };
        match scanned {
            Ok(_) | Err(Stop::Eof | Stop::Cap) if spans_two => {
                return Err(Stop::Damage("an entry's text runs into the next entry"));
            }
            Ok(_) => {}
            Err(Stop::Eof) => {
                // The input ends inside the entry: a cut, unless a whole room or entry
                // follows its start (damage made its text run on, e.g. a lost quote in
                // its "session_data").
                let ctx = (!skip).then(|| room.clone());
                let from = self.sc.idx(start.max(self.sc.base));
                let in_progress = self.entry_in_progress.take();
                let why = "an entry's text runs to the end of the body";
                return if self.resync_inner(from, why, ctx, None, true)? {
                    self.entry_in_progress = in_progress;
                    Err(Stop::Eof)
                } else {
                    Ok(())
                };
            }
            Err(Stop::Cap) => {
                // Too long to be one entry. Its structure may still be whole (a huge
                // field): step over it again from its value without holding it, as one
                // entry, and record it.
                self.sc.pos = self.sc.idx(value);
                self.sc.end();
                match self.sc.scan_value(Guard::OneEntry) {
                    Ok(()) => {
                        self.entry_in_progress = None;
                        if let Some(session) = session.as_deref()
                            && !skip
                        {
                            self.failure(
                                &room,
                                session,
                                RestoreErrorClass::Malformed,
                                format!(
                                    "the entry is longer than {MAX_ENTRY_BYTES} bytes (the cap \
                                     on one entry): it was stepped over"
                                ),
                            );
                        }
                        self.state = State::Value;
                        return Ok(());
                    }
                    // The input ends inside it: a cut, recorded by the caller.
                    Err(Stop::Eof) => return Err(Stop::Eof),
                    Err(Stop::Fatal(f)) => return Err(Stop::Fatal(f)),
                    // Damage inside it: resynchronise from here.
                    Err(_) => {}
                }
                let msg = format!(
                    "the entry is longer than {MAX_ENTRY_BYTES} bytes (the cap on one entry)"
                );
                self.entry_in_progress = None;
                let ctx = (!skip).then(|| room.clone());
                let from = self.sc.idx(start.max(self.sc.base));
                let session = session.unwrap_or_default();
                return if self.resync_with(from, &msg, ctx, Some((&room, &session)))? {
                    Err(Stop::Eof)
                } else {
                    Ok(())
                };
            }
            Err(e) => return Err(e),
        }
        self.entry_in_progress = None;
        if let Some(session) = session
            && !skip
        {
            self.out.entries += 1;
            let raw = &self.sc.buf[self.sc.idx(value)..self.sc.pos];
            self.ev.entry(&room, session, raw);
        }
        self.state = State::Value;
        Ok(())
    }

    /// Resynchronises from `from` (an index into `buf`), after damage found at the
    /// current place. `true` when the input ended meanwhile (the cut is recorded).
    fn resync(&mut self, from: usize, why: &str, room: Option<Arc<str>>) -> Result<bool, Fatal> {
        self.resync_with(from, why, room, None)
    }

    fn resync_with(
        &mut self,
        from: usize,
        why: &str,
        room: Option<Arc<str>>,
        entry: Option<(&Arc<str>, &str)>,
    ) -> Result<bool, Fatal> {
        self.resync_inner(from, why, room, entry, false)
    }

    /// [`resync_with`](Self::resync_with); with `cut_if_nothing`, finding nothing before
    /// the end of the input is a plain cut (no record here: the caller's cut makes one).
    fn resync_inner(
        &mut self,
        from: usize,
        why: &str,
        room: Option<Arc<str>>,
        entry: Option<(&Arc<str>, &str)>,
        cut_if_nothing: bool,
    ) -> Result<bool, Fatal> {
        let from = from.min(self.sc.buf.len());
        let start_abs = self.sc.abs(from);
        self.sc.end();
        self.sc.pos = from;
        self.entry_in_progress = None;
        let mut boundary = false;
        let mut given_up = 0u64;
        // What follows the last quote seen: only closing braces (and whitespace), and
        // how many. At the end of the input, more of them than the levels open means the
        // body ended as a whole body does: the damage ran to its end, it was not cut.
        let mut closers = 0usize;
        let mut only_closers = true;
        let found = loop {
            // The next quote.
            let q = loop {
                match self.sc.buf[self.sc.pos..].iter().position(|&b| b == b'"') {
                    Some(i) => {
                        closers = 0;
                        only_closers = true;
                        break Some(self.sc.pos + i);
                    }
                    None => {
                        for &b in &self.sc.buf[self.sc.pos..] {
                            match b {
                                b'}' => closers += 1,
                                b' ' | b'\t' | b'\n' | b'\r' => {}
                                _ => only_closers = false,
                            }
                        }
                        self.sc.pos = self.sc.buf.len();
                        match self.sc.fill() {
                            Ok(true) => {}
                            Err(Stop::Fatal(f)) => return Err(f),
                            Ok(false) | Err(_) => break None,
                        }
                    }
                }
            };
            let Some(q) = q else { break None };
            self.sc.pos = q;
            let q_abs = self.sc.abs(q);
            self.sc.begin(q, usize::MAX);
            self.sc.limit = q_abs + CANDIDATE;
            if matches!(self.sc.looking_at(b"\"sessions"), Ok(true)) {
                boundary = true;
            }
            let candidate = self.candidate(q_abs);
            let end = self.sc.pos;
            self.sc.end();
            let q = self.sc.idx(q_abs);
            match candidate {
                Ok(Some(Candidate::Room(r))) if !self.room_mode => break Some(Candidate::Room(r)),
                Ok(Some(Candidate::Entry(sid, range))) => {
                    if room.is_some() && (!boundary || self.room_mode) {
                        break Some(Candidate::Entry(sid, range));
                    }
                    given_up += 1;
                    self.sc.pos = end;
                }
                Err(Stop::Fatal(Fatal::TooLarge(l))) => return Err(Fatal::TooLarge(l)),
                // Not a candidate (a candidate cut by the end of the input is none
                // either: the bytes after its quote are still looked at).
                _ => self.sc.pos = q + 1,
            }
        };
        if found.is_none() {
            self.ended_whole = only_closers && closers > self.stack.len();
            if cut_if_nothing && !self.ended_whole {
                return Ok(true);
            }
        }
        let end_abs = match &found {
            Some(_) => self.sc.abs(self.sc.pos),
            None => self.sc.base + self.sc.buf.len() as u64,
        };
        self.out.damaged += 1;
        let resumed = match &found {
            Some(Candidate::Room(r)) => format!("resumed at room {r}"),
            Some(Candidate::Entry(sid, _)) => format!("resumed at session {sid}"),
            None if self.ended_whole => {
                "nothing recognisable followed before the body's end".into()
            }
            None => "nothing recognisable followed".into(),
        };
        let lost = if given_up > 0 {
            format!(
                "; {given_up} entries in it were given up, as a room boundary may lie in the \
                 damaged stretch"
            )
        } else {
            String::new()
        };
        let (class, room_id, session_id, what) = match entry {
            Some((r, s)) => (
                RestoreErrorClass::Malformed,
                r.to_string(),
                s.to_owned(),
                why.to_owned(),
            ),
            None => (
                RestoreErrorClass::Damaged,
                room.as_deref().unwrap_or_default().to_owned(),
                String::new(),
                format!("the backup body is damaged ({why})"),
            ),
        };
        let msg = format!("{what}: bytes {start_abs}..{end_abs} were skipped, {resumed}{lost}");
        self.failure(&room_id, &session_id, class, msg);
        match found {
            None => Ok(true),
            Some(Candidate::Room(r)) => {
                self.rooms_seen = true;
                self.sessions_seen = true;
                self.out.rooms += 1;
                let skip = self.ev.skip_room(&r);
                self.stack.clear();
                self.stack.extend([
                    Level::Top,
                    Level::Rooms,
                    Level::Room(r.clone()),
                    Level::Sessions(r, skip),
                ]);
                self.state = State::Start;
                Ok(false)
            }
            Some(Candidate::Entry(sid, range)) => {
                if let Some(r) = room {
                    if let Some(Level::Room(_)) = self.stack.last() {
                        // An entry of this room found outside its sessions (their
                        // object closed early): the walk goes on in them.
                        self.stack.push(Level::Sessions(r.clone(), false));
                    }
                    self.out.entries += 1;
                    let (a, b) = (self.sc.idx(range.start), self.sc.idx(range.end));
                    self.ev.entry(&r, sid, &self.sc.buf[a..b]);
                }
                self.state = State::Value;
                Ok(false)
            }
        }
    }

    /// Whether a room start or a whole entry starts at `q` (a `"`, held). An entry's
    /// range is in absolute offsets.
    fn candidate(&mut self, q: u64) -> Scan<Option<Candidate>> {
        self.sc.scan_string()?;
        let raw = &self.sc.buf[self.sc.idx(q)..self.sc.pos];
        if raw.len() > ID_RAW_MAX {
            return Ok(None);
        }
        let Ok(id) = serde_json::from_slice::<String>(raw) else {
            return Ok(None);
        };
        if id.len() > MAX_ID_BYTES || self.sc.peek_token()? != b':' {
            return Ok(None);
        }
        self.sc.pos += 1;
        if self.sc.peek_token()? != b'{' {
            return Ok(None);
        }
        let open = self.sc.abs(self.sc.pos);
        self.sc.pos += 1;
        if self.sc.peek_token()? == b'"' && self.sc.looking_at(b"\"sessions\"")? {
            self.sc.pos += b"\"sessions\"".len();
            if self.sc.peek_token()? == b':' {
                self.sc.pos += 1;
                if self.sc.peek_token()? == b'{' {
                    self.sc.pos += 1;
                    return Ok(Some(Candidate::Room(Arc::from(id))));
                }
            }
        }
        self.sc.pos = self.sc.idx(open);
        match self.sc.scan_value(Guard::None) {
            Ok(_) => {}
            Err(Stop::Fatal(Fatal::Body(_)) | Stop::Damage(_)) => return Ok(None),
            Err(e) => return Err(e),
        }
        let end = self.sc.abs(self.sc.pos);
        let text = &self.sc.buf[self.sc.idx(open)..self.sc.pos];
        if count(text, b"\"session_data\"") != 1
            || serde_json::from_slice::<crate::restore::EntryShape<'_>>(text).is_err()
        {
            return Ok(None);
        }
        Ok(Some(Candidate::Entry(id, open..end)))
    }
}

/// How often `needle` occurs in `hay`.
fn count(hay: &[u8], needle: &[u8]) -> usize {
    let mut n = 0;
    let mut i = 0;
    while let Some(off) = hay[i..].iter().position(|&b| b == needle[0]) {
        i += off;
        if hay[i..].starts_with(needle) {
            n += 1;
        }
        i += 1;
    }
    n
}

/// What a value starting with `b` is, for a message.
fn kind(b: u8) -> &'static str {
    match b {
        b'"' => "a string",
        b'[' => "an array",
        b't' | b'f' => "a boolean",
        b'n' => "null",
        b'-' | b'0'..=b'9' => "a number",
        _ => "something that is not JSON",
    }
}

/// The first [`SHOWN`] bytes of an id, quoted, for a message.
fn shown(bytes: &[u8]) -> String {
    let cut = &bytes[..bytes.len().min(SHOWN)];
    format!("{:?}…", String::from_utf8_lossy(cut))
}

/// Cuts `text` to at most `max` bytes, at a character boundary.
pub(crate) fn truncate_text(text: &mut String, max: usize) {
    if text.len() > max {
        let mut at = max;
        while !text.is_char_boundary(at) {
            at -= 1;
        }
        text.truncate(at);
        text.push('…');
    }
}
