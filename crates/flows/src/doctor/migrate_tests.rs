//! [`MigrateFlow`] against an in-memory server that keeps backup versions as Synapse does:
//! an upload goes to the current version only, and a stored entry is replaced only by a
//! better one (verified, lower first message index, fewer forwards).

use std::collections::{BTreeMap, BTreeSet};

use backup_cipher::{
    BackupDecryptionKey, BackupVersion, KeysBackup, RoomKey, encrypt_sessions,
    fixtures::synthetic_sessions, restore_entry,
};
use serde_json::{Value, json};

use super::*;
use crate::{Flow, FlowError, Method, Request, Response};

const PREFIX: &str = "/_matrix/client/v3";

#[derive(Default)]
struct Server {
    versions: BTreeMap<u64, (BackupVersion, KeysBackup)>,
    refuse_delete: bool,
}

impl Server {
    fn current(&self) -> u64 {
        self.versions.keys().last().copied().unwrap_or(0)
    }

    fn add(&mut self, key: &BackupDecryptionKey, body: KeysBackup) -> String {
        let id = self.current() + 1;
        let mut v = BackupVersion::new(key.public_key());
        v.version = Some(id.to_string());
        self.versions.insert(id, (v, body));
        id.to_string()
    }

    fn version(&self, id: &str) -> BackupVersion {
        self.versions[&id.parse::<u64>().unwrap()].0.clone()
    }

    fn body(&self, id: &str) -> Option<&KeysBackup> {
        self.versions.get(&id.parse::<u64>().unwrap()).map(|v| &v.1)
    }

    fn handle(&mut self, r: &Request) -> Response {
        let path = r.path.trim_start_matches(PREFIX);
        let not_found = || Response::new(404, json!({"errcode": "M_NOT_FOUND", "error": "no"}));
        let version_of = |p: &str| {
            p.split("version=")
                .nth(1)
                .and_then(|v| v.parse::<u64>().ok())
        };
        match (r.method, path) {
            (Method::Get, p) if p.starts_with("/room_keys/keys?") => {
                match version_of(p).and_then(|v| self.versions.get(&v)) {
                    Some((_, body)) => Response::ok(serde_json::to_value(body).unwrap()),
                    None => not_found(),
                }
            }
            (Method::Put, p) if p.starts_with("/room_keys/keys?") => {
                if version_of(p) != Some(self.current()) {
                    return Response::new(403, json!({"errcode": "M_WRONG_ROOM_KEYS_VERSION"}));
                }
                let upload: KeysBackup = serde_json::from_value(r.body.clone().unwrap()).unwrap();
                let current = self.current();
                let stored = &mut self.versions.get_mut(&current).unwrap().1;
                for (room, rk) in upload.rooms {
                    for (sid, new) in rk.sessions {
                        let sessions = &mut stored.rooms.entry(room.clone()).or_default().sessions;
                        let replace = match sessions.get(&sid) {
                            None => true,
                            Some(old) => {
                                (new.is_verified && !old.is_verified)
                                    || new.first_message_index < old.first_message_index
                                    || new.forwarded_count < old.forwarded_count
                            }
                        };
                        if replace {
                            sessions.insert(sid, new);
                        }
                    }
                }
                Response::ok(json!({"etag": "1", "count": 0}))
            }
            (Method::Post, "/room_keys/version") => {
                let body = r.body.clone().unwrap();
                let mut v: BackupVersion = serde_json::from_value(body).unwrap();
                let id = self.current() + 1;
                v.version = Some(id.to_string());
                self.versions.insert(id, (v, KeysBackup::default()));
                Response::ok(json!({"version": id.to_string()}))
            }
            (Method::Delete, p) if p.starts_with("/room_keys/version/") => {
                if self.refuse_delete {
                    return Response::new(500, json!({"errcode": "M_UNKNOWN"}));
                }
                let id: u64 = p.trim_start_matches("/room_keys/version/").parse().unwrap();
                match self.versions.remove(&id) {
                    Some(_) => Response::ok(json!({})),
                    None => not_found(),
                }
            }
            other => panic!("unexpected request {other:?}"),
        }
    }

    /// Runs a flow to its end.
    fn run(&mut self, mut flow: MigrateFlow) -> MigrationOutcome {
        while let Some(r) = flow.next_request() {
            let response = self.handle(&r);
            flow.receive(response).unwrap();
        }
        flow.finish().unwrap()
    }

    /// The flow for what the server holds now: the current version, the others old.
    fn flow(&self, key: &BackupDecryptionKey, older: &[BackupDecryptionKey]) -> MigrateFlow {
        let current = self.current().to_string();
        let old: Vec<BackupVersion> = self
            .versions
            .values()
            .rev()
            .skip(1)
            .map(|(v, _)| v.clone())
            .collect();
        MigrateFlow::new(&self.version(&current), key, older, &old).unwrap()
    }
}

fn body_of(key: &BackupDecryptionKey, sessions: &[RoomKey]) -> KeysBackup {
    let (body, errors) = encrypt_sessions(key.public_key(), sessions);
    assert!(errors.is_empty());
    body
}

fn merge(mut a: KeysBackup, b: KeysBackup) -> KeysBackup {
    for (room, r) in b.rooms {
        a.rooms.entry(room).or_default().sessions.extend(r.sessions);
    }
    a
}

/// Every session of `body`, decrypted with `key`; panics on an entry it does not open.
fn opened(key: &BackupDecryptionKey, body: &KeysBackup) -> BTreeMap<(String, String), Value> {
    let mut out = BTreeMap::new();
    for (room, r) in &body.rooms {
        for (sid, data) in &r.sessions {
            let s = restore_entry(key, room, sid, &data.session_data)
                .unwrap_or_else(|_| panic!("{sid} does not open with the current key"));
            out.insert((room.clone(), sid.clone()), json!(s.room_key().unwrap()));
        }
    }
    out
}

fn expected(sessions: &[RoomKey]) -> BTreeMap<(String, String), Value> {
    sessions
        .iter()
        .map(|s| ((s.room_id.clone(), s.session_id.clone()), json!(s)))
        .collect()
}

fn ids(body: &KeysBackup) -> BTreeSet<String> {
    body.rooms
        .values()
        .flat_map(|r| r.sessions.keys().cloned())
        .collect()
}

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

/// The plan from a diagnosis: the current key from what the user gave, the older key from
/// `--old-key-file`'s text; run, it empties and deletes the old version.
#[test]
fn plan_migration_finds_the_keys_and_its_flow_does_the_job() {
    let (old_rk, rk) = (
        recovery_key::RecoveryKey::generate().unwrap(),
        recovery_key::RecoveryKey::generate().unwrap(),
    );
    let (old_key, key) = (
        BackupDecryptionKey::from_recovery_key(&old_rk),
        BackupDecryptionKey::from_recovery_key(&rk),
    );
    let sessions = synthetic_sessions(4, 17);
    let mut server = Server::default();
    server.add(&old_key, body_of(&old_key, &sessions));
    server.add(&key, KeysBackup::default());
    let mut snapshot = crate::AccountSnapshot::new("@a:x");
    snapshot.version = Some(server.version("2"));
    snapshot.old_versions = vec![server.version("1")];
    let options = crate::DoctorOptions::default().entries(crate::EntryCheck::Skip);
    let input = rk.to_base58_grouped();
    let diagnosis = crate::diagnose(&snapshot, Some(input.as_str()), &options);
    assert!(diagnosis.has(FindingCode::OldBackupVersions));

    // The older key comes from its text alone: the current key does not open version 1.
    let old_text = old_rk.to_base58_grouped();
    let plan = plan_migration(&diagnosis, &input, None, &[old_text.as_str()]);
    let MigrationPlan::Ready { flow, fixes, .. } = plan else {
        panic!("not ready: {plan:?}")
    };
    assert_eq!(fixes, vec![FindingCode::OldBackupVersions]);
    let outcome = server.run(*flow);
    assert_eq!(outcome.old_versions["1"], OldVersionFate::Deleted);
    assert_eq!(opened(&key, server.body("2").unwrap()), expected(&sessions));

    // A key that opens nothing current: blocked, and says why.
    let other = recovery_key::RecoveryKey::generate()
        .unwrap()
        .to_base58_grouped();
    let diagnosis = crate::diagnose(&snapshot, Some(other.as_str()), &options);
    assert!(matches!(
        plan_migration(&diagnosis, &other, None, &[old_text.as_str()]),
        MigrationPlan::Blocked { .. }
    ));
}

/// An empty old version whose key the user does not have is kept (whose it is cannot be
/// told); with its key given, it is deleted.
#[test]
fn an_empty_old_version_is_deleted_only_with_its_key() {
    let (unknown, key) = (
        BackupDecryptionKey::generate().unwrap(),
        BackupDecryptionKey::generate().unwrap(),
    );
    let mut server = Server::default();
    server.add(&unknown, KeysBackup::default());
    server.add(&key, KeysBackup::default());

    let outcome = server.run(server.flow(&key, &[]));
    assert_eq!(outcome.old_versions["1"], OldVersionFate::KeptNoKey);
    assert!(server.body("1").is_some());

    let outcome = server.run(server.flow(&key, std::slice::from_ref(&unknown)));
    assert_eq!(outcome.old_versions["1"], OldVersionFate::Deleted);
    assert!(server.body("1").is_none());
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

fn is_get_keys_of(r: &Request, version: &str) -> bool {
    r.method == Method::Get && r.path.ends_with(&format!("?version={version}"))
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

/// Secret storage holds a stale backup key whose entries are in the current version (the
/// #2338 case), and the entries were not checked (so no finding names them). The plan
/// does not overwrite the stale key before the migration: storing the current key waits
/// in `after_migration`, the migration runs (the stale key is its older key), moves every
/// entry, and keeps nothing, which is when the stale key may go.
#[test]
fn a_stale_stored_key_is_replaced_only_after_the_migration_moved_what_it_opens() {
    let (stale_rk, rk) = (
        recovery_key::RecoveryKey::generate().unwrap(),
        recovery_key::RecoveryKey::generate().unwrap(),
    );
    let (stale, key) = (
        BackupDecryptionKey::from_recovery_key(&stale_rk),
        BackupDecryptionKey::from_recovery_key(&rk),
    );
    let mut store = ssss::SecretStore::default();
    let (sskey, _) = store.create_key(None, None).unwrap();
    store.set_backup_key(&sskey, &stale).unwrap();
    let sessions = synthetic_sessions(6, 29);
    let (good, bad) = sessions.split_at(2);
    let mut server = Server::default();
    server.add(&key, merge(body_of(&key, good), body_of(&stale, bad)));
    let mut snapshot = crate::AccountSnapshot::new("@a:x");
    snapshot.secret_storage = store;
    snapshot.version = Some(server.version("1"));
    let options = crate::DoctorOptions::default().entries(crate::EntryCheck::Skip);
    let input = sskey.to_recovery_key().to_base58_grouped();
    let own = rk.to_base58_grouped();
    let diagnosis = crate::diagnose(&snapshot, Some(input.as_str()), &options);
    assert!(diagnosis.has(FindingCode::BackupKeyStale), "{diagnosis:?}");

    let plan = plan_repairs(&diagnosis, &input, Some(own.as_str()));
    assert!(
        plan.repairs
            .iter()
            .all(|r| r.fixes != FindingCode::BackupKeyStale),
        "{plan:?}"
    );
    assert_eq!(plan.after_migration.len(), 1, "{plan:?}");
    assert_eq!(plan.after_migration[0].fixes, FindingCode::BackupKeyStale);

    let MigrationPlan::Ready { flow, .. } =
        plan_migration(&diagnosis, &input, Some(own.as_str()), &[])
    else {
        panic!("the migration is not planned")
    };
    let outcome = server.run(*flow);
    assert!(outcome.kept_nothing(), "{outcome:?}");
    assert_eq!(
        opened(&key, server.body(&outcome.current_version).unwrap()),
        expected(&sessions)
    );
}

/// A migration that kept a version, or could not re-encrypt a session, did not keep
/// nothing.
#[test]
fn kept_nothing_is_false_when_anything_was_kept() {
    let mut outcome = MigrationOutcome::default();
    assert!(outcome.kept_nothing());
    outcome
        .old_versions
        .insert("1".into(), OldVersionFate::Deleted);
    outcome
        .old_versions
        .insert("2".into(), OldVersionFate::Gone);
    assert!(outcome.kept_nothing());
    for kept in [
        OldVersionFate::KeptUnreadable { unreadable: 1 },
        OldVersionFate::KeptNoKey,
        OldVersionFate::KeptNotVerified { missing: 1 },
        OldVersionFate::KeptDeleteRefused { status: 500 },
    ] {
        let mut o = outcome.clone();
        o.old_versions.insert("3".into(), kept);
        assert!(!o.kept_nothing());
    }
    outcome.not_reencrypted = 1;
    assert!(!outcome.kept_nothing());
}
