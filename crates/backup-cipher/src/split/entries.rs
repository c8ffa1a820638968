//! One entry member of a room's `"sessions"`: its session id (bounded) and its value's
//! extent, handed on as the entry's own JSON text; an entry too long or cut is recorded
//! here, and damage inside it resumes from its start.

use std::{io::Read, sync::Arc};

use super::{
    CANDIDATE, ID_RAW_MAX, MAX_ENTRY_BYTES, MAX_ID_BYTES, SHOWN, count,
    scanner::{Guard, Scan, Stop},
    shown,
    walker::{Key, State, Walker},
};
use crate::RestoreErrorClass;

impl<R: Read> Walker<'_, R> {
    pub(super) fn entry_member(&mut self, start: u64, room: Arc<str>, skip: bool) -> Scan<()> {
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
    pub(super) fn entry_key(&mut self, start: u64) -> Scan<Key> {
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
    pub(super) fn entry_value(
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
                    Err(Stop::Abort(f)) => return Err(Stop::Abort(f)),
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
}
