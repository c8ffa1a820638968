//! The homeserver commands against a scripted homeserver on 127.0.0.1
//! (`homeserver::testing::FakeServer`): idle timeouts, retries that are shown, `fetch`
//! that checks what it saved and keeps a cut download as OUT.partial, and logins made with
//! `--user` that are logged out when the command ends.
#![cfg(unix)]

mod common;

use std::{os::unix::fs::PermissionsExt, time::Duration};

use common::{p, run, stderr, tmp, write};
use homeserver::testing::{Delivery, FakeServer, Reply, keys_body, version_body};
use serde_json::json;

const VERSION: &str = "/_matrix/client/v3/room_keys/version";
const KEYS: &str = "/_matrix/client/v3/room_keys/keys";

/// A server with a backup version 7 whose keys download is `keys`.
fn server_with(keys: Reply) -> FakeServer {
    let server = FakeServer::start();
    server.on("GET", VERSION, [Reply::json(200, &version_body(20))]);
    server.on("GET", KEYS, [keys]);
    server
}

fn fetch(
    server: &FakeServer,
    dir: &std::path::Path,
    out: &std::path::Path,
) -> std::process::Output {
    let token = write(dir, "token.txt", "syt_test_token");
    run(
        &[
            "fetch",
            "--homeserver",
            server.url(),
            "--access-token-file",
            &token,
            "--idle-timeout",
            "1",
            "--out",
            p(out),
        ],
        "",
    )
}

/// A download that sends a few bytes every 200 ms for longer than the idle timeout (1 s)
/// completes.
#[test]
fn a_slow_download_completes() {
    let dir = tmp("slow");
    let body = keys_body(3);
    let chunk = body.len().div_ceil(10);
    let server = server_with(
        Reply::bytes(200, "application/json", body.clone()).delivered(Delivery::Slow {
            chunk,
            every: Duration::from_millis(200),
        }),
    );
    let out = dir.join("keys.json");
    let o = fetch(&server, &dir, &out);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(std::fs::read(&out).unwrap(), body);
    assert!(!dir.join("keys.json.partial").exists());
}

/// A stalled, a cut (with or without Content-Length), a short (Content-Length larger than
/// the complete JSON that came) and an endless-string download: exit 5, what arrived in
/// OUT.partial (0600), the earlier OUT untouched, and a message saying what happened.
#[test]
fn an_incomplete_download_never_replaces_out_and_is_kept_as_partial() {
    let body = keys_body(20);
    let cut = body.len() * 6 / 10;
    let mut endless =
        br#"{"rooms": {"!room:example.org": {"sessions": {"s": {"session_data": ""#.to_vec();
    endless.resize(2 * 1024 * 1024, b'A');
    let cases: [(&str, Reply, usize, String); 5] = [
        (
            "stalled",
            Reply::bytes(200, "application/json", body.clone())
                .delivered(Delivery::StallAfter(cut, Duration::from_secs(4))),
            cut,
            "no data came from the homeserver for 1 s".into(),
        ),
        (
            "cut-with-length",
            Reply::bytes(200, "application/json", body.clone()).delivered(Delivery::CutAfter(cut)),
            cut,
            format!("cut after {cut} bytes of {}", body.len()),
        ),
        (
            "cut-without-length",
            Reply::bytes(200, "application/json", body.clone())
                .content_length(None)
                .delivered(Delivery::CutAfter(cut)),
            cut,
            format!("ends at byte {cut} in the middle of its JSON"),
        ),
        (
            "short",
            Reply::bytes(200, "application/json", body.clone())
                .content_length(Some(body.len() + 10)),
            body.len(),
            format!("cut after {} bytes of {}", body.len(), body.len() + 10),
        ),
        (
            "endless-string",
            Reply::bytes(200, "application/json", endless.clone()).content_length(None),
            endless.len(),
            format!("ends at byte {} in the middle of its JSON", endless.len()),
        ),
    ];
    for (name, reply, arrived, said) in cases {
        let dir = tmp(name);
        let sent = reply.body.clone();
        let server = server_with(reply);
        let out = dir.join("keys.json");
        std::fs::write(&out, "earlier").unwrap();
        let o = fetch(&server, &dir, &out);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(5), "{name}: {err}");
        assert!(err.contains(&said), "{name}: {err}");
        assert!(err.contains("keys.json.partial"), "{name}: {err}");
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "earlier", "{name}");
        let partial = dir.join("keys.json.partial");
        assert_eq!(std::fs::read(&partial).unwrap(), sent[..arrived], "{name}");
        let mode = std::fs::metadata(&partial).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{name}");
    }
}

/// To stdout ("-"): a cut download is still said to be cut, with exit status 5.
#[test]
fn a_cut_download_to_stdout_is_said_so() {
    let dir = tmp("stdout");
    let body = keys_body(20);
    let cut = body.len() / 2;
    let server = server_with(
        Reply::bytes(200, "application/json", body.clone())
            .content_length(None)
            .delivered(Delivery::CutAfter(cut)),
    );
    let o = fetch(&server, &dir, std::path::Path::new("-"));
    assert_eq!(o.status.code(), Some(5), "{}", stderr(&o));
    assert_eq!(o.stdout, body[..cut]);
    assert!(
        stderr(&o).contains(&format!("ends at byte {cut}")),
        "{}",
        stderr(&o)
    );
}

/// An output that exists and is not a regular file (a FIFO) is written in place, never
/// replaced by a regular file.
#[test]
fn a_fifo_output_is_written_in_place() {
    use std::{io::Read, os::unix::fs::OpenOptionsExt};
    let dir = tmp("fifo");
    let fifo = dir.join("keys.fifo");
    let _ = std::fs::remove_file(&fifo);
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let body = keys_body(4);
    let server = server_with(Reply::bytes(200, "application/json", body.clone()));
    // The reader: opened without blocking; polled (at most 30 s) until the writer has
    // written and closed.
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || {
            const O_NONBLOCK: i32 = 0o4000;
            let mut f = std::fs::OpenOptions::new()
                .read(true)
                .custom_flags(O_NONBLOCK)
                .open(&fifo)
                .unwrap();
            let mut got = Vec::new();
            let mut buf = [0u8; 4096];
            for _ in 0..3000 {
                match f.read(&mut buf) {
                    Ok(0) if !got.is_empty() => break,
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    Err(e) => panic!("{e}"),
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            got
        })
    };
    std::thread::sleep(Duration::from_millis(100));
    let o = fetch(&server, &dir, &fifo);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(reader.join().unwrap(), body);
    let kind = std::fs::symlink_metadata(&fifo).unwrap().file_type();
    assert!(std::os::unix::fs::FileTypeExt::is_fifo(&kind));
}

/// An HTML page (a portal in front of the homeserver) is refused, and nothing is written.
#[test]
fn an_html_page_is_refused() {
    let dir = tmp("html");
    let server = server_with(Reply::bytes(
        200,
        "text/html",
        b"<html><body>Please sign in</body></html>".to_vec(),
    ));
    let out = dir.join("keys.json");
    let o = fetch(&server, &dir, &out);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("HTML"), "{}", stderr(&o));
    assert!(!out.exists() && !dir.join("keys.json.partial").exists());
}

/// 500, 500, 200: the command succeeds, and both waits are shown.
#[test]
fn server_errors_are_retried_and_the_waits_shown() {
    let dir = tmp("retry");
    let body = keys_body(2);
    let server = FakeServer::start();
    let error = json!({"errcode": "M_UNKNOWN", "error": "Internal server error"});
    server.on(
        "GET",
        VERSION,
        [
            Reply::json(500, &error),
            Reply::json(500, &error),
            Reply::json(200, &version_body(20)),
        ],
    );
    server.on(
        "GET",
        KEYS,
        [Reply::bytes(200, "application/json", body.clone())],
    );
    let out = dir.join("keys.json");
    let o = fetch(&server, &dir, &out);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert_eq!(std::fs::read(&out).unwrap(), body);
    for attempt in ["(attempt 2 of 5)", "(attempt 3 of 5)"] {
        assert!(err.contains(attempt), "{err}");
    }
    assert_eq!(
        err.matches("the homeserver answered 500; retrying in")
            .count(),
        2,
        "{err}"
    );
}

/// A 429 with `retry_after_ms`: the wait is shown, then the command goes on.
#[test]
fn a_rate_limit_wait_is_shown() {
    let dir = tmp("429");
    let server = FakeServer::start();
    server.on(
        "GET",
        VERSION,
        [
            Reply::json(
                429,
                &json!({"errcode": "M_LIMIT_EXCEEDED", "error": "Too many requests", "retry_after_ms": 200}),
            ),
            Reply::json(200, &version_body(20)),
        ],
    );
    server.on(
        "GET",
        KEYS,
        [Reply::bytes(200, "application/json", keys_body(1))],
    );
    let o = fetch(&server, &dir, &dir.join("keys.json"));
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(err.contains("rate-limiting (429)"), "{err}");
    assert!(err.contains("retrying in 200 ms"), "{err}");
}

/// A server that logs in with a password and answers the version with `version`.
fn login_server(version: Reply) -> FakeServer {
    let server = FakeServer::start();
    server.on(
        "POST",
        "/_matrix/client/v3/login",
        [Reply::json(
            200,
            &json!({"access_token": "syt_login_token", "user_id": "@alice:example.org", "device_id": "MKBDEVICE"}),
        )],
    );
    server.on(
        "POST",
        "/_matrix/client/v3/logout",
        [Reply::json(200, &json!({}))],
    );
    server.on("GET", VERSION, [version]);
    server
}

fn info_as_user(
    server: &FakeServer,
    dir: &std::path::Path,
    extra: &[&str],
) -> std::process::Output {
    let password = write(dir, "password.txt", "correct horse");
    let mut args = vec![
        "info",
        "--homeserver",
        server.url(),
        "--user",
        "alice",
        "--password-file",
        &password,
    ];
    args.extend_from_slice(extra);
    run(&args, "")
}

fn logouts(server: &FakeServer) -> usize {
    server
        .requests()
        .iter()
        .filter(|r| {
            r.method == "POST"
                && r.path == "/_matrix/client/v3/logout"
                && r.authorization.as_deref() == Some("Bearer syt_login_token")
        })
        .count()
}

/// The login a command makes with --user is logged out when it ends: after success, and
/// after an error; the login's device is named "megolm-backup".
#[test]
fn a_login_is_logged_out_when_the_command_ends() {
    let dir = tmp("logout");
    let server = login_server(Reply::json(200, &version_body(20)));
    let o = info_as_user(&server, &dir, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(logouts(&server), 1, "{:?}", server.requests());
    let login = &server.requests()[0];
    assert_eq!(login.path, "/_matrix/client/v3/login");
    let body: serde_json::Value = serde_json::from_slice(&login.body).unwrap();
    assert_eq!(body["initial_device_display_name"], "megolm-backup");

    let server = login_server(Reply::json(
        403,
        &json!({"errcode": "M_FORBIDDEN", "error": "no"}),
    ));
    let o = info_as_user(&server, &dir, &[]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("M_FORBIDDEN"), "{}", stderr(&o));
    assert_eq!(logouts(&server), 1, "{:?}", server.requests());
}

/// --keep-login keeps it, and says which device it is.
#[test]
fn keep_login_keeps_it_and_names_the_device() {
    let dir = tmp("keep");
    let server = login_server(Reply::json(200, &version_body(20)));
    let o = info_as_user(&server, &dir, &["--keep-login"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stderr(&o).contains("MKBDEVICE"), "{}", stderr(&o));
    assert_eq!(logouts(&server), 0);
}

/// SIGINT while a command that logged in with --user waits on the homeserver: the login
/// is logged out before the process exits 130.
#[test]
fn an_interrupted_login_is_logged_out() {
    let dir = tmp("interrupt");
    let server = login_server(Reply::json(200, &version_body(20)));
    server.on(
        "GET",
        KEYS,
        [Reply::bytes(200, "application/json", keys_body(5))
            .delivered(Delivery::StallAfter(10, Duration::from_secs(30)))],
    );
    let password = write(&dir, "password.txt", "correct horse");
    let out = dir.join("keys.json");
    let mut child = common::bin()
        .args([
            "fetch",
            "--homeserver",
            server.url(),
            "--user",
            "alice",
            "--password-file",
            &password,
            "--out",
            p(&out),
        ])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait (at most 10 s) until the download is under way.
    let mut started = false;
    for _ in 0..200 {
        if server.requests().iter().any(|r| r.path.starts_with(KEYS)) {
            started = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    if !started {
        let _ = child.kill();
    }
    assert!(started, "{:?}", server.requests());
    let kill = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(130), "{}", stderr(&o));
    assert_eq!(logouts(&server), 1, "{:?}", server.requests());
    assert!(!out.exists());
}
