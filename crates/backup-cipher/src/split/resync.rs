//! Resynchronisation: after damage, finding the walk's place again at the next room
//! start or whole entry (the rule and its reasons are in the module documentation of
//! `split`), and the one `damaged` record naming the bytes stepped over.

use std::{io::Read, ops::Range, sync::Arc};

use super::{
    CANDIDATE, ID_RAW_MAX, MAX_ID_BYTES, WalkError, count,
    scanner::{Guard, Scan, Stop},
    walker::{Level, State, Walker},
};
use crate::RestoreErrorClass;

/// A resynchronisation candidate.
pub(super) enum Candidate {
    Room(Arc<str>),
    Entry(String, Range<u64>),
}

impl<R: Read> Walker<'_, R> {
    /// Resynchronises from `from` (an index into `buf`), after damage found at the
    /// current place. `true` when the input ended meanwhile (the cut is recorded).
    pub(super) fn resync(
        &mut self,
        from: usize,
        why: &str,
        room: Option<Arc<str>>,
    ) -> Result<bool, WalkError> {
        self.resync_with(from, why, room, None)
    }

    pub(super) fn resync_with(
        &mut self,
        from: usize,
        why: &str,
        room: Option<Arc<str>>,
        entry: Option<(&Arc<str>, &str)>,
    ) -> Result<bool, WalkError> {
        self.resync_inner(from, why, room, entry, false)
    }

    /// [`resync_with`](Self::resync_with); with `cut_if_nothing`, finding nothing before
    /// the end of the input is a plain cut (no record here: the caller's cut makes one).
    pub(super) fn resync_inner(
        &mut self,
        from: usize,
        why: &str,
        room: Option<Arc<str>>,
        entry: Option<(&Arc<str>, &str)>,
        cut_if_nothing: bool,
    ) -> Result<bool, WalkError> {
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
                match memchr::memchr(b'"', &self.sc.buf[self.sc.pos..]) {
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
                            Err(Stop::Abort(f)) => return Err(f),
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
                Err(Stop::Abort(WalkError::TooLarge(l))) => return Err(WalkError::TooLarge(l)),
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
    pub(super) fn candidate(&mut self, q: u64) -> Scan<Option<Candidate>> {
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
            Err(Stop::Abort(WalkError::Body(_)) | Stop::Damage(_)) => return Ok(None),
            Err(e) => return Err(e),
        }
        let end = self.sc.abs(self.sc.pos);
        let text = &self.sc.buf[self.sc.idx(open)..self.sc.pos];
        if count(text, b"\"session_data\"") != 1
            || serde_json::from_slice::<crate::cipher::entry::EntryShape<'_>>(text).is_err()
        {
            return Ok(None);
        }
        Ok(Some(Candidate::Entry(id, open..end)))
    }
}
