//! A restore across cut downloads: the room the body broke off in is fetched again on its
//! own, the rest again with finished rooms stepped over, and every session reaches the
//! sink exactly once. The bodies are served by a scripted in-memory source that cuts
//! where each test says.

use std::{
    collections::{BTreeMap, BTreeSet},
    io::{self, Read},
};

use backup_cipher::{
    BackupDecryptionKey, BodyRequest, KeysBackup, RestoreErrorClass, RestoreOptions, RestoreResult,
    ResumeNotice, ResumeSource, fixtures, restore_resumable,
};

/// How one response ends.
#[derive(Clone, Copy, Debug)]
enum Cut {
    /// The whole body.
    None,
    /// EOF after this share (percent) of the body.
    Eof(usize),
    /// A read error after this share of the body (a reset connection).
    Error(usize),
}

struct Source {
    whole: Vec<u8>,
    /// The whole body served on a retry (another order of rooms, say).
    whole_again: Option<Vec<u8>>,
    rooms: BTreeMap<String, Vec<u8>>,
    /// How the n-th response of each kind ends (then `Cut::None`).
    whole_cuts: Vec<Cut>,
    room_cuts: Vec<Cut>,
    requests: Vec<String>,
    notices: Vec<ResumeNotice>,
}

struct CutReader {
    data: Vec<u8>,
    pos: usize,
    end: usize,
    error: bool,
}

impl Read for CutReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos >= self.end {
            return if self.error {
                Err(io::Error::new(
                    io::ErrorKind::ConnectionReset,
                    "connection reset",
                ))
            } else {
                Ok(0)
            };
        }
        // Small reads, as a socket gives them.
        let n = buf.len().min(self.end - self.pos).min(1000);
        buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

fn serve(data: Vec<u8>, cut: Cut) -> CutReader {
    let (end, error) = match cut {
        Cut::None => (data.len(), false),
        Cut::Eof(p) => (data.len() * p / 100, false),
        Cut::Error(p) => (data.len() * p / 100, true),
    };
    CutReader {
        data,
        pos: 0,
        end,
        error,
    }
}

impl ResumeSource for Source {
    fn open(&mut self, request: BodyRequest<'_>) -> io::Result<Box<dyn Read + '_>> {
        match request {
            BodyRequest::Whole => {
                let n = self.requests.iter().filter(|r| *r == "whole").count();
                self.requests.push("whole".into());
                let cut = self.whole_cuts.get(n).copied().unwrap_or(Cut::None);
                let body = match (&self.whole_again, n) {
                    (Some(again), 1..) => again.clone(),
                    _ => self.whole.clone(),
                };
                Ok(Box::new(serve(body, cut)))
            }
            BodyRequest::Room(room) => {
                let n = self
                    .requests
                    .iter()
                    .filter(|r| r.starts_with("room "))
                    .count();
                self.requests.push(format!("room {room}"));
                let cut = self.room_cuts.get(n).copied().unwrap_or(Cut::None);
                let body = self
                    .rooms
                    .get(room)
                    .cloned()
                    .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such room"))?;
                Ok(Box::new(serve(body, cut)))
            }
            _ => Err(io::Error::other("unexpected request")),
        }
    }
    fn resuming(&mut self, notice: &ResumeNotice) {
        self.notices.push(notice.clone());
    }
}

const SESSIONS: usize = 300;

fn setup() -> (
    BackupDecryptionKey,
    KeysBackup,
    Source,
    BTreeSet<(String, String)>,
) {
    let key = BackupDecryptionKey::from_bytes(&[9; 32]);
    let body = fixtures::synthetic_backup(key.public_key(), SESSIONS, 11);
    // The expected set comes from the fixture's plaintexts, not from a restore.
    let expected: BTreeSet<(String, String)> = fixtures::synthetic_sessions(SESSIONS, 11)
        .iter()
        .map(|k| (k.room_id.clone(), k.session_id.clone()))
        .collect();
    assert_eq!(expected.len(), SESSIONS);
    let rooms = body
        .rooms
        .iter()
        .map(|(id, r)| (id.clone(), serde_json::to_vec(r).unwrap()))
        .collect();
    let source = Source {
        whole: serde_json::to_vec(&body).unwrap(),
        whole_again: None,
        rooms,
        whole_cuts: vec![],
        room_cuts: vec![],
        requests: vec![],
        notices: vec![],
    };
    (key, body, source, expected)
}

fn pairs(result: &RestoreResult) -> Vec<(String, String)> {
    result
        .sessions
        .iter()
        .map(|s| (s.room_id().to_owned(), s.session_id().to_owned()))
        .collect()
}

fn run(
    key: &BackupDecryptionKey,
    source: &mut Source,
    attempts: u32,
) -> (RestoreResult, backup_cipher::Progress) {
    let mut out = RestoreResult::default();
    let opts = RestoreOptions::default()
        .with_jobs(Some(2))
        .with_batch_size(16);
    let progress = restore_resumable(key, source, &opts, attempts, &mut out).unwrap();
    (out, progress)
}

fn assert_exactly_once(result: &RestoreResult, expected: &BTreeSet<(String, String)>) {
    let got = pairs(result);
    let unique: BTreeSet<_> = got.iter().cloned().collect();
    assert_eq!(got.len(), unique.len(), "a session was delivered twice");
    assert_eq!(&unique, expected);
}

#[test]
fn a_cut_whole_body_is_resumed_room_then_rest() {
    for cut in [Cut::Eof(10), Cut::Eof(50), Cut::Eof(95), Cut::Error(50)] {
        let (key, _, mut source, expected) = setup();
        source.whole_cuts = vec![cut];
        let (result, progress) = run(&key, &mut source, 3);
        assert_exactly_once(&result, &expected);
        assert!(result.failures.is_empty(), "{cut:?}: {:?}", result.failures);
        assert_eq!(progress.truncated_at, None);
        assert_eq!(progress.done, SESSIONS as u64);
        // The room in progress alone, then the rest.
        assert_eq!(source.requests.len(), 3, "{cut:?}: {:?}", source.requests);
        assert_eq!(source.requests[0], "whole");
        assert!(source.requests[1].starts_with("room !room"));
        assert_eq!(source.requests[2], "whole");
        assert_eq!(source.notices.len(), 2);
        assert!(
            source
                .notices
                .iter()
                .all(|n| n.cut_at > 0 && n.max_attempts == 3)
        );
    }
}

#[test]
fn several_cuts_in_a_row_still_finish() {
    let (key, _, mut source, expected) = setup();
    source.whole_cuts = vec![Cut::Eof(20), Cut::Eof(40), Cut::Error(60)];
    source.room_cuts = vec![Cut::Eof(50)];
    let (result, progress) = run(&key, &mut source, 8);
    assert_exactly_once(&result, &expected);
    assert_eq!(progress.truncated_at, None);
}

#[test]
fn a_server_that_always_cuts_at_the_same_place_gets_one_truncated_record() {
    let (key, _, mut source, expected) = setup();
    source.whole_cuts = vec![Cut::Eof(50); 10];
    source.room_cuts = vec![Cut::Eof(0); 10];
    let (result, progress) = run(&key, &mut source, 5);
    assert!(progress.truncated_at.is_some());
    let truncated: Vec<_> = result
        .failures
        .iter()
        .filter(|f| f.error == RestoreErrorClass::Truncated)
        .collect();
    assert_eq!(truncated.len(), 1, "{:?}", result.failures);
    // What arrived is kept, once.
    let got = pairs(&result);
    let unique: BTreeSet<_> = got.iter().cloned().collect();
    assert_eq!(got.len(), unique.len());
    assert!(unique.is_subset(&expected));
    assert!(unique.len() > SESSIONS / 4, "only {} kept", unique.len());
    assert!(source.requests.len() <= 1 + 2 * 5);
}

#[test]
fn no_resumption_when_none_is_allowed() {
    let (key, _, mut source, expected) = setup();
    source.whole_cuts = vec![Cut::Eof(50)];
    let (result, progress) = run(&key, &mut source, 0);
    assert!(progress.truncated_at.is_some());
    assert_eq!(source.requests, vec!["whole".to_owned()]);
    assert!(pairs(&result).len() < expected.len());
    assert_eq!(result.failures.len(), 1);
    assert_eq!(result.failures[0].error, RestoreErrorClass::Truncated);
}

#[test]
fn rooms_in_another_order_on_the_retry_are_not_delivered_twice() {
    let (key, body, mut source, expected) = setup();
    // The retry lists the rooms in reverse order.
    let mut text = String::from("{\"rooms\":{");
    for (i, (id, room)) in body.rooms.iter().rev().enumerate() {
        if i > 0 {
            text.push(',');
        }
        text.push_str(&serde_json::to_string(id).unwrap());
        text.push(':');
        text.push_str(&serde_json::to_string(room).unwrap());
    }
    text.push_str("}}");
    source.whole_again = Some(text.into_bytes());
    source.whole_cuts = vec![Cut::Eof(60)];
    let (result, _) = run(&key, &mut source, 3);
    assert_exactly_once(&result, &expected);
}

/// Skipping rooms while the body arrives in small reads (a socket's): exactly the other
/// rooms' sessions, whatever the read sizes (this once panicked in the splitter).
#[test]
fn skipped_rooms_in_small_reads() {
    let (key, _, source, expected) = setup();
    for skip_below in ["!room00003", "!room00008", "!room00016"] {
        let want: BTreeSet<_> = expected
            .iter()
            .filter(|(room, _)| room.as_str() >= skip_below)
            .cloned()
            .collect();
        let s = skip_below.to_owned();
        let opts = RestoreOptions::default()
            .with_jobs(Some(1))
            .with_skip_rooms(move |r| r < s.as_str());
        let mut small = RestoreResult::default();
        let p = backup_cipher::restore_reader(
            &key,
            serve(source.whole.clone(), Cut::None),
            &opts,
            &mut small,
        )
        .unwrap();
        assert_eq!(p.truncated_at, None);
        assert_exactly_once(&small, &want);
        let mut whole = RestoreResult::default();
        backup_cipher::restore_reader(&key, source.whole.as_slice(), &opts, &mut whole).unwrap();
        assert_exactly_once(&whole, &want);
    }
}
