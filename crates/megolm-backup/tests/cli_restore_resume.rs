//! `restore --homeserver` across a cut download: the room the body broke off in is fetched
//! again on its own (`GET /room_keys/keys/{roomId}`), the rest again with the finished rooms
//! stepped over, each resumption is said, and the sessions written are exactly those of
//! the same backup restored from the file. The homeserver is scripted on 127.0.0.1
//! (`homeserver::testing::FakeServer`), serving the shipped demo backup.
#![cfg(unix)]

mod common;

use common::{p, run, stderr, tmp, write};
use homeserver::testing::{Delivery, FakeServer, Reply};
use serde_json::{Value, json};

const API: &str = "/_matrix/client/v3";

fn demo(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../demo")
        .join(name)
}

/// A server holding the demo backup, whose whole download answers `whole` in turn and
/// whose rooms' downloads are sent as `rooms` says.
fn server(whole: Vec<Delivery>, rooms: Delivery) -> FakeServer {
    let server = FakeServer::start();
    let info: Value =
        serde_json::from_slice(&std::fs::read(demo("backup-info.json")).unwrap()).unwrap();
    let body = std::fs::read(demo("backup.json")).unwrap();
    let parsed: Value = serde_json::from_slice(&body).unwrap();
    server.on(
        "GET",
        &format!("{API}/account/whoami"),
        [Reply::json(
            200,
            &json!({"user_id": "@alice:localhost", "device_id": "DEV"}),
        )],
    );
    server.on(
        "GET",
        &format!("{API}/room_keys/version"),
        [Reply::json(200, &info)],
    );
    server.on(
        "GET",
        &format!("{API}/user/*"),
        [Reply::json(
            404,
            &json!({"errcode": "M_NOT_FOUND", "error": "not found"}),
        )],
    );
    server.on(
        "GET",
        &format!("{API}/room_keys/keys"),
        whole
            .into_iter()
            .map(|d| Reply::bytes(200, "application/json", body.clone()).delivered(d)),
    );
    for (room, sessions) in parsed["rooms"].as_object().unwrap() {
        let request = flows::requests::room_keys_for_room("1", room);
        let path = request.path.split('?').next().unwrap().to_owned();
        server.on("GET", &path, [Reply::json(200, sessions).delivered(rooms)]);
    }
    server
}

fn restore(server: &FakeServer, dir: &std::path::Path) -> (std::process::Output, Vec<Value>) {
    let token = write(dir, "token.txt", "syt_test_token");
    let out = dir.join("out.json");
    let o = run(
        &[
            "restore",
            "--homeserver",
            server.url(),
            "--access-token-file",
            &token,
            "--key-file",
            p(&demo("recovery-key.txt")),
            "--idle-timeout",
            "5",
            "--out",
            p(&out),
        ],
        "",
    );
    let written = std::fs::read(&out)
        .ok()
        .map(|t| serde_json::from_slice(&t).unwrap())
        .unwrap_or_default();
    (o, written)
}

/// The demo backup restored from its file: what every resumed restore must write.
fn from_file(dir: &std::path::Path) -> Vec<Value> {
    let out = dir.join("from-file.json");
    let o = run(
        &[
            "restore",
            "--key-file",
            p(&demo("recovery-key.txt")),
            "--backup-info",
            p(&demo("backup-info.json")),
            "--out",
            p(&out),
            p(&demo("backup.json")),
        ],
        "",
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap()
}

fn keys_requests(server: &FakeServer) -> Vec<String> {
    server
        .requests()
        .into_iter()
        .filter(|r| r.path.starts_with(&format!("{API}/room_keys/keys")))
        .map(|r| r.path)
        .collect()
}

#[test]
fn a_download_cut_mid_body_is_resumed_and_every_session_written() {
    let dir = tmp("resume-cut");
    let expected = from_file(&dir);
    assert_eq!(expected.len(), 1000);
    let size = std::fs::metadata(demo("backup.json")).unwrap().len() as usize;
    // Each cut falls inside an entry (at size / 2 exactly, a room begins).
    for cut in [size / 10, size / 2 + 2000, size * 95 / 100] {
        let server = server(
            vec![Delivery::CutAfter(cut), Delivery::Whole],
            Delivery::Whole,
        );
        let (o, written) = restore(&server, &dir);
        assert_eq!(o.status.code(), Some(0), "cut at {cut}: {}", stderr(&o));
        assert_eq!(written, expected, "cut at {cut}");
        assert!(
            stderr(&o).contains("the download broke off after"),
            "{}",
            stderr(&o)
        );
        // The whole body, the room it broke off in, the whole body again.
        let keys = keys_requests(&server);
        assert_eq!(keys.len(), 3, "{keys:?} {}", stderr(&o));
        assert!(keys[1].contains("/room_keys/keys/%21room"), "{keys:?}");
    }
}

#[test]
fn a_server_that_always_cuts_gives_a_partial_restore_of_what_arrived() {
    let dir = tmp("resume-always");
    let size = std::fs::metadata(demo("backup.json")).unwrap().len() as usize;
    // The room fetches break off too: nothing more can be had.
    let server = server(vec![Delivery::CutAfter(size / 2)], Delivery::CutAfter(5));
    let (o, written) = restore(&server, &dir);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("truncated"), "{}", stderr(&o));
    assert!(
        written.len() > 300 && written.len() < 1000,
        "{}",
        written.len()
    );
    // Bounded: at most the first body and two requests per resumption.
    assert!(keys_requests(&server).len() <= 1 + 2 * 5);
}
