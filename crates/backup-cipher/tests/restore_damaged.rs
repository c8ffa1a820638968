//! Damaged, cut and hostile bodies: what arrived is kept, damage costs only what is
//! damaged, and the walk's extras (key probe, per-room bodies, skipped rooms,
//! `check_body`). Every body is made here, with real encryption (`fixtures`).

use std::collections::{BTreeMap, BTreeSet};

use backup_cipher::{
    BackupDecryptionKey, KeysBackup, Progress, RestoreError, RestoreErrorClass, RestoreFailure,
    RestoreOptions, RestoreSink, RestoredSession, check_body, fixtures, restore_reader,
    restore_room_reader, restore_slice,
};

fn key() -> BackupDecryptionKey {
    BackupDecryptionKey::from_bytes(&[7; 32])
}

/// Everything a restore delivered, in order.
#[derive(Default)]
struct Collect {
    restored: Vec<RestoredSession>,
    failed: Vec<RestoreFailure>,
    rooms_done: Vec<String>,
    progress_calls: usize,
}

impl RestoreSink for Collect {
    fn restored(&mut self, s: RestoredSession) {
        self.restored.push(s);
    }
    fn failed(&mut self, f: RestoreFailure) {
        self.failed.push(f);
    }
    fn progress(&mut self, _: Progress) {
        self.progress_calls += 1;
    }
    fn room_done(&mut self, room_id: &str) {
        self.rooms_done.push(room_id.to_owned());
    }
}

impl Collect {
    /// Restored sessions by (room, session): their JSON text.
    fn by_id(&self) -> BTreeMap<(String, String), String> {
        self.restored
            .iter()
            .map(|s| {
                (
                    (s.room_id().to_owned(), s.session_id().to_owned()),
                    s.json_text().to_owned(),
                )
            })
            .collect()
    }
}

fn opts() -> RestoreOptions {
    RestoreOptions::default()
        .with_jobs(Some(1))
        .with_batch_size(16)
}

fn restore(body: &[u8]) -> (Result<Progress, RestoreError>, Collect) {
    let mut sink = Collect::default();
    let r = restore_reader(&key(), body, &opts(), &mut sink);
    (r, sink)
}

/// A compact body of `n` sessions, its text, and where each entry's text ends in it
/// (found by searching for the entry's own serialization, not by the code under test).
/// (room, session), where the entry's value starts and where its text ends.
type Span = ((String, String), usize, usize);

fn body(n: usize, seed: u64) -> (KeysBackup, String, Vec<Span>) {
    let backup = fixtures::synthetic_backup(key().public_key(), n, seed);
    let text = serde_json::to_string(&backup).unwrap();
    let mut spans = Vec::new();
    for (room, sid, entry) in backup.entries() {
        let member = format!(
            "{}:{}",
            serde_json::to_string(sid).unwrap(),
            serde_json::to_string(entry).unwrap()
        );
        let at = text.find(&member).expect("entry text in the body");
        let value = at + member.len() - serde_json::to_string(entry).unwrap().len();
        spans.push(((room.to_owned(), sid.to_owned()), value, at + member.len()));
    }
    (backup, text, spans)
}

/// A cut anywhere: exactly the entries whose text ended before the cut, byte for byte
/// as a whole restore gives them, plus one truncated record.
#[test]
fn a_cut_body_keeps_every_complete_entry() {
    let (_, text, spans) = body(200, 1);
    let (whole, all) = restore(text.as_bytes());
    let whole = whole.unwrap();
    assert_eq!(whole.truncated_at, None);
    assert!(all.failed.is_empty(), "{:?}", all.failed);
    let all = all.by_id();
    assert_eq!(all.len(), 200);

    let len = text.len();
    // Mid-string: inside the 57th entry's ciphertext.
    let mid_string = spans[57].1 + text[spans[57].1..].find("\"ciphertext\":\"").unwrap() + 30;
    // Between rooms: just after the comma that ends the first room.
    let second_room = spans.iter().find(|s| s.0.0 != spans[0].0.0).unwrap();
    let room_key = format!(",{}:", serde_json::to_string(&second_room.0.0).unwrap());
    let between = text.find(&room_key).unwrap() + 1;
    for cut in [
        len / 10,
        len / 2,
        len * 95 / 100,
        mid_string,
        between,
        spans[3].2,
        1,
        len - 1,
    ] {
        let (r, got) = restore(&text.as_bytes()[..cut]);
        let p = r.unwrap_or_else(|e| panic!("cut at {cut}: {e}"));
        assert_eq!(p.truncated_at, Some(cut as u64), "cut at {cut}");
        let expect: BTreeMap<_, _> = spans
            .iter()
            .filter(|s| s.2 <= cut)
            .map(|s| (s.0.clone(), all[&s.0].clone()))
            .collect();
        assert_eq!(got.by_id(), expect, "cut at {cut}");
        assert_eq!(got.failed.len(), 1, "cut at {cut}: {:?}", got.failed);
        let f = &got.failed[0];
        assert_eq!(f.error, RestoreErrorClass::Truncated);
        assert_eq!(f.error.as_str(), "truncated");
        assert!(
            f.message
                .contains(&format!("ends at byte {cut} before it is complete")),
            "{}",
            f.message
        );
        if cut == mid_string {
            assert_eq!(f.room_id, spans[57].0.0, "the room in progress");
            assert_eq!(f.session_id, spans[57].0.1, "the entry in progress");
        }
        // Every room reported done is whole in what was delivered.
        for room in &got.rooms_done {
            let want = spans.iter().filter(|s| &s.0.0 == room).count();
            let have = got.restored.iter().filter(|s| s.room_id() == room).count();
            assert_eq!(want, have, "cut at {cut}: room {room}");
        }
        if cut == between {
            assert_eq!(got.rooms_done, vec![spans[0].0.0.clone()]);
            assert_eq!(f.room_id, "", "no room in progress between rooms");
        }
    }
    // Rooms are reported done once each, in order, on a whole body.
    let (_, again) = restore(text.as_bytes());
    let rooms: Vec<String> = spans
        .iter()
        .map(|s| s.0.0.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    assert_eq!(again.rooms_done, rooms);
}

/// A reader that fails mid-way: the same as a cut, the message names the error.
#[test]
fn a_reader_that_fails_keeps_what_arrived() {
    struct Failing<'a>(&'a [u8]);
    impl std::io::Read for Failing<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.0.is_empty() {
                return Err(std::io::Error::other("connection reset by the test"));
            }
            let k = buf.len().min(self.0.len()).min(1000);
            buf[..k].copy_from_slice(&self.0[..k]);
            self.0 = &self.0[k..];
            Ok(k)
        }
    }
    let (_, text, spans) = body(60, 2);
    let cut = text.len() / 2;
    let mut sink = Collect::default();
    let p = restore_reader(&key(), Failing(&text.as_bytes()[..cut]), &opts(), &mut sink).unwrap();
    assert_eq!(p.truncated_at, Some(cut as u64));
    assert_eq!(
        sink.restored.len(),
        spans.iter().filter(|s| s.2 <= cut).count()
    );
    assert_eq!(sink.failed.len(), 1);
    assert_eq!(sink.failed[0].error, RestoreErrorClass::Truncated);
    assert!(
        sink.failed[0]
            .message
            .contains("connection reset by the test")
    );
}

/// Restores `text` and checks that every session but those in `lost` is restored, byte
/// for byte as in `all`, with at most `max_failures` records.
fn check_costs(
    text: &[u8],
    all: &BTreeMap<(String, String), String>,
    lost: &[(String, String)],
    max_failures: usize,
    what: &str,
) -> Collect {
    let (r, got) = restore(text);
    let p = r.unwrap_or_else(|e| panic!("{what}: {e}"));
    assert_eq!(p.truncated_at, None, "{what}: {:?}", got.failed);
    let have = got.by_id();
    for (id, json) in all {
        if lost.contains(id) {
            continue;
        }
        assert_eq!(
            have.get(id),
            Some(json),
            "{what}: {id:?} lost: {:?}",
            got.failed
        );
    }
    for id in have.keys() {
        assert!(all.contains_key(id), "{what}: {id:?} was never in the body");
    }
    assert!(
        !got.failed.is_empty() && got.failed.len() <= max_failures,
        "{what}: {:?}",
        got.failed
    );
    got
}

/// One bad byte in one entry costs that entry at most; every other session restores.
#[test]
fn one_bad_byte_costs_at_most_its_entry() {
    let (_, text, spans) = body(100, 3);
    let all = restore(text.as_bytes()).1.by_id();
    // Entries in the middle of a room, and the last of a room.
    let rooms: Vec<&String> = spans.iter().map(|s| &s.0.0).collect();
    let last_of_room = (0..spans.len() - 1)
        .find(|&i| rooms[i] != rooms[i + 1])
        .unwrap();
    for k in [10, 41, last_of_room] {
        let (_, start, end) = spans[k].clone();
        let entry = &text[start..end];
        let id = spans[k].0.clone();
        let at = |pat: &str| start + entry.find(pat).unwrap();
        let mut cases: Vec<(String, Vec<u8>)> = Vec::new();
        let edit = |pos: usize, with: Option<u8>| {
            let mut t = text.as_bytes().to_vec();
            match with {
                Some(b) => t[pos] = b,
                None => {
                    t.remove(pos);
                }
            }
            t
        };
        // In the base64 of the ciphertext: the MAC catches it.
        let b64 = at("\"ciphertext\":\"") + 20;
        let other = if text.as_bytes()[b64] == b'A' {
            b'B'
        } else {
            b'A'
        };
        cases.push(("base64".into(), edit(b64, Some(other))));
        // In a key: the entry is not a KeyBackupData.
        cases.push(("key".into(), edit(at("\"mac\"") + 2, Some(b'x'))));
        // A byte that is not JSON where a value belongs.
        cases.push((
            "value".into(),
            edit(at("\"is_verified\":") + 14, Some(b'#')),
        ));
        // A removed quote: the closing quote of a member name inside session_data.
        cases.push(("quote".into(), edit(at("\"ephemeral\"") + 10, None)));
        // A removed quote at the end of the mac's value.
        cases.push(("mac quote".into(), edit(end - 3, None)));
        // A removed brace: the one closing session_data, and the entry's own.
        cases.push(("brace".into(), edit(end - 2, None)));
        cases.push(("entry brace".into(), edit(end - 1, None)));
        // A removed comma after the entry.
        if text.as_bytes()[end] == b',' {
            cases.push(("comma".into(), edit(end, None)));
        }
        for (what, damaged) in cases {
            let what = format!("{what} in entry {k}");
            let got = check_costs(&damaged, &all, std::slice::from_ref(&id), 2, &what);
            for f in &got.failed {
                assert!(
                    matches!(
                        f.error,
                        RestoreErrorClass::Mac
                            | RestoreErrorClass::Json
                            | RestoreErrorClass::Padding
                            | RestoreErrorClass::Malformed
                            | RestoreErrorClass::Damaged
                    ),
                    "{what}: {f:?}"
                );
                assert!(f.message.len() < 600, "{what}: {}", f.message);
            }
        }
    }
}

/// A room whose value, or whose sessions, are not an object: one record for that room.
#[test]
fn a_room_that_is_not_an_object_costs_that_room() {
    let (_, text, _) = body(50, 4);
    let all = restore(text.as_bytes()).1.by_id();
    for (value, held) in [
        ("5", "a number"),
        ("\"a string\"", "a string"),
        ("[1, {\"sessions\": 2}]", "an array"),
        ("{\"sessions\": 7}", "a number"),
        ("{\"sessions\": [\"x\"]}", "an array"),
        ("{\"sessions\": null}", "null"),
    ] {
        let damaged = text.replacen(
            "{\"rooms\":{",
            &format!("{{\"rooms\":{{\"!odd:example.org\": {value},"),
            1,
        );
        let got = check_costs(damaged.as_bytes(), &all, &[], 1, value);
        assert_eq!(got.restored.len(), all.len());
        let f = &got.failed[0];
        assert_eq!(f.room_id, "!odd:example.org");
        assert_eq!(f.session_id, "");
        assert_eq!(f.error, RestoreErrorClass::Malformed);
        assert!(f.message.contains(held), "{value}: {}", f.message);
    }
    // "rooms" not an object: nothing to keep, the body is refused.
    for bad in [r#"{"rooms": 5}"#, r#"{"rooms": [{"!a": {}}]}"#] {
        let (r, got) = restore(bad.as_bytes());
        assert!(matches!(r, Err(RestoreError::Body(_))), "{bad}: {r:?}");
        assert!(got.restored.is_empty() && got.failed.is_empty());
    }
}

/// Duplicate "rooms" and "sessions" members: every one is read.
#[test]
fn duplicate_rooms_and_sessions_are_all_read() {
    let (_, a, _) = body(30, 5);
    let (_, b, _) = body(30, 6);
    let all_a = restore(a.as_bytes()).1.by_id();
    let all_b = restore(b.as_bytes()).1.by_id();
    let inner = |t: &str| t[r#"{"rooms":"#.len()..t.len() - 1].to_owned();
    let twice = format!(r#"{{"rooms":{},"rooms":{}}}"#, inner(&a), inner(&b));
    let (r, got) = restore(twice.as_bytes());
    r.unwrap();
    let mut want = all_a.clone();
    want.extend(all_b.clone());
    assert_eq!(got.by_id(), want);
    assert!(got.failed.is_empty());

    // Two "sessions" in one room: the entries of both, under that room.
    let room_b = &all_b.keys().next().unwrap().0;
    let sessions_of = |backup: &str, room: &str| {
        let v: serde_json::Value = serde_json::from_str(backup).unwrap();
        v["rooms"][room]["sessions"].clone()
    };
    let room_a = &all_a.keys().next().unwrap().0;
    let s1 = sessions_of(&a, room_a);
    let s2 = sessions_of(&b, room_b);
    let text = format!(r#"{{"rooms":{{{room_a:?}:{{"sessions":{s1},"sessions":{s2}}}}}}}"#);
    let (r, got) = restore(text.as_bytes());
    r.unwrap();
    assert!(got.failed.is_empty(), "{:?}", got.failed);
    let n = s1.as_object().unwrap().len() + s2.as_object().unwrap().len();
    assert_eq!(got.restored.len(), n);
    let from_b: Vec<_> = got
        .restored
        .iter()
        .filter(|s| s2.as_object().unwrap().contains_key(s.session_id()))
        .collect();
    assert_eq!(from_b.len(), s2.as_object().unwrap().len());
    assert!(from_b.iter().all(|s| s.room_id() == room_a));
}

/// Ids longer than 255 bytes: one record for that room or entry, shown in part.
#[test]
fn ids_over_255_bytes_cost_their_room_or_entry() {
    let (backup, text, _) = body(40, 7);
    let all = restore(text.as_bytes()).1.by_id();
    let long = "x".repeat(300);
    let entry = serde_json::to_string(backup.entries().next().unwrap().2).unwrap();
    // A long room id.
    let damaged = text.replacen(
        "{\"rooms\":{",
        &format!("{{\"rooms\":{{\"!{long}\": {{\"sessions\": {{\"s\": {entry}}}}},"),
        1,
    );
    let got = check_costs(damaged.as_bytes(), &all, &[], 1, "long room id");
    let f = &got.failed[0];
    assert_eq!(
        (f.room_id.as_str(), f.error),
        ("", RestoreErrorClass::Malformed)
    );
    assert!(f.message.contains("room id of 301 bytes"), "{}", f.message);
    assert!(f.message.len() < 300, "{}", f.message);
    // A long session id.
    let room = &all.keys().next().unwrap().0;
    let damaged = text.replacen(
        &format!("{}:{{\"sessions\":{{", serde_json::to_string(room).unwrap()),
        &format!(
            "{}:{{\"sessions\":{{\"{long}\": {entry},",
            serde_json::to_string(room).unwrap()
        ),
        1,
    );
    let got = check_costs(damaged.as_bytes(), &all, &[], 1, "long session id");
    let f = &got.failed[0];
    assert_eq!(
        (f.room_id.as_str(), f.error),
        (room.as_str(), RestoreErrorClass::Malformed)
    );
    assert!(
        f.message.contains("session id of 300 bytes"),
        "{}",
        f.message
    );
    assert!(f.message.len() < 300, "{}", f.message);
    // An id of exactly 255 bytes is fine (the entry then fails its session-id check).
    let ok = "y".repeat(255);
    let damaged = text.replacen(
        &format!("{}:{{\"sessions\":{{", serde_json::to_string(room).unwrap()),
        &format!(
            "{}:{{\"sessions\":{{\"{ok}\": {entry},",
            serde_json::to_string(room).unwrap()
        ),
        1,
    );
    let got = check_costs(damaged.as_bytes(), &all, &[], 1, "255-byte session id");
    assert_eq!(got.failed[0].error, RestoreErrorClass::SessionId);
}

/// A reader that counts what was read from it.
struct Counted<'a> {
    data: &'a [u8],
    read: std::rc::Rc<std::cell::Cell<usize>>,
}

impl std::io::Read for Counted<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let k = buf.len().min(self.data.len());
        buf[..k].copy_from_slice(&self.data[..k]);
        self.data = &self.data[k..];
        self.read.set(self.read.get() + k);
        Ok(k)
    }
}

/// The wrong key with the probe: WrongKey, nothing delivered, the rest not read.
#[test]
fn the_probe_says_wrong_key_first() {
    let (_, text, _) = body(2000, 8);
    let wrong = BackupDecryptionKey::from_bytes(&[9; 32]);
    let read = std::rc::Rc::new(std::cell::Cell::new(0));
    let mut sink = Collect::default();
    let err = restore_reader(
        &wrong,
        Counted {
            data: text.as_bytes(),
            read: read.clone(),
        },
        &RestoreOptions::default().with_key_probe(16),
        &mut sink,
    )
    .unwrap_err();
    assert!(
        matches!(err, RestoreError::WrongKey { tried: 16 }),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "this key does not open this backup: none of the first 16 entries decrypt with it"
    );
    assert!(sink.restored.is_empty() && sink.failed.is_empty() && sink.rooms_done.is_empty());
    assert_eq!(sink.progress_calls, 0);
    assert!(
        read.get() < text.len() / 4,
        "read {} of {}",
        read.get(),
        text.len()
    );
    // Without the probe the wrong key fails every entry and goes on (the old way).
    let mut sink = Collect::default();
    let p = restore_reader(&wrong, text.as_bytes(), &opts(), &mut sink).unwrap();
    assert_eq!((p.done, p.failed), (2000, 2000));
    // The right key with the probe: everything, in order.
    let mut sink = Collect::default();
    let p = restore_reader(
        &key(),
        text.as_bytes(),
        &opts().with_key_probe(16),
        &mut sink,
    )
    .unwrap();
    assert_eq!((p.done, p.failed), (2000, 0));
    let plain = restore(text.as_bytes()).1;
    let ids = |c: &Collect| -> Vec<String> {
        c.restored
            .iter()
            .map(|s| s.session_id().to_owned())
            .collect()
    };
    assert_eq!(ids(&sink), ids(&plain));
}

/// The right key, whose first entries come from another key (element-meta #2338): with
/// the probe off, they fail on their own and the rest restores; with the probe on and a
/// good entry among the first, too.
#[test]
fn entries_from_another_key_do_not_stop_the_right_key() {
    let other = BackupDecryptionKey::from_bytes(&[11; 32]);
    // Room ids sort "!room00000…" first: its sessions are the first in the body.
    let stale = fixtures::synthetic_backup(other.public_key(), 10, 9);
    let good = fixtures::synthetic_backup(key().public_key(), 100, 10);
    let mut mixed = good.clone();
    let first_room = stale.rooms.keys().next().unwrap().clone();
    let renamed = format!("!aaa{first_room}");
    mixed
        .rooms
        .insert(renamed.clone(), stale.rooms[&first_room].clone());
    let text = serde_json::to_vec(&mixed).unwrap();
    let r = restore_slice(&key(), &text, &opts()).unwrap();
    assert_eq!(r.sessions.len(), 100);
    assert_eq!(r.failures.len(), 10);
    assert!(
        r.failures
            .iter()
            .all(|f| f.error == RestoreErrorClass::Mac && f.room_id == renamed)
    );
    // With a probe wider than the stale entries, a good one is among them: no WrongKey.
    let r = restore_slice(&key(), &text, &opts().with_key_probe(32)).unwrap();
    assert_eq!(r.sessions.len(), 100);
}

/// check_body: complete, cut, damaged, and not a body at all.
#[test]
fn check_body_reports_what_a_download_saved() {
    let (backup, text, spans) = body(120, 12);
    let c = check_body(text.as_bytes(), u64::MAX).unwrap();
    assert!(c.complete);
    assert_eq!(c.truncated_at, None);
    assert_eq!(c.entries, 120);
    assert_eq!(c.rooms, backup.rooms.len() as u64);
    assert_eq!(c.bytes, text.len() as u64);
    assert_eq!((c.damaged, c.problems, c.malformed), (0, 0, 0));

    let cut = text.len() * 6 / 10;
    let c = check_body(&text.as_bytes()[..cut], u64::MAX).unwrap();
    assert!(!c.complete);
    assert_eq!(c.truncated_at, Some(cut as u64));
    assert_eq!(
        c.entries,
        spans.iter().filter(|s| s.2 <= cut).count() as u64
    );
    assert_eq!(c.problems, 1);
    assert_eq!(c.sample[0].error, RestoreErrorClass::Truncated);

    let mut damaged = text.clone().into_bytes();
    let pos = spans[30].1 + 5;
    damaged.remove(pos + text[pos..].find('"').unwrap());
    let c = check_body(damaged.as_slice(), u64::MAX).unwrap();
    assert!(c.complete, "{c:?}");
    assert!(c.problems >= 1 && c.problems <= 2, "{:?}", c.sample);
    assert!(c.entries >= 119, "{}", c.entries);

    // An HTML page and an unterminated string are no bodies / no complete bodies.
    assert!(matches!(
        check_body(&b"<html><body>502</body></html>"[..], u64::MAX),
        Err(RestoreError::Body(_))
    ));
    let c = check_body(
        &b"{\"rooms\": {\"!a\": {\"sessions\": {\"s\": \"aaaaaaa"[..],
        u64::MAX,
    )
    .unwrap();
    assert!(!c.complete);
    // Over the limit: a typed error.
    assert!(matches!(
        check_body(text.as_bytes(), 1000),
        Err(RestoreError::TooLarge(1000))
    ));
}

/// A per-room body restores under the room given, with the same resilience.
#[test]
fn a_room_body_restores_under_its_room() {
    let (_, text, spans) = body(60, 13);
    let all = restore(text.as_bytes()).1.by_id();
    let room = spans[0].0.0.clone();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let room_body = serde_json::to_string(&v["rooms"][&room]).unwrap();
    let n = v["rooms"][&room]["sessions"].as_object().unwrap().len();
    let mut sink = Collect::default();
    let p = restore_room_reader(&key(), &room, room_body.as_bytes(), &opts(), &mut sink).unwrap();
    assert_eq!((p.done, p.failed, p.truncated_at), (n as u64, 0, None));
    for (id, json) in sink.by_id() {
        assert_eq!(all.get(&id), Some(&json));
    }
    assert_eq!(sink.rooms_done, vec![room.clone()]);
    // Cut: the complete entries and one record.
    let cut = room_body.len() / 2;
    let mut sink = Collect::default();
    let p = restore_room_reader(
        &key(),
        &room,
        &room_body.as_bytes()[..cut],
        &opts(),
        &mut sink,
    )
    .unwrap();
    assert_eq!(p.truncated_at, Some(cut as u64));
    assert!(!sink.restored.is_empty() && sink.restored.len() < n);
    assert_eq!(sink.failed.len(), 1);
    assert_eq!(sink.failed[0].room_id, room);
    assert!(sink.rooms_done.is_empty());
    // A whole body is not a room body.
    let mut sink = Collect::default();
    let err = restore_room_reader(&key(), &room, text.as_bytes(), &opts(), &mut sink).unwrap_err();
    assert!(matches!(err, RestoreError::Body(_)), "{err:?}");
}

/// Rooms already restored are stepped over, without a result or a room_done.
#[test]
fn skipped_rooms_are_stepped_over() {
    let (_, text, spans) = body(100, 14);
    let rooms: BTreeSet<String> = spans.iter().map(|s| s.0.0.clone()).collect();
    let done: BTreeSet<String> = rooms.iter().take(2).cloned().collect();
    let skip = done.clone();
    let mut sink = Collect::default();
    let p = restore_reader(
        &key(),
        text.as_bytes(),
        &opts().with_skip_rooms(move |r| skip.contains(r)),
        &mut sink,
    )
    .unwrap();
    let want = spans.iter().filter(|s| !done.contains(&s.0.0)).count();
    assert_eq!((p.done, p.failed), (want as u64, 0));
    assert!(sink.restored.iter().all(|s| !done.contains(s.room_id())));
    assert_eq!(
        sink.rooms_done,
        rooms.difference(&done).cloned().collect::<Vec<_>>()
    );
}

/// One damaged byte anywhere (removed, or replaced by a byte of JSON's structure): the
/// restore never fails on it, never files a session under one of the body's rooms that
/// does not hold it, loses at most the entry when the byte is inside an entry, and at
/// most one room's sessions (given up rather than guessed) when it is elsewhere.
#[test]
fn damage_anywhere_costs_at_most_one_room_and_never_misfiles() {
    let (backup, text, spans) = body(45, 15);
    let all = restore(text.as_bytes()).1.by_id();
    assert_eq!(all.len(), 45);
    let largest_room = backup
        .rooms
        .values()
        .map(|r| r.sessions.len())
        .max()
        .unwrap();
    let bytes = text.as_bytes();
    let mut pos = 0;
    let mut checked = 0;
    while pos < bytes.len() {
        let inside_entry = spans.iter().any(|s| (s.1..s.2).contains(&pos));
        for with in [
            None,
            Some(b'"'),
            Some(b'}'),
            Some(b'{'),
            Some(b','),
            Some(b':'),
        ] {
            let mut damaged = bytes.to_vec();
            match with {
                None => {
                    damaged.remove(pos);
                }
                Some(b) => damaged[pos] = b,
            }
            let (r, got) = restore(&damaged);
            let what = format!("byte {pos} {with:?}");
            let Ok(_) = r else {
                eprintln!(
                    "{what}: around {:?}",
                    String::from_utf8_lossy(
                        &bytes[pos.saturating_sub(60)..(pos + 20).min(bytes.len())]
                    )
                );
                // Only the body's own frame may make it no body at all.
                assert!(pos < 12 || pos + 4 > bytes.len(), "{what}: {r:?}");
                continue;
            };
            let have = got.by_id();
            for (id, json) in &have {
                if backup.rooms.contains_key(&id.0) {
                    assert_eq!(all.get(id), Some(json), "{what}: {id:?} misfiled");
                }
            }
            let lost = all.keys().filter(|id| !have.contains_key(*id)).count();
            let bound = if inside_entry { 1 } else { largest_room + 1 };
            assert!(lost <= bound, "{what}: {lost} lost: {:?}", got.failed);
            checked += 1;
        }
        pos += 41;
    }
    assert!(checked > 1000, "{checked}");
}

/// Failure messages stay short whatever the entry held (serde_json quotes what it
/// refuses), and an unknown member holding an entry-like object costs nothing.
#[test]
fn messages_are_bounded_and_odd_members_cost_nothing() {
    let (_, text, _) = body(20, 16);
    let all = restore(text.as_bytes()).1.by_id();
    let long = "z".repeat(100_000);
    let odd = text.replacen(
        "{\"rooms\":{",
        &format!(
            "{{\"x\":{{\"session_data\":1}},\"rooms\":{{\"!odd:x\":{{\"sessions\":{{\"s\":{{\"session_data\":\"{long}\"}}}}}},"
        ),
        1,
    );
    let got = check_costs(odd.as_bytes(), &all, &[], 1, "odd");
    assert_eq!(got.failed[0].error, RestoreErrorClass::Malformed);
    assert!(
        got.failed[0].message.len() < 600,
        "{}",
        got.failed[0].message.len()
    );
}

/// Damage that runs to the end of a whole body (an entry over the cap, or a lost quote,
/// in the last entry) costs that entry and is not taken for a cut.
#[test]
fn damage_in_the_last_entry_is_not_a_cut() {
    let (_, text, spans) = body(30, 17);
    let all = restore(text.as_bytes()).1.by_id();
    let last = spans.last().unwrap().clone();
    // Over the cap: a ciphertext of 300 KiB.
    let entry = &text[last.1..last.2];
    let at = last.1 + entry.find("\"ciphertext\":\"").unwrap() + 14;
    let mut huge = text.clone();
    huge.insert_str(at, &"QUJD".repeat(75 << 10));
    let got = check_costs(
        huge.as_bytes(),
        &all,
        std::slice::from_ref(&last.0),
        1,
        "huge",
    );
    assert_eq!(got.failed[0].error, RestoreErrorClass::Malformed);
    assert_eq!(got.failed[0].session_id, last.0.1);
    assert!(
        got.failed[0].message.contains("longer than"),
        "{}",
        got.failed[0].message
    );
    // A lost quote: the closing one of its "session_data".
    let at = last.1 + entry.find("\"session_data\"").unwrap() + 13;
    let mut lost = text.into_bytes();
    lost.remove(at);
    let got = check_costs(&lost, &all, std::slice::from_ref(&last.0), 1, "quote");
    assert_eq!(got.failed[0].error, RestoreErrorClass::Damaged);
}

/// A body saved with a UTF-8 byte-order mark in front restores as the same body without
/// it (the old code refused it: "expected value at line 1 column 1").
#[test]
fn a_byte_order_mark_before_the_body_is_stepped_over() {
    let (_, text, _) = body(20, 5);
    let plain = restore(text.as_bytes());
    let mut marked = b"\xEF\xBB\xBF".to_vec();
    marked.extend_from_slice(text.as_bytes());
    let with_bom = restore(&marked);
    assert!(with_bom.0.is_ok(), "{:?}", with_bom.0);
    assert_eq!(with_bom.1.by_id(), plain.1.by_id());
    assert!(with_bom.1.failed.is_empty(), "{:?}", with_bom.1.failed);
    let check = backup_cipher::check_body(marked.as_slice(), u64::MAX).unwrap();
    assert!(check.complete);
    assert_eq!(check.entries, 20);
}
