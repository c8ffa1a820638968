//! Element's "Set up recovery" run by the client against a scripted homeserver on
//! 127.0.0.1 that drops connections: a request that gets no answer while the new backup
//! version exists and its key is stored nowhere makes the setup delete that version.

use std::time::Duration;

use flows::{FlowError, SetupFlowError, SetupOptions};
use homeserver::{
    Client, ClientError, ConnectOptions, SetupRunError,
    testing::{Delivery, FakeServer, Reply},
};
use serde_json::json;

const API: &str = "/_matrix/client/v3";
/// `@alice:example.org` as a request path writes it.
const USER_PATH: &str = "/_matrix/client/v3/user/%40alice%3Aexample.org";

/// A fresh account (no backup, no secret storage, no cross-signing keys) whose server
/// accepts the cross-signing keys and makes backup version 9.
fn fresh_account() -> FakeServer {
    let server = FakeServer::start();
    let not_found = Reply::json(404, &json!({"errcode": "M_NOT_FOUND", "error": "none"}));
    server.on(
        "GET",
        &format!("{API}/account/whoami"),
        [Reply::json(200, &json!({"user_id": "@alice:example.org"}))],
    );
    server.on(
        "GET",
        &format!("{API}/room_keys/version"),
        [not_found.clone()],
    );
    server.on("GET", &format!("{USER_PATH}/account_data/*"), [not_found]);
    server.on(
        "POST",
        &format!("{API}/keys/query"),
        [Reply::json(200, &json!({"master_keys": {}}))],
    );
    server.on(
        "POST",
        &format!("{API}/keys/device_signing/upload"),
        [Reply::json(200, &json!({}))],
    );
    server.on(
        "POST",
        &format!("{API}/room_keys/version"),
        [Reply::json(200, &json!({"version": "9"}))],
    );
    server.on(
        "DELETE",
        &format!("{API}/room_keys/version/9"),
        [Reply::json(200, &json!({}))],
    );
    server
}

/// A connection closed with no answer at all.
fn dropped() -> Reply {
    Reply::json(200, &json!({})).delivered(Delivery::Silent(Duration::ZERO))
}

fn client(server: &FakeServer) -> Client {
    let mut options = ConnectOptions::new();
    options.idle_timeout = Duration::from_secs(2);
    options.retry_delay = Duration::from_millis(10);
    options.max_retry_delay = Duration::from_millis(50);
    Client::with_options(server.url(), "syt_test_token", &options).unwrap()
}

fn requests(server: &FakeServer) -> Vec<String> {
    server
        .requests()
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect()
}

/// The first secret-storage write (the key description, before the backup key) meets a
/// dropped connection, every retry too: the new version 9 is deleted again, and the
/// error says so and what got no answer.
#[test]
fn a_dropped_connection_before_the_backup_key_is_stored_deletes_the_new_version() {
    let server = fresh_account();
    server.on("PUT", &format!("{USER_PATH}/account_data/*"), [dropped()]);
    let err = client(&server)
        .set_up_recovery(SetupOptions::new(), None, &mut ())
        .unwrap_err();
    let log = requests(&server);
    assert!(
        log.iter()
            .any(|l| l == "DELETE /_matrix/client/v3/room_keys/version/9"),
        "{log:#?}"
    );
    // Never written (the account read at the start looks for it).
    assert!(
        !log.iter()
            .any(|l| l.starts_with("PUT") && l.contains("m.megolm_backup.v1")),
        "{log:#?}"
    );
    let SetupRunError::Setup(err) = err else {
        panic!("not the setup's error: {err:?}");
    };
    let rolled = err.rolled_back().expect("the new version is rolled back");
    assert_eq!((rolled.version.as_str(), &rolled.not_deleted), ("9", &None));
    let SetupFlowError::Unfinished { source, .. } = &err else {
        panic!("{err:?}");
    };
    assert!(
        matches!(&**source, FlowError::NoAnswer { request, .. }
            if request.starts_with("PUT /user/%40alice%3Aexample.org/account_data/m.secret_storage.key.")),
        "{source:?}"
    );
    assert!(err.to_string().contains("was deleted again"), "{err}");
}

/// A dropped connection once the backup key's write was sent (it may be stored) leaves
/// the new version and is the client's error, as before.
#[test]
fn a_dropped_connection_once_the_backup_key_was_sent_keeps_the_version() {
    let server = fresh_account();
    server.on(
        "PUT",
        &format!("{USER_PATH}/account_data/m.megolm_backup.v1"),
        [dropped()],
    );
    server.on(
        "PUT",
        &format!("{USER_PATH}/account_data/*"),
        [Reply::json(200, &json!({}))],
    );
    let err = client(&server)
        .set_up_recovery(SetupOptions::new(), None, &mut ())
        .unwrap_err();
    let log = requests(&server);
    assert!(!log.iter().any(|l| l.starts_with("DELETE")), "{log:#?}");
    assert!(
        matches!(err, SetupRunError::Client(ClientError::Transport { .. })),
        "{err:?}"
    );
}
