//! Bulk restore: a whole `GET /room_keys/keys` body in, restored sessions and one failure
//! record per bad entry out. One corrupt entry never stops or loses the others
//! (docs/interop.md P14).
//!
//! This file holds the entry points and the version check. There is one grammar and one
//! code path after it. The body is walked incrementally by the chunked splitter of
//! `crate::split` (a slice is a reader too), which keeps what arrived and steps over
//! damage (its module documentation says how); entries are collected into batches of
//! [`RestoreOptions::batch_size`], each batch is decrypted on all cores with rayon, and
//! its results are handed to a [`RestoreSink`] in input order. Within a batch, entries
//! go in groups of 64 whose key agreements are one
//! [`Scalar::diffie_hellman_many`](crate::x25519::Scalar::diffie_hellman_many) call
//! (several SIMD lanes at once, one batched inversion, where the CPU and features
//! allow); each entry is then finished, and fails, on its own. Memory is bounded by the
//! batch, not by the body: a body of any size restores in bounded memory when the sink
//! writes results out.
//!
//! # Files
//!
//! - `types.rs`: the public types (options, results, failures and their classes, the
//!   sink, the errors);
//! - `crate::cipher::entry`: one entry from its parts to its checked plaintext;
//! - `pool.rs`: batching, the worker pool and the ordered delivery to the sink;
//! - `resume.rs`: a restore that survives cut downloads;
//! - `crate::split`: the body's grammar.

mod pool;
mod resume;
mod types;

use pool::{pool, restore_shape};

use std::{io::Read, sync::Arc};

pub use resume::{BodyRequest, MAX_TRACKED, ResumeNotice, ResumeSource, restore_resumable};
pub use types::{
    BodyCheck, Progress, RestoreError, RestoreErrorClass, RestoreFailure, RestoreOptions,
    RestoreResult, RestoreSink, RestoredSession, RoomFilter,
};

use crate::{
    BACKUP_ALGORITHM, BackupDecryptionKey, BackupVersion, EncryptedSessionData, KeyBackupData,
    KeysBackup,
    cipher::entry::{EntryShape, GROUP, Pending, finish_group},
    par::*,
    split::{CountingReader, Events, Shape, WalkError},
};

/// Refuses a key that does not belong to `version` (compared as decoded bytes, in
/// constant time), or a version of another algorithm, before any work is done.
pub fn check_backup_version(
    key: &BackupDecryptionKey,
    version: &BackupVersion,
) -> Result<(), RestoreError> {
    if version.algorithm != BACKUP_ALGORITHM {
        return Err(RestoreError::Algorithm(version.algorithm.clone()));
    }
    if !key.matches(&version.auth_data) {
        return Err(RestoreError::KeyMismatch {
            version: version.version.clone().unwrap_or_else(|| "?".into()),
            ours: key.public_key().to_base64(),
            theirs: version.auth_data.public_key.clone(),
        });
    }
    Ok(())
}

/// Restores a parsed body on all cores (or `opts.jobs`), sorted by room then session.
pub fn restore_keys(
    key: &BackupDecryptionKey,
    body: &KeysBackup,
    opts: &RestoreOptions,
) -> Result<RestoreResult, RestoreError> {
    let entries: Vec<(&str, &str, &EncryptedSessionData)> = body
        .entries()
        .map(|(room, sid, d)| (room, sid, &d.session_data))
        .collect();
    let run = || -> Vec<Result<RestoredSession, RestoreFailure>> {
        entries
            .par_chunks(GROUP)
            .flat_map_iter(|chunk| {
                let group = chunk
                    .iter()
                    .map(|(room, sid, d)| {
                        Pending::new(room, sid, (&d.ephemeral, &d.ciphertext, &d.mac))
                    })
                    .collect();
                let mut out = Vec::with_capacity(chunk.len());
                finish_group(key, group, &mut out);
                out
            })
            .collect()
    };
    let results = match pool(opts)? {
        Some(p) => p.install(run),
        None => run(),
    };
    let mut out = RestoreResult::default();
    for r in results {
        match r {
            Ok(s) => out.sessions.push(s),
            Err(f) => out.failures.push(f),
        }
    }
    out.sort();
    Ok(out)
}

/// Restores a body held in memory, sorted by room then session. The same walk as
/// [`restore_reader`] (the slice is its reader), so it keeps what arrived and steps over
/// damage in the same way.
pub fn restore_slice(
    key: &BackupDecryptionKey,
    body: &[u8],
    opts: &RestoreOptions,
) -> Result<RestoreResult, RestoreError> {
    if body.len() as u64 > opts.max_body_bytes {
        return Err(RestoreError::TooLarge(opts.max_body_bytes));
    }
    let mut out = RestoreResult::default();
    restore_reader(key, body, opts, &mut out)?;
    out.sort();
    Ok(out)
}

/// Restores a body from a reader while parsing it, delivering results to `sink` batch by
/// batch in input order. Returns the final counts.
///
/// The calling thread reads the body in chunks and finds each entry (`src/split/`, whose
/// module documentation gives the grammar, what each kind of damage costs and how the
/// walk resynchronises); batches are decrypted in the worker pool while the next one is
/// read. At most two batches are held at once, each of at most
/// [`RestoreOptions::batch_size`] entries and 4 MiB of entry text, so memory is bounded
/// whatever the size or content of the body.
///
/// What arrived is kept: a body cut anywhere (or whose reader fails) delivers every
/// complete entry before the cut, one [`RestoreErrorClass::Truncated`] record, and
/// returns `Ok` with [`Progress::truncated_at`] set. Damage costs only what is damaged
/// (records of class `malformed` or `damaged`). The whole restore fails only when the
/// body is not a backup body at all ([`RestoreError::Body`]), is over
/// [`RestoreOptions::max_body_bytes`], or the key probe finds the wrong key.
pub fn restore_reader<R: Read, S: RestoreSink + ?Sized>(
    key: &BackupDecryptionKey,
    reader: R,
    opts: &RestoreOptions,
    sink: &mut S,
) -> Result<Progress, RestoreError> {
    restore_shape(key, reader, Shape::Body, opts, sink)
}

/// Restores the body of `GET /room_keys/keys/{roomId}` (`{"sessions": {…}}`) for
/// `room_id`, with the same resilience and bounds as [`restore_reader`]: for resuming a
/// cut download room by room. [`RestoreSink::room_done`] is called once, when the body's
/// object closes.
pub fn restore_room_reader<R: Read, S: RestoreSink + ?Sized>(
    key: &BackupDecryptionKey,
    room_id: &str,
    reader: R,
    opts: &RestoreOptions,
    sink: &mut S,
) -> Result<Progress, RestoreError> {
    restore_shape(key, reader, Shape::Room(Arc::from(room_id)), opts, sink)
}

/// Walks a `GET /room_keys/keys` body with the same grammar and bounds as
/// [`restore_reader`], without a key and without decrypting: what a download saved is
/// complete (and where it was cut), how many rooms and entries it holds, and what is
/// damaged. Reads at most `max_bytes` ([`RestoreError::TooLarge`] past that).
pub fn check_body<R: Read>(reader: R, max_bytes: u64) -> Result<BodyCheck, RestoreError> {
    walk_ids(reader, max_bytes, &mut |_, _, raw| {
        serde_json::from_slice::<EntryShape<'_>>(raw).is_ok()
    })
}

/// Hands `visit` the room id and session id of every entry of a `GET /room_keys/keys`
/// body, in body order, with the same grammar and bounds as [`restore_reader`] and
/// without a key: e.g. to learn which sessions a backup version already holds before
/// uploading more. Memory is bounded per entry, not by the body (nothing is kept but
/// what `visit` keeps). A room listed twice, or a second `"rooms"`, is read as well as
/// the first; an entry that is not a `KeyBackupData` object is not visited but counted
/// in [`BodyCheck::malformed`], and damage and a cut are reported in the returned
/// [`BodyCheck`] (its `complete`, `truncated_at`, `damaged` and `sample`), so a caller
/// decides whether a partial list is enough. Reads at most `max_bytes`
/// ([`RestoreError::TooLarge`] past that); a body that is not a backup body at all is
/// [`RestoreError::Body`].
pub fn session_ids<R: Read, F: FnMut(&str, &str)>(
    reader: R,
    max_bytes: u64,
    mut visit: F,
) -> Result<BodyCheck, RestoreError> {
    walk_ids(reader, max_bytes, &mut |room, session_id, raw| {
        let shaped = serde_json::from_slice::<EntryShape<'_>>(raw).is_ok();
        if shaped {
            visit(room, session_id);
        }
        shaped
    })
}

/// Hands `visit` every entry of a `GET /room_keys/keys` body as (room id, session id,
/// entry), in body order, with the same grammar and bounds as [`restore_reader`] and
/// without a key: for a reader that needs the entries themselves (to try several keys on
/// each, or keep `is_verified`). A room listed twice, or a second `"rooms"`, is read as
/// well as the first, so one session may be visited twice. An entry that is not a
/// `KeyBackupData` is visited with `None` and counted in [`BodyCheck::malformed`]; damage
/// and a cut are reported in the returned [`BodyCheck`] as by [`session_ids`]. Reads at
/// most `max_bytes` ([`RestoreError::TooLarge`] past that); a body that is not a backup
/// body at all is [`RestoreError::Body`].
pub fn body_entries<R: Read, F: FnMut(&str, &str, Option<KeyBackupData>)>(
    reader: R,
    max_bytes: u64,
    mut visit: F,
) -> Result<BodyCheck, RestoreError> {
    walk_ids(reader, max_bytes, &mut |room, session_id, raw| {
        let entry = serde_json::from_slice::<KeyBackupData>(raw).ok();
        let parsed = entry.is_some();
        visit(room, session_id, entry);
        parsed
    })
}

/// The walk behind [`check_body`], [`session_ids`] and [`body_entries`]: `visit` gets
/// each entry's text and says whether it is well formed (else it counts as malformed).
fn walk_ids<R: Read>(
    reader: R,
    max_bytes: u64,
    visit: &mut dyn FnMut(&str, &str, &[u8]) -> bool,
) -> Result<BodyCheck, RestoreError> {
    struct Checker<'v> {
        check: BodyCheck,
        visit: &'v mut dyn FnMut(&str, &str, &[u8]) -> bool,
    }
    impl Events for Checker<'_> {
        fn entry(&mut self, room: &Arc<str>, session_id: String, raw: &[u8]) {
            if !(self.visit)(room, &session_id, raw) {
                self.check.malformed += 1;
            }
        }
        fn failure(&mut self, failure: RestoreFailure) {
            self.check.problems += 1;
            if self.check.sample.len() < BodyCheck::SAMPLE {
                self.check.sample.push(failure);
            }
        }
        fn room_done(&mut self, _: &Arc<str>) {}
        fn stop(&self) -> bool {
            false
        }
    }
    let reader = CountingReader {
        inner: reader,
        count: Arc::new(std::sync::atomic::AtomicU64::new(0)),
        limit: max_bytes,
    };
    let mut checker = Checker {
        check: BodyCheck::default(),
        visit,
    };
    let outcome = crate::split::walk(reader, Shape::Body, &mut checker).map_err(|e| match e {
        WalkError::TooLarge(l) => RestoreError::TooLarge(l),
        WalkError::Body(msg) => RestoreError::Body(serde::de::Error::custom(msg)),
        WalkError::Stopped => RestoreError::Cancelled,
    })?;
    let mut check = checker.check;
    check.rooms = outcome.rooms;
    check.entries = outcome.entries;
    check.bytes = outcome.bytes;
    check.complete = outcome.complete;
    check.truncated_at = outcome.cut_at;
    check.damaged = outcome.damaged;
    Ok(check)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{RoomKeyBackup, cipher::entry::PANIC_ROOM, fixtures};

    /// `body_entries` hands on every listing of a room listed twice, each entry with its
    /// fields, and an entry that is not a `KeyBackupData` as `None` (counted malformed).
    #[test]
    fn body_entries_reads_every_listing_with_its_entries() {
        let entry = r#"{"first_message_index": 3, "forwarded_count": 0, "is_verified": true,
            "session_data": {"ephemeral": "e", "ciphertext": "c", "mac": "m"}}"#;
        let body = format!(
            r#"{{"rooms": {{"!a:x": {{"sessions": {{"s1": {entry}}}}},
                           "!a:x": {{"sessions": {{"s2": {entry}, "s3": {{"no": 1}}}}}}}}}}"#
        );
        let mut seen = Vec::new();
        let check = body_entries(body.as_bytes(), u64::MAX, |room, sid, data| {
            seen.push((
                room.to_owned(),
                sid.to_owned(),
                data.map(|d| (d.first_message_index, d.is_verified)),
            ));
        })
        .unwrap();
        let pair = |s: &str, d| ("!a:x".to_owned(), s.to_owned(), d);
        assert_eq!(
            seen,
            [
                pair("s1", Some((3, true))),
                pair("s2", Some((3, true))),
                pair("s3", None)
            ]
        );
        assert_eq!((check.entries, check.malformed, check.problems), (3, 1, 0));
        assert!(body_entries(&b"{}"[..], u64::MAX, |_, _, _| {}).is_err());
    }

    /// A panic in a worker costs exactly the entries of its group, counted as `internal`
    /// failures; every other entry is restored, inline and on a pool.
    #[test]
    fn a_panicking_group_fails_its_entries_and_nothing_else() {
        let key = BackupDecryptionKey::from_bytes(&[7; 32]);
        let mut body = fixtures::synthetic_backup(key.public_key(), 3 * GROUP, 3);
        let good: u64 = body.session_count() as u64;
        // One group's worth of entries (the first group: the first room in order) that
        // make their group panic.
        let sessions: std::collections::BTreeMap<_, _> = body
            .rooms
            .values()
            .flat_map(|r| r.sessions.clone())
            .take(GROUP)
            .collect();
        assert_eq!(sessions.len(), GROUP);
        body.rooms
            .insert(PANIC_ROOM.to_owned(), RoomKeyBackup { sessions });
        let text = serde_json::to_vec(&body).unwrap();
        for jobs in [Some(1), Some(2)] {
            let opts = RestoreOptions {
                jobs,
                ..RestoreOptions::default()
            };
            // The in-memory, the slice and the streaming paths.
            let mut streamed = RestoreResult::default();
            restore_reader(&key, text.as_slice(), &opts, &mut streamed).unwrap();
            for result in [
                restore_keys(&key, &body, &opts).unwrap(),
                restore_slice(&key, &text, &opts).unwrap(),
                streamed,
            ] {
                assert_eq!(result.sessions.len() as u64, good, "jobs {jobs:?}");
                assert_eq!(result.failures.len(), GROUP, "jobs {jobs:?}");
                for f in &result.failures {
                    assert_eq!(f.room_id, PANIC_ROOM);
                    assert_eq!(f.error.as_str(), "internal");
                }
            }
        }
    }
}
