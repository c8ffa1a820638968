//! The walk of a body's structure: the body object, its `"rooms"`, each room's members
//! and its `"sessions"`, with the records of bad rooms and of the cut. Entry members are
//! read by `entries.rs`, damage is stepped over by `resync.rs`.

use std::{io::Read, sync::Arc};

use super::{
    CANDIDATE, Events, ID_RAW_MAX, MAX_ID_BYTES, Outcome, SHOWN, SMALL_VALUE, Shape, WalkError,
    kind,
    scanner::{Guard, Scan, Scanner, Stop},
    shown,
};
use serde::de::IgnoredAny;

use crate::{RestoreErrorClass, RestoreFailure};

/// How a key read out.
pub(super) enum Key {
    /// Decoded.
    Text(String),
    /// Longer than an id may be: its length in bytes of escaped text, and its first bytes.
    TooLong(u64, Vec<u8>),
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum State {
    /// After `{`: a key or `}`.
    Start,
    /// After `,`: a key.
    Comma,
    /// After a value: `,` or `}`.
    Value,
}

pub(super) enum Level {
    Top,
    Rooms,
    Room(Arc<str>),
    /// A room's sessions; `true` when the room is stepped over.
    Sessions(Arc<str>, bool),
}

pub(super) struct Walker<'e, R> {
    pub(super) sc: Scanner<R>,
    pub(super) ev: &'e mut dyn Events,
    pub(super) stack: Vec<Level>,
    pub(super) state: State,
    pub(super) rooms_seen: bool,
    pub(super) sessions_seen: bool,
    pub(super) room_mode: bool,
    pub(super) out: Outcome,
    /// The session id of the entry being read, for the record of a cut.
    pub(super) entry_in_progress: Option<String>,
    /// Where the member being read starts.
    pub(super) member_start: u64,
    /// Damage in the member resumes from its start (else from where it was found).
    pub(super) resume_at_start: bool,
    /// A resynchronisation ran to the end of the input, which ended as a whole body
    /// does (closing braces): the body is complete, not cut.
    pub(super) ended_whole: bool,
}

impl<R: Read> Walker<'_, R> {
    pub(super) fn run(&mut self, shape: Shape) -> Result<(), WalkError> {
        match self.sc.peek_token() {
            Ok(b'{') => self.sc.pos += 1,
            Ok(_) => {
                return Err(WalkError::Body(match shape {
                    Shape::Body => r#"it is not a JSON object {"rooms": {…}}"#.into(),
                    Shape::Room(_) => r#"it is not a JSON object {"sessions": {…}}"#.into(),
                }));
            }
            Err(Stop::Eof) => {
                return Err(match self.sc.read_error.take() {
                    Some(e) => {
                        WalkError::Body(format!("reading it failed before any byte arrived: {e}"))
                    }
                    None => WalkError::Body("it is empty".into()),
                });
            }
            Err(Stop::Abort(f)) => return Err(f),
            Err(_) => return Err(WalkError::Body("it is not a JSON object".into())),
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
                    Err(Stop::Abort(f)) => return Err(f),
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
                    return Err(WalkError::Stopped);
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
                    return Err(WalkError::Body(format!(
                        "trailing characters at byte {} after the body's closing brace",
                        self.sc.abs(self.sc.pos)
                    )));
                }
                // A reader that fails after the closing brace lost nothing.
                Err(Stop::Eof) => break,
                Err(Stop::Abort(f)) => return Err(f),
                Err(_) => break,
            }
        }
        self.out.complete = true;
        self.finish_checks()
    }

    pub(super) fn finish_checks(&self) -> Result<(), WalkError> {
        if self.room_mode && !self.sessions_seen {
            return Err(WalkError::Body(
                r#"it has no "sessions" field, so it is not a GET /room_keys/keys/{roomId} body"#
                    .into(),
            ));
        }
        if !self.room_mode && !self.rooms_seen {
            // A version-info file passed by mistake must not "restore" nothing silently.
            return Err(WalkError::Body(
                "it has no \"rooms\" field, so it is not a GET /room_keys/keys body (is it the backup version info?)".into(),
            ));
        }
        Ok(())
    }

    /// The innermost room on the stack.
    pub(super) fn room(&self) -> Option<&Arc<str>> {
        self.stack.iter().rev().find_map(|l| match l {
            Level::Room(r) | Level::Sessions(r, _) => Some(r),
            _ => None,
        })
    }

    pub(super) fn failure(
        &mut self,
        room: &str,
        session: &str,
        error: RestoreErrorClass,
        message: String,
    ) {
        self.ev.failure(RestoreFailure {
            room_id: room.to_owned(),
            session_id: session.to_owned(),
            error,
            message,
        });
    }

    /// The input ended before the body closed: one `truncated` record.
    pub(super) fn cut(&mut self) {
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
    pub(super) fn sessions_room(&self) -> Option<Arc<str>> {
        match self.stack.last() {
            Some(Level::Sessions(r, false) | Level::Room(r)) => Some(r.clone()),
            _ => None,
        }
    }

    /// One member, or a separator, or a close.
    pub(super) fn step(&mut self) -> Scan<()> {
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

    pub(super) fn close(&mut self) {
        self.state = State::Value;
        if let Some(Level::Room(room)) = self.stack.pop() {
            self.ev.room_done(&room);
        }
    }

    pub(super) fn push(&mut self, level: Level) {
        self.sc.pos += 1;
        self.stack.push(level);
        self.state = State::Start;
    }

    /// A member's key at `pos` (a `"`, the member's start): decoded when it is at most
    /// `keep` bytes of escaped text, else only measured.
    pub(super) fn key(&mut self, keep: usize) -> Scan<Key> {
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

    pub(super) fn colon(&mut self) -> Scan<()> {
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
    pub(super) fn skip_value(&mut self, guard: Guard) -> Scan<()> {
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

    pub(super) fn top_member(&mut self) -> Scan<()> {
        let key = self.key(64)?;
        self.colon()?;
        if matches!(&key, Key::Text(k) if k == "rooms") {
            if self.sc.peek_token()? != b'{' {
                return Err(Stop::Abort(WalkError::Body(
                    "its \"rooms\" is not an object of rooms by room id".into(),
                )));
            }
            self.rooms_seen = true;
            self.push(Level::Rooms);
            return Ok(());
        }
        self.skip_value(Guard::RoomShape)
    }

    pub(super) fn rooms_member(&mut self) -> Scan<()> {
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

    pub(super) fn room_member(&mut self, room: Arc<str>) -> Scan<()> {
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
}
