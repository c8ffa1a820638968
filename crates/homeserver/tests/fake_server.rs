//! The client against a scripted homeserver on 127.0.0.1: idle timeouts (a slow download
//! succeeds, a silent one fails saying so), retries that back off and are reported, cut
//! bodies that are errors of the reader, per-room downloads, logout.

use std::{
    io::Read,
    sync::{Arc, Mutex},
    time::Duration,
};

use homeserver::{
    BodyProblem, Client, ClientError, ConnectOptions, DownloadError, RetryCause, RetryWait,
    save_keys_body,
    testing::{Delivery, FakeServer, Reply, keys_body, version_body},
};
use serde_json::json;

const VERSION: &str = "/_matrix/client/v3/room_keys/version";
const KEYS: &str = "/_matrix/client/v3/room_keys/keys";

/// Options for tests: a 1 s idle timeout, 10 ms first retry delay, waits recorded.
fn options() -> (ConnectOptions, Arc<Mutex<Vec<RetryWait>>>) {
    let waits = Arc::new(Mutex::new(Vec::new()));
    let seen = waits.clone();
    let mut options = ConnectOptions::new().on_retry(move |w| seen.lock().unwrap().push(w.clone()));
    options.idle_timeout = Duration::from_secs(1);
    options.connect_timeout = Duration::from_secs(5);
    options.retry_delay = Duration::from_millis(10);
    options.max_retry_delay = Duration::from_millis(200);
    (options, waits)
}

fn client(server: &FakeServer, options: &ConnectOptions) -> Client {
    Client::with_options(server.url(), "syt_test_token", options).unwrap()
}

/// A download that keeps receiving a few bytes every 200 ms for longer than the idle
/// timeout (1 s) succeeds: the timeout is on silence, not on the whole download.
#[test]
fn a_slow_download_that_keeps_coming_succeeds() {
    let server = FakeServer::start();
    let body = keys_body(1);
    assert!(body.len() > 60, "{}", body.len());
    let chunk = body.len().div_ceil(10);
    server.on(
        "GET",
        KEYS,
        [
            Reply::bytes(200, "application/json", body.clone()).delivered(Delivery::Slow {
                chunk,
                every: Duration::from_millis(200),
            }),
        ],
    );
    let (options, waits) = options();
    let mut got = Vec::new();
    client(&server, &options)
        .room_keys_reader("7")
        .unwrap()
        .read_to_end(&mut got)
        .unwrap();
    assert_eq!(got, body);
    assert!(waits.lock().unwrap().is_empty());
}

/// A server that goes silent mid-body fails the read after the idle timeout, saying no
/// data came for that long and how much had arrived.
#[test]
fn a_stalled_body_fails_after_the_idle_timeout() {
    let server = FakeServer::start();
    let body = keys_body(3);
    server.on(
        "GET",
        KEYS,
        [Reply::bytes(200, "application/json", body.clone())
            .delivered(Delivery::StallAfter(40, Duration::from_secs(4)))],
    );
    let (options, _) = options();
    let mut reader = client(&server, &options).room_keys_reader("7").unwrap();
    let mut got = Vec::new();
    let e = reader.read_to_end(&mut got).unwrap_err();
    assert_eq!(got.len(), 40);
    match DownloadError::from_io(&e) {
        Some(DownloadError::Stalled { received, idle }) => {
            assert_eq!((*received, *idle), (40, Duration::from_secs(1)));
        }
        other => panic!("{e}: {other:?}"),
    }
    assert!(
        e.to_string()
            .contains("no data came from the homeserver for 1 s"),
        "{e}"
    );
}

/// A server that says nothing at all (not even the answer's head) fails the request
/// after the idle timeout with its own error.
#[test]
fn a_silent_server_is_a_stall_not_a_hang() {
    let server = FakeServer::start();
    server.on(
        "GET",
        VERSION,
        [Reply::json(200, &version_body(1)).delivered(Delivery::Silent(Duration::from_secs(4)))],
    );
    let (mut options, _) = options();
    options.max_attempts = 1;
    let e = client(&server, &options).backup_version(None).unwrap_err();
    assert!(matches!(e, ClientError::Stalled { .. }), "{e:?}");
    assert!(
        e.to_string().contains("no data came from the homeserver"),
        "{e}"
    );
    assert!(e.to_string().contains("for 1 s"), "{e}");
}

/// 500, 500, 200: the request succeeds on the third attempt, and both waits were
/// reported, with their cause and attempt numbers.
#[test]
fn server_errors_are_retried_with_reported_waits() {
    let server = FakeServer::start();
    let error = json!({"errcode": "M_UNKNOWN", "error": "Internal server error"});
    server.on(
        "GET",
        VERSION,
        [
            Reply::json(500, &error),
            Reply::json(500, &error),
            Reply::json(200, &version_body(1)),
        ],
    );
    let (options, waits) = options();
    let info = client(&server, &options).backup_version(None).unwrap();
    assert_eq!(info.version.as_deref(), Some("7"));
    let waits = waits.lock().unwrap().clone();
    assert_eq!(waits.len(), 2, "{waits:?}");
    for (w, attempt) in waits.iter().zip([2, 3]) {
        assert_eq!(w.cause, RetryCause::Status(500));
        assert_eq!((w.attempt, w.max_attempts), (attempt, 5));
        assert!(w.wait <= Duration::from_millis(200));
    }
    assert!(
        waits[0]
            .to_string()
            .starts_with("the homeserver answered 500; retrying in"),
        "{}",
        waits[0]
    );
    assert!(
        waits[0].to_string().ends_with("(attempt 2 of 5)"),
        "{}",
        waits[0]
    );
    assert_eq!(server.requests().len(), 3);
}

/// A 5xx that does not go away ends after the attempts, with the server's error.
#[test]
fn retries_are_bounded() {
    let server = FakeServer::start();
    server.on(
        "GET",
        VERSION,
        [Reply::json(
            503,
            &json!({"errcode": "M_UNKNOWN", "error": "down"}),
        )],
    );
    let (mut options, waits) = options();
    options.max_attempts = 3;
    let e = client(&server, &options).backup_version(None).unwrap_err();
    assert!(
        matches!(e, ClientError::Matrix { status: 503, .. }),
        "{e:?}"
    );
    assert_eq!(server.requests().len(), 3);
    assert_eq!(waits.lock().unwrap().len(), 2);
}

/// A POST that creates something is never sent twice.
#[test]
fn a_creating_post_is_not_retried() {
    let server = FakeServer::start();
    server.on(
        "POST",
        VERSION,
        [Reply::json(
            502,
            &json!({"errcode": "M_UNKNOWN", "error": "bad gateway"}),
        )],
    );
    let (options, waits) = options();
    let version: backup_cipher::BackupVersion = serde_json::from_value(version_body(1)).unwrap();
    let e = client(&server, &options)
        .create_backup_version(&version)
        .unwrap_err();
    assert!(
        matches!(e, ClientError::Matrix { status: 502, .. }),
        "{e:?}"
    );
    assert_eq!(server.requests().len(), 1);
    assert!(waits.lock().unwrap().is_empty());
}

/// A connection cut before the answer is a network failure: retried for a GET.
#[test]
fn a_cut_connection_is_retried() {
    let server = FakeServer::start();
    let ok = Reply::json(200, &version_body(1));
    server.on(
        "GET",
        VERSION,
        [ok.clone().delivered(Delivery::Silent(Duration::ZERO)), ok],
    );
    let (options, waits) = options();
    let info = client(&server, &options).backup_version(None).unwrap();
    assert_eq!(info.version.as_deref(), Some("7"));
    let waits = waits.lock().unwrap().clone();
    assert_eq!(waits.len(), 1, "{waits:?}");
    assert!(
        matches!(waits[0].cause, RetryCause::Network(_)),
        "{waits:?}"
    );
}

/// 429 with `retry_after_ms`: the wait the server asks for is waited and shown.
#[test]
fn a_rate_limit_wait_is_shown() {
    let server = FakeServer::start();
    server.on(
        "GET",
        VERSION,
        [
            Reply::json(
                429,
                &json!({"errcode": "M_LIMIT_EXCEEDED", "error": "Too many requests", "retry_after_ms": 150}),
            ),
            Reply::json(200, &version_body(1)),
        ],
    );
    let (options, waits) = options();
    client(&server, &options).backup_version(None).unwrap();
    let waits = waits.lock().unwrap().clone();
    assert_eq!(waits.len(), 1, "{waits:?}");
    assert_eq!(waits[0].cause, RetryCause::RateLimited);
    assert_eq!(waits[0].wait, Duration::from_millis(150));
    assert!(
        waits[0].to_string().contains("rate-limiting (429)"),
        "{}",
        waits[0]
    );
    assert!(
        waits[0].to_string().contains("retrying in 150 ms"),
        "{}",
        waits[0]
    );
}

/// A body shorter than its Content-Length — even when what arrived is complete JSON —
/// is an error of the reader with where it was cut, not a quiet end of file.
#[test]
fn a_content_length_mismatch_is_an_error_of_the_reader() {
    let server = FakeServer::start();
    let body = keys_body(2);
    let announced = body.len() + 100;
    server.on(
        "GET",
        KEYS,
        [Reply::bytes(200, "application/json", body.clone()).content_length(Some(announced))],
    );
    let (options, _) = options();
    let mut reader = client(&server, &options).room_keys_reader("7").unwrap();
    assert_eq!(reader.content_length(), Some(announced as u64));
    let mut got = Vec::new();
    let e = reader.read_to_end(&mut got).unwrap_err();
    assert_eq!(got, body);
    match DownloadError::from_io(&e) {
        Some(DownloadError::Cut {
            received, expected, ..
        }) => assert_eq!(
            (*received, *expected),
            (body.len() as u64, Some(announced as u64))
        ),
        other => panic!("{e}: {other:?}"),
    }
}

/// A body cut mid-way without a Content-Length ends quietly at the transport, so the
/// check of what was saved says it ends early; with one, the reader says where.
#[test]
fn a_cut_body_is_said_to_be_cut() {
    let body = keys_body(20);
    let cut = body.len() * 6 / 10;
    for content_length in [None, Some(body.len())] {
        let server = FakeServer::start();
        server.on(
            "GET",
            KEYS,
            [Reply::bytes(200, "application/json", body.clone())
                .content_length(content_length)
                .delivered(Delivery::CutAfter(cut))],
        );
        let (options, _) = options();
        let reader = client(&server, &options).room_keys_reader("7").unwrap();
        let mut saved = Vec::new();
        let outcome = save_keys_body(reader, &mut saved).unwrap();
        assert_eq!(saved, body[..cut]);
        assert_eq!(outcome.bytes, cut as u64);
        match (content_length, &outcome.problem) {
            (None, Some(BodyProblem::EndsEarly { at })) => assert_eq!(*at, cut as u64),
            (Some(_), Some(BodyProblem::Download(DownloadError::Cut { received, .. }))) => {
                assert_eq!(*received, cut as u64)
            }
            other => panic!("{other:?}"),
        }
    }
}

/// An HTML page (a portal in front of the homeserver) is refused before its body.
#[test]
fn an_html_page_is_not_a_keys_download() {
    let server = FakeServer::start();
    server.on(
        "GET",
        KEYS,
        [Reply::bytes(
            200,
            "text/html; charset=utf-8",
            b"<html><body>Sign in</body></html>".to_vec(),
        )],
    );
    let (options, _) = options();
    let e = client(&server, &options).room_keys_reader("7").unwrap_err();
    assert!(matches!(e, ClientError::NotJson { .. }), "{e:?}");
    assert!(e.to_string().contains("HTML"), "{e}");
}

/// The keys of one room, through the flows request, as a stream.
#[test]
fn one_rooms_keys_are_downloaded_by_their_own_request() {
    let server = FakeServer::start();
    let room = json!({"sessions": {"s": {"first_message_index": 0}}});
    server.on("GET", &format!("{KEYS}/*"), [Reply::json(200, &room)]);
    let (options, _) = options();
    let mut got = String::new();
    client(&server, &options)
        .room_keys_reader_for_room("7", "!r:example.org")
        .unwrap()
        .read_to_string(&mut got)
        .unwrap();
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&got).unwrap(),
        room
    );
    let requests = server.requests();
    assert_eq!(
        requests[0].path,
        "/_matrix/client/v3/room_keys/keys/%21r%3Aexample.org?version=7"
    );
    assert_eq!(
        requests[0].authorization.as_deref(),
        Some("Bearer syt_test_token")
    );
}

/// Logout sends `POST /logout` with the token; a token already logged out is done.
#[test]
fn logout_ends_the_session() {
    let server = FakeServer::start();
    server.on(
        "POST",
        "/_matrix/client/v3/logout",
        [
            Reply::json(200, &json!({})),
            Reply::json(401, &json!({"errcode": "M_UNKNOWN_TOKEN", "error": "gone"})),
        ],
    );
    let (options, _) = options();
    let c = client(&server, &options);
    c.logout().unwrap();
    c.logout().unwrap();
    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    assert!(requests.iter().all(|r| r.method == "POST"
        && r.path == "/_matrix/client/v3/logout"
        && r.authorization.as_deref() == Some("Bearer syt_test_token")));
}

/// The client holds no path: a request is sent to the path it was built with, from the
/// homeserver's base URL, whatever API it belongs to (the client used to refuse a path
/// outside `/_matrix/client/v3`, which it stripped and put back).
#[test]
fn a_request_goes_to_the_path_it_was_built_with() {
    let server = FakeServer::start();
    server.on(
        "GET",
        "/_matrix/client/versions",
        [Reply::json(200, &json!({"versions": ["v1.11"]}))],
    );
    let (options, _) = options();
    let request = flows::Request::new(flows::Method::Get, "/_matrix/client/versions".into(), None);
    let answer = client(&server, &options).send_request(&request).unwrap();
    assert_eq!(answer, flows::Response::ok(json!({"versions": ["v1.11"]})));
    let sent = server.requests();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].path, "/_matrix/client/versions");
}

/// A body that lists a room twice is read the same by the library's restore and by the
/// resumable restore over the homeserver: every listing, each entry on its own (the
/// resumable one used to drop the second listing of a finished room).
#[test]
fn a_room_listed_twice_is_read_twice_by_both_restores() {
    use backup_cipher::{
        BackupDecryptionKey, RestoreOptions, RestoreResult, fixtures, restore_reader,
    };
    let key = BackupDecryptionKey::from_bytes(&[7; 32]);
    let backup = fixtures::synthetic_backup(key.public_key(), 6, 3);
    let rooms: Vec<(&String, String)> = backup
        .rooms
        .iter()
        .map(|(id, room)| (id, serde_json::to_string(room).unwrap()))
        .collect();
    // The first room, every other room, then the first room again.
    let (first_id, first_text) = &rooms[0];
    let mut members: Vec<String> = vec![format!("{}:{first_text}", json!(first_id))];
    members.extend(
        rooms[1..]
            .iter()
            .map(|(id, t)| format!("{}:{t}", json!(id))),
    );
    members.push(format!("{}:{first_text}", json!(first_id)));
    let body = format!(r#"{{"rooms":{{{}}}}}"#, members.join(","));
    // What each restore must deliver: every (room, session) of every listing.
    let mut want: Vec<(String, String)> = backup
        .rooms
        .iter()
        .flat_map(|(r, room)| room.sessions.keys().map(move |s| (r.clone(), s.clone())))
        .chain(
            backup.rooms[first_id.as_str()]
                .sessions
                .keys()
                .map(|s| (first_id.to_string(), s.clone())),
        )
        .collect();
    want.sort();
    let delivered = |r: &RestoreResult| {
        assert!(r.failures.is_empty(), "{:?}", r.failures);
        let mut got: Vec<(String, String)> = r
            .sessions
            .iter()
            .map(|s| (s.room_id().to_owned(), s.session_id().to_owned()))
            .collect();
        got.sort();
        got
    };

    let mut library = RestoreResult::default();
    restore_reader(
        &key,
        body.as_bytes(),
        &RestoreOptions::default(),
        &mut library,
    )
    .unwrap();
    assert_eq!(delivered(&library), want, "the library's restore");

    let server = FakeServer::start();
    server.on(
        "GET",
        KEYS,
        [Reply::bytes(200, "application/json", body.into_bytes())],
    );
    let (options, _) = options();
    let client = client(&server, &options);
    let mut resumable = RestoreResult::default();
    homeserver::BackupDownloads::start(&client, "7")
        .unwrap()
        .restore(&key, &RestoreOptions::default(), &mut resumable)
        .unwrap();
    assert_eq!(delivered(&resumable), want, "the resumable restore");
}

/// An entry of a keys body (not decrypted here).
fn entry() -> serde_json::Value {
    json!({"first_message_index": 0, "forwarded_count": 0, "is_verified": false,
           "session_data": {"ciphertext": "Y2lwaGVydGV4dA", "ephemeral": "ZXBo", "mac": "bWFj"}})
}

/// The resume of an upload reads what the server holds with the restore's grammar: a
/// body that lists a room twice gives the sessions of both, and the upload sends only the
/// session the server does not hold.
#[test]
fn an_upload_resumes_past_a_room_the_server_lists_twice() {
    let server = FakeServer::start();
    let e = entry().to_string();
    let body = format!(
        r#"{{"rooms": {{"!a:x": {{"sessions": {{"s1": {e}}}}},
                       "!a:x": {{"sessions": {{"s2": {e}}}}}}}}}"#
    );
    server.on(
        "GET",
        KEYS,
        [Reply::bytes(200, "application/json", body.into_bytes())],
    );
    server.on(
        "PUT",
        KEYS,
        [Reply::json(200, &json!({"etag": "2", "count": 3}))],
    );
    let (options, _) = options();
    let client = client(&server, &options);
    let stored = client.stored_session_ids("7").unwrap();
    let pair = |r: &str, s: &str| (r.to_owned(), s.to_owned());
    assert_eq!(
        stored,
        std::collections::BTreeSet::from([pair("!a:x", "s1"), pair("!a:x", "s2")])
    );

    let data: backup_cipher::KeyBackupData = serde_json::from_value(entry()).unwrap();
    let mut mine = backup_cipher::KeysBackup::default();
    let room = mine.rooms.entry("!a:x".to_owned()).or_default();
    for sid in ["s1", "s2", "s3"] {
        room.sessions.insert(sid.to_owned(), data.clone());
    }
    let report = client.upload_room_keys("7", &mine, 10, &mut ()).unwrap();
    assert_eq!((report.uploaded, report.skipped), (1, 2));
    let put = server
        .requests()
        .into_iter()
        .find(|r| r.method == "PUT")
        .unwrap();
    let sent: serde_json::Value = serde_json::from_slice(&put.body).unwrap();
    assert_eq!(
        sent,
        json!({"rooms": {"!a:x": {"sessions": {"s3": entry()}}}})
    );
}

/// A keys download cut by the network is an error of the resume, not a shorter list.
#[test]
fn a_cut_download_fails_the_resume() {
    let server = FakeServer::start();
    let body = keys_body(20);
    server.on(
        "GET",
        KEYS,
        [Reply::bytes(200, "application/json", body.clone())
            .delivered(Delivery::CutAfter(body.len() / 2))],
    );
    let (options, _) = options();
    let e = client(&server, &options)
        .stored_session_ids("7")
        .unwrap_err();
    assert!(matches!(e, ClientError::Json(_)), "{e:?}");
}
