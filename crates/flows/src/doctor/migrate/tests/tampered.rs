//! Answers a server should not give: the flow stops or keeps, never deletes on them.

use std::collections::BTreeMap;

use backup_cipher::{BackupDecryptionKey, KeysBackup, fixtures::synthetic_sessions};
use serde_json::json;

use super::*;

/// Runs `flow` against `server`, with `tamper` given each request and the server's answer
/// to change it; returns the first error the flow reports (in `receive` or `finish`).
fn run_tampered(
    server: &mut Server,
    mut flow: MigrateFlow,
    mut tamper: impl FnMut(&Request, Response) -> Response,
) -> Result<MigrationOutcome, FlowError> {
    while let Some(r) = flow.next_request() {
        let response = server.handle(&r);
        flow.receive(tamper(&r, response))?;
    }
    flow.finish()
}

/// The #2338 path: the version being replaced answers `{}` (or no `rooms`, or `rooms`
/// that is not an object) when it is read again. That is no keys body: the flow fails
/// and the version, with every entry, stays.
#[test]
fn a_replaced_version_read_as_no_keys_body_fails_and_is_kept() {
    for tampered in [json!({}), json!({"rooms": 7}), json!({"other": {}})] {
        let (old_key, key) = (
            BackupDecryptionKey::generate().unwrap(),
            BackupDecryptionKey::generate().unwrap(),
        );
        let sessions = synthetic_sessions(6, 21);
        let (good, bad) = sessions.split_at(3);
        let mut server = Server::default();
        server.add(&key, merge(body_of(&key, good), body_of(&old_key, bad)));
        let flow = server.flow(&key, std::slice::from_ref(&old_key));
        let mut reads = 0;
        let result = run_tampered(&mut server, flow, |r, response| {
            if is_get_keys_of(r, "1") {
                reads += 1;
                // The first read (as the current version) is honest; the second is not.
                if reads == 2 {
                    return Response::ok(tampered.clone());
                }
            }
            response
        });
        assert!(
            matches!(result, Err(FlowError::Unexpected { .. })),
            "{tampered}: {result:?}"
        );
        assert_eq!(ids(server.body("1").unwrap()).len(), 6, "{tampered}");
    }
}

/// An old version whose rooms or `sessions` are not objects holds what cannot be read:
/// it is kept, counted as unreadable.
#[test]
fn an_old_version_with_malformed_rooms_is_kept() {
    let (old_key, key) = (
        BackupDecryptionKey::generate().unwrap(),
        BackupDecryptionKey::generate().unwrap(),
    );
    let sessions = synthetic_sessions(4, 23);
    let mut server = Server::default();
    server.add(&old_key, body_of(&old_key, &sessions));
    server.add(&key, KeysBackup::default());
    let flow = server.flow(&key, std::slice::from_ref(&old_key));
    let outcome = run_tampered(&mut server, flow, |r, response| {
        if is_get_keys_of(r, "1") {
            let mut body = response.body.clone();
            let rooms = body["rooms"].as_object_mut().unwrap();
            rooms.insert("!bad:x".into(), json!({"sessions": 5}));
            rooms.insert("!worse:x".into(), json!([1, 2]));
            return Response::ok(body);
        }
        response
    })
    .unwrap();
    assert!(
        matches!(
            outcome.old_versions["1"],
            OldVersionFate::KeptUnreadable { unreadable } if unreadable >= 2
        ),
        "{:?}",
        outcome.old_versions
    );
    assert_eq!(ids(server.body("1").unwrap()).len(), 4);
    // What opens is moved all the same.
    assert_eq!(opened(&key, server.body("2").unwrap()), expected(&sessions));
}

/// The server names the version it "created" with the id of the one being replaced (or
/// an older one): the flow refuses it, and nothing is deleted.
#[test]
fn a_new_version_id_that_is_not_new_is_refused() {
    for given in ["1", "0"] {
        let (old_key, key) = (
            BackupDecryptionKey::generate().unwrap(),
            BackupDecryptionKey::generate().unwrap(),
        );
        let sessions = synthetic_sessions(6, 25);
        let (good, bad) = sessions.split_at(3);
        let mut server = Server::default();
        server.add(&old_key, KeysBackup::default());
        let stale = server.version("1");
        server.versions.clear();
        server.add(&key, merge(body_of(&key, good), body_of(&old_key, bad)));
        let older = if given == "0" {
            let mut v = stale.clone();
            v.version = Some("0".into());
            vec![v]
        } else {
            Vec::new()
        };
        let flow = MigrateFlow::new(
            &server.version("1"),
            &key,
            std::slice::from_ref(&old_key),
            &older,
        )
        .unwrap();
        let result = run_tampered(&mut server, flow, |r, response| {
            if r.method == Method::Post {
                return Response::ok(json!({"version": given}));
            }
            response
        });
        assert!(
            matches!(result, Err(FlowError::Unexpected { .. })),
            "{given}: {result:?}"
        );
        assert_eq!(ids(server.body("1").unwrap()).len(), 6);
    }
}

/// A 404 on the DELETE of an old version: it was gone, not deleted by this run.
#[test]
fn a_delete_answered_not_found_is_reported_gone() {
    let (old_key, key) = (
        BackupDecryptionKey::generate().unwrap(),
        BackupDecryptionKey::generate().unwrap(),
    );
    let sessions = synthetic_sessions(3, 27);
    let mut server = Server::default();
    server.add(&old_key, body_of(&old_key, &sessions));
    server.add(&key, KeysBackup::default());
    let flow = server.flow(&key, std::slice::from_ref(&old_key));
    let outcome = run_tampered(&mut server, flow, |r, response| {
        if r.method == Method::Delete {
            return Response::new(404, json!({"errcode": "M_NOT_FOUND", "error": "gone"}));
        }
        response
    })
    .unwrap();
    assert_eq!(outcome.old_versions["1"], OldVersionFate::Gone);
}

/// An upload chunk that cannot be written stops the flow with `FlowError::Encode`, not
/// with a silent end reported as done.
#[test]
fn an_upload_chunk_that_cannot_be_written_fails_the_flow() {
    let key = BackupDecryptionKey::generate().unwrap();
    let mut server = Server::default();
    server.add(&key, KeysBackup::default());
    let mut flow = server.flow(&key, &[]);
    // A map whose keys are not strings is what serde_json refuses to write.
    let refused = serde_json::to_value(BTreeMap::from([((1u8, 2u8), 0u8)])).unwrap_err();
    let reason_given = refused.to_string();
    assert!(flow.request_or_fail(Err(refused)).is_none());
    assert!(flow.next_request().is_none());
    match flow.finish() {
        Err(FlowError::Encode { request, reason }) => {
            assert_eq!(request, "PUT /room_keys/keys");
            assert_eq!(reason, reason_given);
        }
        other => panic!("expected an encode error, got {other:?}"),
    }
}

/// The read-back lists a session twice: a copy that opens with the current key, and one
/// that does not. A client that keeps one listing may keep the second, so the session is
/// not counted as moved and the old version is kept.
#[test]
fn a_read_back_listing_a_session_twice_counts_its_worst_copy() {
    let (old_key, key) = (
        BackupDecryptionKey::generate().unwrap(),
        BackupDecryptionKey::generate().unwrap(),
    );
    let sessions = synthetic_sessions(1, 41);
    let mut server = Server::default();
    server.add(&old_key, body_of(&old_key, &sessions));
    server.add(&key, KeysBackup::default());
    let stale = body_of(&old_key, &sessions);

    let mut flow = server.flow(&key, std::slice::from_ref(&old_key));
    let mut reads_of_current = 0;
    while let Some(r) = flow.next_request() {
        let response = server.handle(&r);
        if is_get_keys_of(&r, "2") {
            reads_of_current += 1;
            if reads_of_current == 2 {
                // The read-back: what the server holds, and the stale copy listed after it.
                let moved = server.body("2").unwrap();
                assert_eq!(moved.session_count(), 1);
                let twice = backup_cipher::fixtures::listed_apart(&[moved, &stale]);
                flow.receive_bytes(200, twice.as_bytes()).unwrap();
                continue;
            }
        }
        flow.receive(response).unwrap();
    }
    let outcome = flow.finish().unwrap();
    assert_eq!(outcome.uploaded, 1);
    assert_eq!(
        outcome.old_versions["1"],
        OldVersionFate::KeptNotVerified { missing: 1 }
    );
    assert!(server.body("1").is_some());
}
