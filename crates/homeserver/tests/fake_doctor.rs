//! The doctor over the client against a scripted homeserver on 127.0.0.1: a keys body
//! that lists a room twice is read whole (every listing, each entry on its own) by the
//! diagnosis and by the migration, as the backup body's grammar reads it.

use backup_cipher::{
    BackupDecryptionKey, BackupVersion, KeysBackup, encrypt_sessions,
    fixtures::{listed_apart, synthetic_sessions},
};
use flows::{DoctorOptions, EntryCheck, MigrateFlow, OldVersionFate};
use homeserver::{
    Client,
    testing::{FakeServer, Reply},
};
use serde_json::json;

const API: &str = "/_matrix/client/v3";

/// Two sessions of one room, encrypted to `key`.
fn one_room_two_sessions(key: &BackupDecryptionKey) -> KeysBackup {
    let (body, errors) = encrypt_sessions(key.public_key(), &synthetic_sessions(2, 9));
    assert!(errors.is_empty());
    assert_eq!((body.rooms.len(), body.session_count()), (1, 2));
    body
}

fn version(key: &BackupDecryptionKey, id: &str) -> BackupVersion {
    let mut v = BackupVersion::new(key.public_key());
    v.version = Some(id.to_owned());
    v
}

fn keys_answer(body: Vec<u8>) -> Reply {
    Reply::bytes(200, "application/json", body)
}

/// The migration moves the sessions of both listings of a room listed twice in an old
/// version, then deletes it (read as parsed JSON, only the last listing's session moved).
#[test]
fn the_migration_moves_both_listings_of_a_room_listed_twice() {
    let (old_key, key) = (
        BackupDecryptionKey::generate().unwrap(),
        BackupDecryptionKey::generate().unwrap(),
    );
    let old_body = one_room_two_sessions(&old_key);
    // What the current version holds once both sessions are uploaded, for the read-back.
    let sessions = synthetic_sessions(2, 9);
    let (moved, _) = encrypt_sessions(key.public_key(), &sessions);

    let server = FakeServer::start();
    let keys = format!("{API}/room_keys/keys");
    server.on(
        "GET",
        &keys,
        [
            keys_answer(br#"{"rooms": {}}"#.to_vec()),
            keys_answer(listed_apart(&[&old_body]).into_bytes()),
            keys_answer(serde_json::to_vec(&moved).unwrap()),
        ],
    );
    server.on(
        "PUT",
        &keys,
        [Reply::json(200, &json!({"etag": "2", "count": 2}))],
    );
    server.on(
        "DELETE",
        &format!("{API}/room_keys/version/1"),
        [Reply::json(200, &json!({}))],
    );
    let client = Client::new(server.url(), "syt_test_token").unwrap();
    let flow = MigrateFlow::new(
        &version(&key, "2"),
        &key,
        std::slice::from_ref(&old_key),
        &[version(&old_key, "1")],
    )
    .unwrap();
    let outcome = client.run(flow).unwrap();

    assert_eq!((outcome.reencrypted, outcome.uploaded), (2, 2));
    assert_eq!(outcome.old_versions["1"], OldVersionFate::Deleted);
    let put = server
        .requests()
        .into_iter()
        .find(|r| r.method == "PUT")
        .unwrap();
    let sent: KeysBackup = serde_json::from_slice(&put.body).unwrap();
    let want: std::collections::BTreeSet<&str> =
        sessions.iter().map(|s| s.session_id.as_str()).collect();
    let got: std::collections::BTreeSet<&str> = sent.entries().map(|(_, sid, _)| sid).collect();
    assert_eq!(got, want);
}

/// `Client::diagnose` checks the entries of both listings of a room listed twice in the
/// current version (read as parsed JSON, it counted one entry).
#[test]
fn the_diagnosis_checks_both_listings_of_a_room_listed_twice() {
    let key = BackupDecryptionKey::generate().unwrap();
    let server = FakeServer::start();
    server.on(
        "GET",
        &format!("{API}/account/whoami"),
        [Reply::json(
            200,
            &json!({"user_id": "@a:x", "device_id": "D"}),
        )],
    );
    server.on(
        "GET",
        &format!("{API}/room_keys/version"),
        [Reply::json(
            200,
            &serde_json::to_value(version(&key, "1")).unwrap(),
        )],
    );
    server.on(
        "GET",
        &format!("{API}/room_keys/keys"),
        [keys_answer(
            listed_apart(&[&one_room_two_sessions(&key)]).into_bytes(),
        )],
    );
    server.on(
        "GET",
        &format!("{API}/user/*"),
        [Reply::json(404, &json!({"errcode": "M_NOT_FOUND"}))],
    );
    server.on(
        "POST",
        &format!("{API}/keys/query"),
        [Reply::json(200, &json!({}))],
    );
    server.on(
        "GET",
        &format!("{API}/devices"),
        [Reply::json(200, &json!({"devices": []}))],
    );
    let client = Client::new(server.url(), "syt_test_token").unwrap();
    let input = key.to_recovery_key().to_base58_grouped();
    let options = DoctorOptions::default().entries(EntryCheck::All);
    let diagnosis = client
        .diagnose(Some(input.as_str()), options, |_, _| {})
        .unwrap();

    let report = diagnosis.entries.unwrap();
    assert_eq!((report.total, report.checked), (2, 2));
    assert!(report.failed.is_empty(), "{report:?}");
}
