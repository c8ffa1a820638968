//! A restore that survives a cut download: when the body of `GET /room_keys/keys` breaks
//! off, the room it was cut in is fetched again on its own (`GET /room_keys/keys/{roomId}`)
//! and the rest of the backup is fetched again with every finished room stepped over, so
//! a large backup restores across cuts and no entry read before a cut is delivered again.
//!
//! A body that lists a room twice (a second `"rooms"` member, or the same room id again)
//! is read as every restore reads it: each listing, each entry authenticated on its own.
//! After a cut, the bodies fetched again step over the rooms finished before it by id, so
//! a second listing of a finished room that came after the cut is not read.
//!
//! The I/O stays with the caller ([`ResumeSource`] opens each body); this module only
//! decides what to ask for next. Memory stays bounded: finished rooms are remembered as
//! 16-byte digests, at most [`MAX_TRACKED`] of them, and so are the sessions already
//! delivered of the room in progress; past that cap a cut is reported as it is (one
//! `truncated` record) instead of resumed.

use std::{
    collections::HashSet,
    io::{self, Read},
    sync::Arc,
};

use sha2::{Digest, Sha256};

use crate::{
    BackupDecryptionKey, Progress, RestoreError, RestoreErrorClass, RestoreFailure, RestoreOptions,
    RestoreSink, RestoredSession, restore_reader, restore_room_reader,
};

/// Rooms (and sessions of the room in progress) a resumable restore remembers at most:
/// 16 bytes each plus the set's overhead, some 50 MiB at worst. Real accounts have a few
/// thousand rooms.
pub const MAX_TRACKED: usize = 1_000_000;

/// Which body a resumable restore asks its source for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BodyRequest<'a> {
    /// The whole backup: the body of `GET /room_keys/keys`.
    Whole,
    /// One room: the body of `GET /room_keys/keys/{roomId}`.
    Room(&'a str),
}

/// What a resumable restore is about to do after a cut, for the caller to show.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ResumeNotice {
    /// Resumption attempt, from 1.
    pub attempt: u32,
    /// Attempts allowed in all.
    pub max_attempts: u32,
    /// Bytes of the body that arrived before the cut.
    pub cut_at: u64,
    /// What broke off: the message of the `truncated` record.
    pub reason: String,
    /// What is fetched now.
    pub fetching: String,
    /// Rooms finished so far (not fetched again).
    pub rooms_done: u64,
}

/// Where a resumable restore gets its bodies: a homeserver client, or anything else that
/// can open them again.
pub trait ResumeSource {
    /// Opens a body. An error on the first (whole) body fails the restore; an error while
    /// resuming ends the resumption, and the cut is reported as it is.
    fn open(&mut self, request: BodyRequest<'_>) -> io::Result<Box<dyn Read + '_>>;
    /// Told before each resumption.
    fn resuming(&mut self, _notice: &ResumeNotice) {}
}

type Digest16 = [u8; 16];

fn digest(text: &str) -> Digest16 {
    let full = Sha256::digest(text.as_bytes());
    let mut out = [0u8; 16];
    out.copy_from_slice(&full[..16]);
    out
}

/// Stands between the restore and the caller's sink: drops what was delivered already,
/// keeps the `truncated` record back, and remembers what is finished.
struct Tracker<'s, S: ?Sized> {
    inner: &'s mut S,
    done_rooms: Arc<std::sync::RwLock<HashSet<Digest16>>>,
    /// The room results were last delivered for, until its `room_done`.
    current: Option<String>,
    /// Sessions of `current` delivered (restored or failed).
    delivered: HashSet<Digest16>,
    /// Set when a set reached [`MAX_TRACKED`]: resuming could deliver twice.
    overflow: bool,
    /// The `truncated` record of the latest body, held back.
    cut: Option<RestoreFailure>,
    done: u64,
    failed: u64,
    bytes_before: u64,
    total: Option<u64>,
}

impl<S: RestoreSink + ?Sized> Tracker<'_, S> {
    /// Whether a result for `room`/`session` is new (and notes it). Only the sessions
    /// already delivered of the room in progress are dropped: a room the body lists again
    /// after it was finished is read again, as every restore reads it (the bodies fetched
    /// after a cut step over finished rooms by [`RestoreOptions::skip_rooms`]).
    fn is_new(&mut self, room: &str, session: &str) -> bool {
        if self.current.as_deref() != Some(room) {
            self.current = Some(room.to_owned());
            self.delivered.clear();
        }
        if session.is_empty() {
            // A record about the room itself: not a session to deduplicate.
            return true;
        }
        if self.delivered.len() >= MAX_TRACKED {
            self.overflow = true;
            return true;
        }
        self.delivered.insert(digest(session))
    }
}

impl<S: RestoreSink + ?Sized> RestoreSink for Tracker<'_, S> {
    fn restored(&mut self, session: RestoredSession) {
        if self.is_new(session.room_id(), session.session_id()) {
            self.done += 1;
            self.inner.restored(session);
        }
    }
    fn failed(&mut self, failure: RestoreFailure) {
        if failure.error == RestoreErrorClass::Truncated {
            self.cut = Some(failure);
            return;
        }
        if self.is_new(&failure.room_id, &failure.session_id) {
            self.done += 1;
            self.failed += 1;
            self.inner.failed(failure);
        }
    }
    fn progress(&mut self, p: Progress) {
        self.inner.progress(Progress {
            done: self.done,
            failed: self.failed,
            total: self.total,
            bytes_read: self.bytes_before + p.bytes_read,
            truncated_at: None,
            damaged: p.damaged,
        });
    }
    fn room_done(&mut self, room_id: &str) {
        if self.current.as_deref() == Some(room_id) {
            self.current = None;
            self.delivered.clear();
        }
        if let Ok(mut d) = self.done_rooms.write() {
            if d.len() < MAX_TRACKED {
                d.insert(digest(room_id));
            } else {
                self.overflow = true;
            }
        }
        self.inner.room_done(room_id);
    }
    fn cancelled(&self) -> bool {
        self.inner.cancelled()
    }
}

/// Restores a backup from `source`, resuming after cuts: at most `max_attempts`
/// resumptions, each of which must finish at least one more room, else the cut is
/// reported as it is (one `truncated` record, [`Progress::truncated_at`] set). Results
/// reach `sink` once each, in the order they arrive; the key probe of `opts` applies to
/// the first body only.
pub fn restore_resumable<S: RestoreSink + ?Sized>(
    key: &BackupDecryptionKey,
    source: &mut dyn ResumeSource,
    opts: &RestoreOptions,
    max_attempts: u32,
    sink: &mut S,
) -> Result<Progress, RestoreError> {
    let done_rooms = Arc::new(std::sync::RwLock::new(HashSet::new()));
    let mut t = Tracker {
        inner: sink,
        done_rooms: done_rooms.clone(),
        current: None,
        delivered: HashSet::new(),
        overflow: false,
        cut: None,
        done: 0,
        failed: 0,
        bytes_before: 0,
        total: opts.expected_total,
    };
    let reader = source.open(BodyRequest::Whole)?;
    let mut last = restore_reader(key, reader, opts, &mut t)?;
    let mut damaged = last.damaged;
    let mut bytes = last.bytes_read;
    let later = RestoreOptions {
        key_probe: 0,
        ..opts.clone()
    }
    .with_skip_rooms({
        let done = done_rooms.clone();
        move |room| {
            done.read()
                .map(|d| d.contains(&digest(room)))
                .unwrap_or(false)
        }
    });
    let mut attempt = 0;
    while let Some(cut_at) = last.truncated_at {
        let rooms_before = done_rooms.read().map(|d| d.len()).unwrap_or(0);
        if attempt >= max_attempts || t.overflow {
            break;
        }
        attempt += 1;
        let reason = t
            .cut
            .as_ref()
            .map(|c| c.message.clone())
            .unwrap_or_default();
        if let Some(room) = t.current.clone() {
            source.resuming(&ResumeNotice {
                attempt,
                max_attempts,
                cut_at,
                reason: reason.clone(),
                fetching: format!("room {room} again"),
                rooms_done: rooms_before as u64,
            });
            t.bytes_before = bytes;
            let Ok(reader) = source.open(BodyRequest::Room(&room)) else {
                break;
            };
            let p = match restore_room_reader(key, &room, reader, &later, &mut t) {
                Ok(p) => p,
                Err(RestoreError::Cancelled) => return Err(RestoreError::Cancelled),
                // What came back this time is no body at all: stop resuming.
                Err(_) => break,
            };
            bytes += p.bytes_read;
            damaged += p.damaged;
            if p.truncated_at.is_some() {
                last = p;
                continue;
            }
        }
        source.resuming(&ResumeNotice {
            attempt,
            max_attempts,
            cut_at,
            reason,
            fetching: "the rooms not yet restored".into(),
            rooms_done: done_rooms.read().map(|d| d.len()).unwrap_or(0) as u64,
        });
        t.bytes_before = bytes;
        let Ok(reader) = source.open(BodyRequest::Whole) else {
            break;
        };
        last = match restore_reader(key, reader, &later, &mut t) {
            Ok(p) => p,
            Err(RestoreError::Cancelled) => return Err(RestoreError::Cancelled),
            Err(_) => break,
        };
        bytes += last.bytes_read;
        damaged += last.damaged;
        let rooms_after = done_rooms.read().map(|d| d.len()).unwrap_or(0);
        if last.truncated_at.is_some() && rooms_after == rooms_before {
            // No room finished in a whole attempt: the server cuts at the same place.
            break;
        }
    }
    let truncated_at = last.truncated_at;
    if truncated_at.is_some()
        && let Some(cut) = t.cut.take()
    {
        t.done += 1;
        t.failed += 1;
        t.inner.failed(cut);
    }
    Ok(Progress {
        done: t.done,
        failed: t.failed,
        total: opts.expected_total,
        bytes_read: bytes,
        truncated_at,
        damaged,
    })
}
