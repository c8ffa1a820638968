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

//!
//! # Files
//!
//! - `scanner.rs`: the buffered reader and its byte-level primitives (strings, values,
//!   look-ahead limits), and the byte counter that enforces the body limit;
//! - `walker.rs`: the walk of the body's structure (body, rooms, a room's members);
//! - `entries.rs`: one entry member (its session id and its value's extent);
//! - `resync.rs`: finding the walk's place again after damage.

mod entries;
mod resync;
mod scanner;
mod walker;

use std::{io::Read, sync::Arc};

pub(crate) use scanner::CountingReader;

use crate::RestoreFailure;
use scanner::Scanner;
use walker::{State, Walker};

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
pub(crate) const SMALL_VALUE: usize = 64 << 10;
/// The deepest nesting accepted anywhere (serde_json's own recursion limit).
pub const MAX_DEPTH: usize = 128;
/// At most this many bytes of an id are shown in a message.
pub(crate) const SHOWN: usize = 64;
/// Look-ahead allowed between an entry's key and its value (whitespace).
const GAP: usize = 4096;
/// Look-ahead allowed for one resynchronisation candidate.
const CANDIDATE: u64 = (ID_RAW_MAX + GAP + MAX_ENTRY_BYTES) as u64;

/// Why a walk stopped without an outcome (the restore makes a `RestoreError` of it).
#[derive(Debug)]
pub(crate) enum WalkError {
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
    /// Asked after each event: `true` stops the walk ([`WalkError::Stopped`]).
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
) -> Result<Outcome, WalkError> {
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

/// How often `needle` occurs in `hay` (overlapping occurrences too).
fn count(hay: &[u8], needle: &[u8]) -> usize {
    let finder = memchr::memmem::Finder::new(needle);
    let mut n = 0;
    let mut i = 0;
    while let Some(off) = finder.find(&hay[i..]) {
        n += 1;
        i += off + 1;
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

#[cfg(test)]
mod count_tests {
    use super::*;

    #[test]
    fn count_finds_overlapping_candidates() {
        let hay = br#"{"session_data":{},"x":"session_data"session_data"}"#;
        // The last two share a quote.
        assert_eq!(count(hay, b"\"session_data\""), 3);
        assert_eq!(count(b"", b"\"session_data\""), 0);
    }
}
