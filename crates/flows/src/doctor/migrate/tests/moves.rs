//! What moves and what is deleted, run after run.

use backup_cipher::{BackupDecryptionKey, KeysBackup, RoomKey, fixtures::synthetic_sessions};
use serde_json::json;

use super::*;

/// element-meta #2338: some entries of the current version were encrypted to an older
/// key. They cannot be overwritten in place (the server keeps an entry of equal quality),
/// so a fresh version with the same auth_data receives every session, re-encrypted where
/// needed, and the version with the bad entries is deleted after the read-back.
#[test]
fn entries_for_an_older_key_move_to_a_fresh_version_then_the_bad_one_is_deleted() {
    let (old_key, key) = (
        BackupDecryptionKey::generate().unwrap(),
        BackupDecryptionKey::generate().unwrap(),
    );
    let sessions = synthetic_sessions(12, 7);
    let (good, bad) = sessions.split_at(8);
    let mut server = Server::default();
    server.add(&key, merge(body_of(&key, good), body_of(&old_key, bad)));

    let outcome = server.run(server.flow(&key, std::slice::from_ref(&old_key)));

    assert_eq!(outcome.entries_for_older_key, 4);
    assert_eq!(outcome.replaced_version.as_deref(), Some("1"));
    assert_eq!(outcome.current_version, "2");
    assert_eq!(outcome.old_versions["1"], OldVersionFate::Deleted);
    assert_eq!(server.versions.len(), 1);
    // The fresh version carries the same public key, and every session opens with it.
    assert_eq!(
        server.version("2").auth_data.public_key,
        key.public_key().to_base64()
    );
    assert_eq!(opened(&key, server.body("2").unwrap()), expected(&sessions));
}

/// An old version (made before a reset) holds sessions the current one lacks: they are
/// uploaded re-encrypted, read back, and only then the old version is deleted.
#[test]
fn sessions_missing_from_the_current_version_are_uploaded_before_the_old_is_deleted() {
    let (old_key, key) = (
        BackupDecryptionKey::generate().unwrap(),
        BackupDecryptionKey::generate().unwrap(),
    );
    let sessions = synthetic_sessions(10, 3);
    let mut server = Server::default();
    server.add(&old_key, body_of(&old_key, &sessions[..7]));
    server.add(&key, body_of(&key, &sessions[5..]));

    let outcome = server.run(server.flow(&key, std::slice::from_ref(&old_key)));

    assert_eq!(outcome.replaced_version, None);
    assert_eq!(outcome.reencrypted, 5);
    assert_eq!(outcome.old_versions["1"], OldVersionFate::Deleted);
    assert!(server.body("1").is_none());
    assert_eq!(opened(&key, server.body("2").unwrap()), expected(&sessions));
}

/// An old version whose entries no key given opens is never deleted.
#[test]
fn an_old_version_no_key_opens_is_kept() {
    let (unknown, other, key) = (
        BackupDecryptionKey::generate().unwrap(),
        BackupDecryptionKey::generate().unwrap(),
        BackupDecryptionKey::generate().unwrap(),
    );
    let sessions = synthetic_sessions(6, 9);
    let mut server = Server::default();
    server.add(&unknown, body_of(&unknown, &sessions[..3]));
    server.add(&key, body_of(&key, &sessions[3..]));

    let outcome = server.run(server.flow(&key, &[other]));

    assert_eq!(
        outcome.old_versions["1"],
        OldVersionFate::KeptUnreadable { unreadable: 3 }
    );
    assert_eq!(ids(server.body("1").unwrap()).len(), 3);
    assert_eq!(ids(server.body("2").unwrap()).len(), 3);
}

/// Half an old version opens: nothing of it is deleted, what opens is moved.
#[test]
fn an_old_version_partly_readable_is_kept_and_what_opens_is_moved() {
    let (unknown, old_key, key) = (
        BackupDecryptionKey::generate().unwrap(),
        BackupDecryptionKey::generate().unwrap(),
        BackupDecryptionKey::generate().unwrap(),
    );
    let sessions = synthetic_sessions(6, 11);
    let mut server = Server::default();
    server.add(
        &old_key,
        merge(
            body_of(&old_key, &sessions[..3]),
            body_of(&unknown, &sessions[3..]),
        ),
    );
    server.add(&key, KeysBackup::default());

    let outcome = server.run(server.flow(&key, std::slice::from_ref(&old_key)));

    assert_eq!(
        outcome.old_versions["1"],
        OldVersionFate::KeptUnreadable { unreadable: 3 }
    );
    assert_eq!(ids(server.body("1").unwrap()).len(), 6);
    assert_eq!(
        opened(&key, server.body("2").unwrap()),
        expected(&sessions[..3])
    );
}

/// Crash safety: a run stopped right after its upload (before the read-back and any
/// delete) leaves everything on the server, and the next run finishes the job.
#[test]
fn a_run_stopped_after_the_upload_is_finished_by_the_next() {
    let (old_key, key) = (
        BackupDecryptionKey::generate().unwrap(),
        BackupDecryptionKey::generate().unwrap(),
    );
    let sessions = synthetic_sessions(9, 5);
    let mut server = Server::default();
    server.add(&old_key, body_of(&old_key, &sessions[..4]));
    server.add(
        &key,
        merge(
            body_of(&key, &sessions[4..7]),
            body_of(&old_key, &sessions[7..]),
        ),
    );

    let mut flow = server.flow(&key, std::slice::from_ref(&old_key));
    let mut uploads = 0;
    while let Some(r) = flow.next_request() {
        let is_upload = r.method == Method::Put;
        let response = server.handle(&r);
        flow.receive(response).unwrap();
        if is_upload {
            uploads += 1;
            break; // the process dies here
        }
    }
    drop(flow);
    assert_eq!(uploads, 1);
    // Nothing was deleted: versions 1 (old key), 2 (with the bad entries) and 3 (fresh).
    assert_eq!(server.versions.len(), 3);

    let outcome = server.run(server.flow(&key, std::slice::from_ref(&old_key)));
    assert_eq!(outcome.old_versions["1"], OldVersionFate::Deleted);
    assert_eq!(outcome.old_versions["2"], OldVersionFate::Deleted);
    assert_eq!(server.versions.len(), 1);
    assert_eq!(opened(&key, server.body("3").unwrap()), expected(&sessions));
}

/// A refused DELETE keeps the version and says so; the next run deletes it.
#[test]
fn a_refused_delete_is_reported_and_the_next_run_deletes() {
    let (old_key, key) = (
        BackupDecryptionKey::generate().unwrap(),
        BackupDecryptionKey::generate().unwrap(),
    );
    let sessions = synthetic_sessions(5, 13);
    let mut server = Server {
        refuse_delete: true,
        ..Server::default()
    };
    server.add(&old_key, body_of(&old_key, &sessions));
    server.add(&key, KeysBackup::default());

    let outcome = server.run(server.flow(&key, std::slice::from_ref(&old_key)));
    assert_eq!(
        outcome.old_versions["1"],
        OldVersionFate::KeptDeleteRefused { status: 500 }
    );
    assert_eq!(ids(server.body("1").unwrap()).len(), 5);
    assert_eq!(opened(&key, server.body("2").unwrap()), expected(&sessions));

    server.refuse_delete = false;
    let outcome = server.run(server.flow(&key, std::slice::from_ref(&old_key)));
    assert_eq!(outcome.reencrypted, 0);
    assert_eq!(outcome.old_versions["1"], OldVersionFate::Deleted);
    assert!(server.body("1").is_none());
}

#[test]
fn a_key_that_does_not_open_the_current_version_is_refused() {
    let (key, other) = (
        BackupDecryptionKey::generate().unwrap(),
        BackupDecryptionKey::generate().unwrap(),
    );
    let mut v = BackupVersion::new(key.public_key());
    v.version = Some("4".into());
    assert!(matches!(
        MigrateFlow::new(&v, &other, &[], &[]),
        Err(MigrateError::KeyDoesNotOpenCurrent { .. })
    ));
}

/// `session` as a later copy of itself, whose first message index is `index`.
fn ratcheted(session: &RoomKey, index: u32) -> RoomKey {
    let mut json = json!(session);
    let mut key =
        recovery_key::decode_base64_public(json["session_key"].as_str().unwrap()).unwrap();
    key[1..5].copy_from_slice(&index.to_be_bytes());
    json["session_key"] = json!(recovery_key::encode_base64(&key));
    serde_json::from_value(json).unwrap()
}

/// The old version holds a copy of a session that opens earlier messages than the current
/// version's copy: it is uploaded (the server replaces a copy by one with a lower index),
/// and the old version is deleted only once the current copy is the earlier one.
#[test]
fn an_older_copy_that_opens_more_messages_replaces_the_current_one() {
    let (old_key, key) = (
        BackupDecryptionKey::generate().unwrap(),
        BackupDecryptionKey::generate().unwrap(),
    );
    let sessions = synthetic_sessions(3, 21);
    let early: Vec<RoomKey> = sessions.iter().map(|s| ratcheted(s, 0)).collect();
    let late: Vec<RoomKey> = sessions.iter().map(|s| ratcheted(s, 40)).collect();
    let mut server = Server::default();
    server.add(&old_key, body_of(&old_key, &early));
    server.add(&key, body_of(&key, &late));

    let outcome = server.run(server.flow(&key, std::slice::from_ref(&old_key)));

    assert_eq!(outcome.reencrypted, 3);
    assert_eq!(outcome.old_versions["1"], OldVersionFate::Deleted);
    assert_eq!(opened(&key, server.body("2").unwrap()), expected(&early));
}

/// An old version whose body lists a room twice, each listing with another session: read
/// as the bytes that came, with the backup body's grammar, both sessions move before the
/// version is deleted (a JSON parser keeps the last listing only).
#[test]
fn both_listings_of_a_room_listed_twice_move() {
    let (old_key, key) = (
        BackupDecryptionKey::generate().unwrap(),
        BackupDecryptionKey::generate().unwrap(),
    );
    let sessions = synthetic_sessions(2, 31);
    let mut server = Server::default();
    server.add(&old_key, body_of(&old_key, &sessions));
    server.add(&key, KeysBackup::default());
    let old_body = server.body("1").unwrap();
    assert_eq!(old_body.rooms.len(), 1, "one room, two sessions");
    let twice = backup_cipher::fixtures::listed_apart(&[old_body]);

    let mut flow = server.flow(&key, std::slice::from_ref(&old_key));
    while let Some(r) = flow.next_request() {
        if is_get_keys_of(&r, "1") {
            assert!(r.wants_bytes);
            flow.receive_bytes(200, twice.as_bytes()).unwrap();
        } else {
            let response = server.handle(&r);
            flow.receive(response).unwrap();
        }
    }
    let outcome = flow.finish().unwrap();
    assert_eq!((outcome.reencrypted, outcome.uploaded), (2, 2));
    assert_eq!(outcome.old_versions["1"], OldVersionFate::Deleted);
    assert_eq!(opened(&key, server.body("2").unwrap()), expected(&sessions));
}
