//! The bulk restore: bad entries are reported and never cost a good one.

use std::collections::BTreeMap;

use backup_cipher::{
    AuthData, BackupDecryptionKey, BackupVersion, KeyBackupData, KeysBackup, Progress,
    RestoreError, RestoreErrorClass, RestoreFailure, RestoreOptions, RestoreSink, RestoredSession,
    check_backup_version, fixtures, restore_keys, restore_reader, restore_slice,
};
use serde_json::{Value, json};

fn key() -> BackupDecryptionKey {
    BackupDecryptionKey::from_base64("5oTWMTlWrlYW+yBbvUdxVrnpt4WxY3ocg/w7y+Q+Svw").unwrap()
}

/// A backup of `n` good sessions plus one entry of each kind of damage, in a room of its
/// own, so the test knows which must fail and why.
fn damaged_backup(n: usize) -> (KeysBackup, BTreeMap<String, RestoreErrorClass>) {
    let key = key();
    let mut body = fixtures::synthetic_backup(key.public_key(), n, 7);
    let other = BackupDecryptionKey::generate().unwrap();
    let good: KeyBackupData = body
        .rooms
        .values()
        .next()
        .unwrap()
        .sessions
        .values()
        .next()
        .unwrap()
        .clone();
    let mut expect = BTreeMap::new();
    let mut add = |sid: &str, data: KeyBackupData, class| {
        body.rooms
            .entry("!damaged:example.org".into())
            .or_default()
            .sessions
            .insert(sid.into(), data);
        expect.insert(sid.to_owned(), class);
    };

    let mut d = good.clone();
    d.session_data.ciphertext.insert(3, '!');
    add("bad-base64", d, RestoreErrorClass::Base64);

    let mut d = good.clone();
    d.session_data.ephemeral = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".into();
    add("zero-ephemeral", d, RestoreErrorClass::Key);

    let theirs = &fixtures::synthetic_backup(other.public_key(), 1, 9);
    let d = theirs
        .rooms
        .values()
        .next()
        .unwrap()
        .sessions
        .values()
        .next()
        .unwrap()
        .clone();
    add("other-key", d, RestoreErrorClass::Mac);

    let mut d = good.clone();
    let len = d.session_data.ciphertext.len();
    d.session_data.ciphertext.truncate(len - 22); // drop a block's worth and more
    add("truncated", d, RestoreErrorClass::Padding);

    let mut d = good.clone();
    d.session_data = key.public_key().encrypt(b"[1,2,3]").unwrap();
    add("not-an-object", d, RestoreErrorClass::Json);

    let mut d = good.clone();
    let sk = recovery_key::encode_base64(&[1u8; 165]);
    let sid = recovery_key::encode_base64(&[1u8; 32]);
    d.session_data = key
        .public_key()
        .encrypt(
            json!({"algorithm": "m.megolm.v2.aes-sha2", "session_key": sk})
                .to_string()
                .as_bytes(),
        )
        .unwrap();
    add(&sid, d, RestoreErrorClass::Algorithm);

    // A good entry filed under the wrong session id.
    add(
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        good.clone(),
        RestoreErrorClass::SessionId,
    );
    (body, expect)
}

fn check(
    result_sessions: &[RestoredSession],
    failures: &[RestoreFailure],
    n: usize,
    expect: &BTreeMap<String, RestoreErrorClass>,
) {
    assert_eq!(result_sessions.len(), n, "every good session restored");
    // And restored exactly: each equals the session that was encrypted into the body
    // (damaged_backup encrypts fixtures::synthetic_sessions(n, 7)).
    let originals: BTreeMap<(String, String), serde_json::Map<String, Value>> =
        fixtures::synthetic_sessions(n, 7)
            .into_iter()
            .map(|k| {
                let id = (k.room_id.clone(), k.session_id.clone());
                let Value::Object(m) = serde_json::to_value(&k).unwrap() else {
                    unreachable!()
                };
                (id, m)
            })
            .collect();
    for s in result_sessions {
        let id = (s.room_id().to_owned(), s.session_id().to_owned());
        let original = originals
            .get(&id)
            .unwrap_or_else(|| panic!("{id:?} was not in the body"));
        assert_eq!(&s.to_json(), original, "{id:?}");
    }
    assert_eq!(failures.len(), expect.len());
    for f in failures {
        assert_eq!(f.room_id, "!damaged:example.org");
        assert_eq!(Some(&f.error), expect.get(&f.session_id), "{f:?}");
        assert!(!f.message.is_empty());
    }
}

#[test]
fn one_bad_entry_never_costs_a_good_one() {
    let (body, expect) = damaged_backup(300);
    let text = serde_json::to_vec(&body).unwrap();
    let r = restore_slice(&key(), &text, &RestoreOptions::default()).unwrap();
    check(&r.sessions, &r.failures, 300, &expect);
    // Sorted by room, then session.
    let ids: Vec<_> = r
        .sessions
        .iter()
        .map(|s| (s.room_id().to_owned(), s.session_id().to_owned()))
        .collect();
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted);
    // The typed entry point agrees.
    let typed = restore_keys(&key(), &body, &RestoreOptions::default().with_jobs(Some(1))).unwrap();
    assert_eq!(typed.sessions, r.sessions);
    assert_eq!(typed.failures, r.failures);
}

#[test]
fn malformed_envelopes_are_failures_not_aborts() {
    let key = key();
    let body = fixtures::synthetic_backup(key.public_key(), 10, 3);
    let mut v = serde_json::to_value(&body).unwrap();
    let room = v["rooms"]
        .as_object_mut()
        .unwrap()
        .values_mut()
        .next()
        .unwrap();
    let sessions = room["sessions"].as_object_mut().unwrap();
    sessions.insert(
        "missing-session-data".into(),
        json!({"first_message_index": 0}),
    );
    sessions.insert("a-string".into(), json!("nope"));
    sessions.insert(
        "mac-is-a-number".into(),
        json!({"session_data": {"ephemeral": "x", "ciphertext": "y", "mac": 5}}),
    );
    // Envelope fields other than session_data are optional for a restore.
    let mut bare = serde_json::to_value(body.entries().next().unwrap().2).unwrap();
    bare.as_object_mut().unwrap().remove("is_verified");
    let sid = body
        .rooms
        .values()
        .next()
        .unwrap()
        .sessions
        .keys()
        .next()
        .unwrap()
        .clone();
    sessions.insert(sid, bare);
    let r = restore_slice(
        &key,
        &serde_json::to_vec(&v).unwrap(),
        &RestoreOptions::default(),
    )
    .unwrap();
    assert_eq!(r.sessions.len(), 10);
    assert_eq!(r.failures.len(), 3);
    assert!(
        r.failures
            .iter()
            .all(|f| f.error == RestoreErrorClass::Malformed)
    );
}

struct Collect {
    restored: Vec<RestoredSession>,
    failed: Vec<RestoreFailure>,
    progress: Vec<Progress>,
}

impl RestoreSink for Collect {
    fn restored(&mut self, s: RestoredSession) {
        self.restored.push(s);
    }
    fn failed(&mut self, f: RestoreFailure) {
        self.failed.push(f);
    }
    fn progress(&mut self, p: Progress) {
        self.progress.push(p);
    }
}

#[test]
fn streaming_batches_report_progress_and_agree() {
    let (body, expect) = damaged_backup(100);
    let text = serde_json::to_vec_pretty(&body).unwrap();
    let mut sink = Collect {
        restored: vec![],
        failed: vec![],
        progress: vec![],
    };
    let opts = RestoreOptions::default()
        .with_batch_size(16)
        .with_jobs(Some(2));
    let done = restore_reader(&key(), std::io::Cursor::new(&text), &opts, &mut sink).unwrap();
    check(&sink.restored, &sink.failed, 100, &expect);
    assert_eq!(done.done, 107);
    assert_eq!(done.failed, 7);
    assert_eq!(done.bytes_read, text.len() as u64);
    assert!(sink.progress.len() >= 107 / 16);
    assert!(sink.progress.windows(2).all(|w| w[0].done <= w[1].done));
}

#[test]
fn size_limit_and_broken_documents_are_clear_errors() {
    let key = key();
    let body = serde_json::to_vec(&fixtures::synthetic_backup(key.public_key(), 50, 1)).unwrap();
    let opts = RestoreOptions::default().with_max_body_bytes(1000);
    let err = restore_slice(&key, &body, &opts).unwrap_err();
    assert!(matches!(err, RestoreError::TooLarge(1000)), "{err:?}");
    assert!(err.to_string().contains("limit"));

    // A body cut off mid-way: every complete entry before the cut is delivered, and the
    // cut is one record that says where it broke (tests/restore_damaged.rs has more).
    let mut sink = Collect {
        restored: vec![],
        failed: vec![],
        progress: vec![],
    };
    let opts = RestoreOptions::default().with_batch_size(8);
    let cut = &body[..body.len() * 3 / 4];
    let done = restore_reader(&key, cut, &opts, &mut sink).unwrap();
    assert_eq!(done.truncated_at, Some(cut.len() as u64));
    assert!(sink.restored.len() >= 30, "{}", sink.restored.len());
    assert_eq!(sink.failed.len(), 1);
    assert_eq!(sink.failed[0].error, RestoreErrorClass::Truncated);

    for bad in [
        &b"[]"[..],
        b"{}",
        b"{\"version\": \"1\", \"auth_data\": {}}",
        b"{\"rooms\": []}",
        b"",
        b"{} trailing",
    ] {
        let err = restore_slice(&key, bad, &RestoreOptions::default()).unwrap_err();
        assert!(matches!(err, RestoreError::Body(_)), "{bad:?}: {err:?}");
    }
    // An empty backup is fine.
    assert!(
        restore_slice(&key, br#"{"rooms": {}}"#, &RestoreOptions::default())
            .unwrap()
            .sessions
            .is_empty()
    );
}

#[test]
fn deep_nesting_is_refused_not_overflowed() {
    let key = key();
    let mut text = String::from(r#"{"rooms": {"!a": {"sessions": {"s": {"session_data": "#);
    text.push_str(&"[".repeat(100_000));
    let err = restore_slice(&key, text.as_bytes(), &RestoreOptions::default()).unwrap_err();
    assert!(matches!(err, RestoreError::Body(_)));
}

#[test]
fn key_must_match_the_backup_version() {
    let key = key();
    let mut version = BackupVersion::new(key.public_key());
    check_backup_version(&key, &version).unwrap();
    // Padded base64 still matches: keys are compared as bytes (docs/interop.md P4).
    version.auth_data.public_key = format!("{}=", key.public_key().to_base64());
    check_backup_version(&key, &version).unwrap();
    let other = BackupDecryptionKey::generate().unwrap();
    version.auth_data = AuthData::new(other.public_key());
    version.version = Some("7".into());
    let err = check_backup_version(&key, &version).unwrap_err();
    assert_eq!(err.class(), "key_mismatch");
    assert!(err.to_string().contains("version 7") && err.to_string().contains("stale"));
    // A malformed public key (docs/interop.md P5) does not match and does not panic.
    version.auth_data.public_key = "not a key".into();
    assert_eq!(
        check_backup_version(&key, &version).unwrap_err().class(),
        "key_mismatch"
    );
    version.algorithm = "m.megolm_backup.v2".into();
    assert_eq!(
        check_backup_version(&key, &version).unwrap_err().class(),
        "algorithm"
    );
}

#[test]
fn wire_types_round_trip_the_spec_json() {
    let version_json = json!({
        "algorithm": "m.megolm_backup.v1.curve25519-aes-sha2",
        "auth_data": {
            "public_key": "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo",
            "signatures": {"@alice:example.org": {"ed25519:DEV": "c2ln"}},
            "private_key_salt": "salt", "private_key_iterations": 1000
        },
        "count": 42, "etag": "abc", "version": "3"
    });
    let v: BackupVersion = serde_json::from_value(version_json.clone()).unwrap();
    assert_eq!(serde_json::to_value(&v).unwrap(), version_json);
    assert_eq!(v.auth_data.extra["private_key_iterations"], 1000);

    let plaintext = json!({
        "algorithm": "m.megolm.v1.aes-sha2",
        "sender_key": "s", "session_key": "k",
        "sender_claimed_keys": {"ed25519": "e"},
        "forwarding_curve25519_key_chain": [],
        "org.matrix.msc3061.shared_history": true,
        "untrusted": false
    });
    let k: backup_cipher::BackedUpRoomKey = serde_json::from_value(plaintext.clone()).unwrap();
    assert!(k.shared_history());
    assert_eq!(serde_json::to_value(&k).unwrap(), plaintext);
    let mut k2 = k.clone();
    k2.extra.remove("org.matrix.msc3061.shared_history");
    assert!(!k2.shared_history());
    k2.set_shared_history(true);
    assert_eq!(
        serde_json::to_value(&k2).unwrap()["shared_history"],
        Value::Bool(true)
    );
}

#[test]
fn legacy_passphrase_backup_key() {
    let auth: AuthData = serde_json::from_value(json!({
        "public_key": "x", "private_key_salt": "abc", "private_key_iterations": 1000
    }))
    .unwrap();
    let key = BackupDecryptionKey::from_legacy_passphrase("pw", &auth).unwrap();
    let expected = recovery_key::derive_bits(b"pw", b"abc", 1000, 256).unwrap();
    assert_eq!(key.as_bytes().as_slice(), expected.as_slice());
    let no_params: AuthData = serde_json::from_value(json!({"public_key": "x"})).unwrap();
    assert!(BackupDecryptionKey::from_legacy_passphrase("pw", &no_params).is_err());
}

#[test]
fn debug_prints_no_secret() {
    let key = key();
    let shown = format!("{key:?} {key:#?}");
    let secret_b64 = "5oTWMTlWrlYW+yBbvUdxVrnpt4WxY3ocg/w7y+Q+Svw";
    assert!(
        !shown.contains(secret_b64) && !shown.contains("230"),
        "{shown}"
    );
    assert!(shown.contains(&key.public_key().to_base64()));
    assert!(!shown.contains(key.to_recovery_key().to_base58().as_str()));
}

/// Session keys are secrets: neither a restored session nor a backed-up room key shows
/// its session key through `Debug` (it printed them before).
#[test]
fn debug_shows_no_session_key() {
    let key = key();
    let body = fixtures::synthetic_backup(key.public_key(), 3, 1);
    let result = restore_keys(&key, &body, &RestoreOptions::default()).unwrap();
    assert_eq!(result.sessions.len(), 3);
    for s in &result.sessions {
        let plain: Value = serde_json::from_str(s.json_text()).unwrap();
        let session_key = plain["session_key"].as_str().unwrap();
        let shown = format!("{s:?} {s:#?}");
        assert!(!shown.contains(session_key), "{shown}");
        assert!(!shown.contains(&session_key[..20]), "{shown}");
        assert!(shown.contains(s.session_id()), "{shown}");
        let typed: backup_cipher::BackedUpRoomKey = serde_json::from_value(plain.clone()).unwrap();
        let shown = format!("{typed:?}");
        assert!(!shown.contains(&session_key[..20]), "{shown}");
        assert!(shown.contains("redacted"), "{shown}");
        // serde still writes the wire form.
        assert_eq!(
            serde_json::to_value(&typed).unwrap()["session_key"],
            session_key
        );
    }
}

/// Bulk restore computes its key agreements in groups, several lanes at once, with one
/// batched inversion per group; every entry must come out exactly as when restored on
/// its own through the one-at-a-time path, whatever its neighbours in the group are.
/// Damaged entries are spread through one room so that groups mix good and bad entries,
/// with low-order ephemeral keys of several orders among them. Run on every lane path:
/// the two ladders in portable lanes (any CPU), and whatever this CPU has.
#[test]
fn grouped_key_agreement_matches_one_at_a_time() {
    use backup_cipher::x25519::{LaneLimit, set_lane_limit};
    let mut tested = Vec::new();
    for limit in [
        LaneLimit::PortableIfma,
        LaneLimit::PortableAvx2,
        LaneLimit::Avx2,
        LaneLimit::Any,
    ] {
        // Keys made now use this path; the limit is put back at once for other tests.
        set_lane_limit(limit);
        let key = key();
        let path = backup_cipher::x25519::Scalar::new(key.as_bytes()).many_backend(64);
        set_lane_limit(LaneLimit::Any);
        grouped_matches_one_at_a_time(&key);
        tested.push(path);
    }
    println!("grouped restore tested on: {tested:?}");
    assert!(
        tested
            .iter()
            .any(|p| p.starts_with("portable lanes (the IFMA"))
    );
    assert!(
        tested
            .iter()
            .any(|p| p.starts_with("portable lanes (the AVX2"))
    );
}

fn grouped_matches_one_at_a_time(key: &BackupDecryptionKey) {
    let key = key.clone();
    let mut body = fixtures::synthetic_backup(key.public_key(), 61, 3);
    let (damaged, _) = damaged_backup(1);
    let bad: Vec<KeyBackupData> = damaged.rooms["!damaged:example.org"]
        .sessions
        .values()
        .cloned()
        .collect();
    let low_order = [
        // 1 (order 1), p − 1 (order 2), a point of order 8, and 0 with the top bit set.
        "AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "7P///////////////////////////////////////38",
        "4Ot6fDtBuK4WVuP68Z/EatoJjeucMrH9hmIFFl9JuAA",
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAIA",
    ];
    let room = body.rooms.keys().next().unwrap().clone();
    let sessions = &mut body.rooms.get_mut(&room).unwrap().sessions;
    let good = sessions.values().next().unwrap().clone();
    for (i, b) in bad.iter().enumerate() {
        sessions.insert(format!("bad-{i:02}"), b.clone());
    }
    for (i, e) in low_order.iter().enumerate() {
        let mut d = good.clone();
        d.session_data.ephemeral = (*e).into();
        sessions.insert(format!("low-order-{i}"), d);
    }
    let text = serde_json::to_vec(&body).unwrap();
    for jobs in [Some(1), None] {
        let opts = RestoreOptions::default()
            .with_jobs(jobs)
            .with_batch_size(13);
        let grouped = restore_slice(&key, &text, &opts).unwrap();
        let mut one_by_one = backup_cipher::RestoreResult::default();
        for (room_id, r) in &body.rooms {
            for (sid, d) in &r.sessions {
                match backup_cipher::restore_entry(&key, room_id, sid, &d.session_data) {
                    Ok(s) => one_by_one.sessions.push(s),
                    Err(f) => one_by_one.failures.push(f),
                }
            }
        }
        one_by_one.sort();
        assert_eq!(grouped.sessions, one_by_one.sessions);
        assert_eq!(grouped.failures, one_by_one.failures);
        let low: Vec<_> = grouped
            .failures
            .iter()
            .filter(|f| f.session_id.starts_with("low-order"))
            .collect();
        assert_eq!(low.len(), 4);
        assert!(
            low.iter().all(|f| f.error == RestoreErrorClass::Key),
            "{low:?}"
        );
    }
}

/// One body with entries that lack the counters the spec requires but a restore does not
/// need: the in-memory, slice and streaming restores read it the same way. Before, the in-memory path refused the whole body over one missing `is_verified`.
#[test]
fn every_restore_path_tolerates_the_same_missing_fields() {
    let key = key();
    let body = fixtures::synthetic_backup(key.public_key(), 6, 4);
    let mut value = serde_json::to_value(&body).unwrap();
    let rooms = value["rooms"].as_object_mut().unwrap();
    let mut entries: Vec<&mut Value> = rooms
        .values_mut()
        .flat_map(|r| r["sessions"].as_object_mut().unwrap().values_mut())
        .collect();
    entries[0].as_object_mut().unwrap().remove("is_verified");
    entries[1]
        .as_object_mut()
        .unwrap()
        .remove("first_message_index");
    entries[2]
        .as_object_mut()
        .unwrap()
        .remove("forwarded_count");
    for f in ["is_verified", "first_message_index", "forwarded_count"] {
        entries[3].as_object_mut().unwrap().remove(f);
    }
    let text = serde_json::to_vec(&value).unwrap();
    let opts = RestoreOptions::default();

    let parsed: KeysBackup = serde_json::from_value(value).unwrap();
    let in_memory = restore_keys(&key, &parsed, &opts).unwrap();
    let slice = restore_slice(&key, &text, &opts).unwrap();
    let mut streamed = Collect {
        restored: vec![],
        failed: vec![],
        progress: vec![],
    };
    restore_reader(&key, text.as_slice(), &opts, &mut streamed).unwrap();
    let texts = |s: &[RestoredSession]| {
        let mut v: Vec<String> = s.iter().map(|s| s.json_text().to_owned()).collect();
        v.sort();
        v
    };
    assert_eq!(in_memory.sessions.len(), 6);
    assert_eq!(texts(&in_memory.sessions), texts(&slice.sessions));
    assert_eq!(texts(&in_memory.sessions), texts(&streamed.restored));
    assert!(in_memory.failures.is_empty() && slice.failures.is_empty());
    assert!(streamed.failed.is_empty());
}

/// A sink behind `&mut dyn RestoreSink` stops a restore after its first batch; the
/// restore says it was cancelled, everything delivered before stays delivered, and the
/// expected total is reported with every progress call.
#[test]
fn a_dyn_sink_cancels_and_sees_the_total() {
    struct StopAfterFirstBatch {
        restored: u64,
        batches: u32,
        totals: Vec<Option<u64>>,
    }
    impl RestoreSink for StopAfterFirstBatch {
        fn restored(&mut self, _: RestoredSession) {
            self.restored += 1;
        }
        fn failed(&mut self, _: RestoreFailure) {}
        fn progress(&mut self, p: Progress) {
            self.batches += 1;
            self.totals.push(p.total);
        }
        fn cancelled(&self) -> bool {
            self.batches >= 1
        }
    }
    let key = key();
    let text = serde_json::to_vec(&fixtures::synthetic_backup(key.public_key(), 3000, 2)).unwrap();
    for jobs in [Some(1), Some(2)] {
        let opts = RestoreOptions::default()
            .with_jobs(jobs)
            .with_batch_size(256)
            .with_expected_total(Some(3000));
        let mut stop = StopAfterFirstBatch {
            restored: 0,
            batches: 0,
            totals: vec![],
        };
        let sink: &mut dyn RestoreSink = &mut stop;
        let err = restore_reader(&key, text.as_slice(), &opts, sink).unwrap_err();
        assert!(matches!(err, RestoreError::Cancelled), "{err:?}");
        assert!(
            stop.restored > 0 && stop.restored < 3000,
            "{}",
            stop.restored
        );
        assert!(stop.totals.iter().all(|t| *t == Some(3000)));
    }
}

/// Errors keep their cause: a broken body's error has serde_json's error as its source.
#[test]
fn a_broken_body_keeps_its_cause() {
    let err = restore_slice(&key(), b"{\"rooms\": [", &RestoreOptions::default()).unwrap_err();
    assert!(matches!(err, RestoreError::Body(_)), "{err:?}");
    let source = std::error::Error::source(&err).expect("a source");
    assert!(source.is::<serde_json::Error>());
}

/// A reader that hands out at most `n` bytes per call, so the streaming restore's
/// buffer refills at every position of the body.
struct Trickle<'a> {
    data: &'a [u8],
    n: usize,
}

impl std::io::Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let k = self.n.min(buf.len()).min(self.data.len());
        buf[..k].copy_from_slice(&self.data[..k]);
        self.data = &self.data[k..];
        Ok(k)
    }
}

/// The streaming restore and the slice restore (the same walk over a slice) accept and
/// refuse exactly the same bodies and restore the same sessions, whatever size the reads
/// come in.
fn assert_paths_agree(key: &BackupDecryptionKey, body: &[u8]) {
    let opts = RestoreOptions::default()
        .with_jobs(Some(1))
        .with_batch_size(5);
    let slice = restore_slice(key, body, &opts);
    for n in [1, 7, 4096] {
        let mut sink = Collect {
            restored: vec![],
            failed: vec![],
            progress: vec![],
        };
        let streamed = restore_reader(key, Trickle { data: body, n }, &opts, &mut sink);
        let shown = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
        match (&slice, streamed) {
            (Ok(s), Ok(_)) => {
                let mut got = backup_cipher::RestoreResult {
                    sessions: sink.restored,
                    failures: sink.failed,
                };
                got.sort();
                assert_eq!(got.sessions, s.sessions, "reads of {n}: {shown}");
                assert_eq!(got.failures, s.failures, "reads of {n}: {shown}");
            }
            (Err(RestoreError::Body(_)), Err(RestoreError::Body(_))) => {}
            (a, b) => panic!("reads of {n}: slice {a:?}, streaming {b:?}: {shown}"),
        }
    }
}

#[test]
fn streaming_and_slice_restores_agree_on_every_body() {
    let key = key();
    let (damaged, _) = damaged_backup(6);
    let compact = serde_json::to_vec(&damaged).unwrap();
    let pretty = serde_json::to_vec_pretty(&damaged).unwrap();
    let entry = serde_json::to_string(damaged.entries().next().unwrap().2).unwrap();
    let nested = |n: usize| format!("{}1{}", "[".repeat(n), "]".repeat(n));
    let mut bodies: Vec<Vec<u8>> = vec![compact.clone(), pretty.clone()];
    for text in [
        // Escaped ids, unknown members at every level (nested, with strings holding
        // brackets and quotes), a second "rooms" and "sessions" (ignored), whitespace.
        format!(
            r#" {{ "version" : {{"a": ["}}]\"", 1.5e3, null]}}, "rooms" : {{ "!r\u006fom:x" : {{ "x": [[{{}}]], "sessions" : {{ "s\"1" : {entry} , "s2":{entry} }}, "sessions": 5 }} }}, "rooms": [] }} "#
        ),
        format!(r#"{{"rooms": {{"!a": {{"sessions": {{"s": 5, "t": "x", "u": {entry}}}}}}}}}"#),
        r#"{"rooms": {}}"#.into(),
        r#"{"rooms": {"!a": {}}}"#.into(),
        // Refused by both.
        "[]".into(),
        "{}".into(),
        "".into(),
        "   ".into(),
        r#"{"version": "1", "auth_data": {}}"#.into(),
        r#"{"rooms": []}"#.into(),
        r#"{"rooms": {"!a": {"sessions": 5}}}"#.into(),
        r#"{"rooms": {"!a": 5}}"#.into(),
        r#"{"rooms": {}} trailing"#.into(),
        r#"{"rooms": {}},"#.into(),
        r#"{"rooms": {"!a": {"sessions": {"s": tru}}}}"#.into(),
        r#"{"rooms": {"!a": {"sessions": {"s": [}}}}}"#.into(),
        r#"{"rooms": {"!a": {"sessions": {"s": {"a" 1}}}}}"#.into(),
        r#"{"rooms": {"!a": {"sessions": {"s": {}, }}}}"#.into(),
        r#"{"rooms": {"!a": {"sessions": {s: {}}}}}"#.into(),
        r#"{"rooms": {"!\x": {}}}"#.into(),
        r#"{"x": "unterminated}"#.into(),
        r#"{"x": 01, "rooms": {}}"#.into(),
    ] {
        bodies.push(text.into_bytes());
    }
    // Deep nesting (around serde_json's recursion limit of 128, which applies to what is
    // deserialized, not to values stepped over): in an entry, in an unknown member of
    // the body and of a room, closed and cut off.
    for n in [1, 100, 123, 124, 125, 127, 128, 129, 200, 5000] {
        bodies.push(
            format!(
                r#"{{"rooms": {{"!a": {{"sessions": {{"s": {}}}}}}}}}"#,
                nested(n)
            )
            .into_bytes(),
        );
        bodies.push(format!(r#"{{"x": {}, "rooms": {{}}}}"#, nested(n)).into_bytes());
        bodies.push(format!(r#"{{"rooms": {{"!a": {{"x": {}}}}}}}"#, nested(n)).into_bytes());
        bodies.push(
            format!(
                r#"{{"rooms": {{"!a": {{"sessions": {{"s": {}"#,
                "[".repeat(n)
            )
            .into_bytes(),
        );
    }
    // Cut off at many places.
    for cut in (0..compact.len()).step_by(97) {
        bodies.push(compact[..cut].to_vec());
    }
    for body in &bodies {
        assert_paths_agree(&key, body);
    }
}

/// `with_single_line`: a session whose plaintext a client pretty-printed (line breaks
/// between tokens, CRLF too) is delivered on one line with the same value; without the
/// option the text is as decrypted, line breaks included.
#[test]
fn single_line_puts_a_pretty_printed_session_on_one_line() {
    let key = key();
    let session = fixtures::synthetic_sessions(1, 11).remove(0);
    let backed_up = serde_json::to_value(session.to_backed_up()).unwrap();
    let pretty = serde_json::to_string_pretty(&backed_up)
        .unwrap()
        .replace("\n  \"algorithm\"", "\r\n  \"algorithm\"");
    assert!(pretty.contains('\n') && pretty.contains('\r'));
    let data = KeyBackupData {
        first_message_index: 0,
        forwarded_count: 0,
        is_verified: false,
        session_data: key.public_key().encrypt(pretty.as_bytes()).unwrap(),
    };
    let mut body = KeysBackup::default();
    body.rooms
        .entry(session.room_id.clone())
        .or_default()
        .sessions
        .insert(session.session_id.clone(), data);
    let text = serde_json::to_vec(&body).unwrap();
    let mut expected = backed_up.as_object().unwrap().clone();
    expected.insert("room_id".into(), json!(session.room_id));
    expected.insert("session_id".into(), json!(session.session_id));
    for jobs in [Some(1), Some(2)] {
        let opts = RestoreOptions::default().with_jobs(jobs);
        let plain = restore_slice(&key, &text, &opts).unwrap();
        assert!(plain.sessions[0].json_text().contains('\n'));
        let one = restore_slice(&key, &text, &opts.with_single_line(true)).unwrap();
        let json = one.sessions[0].json_text();
        assert!(!json.contains('\n') && !json.contains('\r'), "{jobs:?}");
        let value: serde_json::Map<String, Value> = serde_json::from_str(json).unwrap();
        assert_eq!(value, expected);
    }
}
