//! The setup flow driven against an in-memory homeserver written here (the endpoints'
//! behaviour as the client-server specification describes it): the crash-safe order of
//! the writes, the password confirmation, the carry-over, the read-back.

use std::collections::BTreeMap;

use backup_cipher::{BackupDecryptionKey, BackupVersion, KeysBackup};
use flows::{
    AccountSituation, Method, Request, Response, SetupEvent, SetupFlow, SetupFlowError,
    SetupOptions, SetupOutcome, SetupStep,
};
use serde_json::{Value, json};

const USER: &str = "@alice:example.org";
const PREFIX: &str = "/_matrix/client/v3";

/// A homeserver in memory: versions with their keys, account data, cross-signing keys.
#[derive(Default)]
struct Server {
    versions: BTreeMap<u64, (Value, KeysBackup)>,
    account_data: BTreeMap<String, Value>,
    master_key: Option<Value>,
    /// Every request, as "METHOD path" (the account-data writes with their type).
    log: Vec<String>,
    /// A request (as logged) answered with a 500, as a failing server would.
    fail: Option<String>,
    /// A second one.
    also_fail: Option<String>,
    /// Requests (as logged, or the start of it) that never reach the server: the caller
    /// gets no answer.
    unanswered: Vec<String>,
    /// Requests (as logged, or the start of it) carried out whose answer is lost on the
    /// way back.
    answer_lost: Vec<String>,
    /// The bytes `GET /room_keys/keys` answers with, when set (JSON that a `Value`
    /// cannot hold, e.g. a room listed twice).
    raw_keys: Option<String>,
    /// Writes (as logged) answered 200 but not carried out: a server, proxy or worker
    /// that drops a write it acknowledged.
    dropped: Vec<String>,
}

/// What [`Server::handle`] returns for a request that got no answer (status 0: the
/// driver tells the flow [`SetupFlow::no_answer`]).
const NO_ANSWER: Response = Response {
    status: 0,
    body: Value::Null,
};

/// Whether `logged` starts with one of `patterns`.
fn matches_any(patterns: &[String], logged: &str) -> bool {
    patterns.iter().any(|p| logged.starts_with(p.as_str()))
}

fn not_found() -> Response {
    Response::new(404, json!({"errcode": "M_NOT_FOUND", "error": "not found"}))
}

impl Server {
    fn version_answer(&self, id: u64) -> Response {
        match self.versions.get(&id) {
            Some((info, keys)) => {
                let mut v = info.clone();
                v["version"] = json!(id.to_string());
                v["count"] = json!(keys.session_count());
                v["etag"] = json!("e");
                Response::ok(v)
            }
            None => not_found(),
        }
    }

    /// Whether the caller gets no answer for the request just handled.
    fn no_answer(&self, answer: &Response) -> bool {
        answer.status == 0
            || self
                .log
                .last()
                .is_some_and(|l| matches_any(&self.answer_lost, l))
    }

    fn handle(&mut self, r: &Request) -> Response {
        let method = match r.method {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
        };
        let path = r.path.strip_prefix(PREFIX).unwrap();
        self.log.push(format!("{method} {path}"));
        let logged = format!("{method} {path}");
        if matches_any(&self.unanswered, &logged) {
            return NO_ANSWER;
        }
        if [&self.fail, &self.also_fail]
            .iter()
            .any(|f| f.as_deref() == Some(logged.as_str()))
        {
            return Response::new(500, json!({"errcode": "M_UNKNOWN", "error": "down"}));
        }
        let (route, query) = path.split_once('?').unwrap_or((path, ""));
        let version_param = query
            .strip_prefix("version=")
            .map(|v| v.parse::<u64>().unwrap());
        // USER as the requests percent-encode it in a path.
        let account_data = "/user/%40alice%3Aexample.org/account_data/";
        match (method, route) {
            ("GET", "/room_keys/version") => match self.versions.keys().last() {
                Some(id) => self.version_answer(*id),
                None => not_found(),
            },
            ("POST", "/room_keys/version") => {
                let id = self.versions.keys().last().map_or(1, |v| v + 1);
                self.versions
                    .insert(id, (r.body.clone().unwrap(), KeysBackup::default()));
                Response::ok(json!({"version": id.to_string()}))
            }
            (m, p) if p.starts_with("/room_keys/version/") => {
                let id: u64 = p.rsplit('/').next().unwrap().parse().unwrap();
                if m == "DELETE" {
                    match self.versions.remove(&id) {
                        Some(_) => Response::ok(json!({})),
                        None => not_found(),
                    }
                } else {
                    self.version_answer(id)
                }
            }
            ("GET", "/room_keys/keys") => {
                let keys = &self.versions[&version_param.unwrap()].1;
                Response::ok(serde_json::to_value(keys).unwrap())
            }
            ("PUT", "/room_keys/keys") => {
                let part: KeysBackup = serde_json::from_value(r.body.clone().unwrap()).unwrap();
                let keys = &mut self.versions.get_mut(&version_param.unwrap()).unwrap().1;
                for (room, sessions) in part.rooms {
                    let into = keys.rooms.entry(room).or_default();
                    into.sessions.extend(sessions.sessions);
                }
                Response::ok(json!({"etag": "e", "count": keys.session_count()}))
            }
            ("POST", "/keys/query") => match &self.master_key {
                Some(m) => Response::ok(json!({"master_keys": {USER: m}})),
                None => Response::ok(json!({"master_keys": {}})),
            },
            ("POST", "/keys/device_signing/upload") => {
                let body = r.body.clone().unwrap();
                // Replacing keys needs the password (user-interactive auth).
                if self.master_key.is_some() {
                    let auth = &body["auth"];
                    if auth["type"] != "m.login.password" || auth["password"] != "hunter22" {
                        return Response::new(
                            401,
                            json!({"session": "S1", "flows": [{"stages": ["m.login.password"]}]}),
                        );
                    }
                    assert_eq!(auth["session"], "S1");
                }
                self.master_key = Some(body["master_key"].clone());
                Response::ok(json!({}))
            }
            (m, p) if p.starts_with(account_data) => {
                let event_type = p.strip_prefix(account_data).unwrap().to_owned();
                let last = self.log.last_mut().unwrap();
                *last = format!("{m} account_data {event_type}");
                if self.fail.as_ref() == Some(last) {
                    return Response::new(500, json!({"errcode": "M_UNKNOWN", "error": "down"}));
                }
                if matches_any(&self.unanswered, last) {
                    return NO_ANSWER;
                }
                if m == "PUT" && matches_any(&self.dropped, last) {
                    return Response::ok(json!({}));
                }
                if m == "PUT" {
                    self.account_data
                        .insert(event_type, r.body.clone().unwrap());
                    Response::ok(json!({}))
                } else {
                    match self.account_data.get(&event_type) {
                        Some(v) => Response::ok(v.clone()),
                        None => not_found(),
                    }
                }
            }
            other => panic!("unexpected request {other:?}"),
        }
    }
}

/// Drives the flow to its end; returns the outcome and the events.
fn drive(
    server: &mut Server,
    options: SetupOptions<'_>,
    password: Option<&str>,
) -> Result<(SetupOutcome, Vec<SetupEvent>), SetupFlowError> {
    drive_saving(server, options, password, &mut None)
}

/// [`drive`], keeping the Security Key the flow hands over in `saved`.
fn drive_saving(
    server: &mut Server,
    options: SetupOptions<'_>,
    password: Option<&str>,
    saved: &mut Option<String>,
) -> Result<(SetupOutcome, Vec<SetupEvent>), SetupFlowError> {
    let mut flow = SetupFlow::new(USER, options.have_password(password.is_some()));
    let mut events = Vec::new();
    loop {
        match flow.next_step()? {
            SetupStep::Send(r) => {
                let answer = server.handle(&r);
                if server.no_answer(&answer) {
                    flow.no_answer("connection reset by peer")?;
                } else {
                    flow.receive(answer)?;
                }
            }
            SetupStep::SendForBytes(r) => {
                let answer = server.handle(&r);
                if server.no_answer(&answer) {
                    flow.no_answer("connection reset by peer")?;
                    continue;
                }
                let bytes = match &server.raw_keys {
                    Some(raw) if answer.status == 200 => raw.clone().into_bytes(),
                    _ => serde_json::to_vec(&answer.body).unwrap(),
                };
                flow.receive_bytes(answer.status, &bytes)?;
            }
            SetupStep::NeedsPassword => flow.answer_password(password.unwrap())?,
            SetupStep::NeedsPhrase => panic!("no phrase was chosen"),
            SetupStep::Event(e) => events.push(e),
            SetupStep::SaveKey => {
                // Nothing of secret storage is written before the key is handed over.
                assert!(!server.log.iter().any(|l| l.starts_with("PUT account_data")));
                *saved = Some(flow.security_key().unwrap().to_string());
                flow.key_saved()?;
            }
            SetupStep::Done => break,
            _ => panic!("an unknown step"),
        }
    }
    Ok((flow.finish()?, events))
}

fn position(log: &[String], what: &str) -> usize {
    log.iter()
        .position(|l| l == what)
        .unwrap_or_else(|| panic!("{what} not in {log:#?}"))
}

/// The writes of a setup, in the order they were sent.
fn writes(log: &[String]) -> Vec<&str> {
    log.iter()
        .filter(|l| !l.starts_with("GET") && !l.contains("/keys/query"))
        .map(String::as_str)
        .collect()
}

#[test]
fn a_fresh_account_is_written_in_the_crash_safe_order_and_read_back() {
    let mut server = Server::default();
    let (outcome, events) = drive(&mut server, SetupOptions::new(), None).unwrap();
    assert_eq!(outcome.situation, AccountSituation::Fresh);
    let w = writes(&server.log);
    assert_eq!(w[0], "POST /keys/device_signing/upload");
    assert_eq!(w[1], "POST /room_keys/version");
    let default_key = position(&server.log, "PUT account_data m.secret_storage.default_key");
    let key_backup = position(&server.log, "PUT account_data m.key_backup");
    // The default-key pointer after every secret, m.key_backup the last write.
    for secret in [
        "m.megolm_backup.v1",
        "m.cross_signing.master",
        "m.cross_signing.self_signing",
        "m.cross_signing.user_signing",
    ] {
        assert!(position(&server.log, &format!("PUT account_data {secret}")) < default_key);
    }
    assert_eq!(*w.last().unwrap(), "PUT account_data m.key_backup");
    assert!(default_key < key_backup);
    // Then read back: the version and secret storage again.
    assert!(
        server.log[key_backup + 1..]
            .iter()
            .any(|l| l == "GET account_data m.secret_storage.default_key"),
        "{:#?}",
        server.log
    );
    assert_eq!(
        server.account_data["m.key_backup"],
        json!({"enabled": true})
    );
    assert!(matches!(events.last(), Some(SetupEvent::Verified { .. })));
    assert_eq!(outcome.security_key.len(), 59);
    // The Security Key is never in Debug.
    let shown = format!("{outcome:?}");
    assert!(!shown.contains(outcome.security_key.as_str()), "{shown}");
    assert!(!format!("{events:?}").contains(outcome.security_key.as_str()));
}

/// Element X used without recovery: the identity is replaced only when chosen, the
/// server's password question is answered, and the old version is kept and said so.
#[test]
fn element_x_state_needs_the_choice_and_the_password_and_keeps_the_old_version() {
    let mut server = Server::default();
    let other_key = BackupDecryptionKey::from_bytes(&[9; 32]);
    server.versions.insert(
        1,
        (
            serde_json::to_value(BackupVersion::new(other_key.public_key())).unwrap(),
            KeysBackup::default(),
        ),
    );
    server.master_key = Some(
        json!({"user_id": USER, "usage": ["master"], "keys": {"ed25519:bWFzdGVy": "bWFzdGVy"}}),
    );

    let refused = drive(&mut server, SetupOptions::new(), Some("hunter22")).unwrap_err();
    assert!(
        matches!(
            &refused,
            SetupFlowError::Refused(flows::PlanError::KeysOnOtherDevices { version: Some(v), .. }) if v == "1"
        ),
        "{refused}"
    );
    assert!(writes(&server.log).is_empty(), "{:#?}", server.log);

    server.log.clear();
    let (outcome, events) = drive(
        &mut server,
        SetupOptions::new().replace_cross_signing(true),
        Some("hunter22"),
    )
    .unwrap();
    // Asked without the password first, then answered with it.
    let w = writes(&server.log);
    assert_eq!(
        w[..3],
        [
            "POST /keys/device_signing/upload",
            "POST /keys/device_signing/upload",
            "POST /room_keys/version"
        ]
    );
    assert!(outcome.new_cross_signing);
    assert_eq!(outcome.old_version_kept.as_deref(), Some("1"));
    assert!(server.versions.contains_key(&1), "the old version is kept");
    assert!(events.contains(&SetupEvent::OldVersionKept {
        version: "1".into()
    }));
    assert!(!server.log.iter().any(|l| l.starts_with("DELETE")));
}

/// A reset with the old backup's key: the sessions are copied before the old version is
/// deleted, and the delete comes after the new secret storage is written.
#[test]
fn a_reset_carries_the_old_sessions_over_before_deleting_the_old_version() {
    let mut server = Server::default();
    let mut seed = [5u8; 32];
    let old_key = BackupDecryptionKey::from_bytes(&seed);
    let old_body = backup_cipher::fixtures::synthetic_backup(old_key.public_key(), 1500, 3);
    server.versions.insert(
        1,
        (
            serde_json::to_value(BackupVersion::new(old_key.public_key())).unwrap(),
            old_body,
        ),
    );
    let typed = recovery_key::RecoveryKey::from_bytes(&mut seed).to_base58_grouped();

    let (outcome, events) =
        drive(&mut server, SetupOptions::new().reset(Some(&typed)), None).unwrap();
    assert_eq!(
        outcome.situation,
        AccountSituation::BackupWithoutSecretStorage {
            version: "1".into()
        }
    );
    assert_eq!(outcome.carried_over, 1500);
    assert!(events.contains(&SetupEvent::CarryingOver {
        sessions: 1500,
        unreadable: 0,
        old_version: "1".into()
    }));
    // Two chunks of at most 1000, then the count check, secret storage, the delete,
    // m.key_backup.
    let puts = server
        .log
        .iter()
        .filter(|l| l.as_str() == "PUT /room_keys/keys?version=2")
        .count();
    assert_eq!(puts, 2);
    let last_put = server
        .log
        .iter()
        .rposition(|l| l == "PUT /room_keys/keys?version=2")
        .unwrap();
    let default_key = position(&server.log, "PUT account_data m.secret_storage.default_key");
    let delete = position(&server.log, "DELETE /room_keys/version/1");
    let key_backup = position(&server.log, "PUT account_data m.key_backup");
    assert!(last_put < default_key && default_key < delete && delete < key_backup);
    assert_eq!(server.versions.keys().collect::<Vec<_>>(), [&2]);
    assert_eq!(server.versions[&2].1.session_count(), 1500);
    assert_eq!(outcome.old_version_deleted.as_deref(), Some("1"));
}

/// Driving the flow out of order is an error, never a panic.
#[test]
fn out_of_order_is_an_error() {
    let mut flow = SetupFlow::new(USER, SetupOptions::new());
    assert!(matches!(
        flow.receive(Response::ok(json!({}))),
        Err(SetupFlowError::OutOfOrder(_))
    ));
    assert!(flow.answer_password("pw").is_err());
    assert!(matches!(
        flow.key_saved(),
        Err(SetupFlowError::OutOfOrder(_))
    ));
    assert!(flow.security_key().is_none(), "no key before the plan");
    assert!(matches!(
        flow.receive_bytes(200, b"{}"),
        Err(SetupFlowError::OutOfOrder(_))
    ));
    assert!(matches!(flow.next_step(), Ok(SetupStep::Send(_))));
    assert!(matches!(
        flow.next_step(),
        Err(SetupFlowError::OutOfOrder(_))
    ));
    assert!(flow.finish().is_err());
}

/// What the user typed is never in `Debug`: the old key, the new phrase.
#[test]
fn debug_leaves_the_secrets_out() {
    let options = SetupOptions::new().reset(Some("EsTc old secret key"));
    assert!(!format!("{options:?}").contains("EsTc"), "{options:?}");
    let choices = flows::SetupChoices::new(ssss::setup::SetupSecret::Passphrase("velvet harbour"))
        .reset(Some("EsTc old secret key"));
    let shown = format!("{choices:?}");
    assert!(
        !shown.contains("EsTc") && !shown.contains("velvet"),
        "{shown}"
    );
}

/// The secret `name` the server holds, opened with `key` (a Security Key as typed).
fn open_secret(server: &Server, key: &str, name: &str) -> String {
    let store = ssss::SecretStore::from_json(&json!(server.account_data)).unwrap();
    let key_id = server.account_data[name]["encrypted"]
        .as_object()
        .unwrap()
        .keys()
        .next()
        .unwrap()
        .clone();
    let unlocked = store.unlock_key(&key_id, key).unwrap();
    store.get_secret(&unlocked.key, name).unwrap().to_string()
}

/// A server that fails once the secrets are written, before the default-key pointer
/// moves: the caller already has the Security Key (handed over before the first
/// account-data write), the error carries it too, and it opens the secrets written.
#[test]
fn a_failure_after_the_secrets_are_written_leaves_the_caller_the_key_that_opens_them() {
    let mut server = Server {
        fail: Some("PUT account_data m.secret_storage.default_key".into()),
        ..Server::default()
    };
    let mut saved = None;
    let err = drive_saving(&mut server, SetupOptions::new(), None, &mut saved).unwrap_err();
    let saved = saved.expect("the Security Key was handed over");
    let SetupFlowError::Unfinished {
        security_key: Some(carried),
        ..
    } = &err
    else {
        panic!("{err:?}");
    };
    assert_eq!(carried.as_str(), saved);
    assert_eq!(err.security_key().unwrap().as_str(), saved);
    assert!(!format!("{err:?}").contains(&saved), "{err:?}");
    assert!(!err.to_string().contains(&saved), "{err}");
    // The secrets written open with it.
    let backup_key = open_secret(&server, &saved, "m.megolm_backup.v1");
    assert!(!backup_key.is_empty());
    open_secret(&server, &saved, "m.cross_signing.master");
    assert!(
        !server
            .account_data
            .contains_key("m.secret_storage.default_key")
    );
}

/// Once the pointer is written, a failed m.key_backup write says that recovery is set
/// up with the key given, and what did not happen.
#[test]
fn a_failure_after_the_pointer_says_recovery_is_set_up() {
    let mut server = Server {
        fail: Some("PUT account_data m.key_backup".into()),
        ..Server::default()
    };
    let mut saved = None;
    let err = drive_saving(&mut server, SetupOptions::new(), None, &mut saved).unwrap_err();
    let saved = saved.unwrap();
    assert!(
        matches!(&err, SetupFlowError::AfterSetUp { security_key, .. } if security_key.as_str() == saved),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(text.contains("recovery is set up"), "{text}");
    assert!(text.contains("m.key_backup"), "{text}");
    open_secret(&server, &saved, "m.megolm_backup.v1");
    let store = ssss::SecretStore::from_json(&json!(server.account_data)).unwrap();
    assert!(store.unlock(&saved).is_ok());
}

/// A failure before anything is encrypted to the new key carries no key.
#[test]
fn a_failure_before_the_key_is_handed_over_carries_none() {
    let mut server = Server {
        fail: Some("POST /room_keys/version".into()),
        ..Server::default()
    };
    let mut saved = None;
    let err = drive_saving(&mut server, SetupOptions::new(), None, &mut saved).unwrap_err();
    assert!(saved.is_none());
    assert!(err.security_key().is_none(), "{err:?}");
}

/// A reset whose carry-over cannot read every old entry keeps the old version (unless
/// deleting it was chosen) and says how many entries were not copied.
#[test]
fn a_reset_that_cannot_copy_every_entry_keeps_the_old_version() {
    let mut seed = [6u8; 32];
    let old_key = BackupDecryptionKey::from_bytes(&seed);
    let typed = recovery_key::RecoveryKey::from_bytes(&mut seed).to_base58_grouped();
    let body = backup_cipher::fixtures::synthetic_backup(old_key.public_key(), 10, 2);
    // One entry whose ciphertext is damaged: it cannot be restored.
    let mut damaged = serde_json::to_value(&body).unwrap();
    let room = damaged["rooms"]
        .as_object_mut()
        .unwrap()
        .values_mut()
        .next()
        .unwrap();
    let entry = room["sessions"]
        .as_object_mut()
        .unwrap()
        .values_mut()
        .next()
        .unwrap();
    entry["session_data"]["ciphertext"] = json!("AAAAAAAAAAAAAAAAAAAAAA");
    let damaged: KeysBackup = serde_json::from_value(damaged).unwrap();
    let info = serde_json::to_value(BackupVersion::new(old_key.public_key())).unwrap();

    let mut server = Server::default();
    server.versions.insert(1, (info.clone(), damaged.clone()));
    let (outcome, events) =
        drive(&mut server, SetupOptions::new().reset(Some(&typed)), None).unwrap();
    assert_eq!(outcome.carried_over, 9);
    assert!(server.versions.contains_key(&1), "the old version is kept");
    assert!(!server.log.iter().any(|l| l.starts_with("DELETE")));
    assert_eq!(outcome.old_version_kept.as_deref(), Some("1"));
    assert_eq!(outcome.old_version_deleted, None);
    assert!(events.contains(&SetupEvent::OldVersionKeptUncopied {
        version: "1".into(),
        not_copied: Some(1)
    }));

    // Chosen: deleted anyway.
    let mut server = Server::default();
    server.versions.insert(1, (info, damaged));
    let (outcome, _) = drive(
        &mut server,
        SetupOptions::new()
            .reset(Some(&typed))
            .delete_unreadable_old_version(true),
        None,
    )
    .unwrap();
    assert!(!server.versions.contains_key(&1));
    assert_eq!(outcome.old_version_deleted.as_deref(), Some("1"));
}

/// The old backup's body lists a room twice, each copy with its own session: the
/// carry-over reads the bytes as a restore does and copies both.
#[test]
fn a_room_listed_twice_in_the_old_backup_is_carried_over_whole() {
    let mut seed = [8u8; 32];
    let old_key = BackupDecryptionKey::from_bytes(&seed);
    let typed = recovery_key::RecoveryKey::from_bytes(&mut seed).to_base58_grouped();
    let body = backup_cipher::fixtures::synthetic_backup(old_key.public_key(), 2, 4);
    let entries: Vec<(String, Value)> = body
        .rooms
        .values()
        .flat_map(|r| r.sessions.iter())
        .map(|(sid, data)| (sid.clone(), serde_json::to_value(data).unwrap()))
        .collect();
    assert_eq!(entries.len(), 2);
    // Both sessions under one room id, written as two members of the same name.
    let copy = |(sid, data): &(String, Value)| {
        format!(
            "\"!twice:example.org\":{{\"sessions\":{{{}:{data}}}}}",
            json!(sid)
        )
    };
    let raw = format!(
        "{{\"rooms\":{{{},{}}}}}",
        copy(&entries[0]),
        copy(&entries[1])
    );
    let info = serde_json::to_value(BackupVersion::new(old_key.public_key())).unwrap();
    let mut server = Server {
        raw_keys: Some(raw),
        ..Server::default()
    };
    server.versions.insert(1, (info, body));
    let (outcome, events) =
        drive(&mut server, SetupOptions::new().reset(Some(&typed)), None).unwrap();
    assert_eq!(outcome.carried_over, 2, "{events:#?}");
    let new = &server.versions[&2].1;
    assert_eq!(new.rooms["!twice:example.org"].sessions.len(), 2);
}

/// An account set up by the flow, whose backup (version 1) holds `sessions` sessions:
/// the server and its Security Key.
fn set_up_with_sessions(sessions: usize) -> (Server, String) {
    let mut server = Server::default();
    let (outcome, _) = drive(&mut server, SetupOptions::new(), None).unwrap();
    let info = &server.versions[&1].0;
    let public_key = backup_cipher::BackupPublicKey::from_base64(
        info["auth_data"]["public_key"].as_str().unwrap(),
    )
    .unwrap();
    server.versions.get_mut(&1).unwrap().1 =
        backup_cipher::fixtures::synthetic_backup(&public_key, sessions, 4);
    server.log.clear();
    (server, outcome.security_key.to_string())
}

/// Whether `key` (a Security Key as typed) opens the server's current backup through
/// its secret storage.
fn opens_the_current_backup(server: &Server, key: &str) -> bool {
    let store = ssss::SecretStore::from_json(&json!(server.account_data)).unwrap();
    let id = *server.versions.keys().last().unwrap();
    let current: BackupVersion = serde_json::from_value(server.version_answer(id).body).unwrap();
    ssss::recover_backup_key(key, Some(&store), Some(&current)).is_ok()
}

/// A reset that stops after creating the new version but before that version's key is
/// stored (here: the carry-over's upload is refused) deletes the new version again: no
/// key could open it, and as the newest version it would take the other devices'
/// backups. The old Security Key still opens the current backup, and a reset run again
/// carries every old session over.
#[test]
fn a_reset_stopped_before_the_new_backup_key_is_stored_deletes_the_new_version() {
    let (mut server, old_key) = set_up_with_sessions(30);
    server.fail = Some("PUT /room_keys/keys?version=2".into());
    let err = drive(&mut server, SetupOptions::new().reset(Some(&old_key)), None).unwrap_err();
    assert_eq!(server.versions.keys().collect::<Vec<_>>(), [&1]);
    assert!(opens_the_current_backup(&server, &old_key));
    assert!(
        server
            .log
            .iter()
            .any(|l| l == "DELETE /room_keys/version/2")
    );
    assert!(
        matches!(
            &err,
            SetupFlowError::Unfinished {
                security_key: None,
                ..
            }
        ),
        "{err:?}"
    );
    let rolled = err.rolled_back().expect("the new version is rolled back");
    assert_eq!((rolled.version.as_str(), &rolled.not_deleted), ("2", &None));
    assert!(err.to_string().contains("was deleted again"), "{err}");

    // Set up again, as the error says: every old session is carried over.
    server.fail = None;
    let (outcome, _) = drive(&mut server, SetupOptions::new().reset(Some(&old_key)), None).unwrap();
    assert_eq!(outcome.carried_over, 30);
    assert!(opens_the_current_backup(&server, &outcome.security_key));
}

/// When the new version cannot be deleted either, the error says so, and which version
/// to delete.
#[test]
fn a_new_version_that_cannot_be_deleted_again_is_named() {
    let (mut server, old_key) = set_up_with_sessions(5);
    server.fail = Some("PUT /room_keys/keys?version=2".into());
    server.also_fail = Some("DELETE /room_keys/version/2".into());
    let err = drive(&mut server, SetupOptions::new().reset(Some(&old_key)), None).unwrap_err();
    let rolled = err.rolled_back().expect("a roll-back was tried");
    assert!(rolled.not_deleted.is_some(), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("could not be deleted"), "{text}");
    assert!(text.contains("delete backup version 2"), "{text}");
}

/// Once the new backup's key was sent to be stored, a stop leaves the new version: the
/// key may be on the server (a write that failed may still have been made).
#[test]
fn a_stop_once_the_backup_key_was_sent_keeps_the_new_version() {
    let mut server = Server {
        fail: Some("PUT account_data m.megolm_backup.v1".into()),
        ..Server::default()
    };
    let err = drive(&mut server, SetupOptions::new(), None).unwrap_err();
    assert!(err.rolled_back().is_none(), "{err:?}");
    assert!(!server.log.iter().any(|l| l.starts_with("DELETE")));
    assert!(server.versions.contains_key(&1));
}

/// The source of an [`SetupFlowError::Unfinished`]: a request that got no answer.
fn no_answer_source(err: &SetupFlowError) -> &flows::FlowError {
    match err {
        SetupFlowError::Unfinished { source, .. } => source,
        other => panic!("not Unfinished: {other:?}"),
    }
}

/// A reset whose carry-over upload gets no answer (the connection is cut, after the
/// caller's retries) deletes the new version again, as a refusal does: the old Security
/// Key still opens the current backup, and the error says what got no answer.
#[test]
fn a_reset_whose_upload_gets_no_answer_deletes_the_new_version() {
    let (mut server, old_key) = set_up_with_sessions(12);
    server.unanswered = vec!["PUT /room_keys/keys?version=2".into()];
    let err = drive(&mut server, SetupOptions::new().reset(Some(&old_key)), None).unwrap_err();
    assert!(
        server
            .log
            .iter()
            .any(|l| l == "DELETE /room_keys/version/2"),
        "{:#?}",
        server.log
    );
    assert_eq!(server.versions.keys().collect::<Vec<_>>(), [&1]);
    assert!(opens_the_current_backup(&server, &old_key));
    let rolled = err.rolled_back().expect("the new version is rolled back");
    assert_eq!((rolled.version.as_str(), &rolled.not_deleted), ("2", &None));
    assert!(
        matches!(
            no_answer_source(&err),
            flows::FlowError::NoAnswer { request, reason }
                if request == "PUT /room_keys/keys" && reason == "connection reset by peer"
        ),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(text.contains("no answer came"), "{text}");
    assert!(text.contains("was deleted again"), "{text}");
}

/// A fresh setup whose first secret-storage write (the key description, before the
/// backup key) gets no answer, whether the server carried it out or not, deletes the new
/// version: no key of it is stored.
#[test]
fn a_fresh_setup_whose_first_account_data_write_gets_no_answer_deletes_the_new_version() {
    for carried_out in [false, true] {
        let description = "PUT account_data m.secret_storage.key.".to_owned();
        let mut server = Server::default();
        if carried_out {
            server.answer_lost = vec![description];
        } else {
            server.unanswered = vec![description];
        }
        let err = drive(&mut server, SetupOptions::new(), None).unwrap_err();
        assert!(
            server
                .log
                .iter()
                .any(|l| l == "DELETE /room_keys/version/1"),
            "{:#?}",
            server.log
        );
        assert!(server.versions.is_empty());
        let rolled = err.rolled_back().expect("rolled back");
        assert!(rolled.not_deleted.is_none(), "{err:?}");
        // (The account read at the start reads it, finding none.)
        assert!(
            !server
                .log
                .iter()
                .any(|l| l.contains("PUT account_data m.megolm_backup.v1"))
        );
    }
}

/// The request creating the new version gets no answer: the flow reads the current
/// version, and deletes it only when it is the one just made (its key is the new one),
/// never the old one.
#[test]
fn a_version_created_without_an_answer_is_found_and_deleted_and_the_old_one_kept() {
    // Made, answer lost: found by its key and deleted.
    let (mut server, old_key) = set_up_with_sessions(3);
    server.answer_lost = vec!["POST /room_keys/version".into()];
    let err = drive(&mut server, SetupOptions::new().reset(Some(&old_key)), None).unwrap_err();
    assert_eq!(server.versions.keys().collect::<Vec<_>>(), [&1]);
    assert!(
        server
            .log
            .iter()
            .any(|l| l == "DELETE /room_keys/version/2")
    );
    assert!(opens_the_current_backup(&server, &old_key));
    let rolled = err.rolled_back().expect("rolled back");
    assert_eq!((rolled.version.as_str(), &rolled.not_deleted), ("2", &None));

    // Never made: the current version is the old one, which stays.
    let (mut server, old_key) = set_up_with_sessions(3);
    server.unanswered = vec!["POST /room_keys/version".into()];
    let err = drive(&mut server, SetupOptions::new().reset(Some(&old_key)), None).unwrap_err();
    assert!(
        !server.log.iter().any(|l| l.starts_with("DELETE")),
        "{:#?}",
        server.log
    );
    assert_eq!(server.versions.keys().collect::<Vec<_>>(), [&1]);
    assert!(err.rolled_back().is_none(), "{err:?}");
    assert!(matches!(
        no_answer_source(&err),
        flows::FlowError::NoAnswer { .. }
    ));
}

/// Once the backup key's write was sent, no answer leaves the new version (the key may
/// be stored); a delete that gets no answer either is said to have failed.
#[test]
fn no_answer_after_the_backup_key_was_sent_keeps_the_version_and_a_lost_delete_is_named() {
    let mut server = Server {
        unanswered: vec!["PUT account_data m.megolm_backup.v1".into()],
        ..Server::default()
    };
    let err = drive(&mut server, SetupOptions::new(), None).unwrap_err();
    assert!(err.rolled_back().is_none(), "{err:?}");
    assert!(!server.log.iter().any(|l| l.starts_with("DELETE")));
    assert!(server.versions.contains_key(&1));

    let (mut server, old_key) = set_up_with_sessions(3);
    server.unanswered = vec![
        "PUT /room_keys/keys?version=2".into(),
        "DELETE /room_keys/version/2".into(),
    ];
    let err = drive(&mut server, SetupOptions::new().reset(Some(&old_key)), None).unwrap_err();
    let rolled = err.rolled_back().expect("a roll-back was tried");
    assert!(
        matches!(&rolled.not_deleted, Some(flows::FlowError::NoAnswer { request, .. })
            if request == "DELETE /room_keys/version/2"),
        "{err:?}"
    );
    assert!(err.to_string().contains("delete backup version 2"), "{err}");
}

/// A 5xx answer to the request creating the version (a gateway's) is looked into too:
/// the version made all the same is deleted.
#[test]
fn a_gateway_error_to_the_version_creation_still_finds_the_version_made() {
    let (mut server, old_key) = set_up_with_sessions(2);
    server.answer_lost = vec!["POST /room_keys/version".into()];
    let mut flow = SetupFlow::new(USER, SetupOptions::new().reset(Some(&old_key)));
    let mut sent_delete = false;
    loop {
        match flow.next_step() {
            Ok(SetupStep::Send(r)) => {
                let answer = server.handle(&r);
                sent_delete |= r.method == Method::Delete;
                if server.no_answer(&answer) {
                    // The server made the version; the gateway answered 504.
                    flow.receive(Response::new(504, json!({}))).unwrap();
                } else {
                    flow.receive(answer).unwrap();
                }
            }
            Ok(SetupStep::Event(_)) => {}
            Ok(other) => panic!("{other:?}"),
            Err(e) => {
                assert_eq!(e.rolled_back().map(|r| r.version.as_str()), Some("2"));
                break;
            }
        }
    }
    assert!(sent_delete);
    assert_eq!(server.versions.keys().collect::<Vec<_>>(), [&1]);
}

/// Another client replaced the backup (version 2, a new key) without updating secret
/// storage, whose backup key still opens only version 1: a reset with the old Security
/// Key would write over the only copy of version 1's key, so it is refused before
/// anything is written; choosing to discard that key lets it go on.
#[test]
fn a_reset_that_would_overwrite_a_stale_stored_backup_key_is_refused() {
    let (mut server, old_key) = set_up_with_sessions(4);
    let new_key = BackupDecryptionKey::from_bytes(&[9; 32]);
    let version = BackupVersion::new(new_key.public_key());
    server.versions.insert(
        2,
        (
            serde_json::to_value(&version).unwrap(),
            KeysBackup::default(),
        ),
    );
    let stored_public = {
        let info = &server.versions[&1].0;
        info["auth_data"]["public_key"].as_str().unwrap().to_owned()
    };
    let account_data_before = server.account_data.clone();

    let err = drive(&mut server, SetupOptions::new().reset(Some(&old_key)), None).unwrap_err();
    match &err {
        SetupFlowError::Refused(flows::PlanError::StoredBackupKeyStale {
            version,
            stored,
            current,
            opens,
            ..
        }) => {
            assert_eq!(version, "2");
            assert_eq!(opens.as_deref(), Some("1"));
            assert_eq!(stored, &stored_public);
            assert_eq!(current, &new_key.public_key().to_base64());
        }
        other => panic!("not refused for the stale key: {other:?}"),
    }
    assert!(writes(&server.log).is_empty(), "{:#?}", server.log);
    assert!(server.log.iter().any(|l| l == "GET /room_keys/version/1"));
    assert_eq!(server.account_data, account_data_before);
    refusal_says(
        &err,
        &[
            "does not open the current backup version 2",
            "it opens backup version 1, still on the server",
            "only copy",
            "Nothing was changed",
            "migration",
        ],
    );

    // Chosen: the reset goes on and says what it wrote over.
    let (outcome, events) = reset_discarding(&mut server, &old_key);
    assert_eq!(outcome.version, "3");
    assert!(
        events.iter().any(|e| matches!(e, SetupEvent::Note(n)
            if n.contains(&stored_public) && n.contains("written over"))),
        "{events:#?}"
    );
}

/// The older version the stale key opened was deleted: the refusal stands, naming none.
#[test]
fn a_stale_stored_key_whose_version_is_gone_is_still_refused_naming_no_version() {
    let (mut server, old_key) = set_up_with_sessions(2);
    let new_key = BackupDecryptionKey::from_bytes(&[5; 32]);
    let version = BackupVersion::new(new_key.public_key());
    server.versions.insert(
        2,
        (
            serde_json::to_value(&version).unwrap(),
            KeysBackup::default(),
        ),
    );
    server.versions.remove(&1);
    let err = drive(&mut server, SetupOptions::new().reset(Some(&old_key)), None).unwrap_err();
    assert!(
        matches!(
            &err,
            SetupFlowError::Refused(flows::PlanError::StoredBackupKeyStale { opens: None, .. })
        ),
        "{err:?}"
    );
    assert!(!err.to_string().contains("still on the server"), "{err}");
    assert!(writes(&server.log).is_empty(), "{:#?}", server.log);
}

/// Review: the stale-key refusal fails open when the stored backup key cannot be read
/// with the given key. Here `m.megolm_backup.v1` — the only copy of version 1's key —
/// is encrypted under a second secret-storage key (`OLDKEY`, as left by a client that
/// re-keyed secret storage without re-encrypting the backup key), not the default one
/// the user types. A reset with the default key must not write over it unasked.
#[test]
fn a_reset_does_not_write_over_a_stored_backup_key_it_cannot_read() {
    let (mut server, old_key) = set_up_with_sessions(4);
    move_stored_backup_key_to_oldkey(&mut server, true);
    let stored_before = server.account_data["m.megolm_backup.v1"].clone();

    let result = drive(&mut server, SetupOptions::new().reset(Some(&old_key)), None);
    assert_eq!(
        server.account_data["m.megolm_backup.v1"], stored_before,
        "the only stored copy of version 1's key was written over: {result:?}"
    );
}

/// Review: the id a `POST /room_keys/version` answer gives is trusted as a new version
/// even when it is the old version's (a proxy replaying a cached answer, a server that
/// reuses ids). The carry-over then uploads into the old version itself and the
/// "old version" delete removes it — the only version, with every session. A created
/// version named like the version read at the start must stop the setup, deleting
/// nothing.
#[test]
fn a_creation_answered_with_the_old_versions_id_deletes_nothing() {
    let (mut server, old_key) = set_up_with_sessions(4);
    let result = drive_answering_creation(
        &mut server,
        SetupOptions::new().reset(Some(&old_key)),
        &Response::ok(json!({"version": "1"})),
        false,
    );
    assert!(
        !server
            .log
            .iter()
            .any(|l| l == "DELETE /room_keys/version/1"),
        "the version holding the sessions was deleted ({result:?}): {:#?}",
        server.log
    );
    assert_eq!(server.versions.len(), 1);
}

/// Review: a `POST /room_keys/version` carried out whose `200` answer lacks `version`
/// (a broken proxy) stops the setup without looking for the version it made, unlike a
/// 5xx or no answer: the new version, which no key opens, stays the current one.
#[test]
fn a_creation_answered_without_an_id_is_looked_for_and_deleted() {
    let (mut server, old_key) = set_up_with_sessions(4);
    let result = drive_answering_creation(
        &mut server,
        SetupOptions::new().reset(Some(&old_key)),
        &Response::ok(json!({})),
        true,
    );
    assert!(result.is_err());
    assert_eq!(
        server.versions.keys().collect::<Vec<_>>(),
        [&1],
        "the version made with no key stored stays ({result:?}): {:#?}",
        server.log
    );
}

/// Drives a setup against `server`, answering `POST /room_keys/version` with `answer`
/// (after carrying it out when `carry_out`); the flow's first error, if any.
fn drive_answering_creation(
    server: &mut Server,
    options: SetupOptions<'_>,
    answer: &Response,
    carry_out: bool,
) -> Result<(), SetupFlowError> {
    let mut flow = SetupFlow::new(USER, options);
    for _ in 0..500 {
        match flow.next_step()? {
            SetupStep::Send(r)
                if r.method == Method::Post && r.path.ends_with("/room_keys/version") =>
            {
                if carry_out {
                    server.handle(&r);
                }
                server.log.push(format!("(answered {})", answer.body));
                flow.receive(answer.clone())?;
            }
            SetupStep::Send(r) => {
                let answer = server.handle(&r);
                flow.receive(answer)?;
            }
            SetupStep::SendForBytes(r) => {
                let answer = server.handle(&r);
                flow.receive_bytes(answer.status, &serde_json::to_vec(&answer.body).unwrap())?;
            }
            SetupStep::SaveKey => flow.key_saved()?,
            SetupStep::Event(_) => {}
            SetupStep::Done => return Ok(()),
            other => panic!("{other:?}"),
        }
    }
    panic!("the setup did not end")
}

/// The stored backup key is encrypted under another secret-storage key (`OLDKEY`): the
/// refusal names that key and what the user can do, writes nothing, and choosing to
/// discard the stored key lets the reset go on, saying what it wrote over.
#[test]
fn a_stored_backup_key_under_another_key_is_named_and_discarding_it_goes_on() {
    let (mut server, old_key) = set_up_with_sessions(3);
    let default_id = move_stored_backup_key_to_oldkey(&mut server, false);
    let before = server.account_data.clone();

    let err = drive(&mut server, SetupOptions::new().reset(Some(&old_key)), None).unwrap_err();
    match &err {
        SetupFlowError::Refused(flows::PlanError::StoredBackupKeyUnreadable {
            under,
            reason: Some(ssss::AccountDataError::NotForKey { key_id, .. }),
            ..
        }) => {
            assert_eq!(under, &["OLDKEY".to_owned()]);
            assert_eq!(key_id, &default_id);
        }
        other => panic!("not refused for the unreadable key: {other:?}"),
    }
    assert!(writes(&server.log).is_empty(), "{:#?}", server.log);
    assert_eq!(server.account_data, before);
    refusal_says(
        &err,
        &[
            "secret-storage key OLDKEY",
            "only copy",
            "Nothing was changed",
        ],
    );

    let (outcome, events) = reset_discarding(&mut server, &old_key);
    // Version 1's key was not at hand: its sessions stay in it, on the server.
    assert_eq!(outcome.version, "2");
    assert_eq!(outcome.carried_over, 0);
    assert_eq!(outcome.old_version_kept.as_deref(), Some("1"));
    assert!(server.versions.contains_key(&1));
    assert!(
        events.iter().any(|e| matches!(e, SetupEvent::Note(n)
            if n.contains("cannot read") && n.contains("written over"))),
        "{events:#?}"
    );
}

/// A reset given the backup's own key (its recovery key), not the Security Key, on an
/// account whose secret storage stores a backup key: the stored key cannot be read, so
/// not compared with the current version's, and is not written over unasked.
#[test]
fn a_reset_given_the_backups_own_key_does_not_write_over_secret_storage_unasked() {
    let (mut server, security_key) = set_up_with_sessions(2);
    let stored = open_secret(&server, &security_key, "m.megolm_backup.v1");
    let backup_key = BackupDecryptionKey::from_base64(&stored).unwrap();
    let recovery_key = backup_key.to_recovery_key().to_base58_grouped().to_string();
    let before = server.account_data.clone();

    let err = drive(
        &mut server,
        SetupOptions::new().reset(Some(&recovery_key)),
        None,
    )
    .unwrap_err();
    assert!(
        matches!(
            &err,
            SetupFlowError::Refused(flows::PlanError::StoredBackupKeyUnreadable {
                reason: None,
                ..
            })
        ),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .contains("cannot be read with the key given"),
        "{err}"
    );
    assert_eq!(server.account_data, before);
    assert!(writes(&server.log).is_empty(), "{:#?}", server.log);
}

/// The creation gets no answer and the read of the current version that would find it
/// fails too (a 502, then no answer): nothing is deleted, and the error says a version
/// no key opens may exist, naming the one the account had.
#[test]
fn a_creation_whose_fate_cannot_be_learnt_says_so_and_deletes_nothing() {
    for lookup_answered in [true, false] {
        let (mut server, old_key) = set_up_with_sessions(2);
        let mut flow = SetupFlow::new(USER, SetupOptions::new().reset(Some(&old_key)));
        let mut created = false;
        let err = loop {
            match flow.next_step() {
                Ok(SetupStep::Send(r)) => {
                    let creating = r.method == Method::Post && r.path.ends_with("/version");
                    let looking = created && r.method == Method::Get;
                    let answer = server.handle(&r);
                    created |= creating;
                    if creating || (looking && !lookup_answered) {
                        flow.no_answer("connection reset by peer").unwrap();
                    } else if looking {
                        flow.receive(Response::new(502, json!({}))).unwrap();
                    } else {
                        flow.receive(answer).unwrap();
                    }
                }
                Ok(SetupStep::SendForBytes(r)) => panic!("{r:?}"),
                Ok(SetupStep::Event(_)) => {}
                Ok(other) => panic!("{other:?}"),
                Err(e) => break e,
            }
        };
        assert!(
            !server.log.iter().any(|l| l.starts_with("DELETE")),
            "{:#?}",
            server.log
        );
        assert_eq!(server.versions.keys().collect::<Vec<_>>(), [&1, &2]);
        let unknown = err.version_unknown().expect("the unknown version is said");
        assert_eq!(unknown.before.as_deref(), Some("1"), "{err:?}");
        let text = err.to_string();
        for said in ["may have been created", "is not version 1", "delete it"] {
            assert!(text.contains(said), "{said}: {text}");
        }
    }
}

/// Review3: the check against the old version's id compares strings, but homeservers
/// read version ids as numbers (Synapse: `int(version)`), so `"01"` names version 1 as
/// surely as `"1"` does. A `POST /room_keys/version` answered `{"version": "01"}` (the
/// replayed or reused answer the review2 fix guards against, spelled differently) makes
/// the carry-over upload into version 1 itself — writing the old sessions over with
/// copies encrypted to the new key — and then `DELETE /room_keys/version/1` removes the
/// only version, with every session. What should happen: the created version is checked
/// to be a new one (e.g. `GET /room_keys/version/{id}` answers with the new public key
/// and an id the old version's read did not give, compared as the server compares ids),
/// or the setup stops and looks for the version, deleting nothing that holds sessions.
#[test]
fn a_creation_answered_with_the_old_id_spelled_differently_deletes_nothing() {
    let (mut server, old_key) = set_up_with_sessions(4);
    let before = serde_json::to_value(&server.versions[&1].1).unwrap();
    let result = drive_answering_creation(
        &mut server,
        SetupOptions::new().reset(Some(&old_key)),
        &Response::ok(json!({"version": "01"})),
        false,
    );
    assert!(
        !server
            .log
            .iter()
            .any(|l| l == "DELETE /room_keys/version/1"),
        "the version holding the sessions was deleted ({result:?}): {:#?}",
        server.log
    );
    assert_eq!(
        serde_json::to_value(&server.versions[&1].1).unwrap(),
        before,
        "the old version's sessions were written over: {:#?}",
        server.log
    );
}

/// Review3: the creation answer is checked only against the *current* version's id. An
/// account keeps older versions (here version 1, left on the server by an earlier reset
/// that had not its key, holding sessions; version 2 is current). A `POST
/// /room_keys/version` answered with `{"version": "1"}` — a proxy replaying the cached
/// answer of the request that made version 1, the case the review2 fix names — is taken
/// as the new version: the carry-over's upload into it is refused (as Synapse refuses
/// uploads into a version that is not the current one), and the roll-back then sends
/// `DELETE /room_keys/version/1`, deleting the older version and its sessions, while the
/// version really made (3, no key stored) stays the current one. What should happen:
/// before uploading into or rolling back a created version, the flow checks that it is
/// the one made with the new key (`GET /room_keys/version/{id}` answers the new public
/// key); an id naming any existing version with another key is looked for as an
/// unknown creation, and nothing else is deleted.
#[test]
fn a_creation_answered_with_an_older_versions_id_never_deletes_that_version() {
    let (mut server, security_key) = set_up_with_sessions(4);
    let current = server.versions.remove(&1).unwrap();
    server.versions.insert(2, current);
    let older_key = BackupDecryptionKey::from_bytes(&[3; 32]);
    server.versions.insert(
        1,
        (
            serde_json::to_value(BackupVersion::new(older_key.public_key())).unwrap(),
            backup_cipher::fixtures::synthetic_backup(older_key.public_key(), 6, 2),
        ),
    );
    server.fail = Some("PUT /room_keys/keys?version=1".into());
    let result = drive_answering_creation(
        &mut server,
        SetupOptions::new().reset(Some(&security_key)),
        &Response::ok(json!({"version": "1"})),
        true,
    );
    assert!(
        !server
            .log
            .iter()
            .any(|l| l == "DELETE /room_keys/version/1"),
        "the older version holding sessions was deleted ({result:?}): {:#?}",
        server.log
    );
    assert_eq!(server.versions[&1].1.session_count(), 6);
}

/// Review3: the old version is deleted once the new one holds as many sessions as the
/// download of the old one brought — never compared with how many the old version holds
/// (`count`, in the `GET /room_keys/version` answer read at the start). A server or proxy
/// whose `GET /room_keys/keys` answer lacks rooms (here `{"rooms": {}}`: a cached answer
/// from before the sessions were backed up, a server that caps the answer's size) makes
/// the carry-over copy nothing, the count check pass (0 ≥ 0), and the setup delete the
/// old version with all 9 of its sessions. What should happen: when the sessions
/// downloaded (copied plus unreadable) are fewer than the old version's `count`, the old
/// version is kept (as for unreadable entries: `OldVersionKeptUncopied`), or the setup
/// stops before deleting it.
#[test]
fn a_download_that_brings_fewer_sessions_than_the_old_count_keeps_the_old_version() {
    let (mut server, old_key) = set_up_with_sessions(9);
    server.raw_keys = Some(r#"{"rooms": {}}"#.into());
    let result = drive(&mut server, SetupOptions::new().reset(Some(&old_key)), None);
    assert!(
        server.versions.contains_key(&1),
        "the old version and its 9 sessions were deleted ({:?}): {:#?}",
        result.map(|(o, _)| (o.carried_over, o.old_version_deleted)),
        server.log
    );
}

/// Review3: the account read fetches `m.megolm_backup.v1` only when
/// `m.secret_storage.default_key` exists. A setup of this flow stopped before the
/// default-key pointer (its own crash-safe order writes the pointer last; the error hands
/// over the Security Key and says "set up again with a reset") leaves the stored backup
/// key — the only copy of version 1's key, under the key handed over — without a pointer.
/// The next run does not read it: the reset with that very Security Key is refused as "a
/// key from before the backup was reset … secret storage is not set up", the situation
/// is named "backup version 1, whose key never left them", and replacing the
/// cross-signing keys, as that refusal offers, writes `m.megolm_backup.v1` over unread:
/// version 1 stays on the server and no key opens it any more. What should happen: the
/// account read fetches `m.megolm_backup.v1` (and the descriptions of the keys its
/// `encrypted` names) whether or not the pointer exists; the stale/unreadable stored-key
/// refusal applies to it (unless `discard_stale_backup_key`), and a reset given the key
/// it is encrypted under reads it and carries version 1 over.
#[test]
fn a_stored_backup_key_without_a_default_key_pointer_is_not_written_over_unread() {
    // Version 1's key is stored, readable with the key handed over, and nowhere else.
    let (mut server, _) = stopped_before_the_pointer();
    let stored_before = server.account_data["m.megolm_backup.v1"].clone();

    let result = drive(
        &mut server,
        SetupOptions::new().replace_cross_signing(true),
        Some("hunter22"),
    );
    assert_eq!(
        server.account_data["m.megolm_backup.v1"],
        stored_before,
        "the only copy of version 1's key (5 sessions) was written over unread ({:?}): {:#?}",
        result.map(|(o, _)| (o.version, o.old_version_kept)),
        server.log
    );
}

/// Review3: after a creation answered with a gateway's 504, the one read of the current
/// version is trusted as final. A server (or a cache in front of `GET
/// /room_keys/version`, a read replica that lags) that still answers with the old
/// version 1 makes the flow conclude that no version was made: the error neither rolls
/// back nor says that a version may exist (`version_unknown` is `None`), while version 2 —
/// made with the new key, which is stored nowhere — is the current version: no key opens
/// it, and other devices' uploads to version 1 are refused from now on. What should
/// happen: an answer that is still the version read at the start cannot tell "not made"
/// from "not seen yet", so the error says a version may have been created
/// ([`SetupFlowError::version_unknown`], naming version 1 as the one to keep), or the
/// flow reads again (e.g. `GET /room_keys/version/{id}` for the ids after the old one)
/// before concluding.
#[test]
fn a_lookup_answered_with_the_old_version_still_says_a_version_may_exist() {
    let (mut server, old_key) = set_up_with_sessions(2);
    let mut flow = SetupFlow::new(USER, SetupOptions::new().reset(Some(&old_key)));
    let mut created = false;
    let err = loop {
        match flow.next_step() {
            Ok(SetupStep::Send(r)) => {
                let creating = r.method == Method::Post && r.path.ends_with("/room_keys/version");
                let looking = created && r.method == Method::Get;
                let answer = server.handle(&r);
                if creating {
                    created = true;
                    flow.receive(Response::new(504, json!({}))).unwrap();
                } else if looking {
                    // A stale answer: the version read at the start.
                    flow.receive(server.version_answer(1)).unwrap();
                } else {
                    flow.receive(answer).unwrap();
                }
            }
            Ok(SetupStep::Event(_)) => {}
            Ok(other) => panic!("{other:?}"),
            Err(e) => break e,
        }
    };
    let version_2_deleted = !server.versions.contains_key(&2);
    assert!(
        version_2_deleted || err.version_unknown().is_some(),
        "version 2, which no key opens, stays current and the error does not say so: {err}"
    );
}

/// Review3: the stored-key check reads only the copy of `m.megolm_backup.v1` under the
/// key given, and the new secret storage replaces the whole event. When the event holds
/// copies under two secret-storage keys that differ — under the default key the current
/// version 2's key (as `doctor`'s repair stores it, `SecretStore::set_backup_key` keeping
/// the other copies), under `OLDKEY` the key of version 1, still on the server with its
/// 4 sessions (the state the review2 test builds, then repaired) — the default copy opens
/// the current version, so the reset goes on and writes over the `OLDKEY` copy: the only
/// copy of version 1's key. What should happen: copies under keys other than the one
/// given cannot be compared, so they are treated as the unreadable case
/// ([`PlanError::StoredBackupKeyUnreadable`] naming those keys) unless
/// `discard_stale_backup_key`, or the new event keeps them.
#[test]
fn a_reset_does_not_write_over_a_stored_copy_under_another_key_unread() {
    let (mut server, security_key) = set_up_with_sessions(4);
    // Version 1's key moves under OLDKEY (same key material, another id).
    let default_id = move_stored_backup_key_to_oldkey(&mut server, true);
    // Version 2 (current), its key stored under the default key beside that copy.
    let current_key = BackupDecryptionKey::from_bytes(&[4; 32]);
    server.versions.insert(
        2,
        (
            serde_json::to_value(BackupVersion::new(current_key.public_key())).unwrap(),
            backup_cipher::fixtures::synthetic_backup(current_key.public_key(), 3, 1),
        ),
    );
    let mut store = ssss::SecretStore::from_json(&json!(server.account_data)).unwrap();
    let unlocked = store.unlock_key(&default_id, &security_key).unwrap();
    let (_, content) = store.set_backup_key(&unlocked.key, &current_key).unwrap();
    assert!(content["encrypted"].get("OLDKEY").is_some());
    server
        .account_data
        .insert("m.megolm_backup.v1".into(), content);
    let old_copy = server.account_data["m.megolm_backup.v1"]["encrypted"]["OLDKEY"].clone();

    let result = drive(
        &mut server,
        SetupOptions::new().reset(Some(&security_key)),
        None,
    );
    assert_eq!(server.versions[&1].1.session_count(), 4);
    assert_eq!(
        server.account_data["m.megolm_backup.v1"]["encrypted"]
            .get("OLDKEY")
            .cloned(),
        Some(old_copy),
        "the only copy of version 1's key (under OLDKEY) was written over ({:?})",
        result.map(|(o, _)| o.version)
    );
}

/// Review3 (low): an `m.megolm_backup.v1` that holds no key at all — `{}`, as clients
/// write to remove a secret (account data cannot be deleted), or an `encrypted` that is
/// not an object — is refused as `StoredBackupKeyUnreadable`, whose text claims "the old
/// secret storage holds a backup key (m.megolm_backup.v1, encrypted under secret-storage
/// key )" with no key named, and tells the user to reset with the Security Key "of that
/// secret-storage key". Nothing can be lost by writing over an event with no encrypted
/// copy in it. What should happen: an event with no entry in `encrypted` is treated as
/// no stored key (the reset goes on, the old version kept unread as without a stored
/// key); if it is refused at all, the text says the event holds no readable copy rather
/// than naming an empty list of keys.
#[test]
fn an_emptied_stored_backup_key_event_does_not_block_the_reset() {
    let (mut server, security_key) = set_up_with_sessions(2);
    server
        .account_data
        .insert("m.megolm_backup.v1".into(), json!({}));
    let result = drive(
        &mut server,
        SetupOptions::new().reset(Some(&security_key)),
        None,
    );
    assert!(
        result.is_ok(),
        "{}",
        result.err().map(|e| e.to_string()).unwrap_or_default()
    );
}

/// A setup stopped before its last write (the default-key pointer) is named as such, is
/// refused without a reset like a set-up account, and a reset given the Security Key it
/// handed over reads the stored backup key under that key, carries version 1's sessions
/// over and keeps the cross-signing keys.
#[test]
fn a_setup_stopped_before_the_pointer_is_named_and_a_reset_with_its_key_carries_it_over() {
    let (mut server, saved) = stopped_before_the_pointer();
    let master_before = server.master_key.clone();

    let err = drive(&mut server, SetupOptions::new(), None).unwrap_err();
    assert!(
        matches!(
            &err,
            SetupFlowError::Refused(flows::PlanError::AlreadySetUp { version, .. })
                if version == "1"
        ),
        "{err:?}"
    );

    server.log.clear();
    let (outcome, events) =
        drive(&mut server, SetupOptions::new().reset(Some(&saved)), None).unwrap();
    assert!(
        matches!(
            &outcome.situation,
            AccountSituation::SetupInterrupted { version: Some(v), .. } if v == "1"
        ),
        "{:?}",
        outcome.situation
    );
    assert!(
        outcome
            .situation
            .to_string()
            .contains("stopped before its last write"),
        "{}",
        outcome.situation
    );
    assert_eq!(outcome.carried_over, 5);
    assert_eq!(outcome.old_version_deleted.as_deref(), Some("1"));
    assert!(!outcome.new_cross_signing);
    assert_eq!(server.master_key, master_before);
    assert!(opens_the_current_backup(&server, &outcome.security_key));
    assert!(
        events
            .iter()
            .any(|e| matches!(e, SetupEvent::Note(n) if n.contains("old key"))),
        "{events:#?}"
    );
}

/// Moves the stored backup key's copy from the default secret-storage key to `OLDKEY`
/// (with a description of `OLDKEY` that the default key's material opens, when
/// `describe`), as a client that re-keyed secret storage without re-encrypting the
/// backup key leaves it. The default key's id.
fn move_stored_backup_key_to_oldkey(server: &mut Server, describe: bool) -> String {
    let default_id = server.account_data["m.secret_storage.default_key"]["key"]
        .as_str()
        .unwrap()
        .to_owned();
    if describe {
        let description =
            server.account_data[&format!("m.secret_storage.key.{default_id}")].clone();
        server
            .account_data
            .insert("m.secret_storage.key.OLDKEY".into(), description);
    }
    let backup = server.account_data.get_mut("m.megolm_backup.v1").unwrap();
    let encrypted = backup["encrypted"].as_object_mut().unwrap();
    let entry = encrypted.remove(&default_id).unwrap();
    encrypted.insert("OLDKEY".into(), entry);
    default_id
}

/// A refusal's text says each of `said`, and names no command-line option.
fn refusal_says(err: &SetupFlowError, said: &[&str]) {
    let text = err.to_string();
    for said in said {
        assert!(text.contains(said), "{said}: {text}");
    }
    assert!(!text.contains("--"), "{text}");
}

/// A reset with `old_key` that chooses to discard a stale or unreadable stored backup
/// key, on a cleared log.
fn reset_discarding(server: &mut Server, old_key: &str) -> (SetupOutcome, Vec<SetupEvent>) {
    server.log.clear();
    drive(
        server,
        SetupOptions::new()
            .reset(Some(old_key))
            .discard_stale_backup_key(true),
        None,
    )
    .unwrap()
}

/// A fresh setup stopped before its last write (the default-key pointer is refused),
/// whose version 1 then holds 5 sessions: the server, on a cleared log, and the Security
/// Key the setup handed over (the only key that reads version 1's stored key).
fn stopped_before_the_pointer() -> (Server, String) {
    let mut server = Server {
        fail: Some("PUT account_data m.secret_storage.default_key".into()),
        ..Server::default()
    };
    let mut saved = None;
    drive_saving(&mut server, SetupOptions::new(), None, &mut saved).unwrap_err();
    let saved = saved.expect("the Security Key was handed over");
    let stored = open_secret(&server, &saved, "m.megolm_backup.v1");
    let public_key = *BackupDecryptionKey::from_base64(&stored)
        .unwrap()
        .public_key();
    server.versions.get_mut(&1).unwrap().1 =
        backup_cipher::fixtures::synthetic_backup(&public_key, 5, 2);
    server.fail = None;
    server.log.clear();
    (server, saved)
}

/// Review4: a *reset* stopped before its last write (the default-key pointer) leaves the
/// pointer naming the old secret-storage key, while `m.megolm_backup.v1` and the
/// cross-signing secrets were already rewritten under the new key only (the new secret
/// storage replaces each event whole). The error hands the new Security Key over and says
/// "set up again with a reset". But `unlock_old` tries the keys the stored backup key is
/// under only when there is no pointer: with a pointer it tries the default (old) key
/// alone, so the reset given the Security Key it handed over is refused as a wrong old
/// key (`PlanError::OldKey`); given the old key instead, it is refused as
/// `StoredBackupKeyUnreadable`, whose way on (`discard_stale_backup_key`, and replacing
/// the cross-signing keys, since the old key opens none any more) writes over the only
/// copy of version 2's key — version 2 holds every carried-over session, and version 1's
/// key was stored nowhere else either. What should happen: when the default key does not
/// read `m.megolm_backup.v1`, the key given is also tried against the keys the stored
/// secrets are encrypted under (as without a pointer), so the reset resumes with the key
/// it handed over and carries version 2 over.
#[test]
fn a_reset_stopped_before_the_pointer_moves_resumes_with_the_key_it_handed_over() {
    let (mut server, old_key) = set_up_with_sessions(6);
    server.fail = Some("PUT account_data m.secret_storage.default_key".into());
    let mut saved = None;
    drive_saving(
        &mut server,
        SetupOptions::new().reset(Some(&old_key)),
        None,
        &mut saved,
    )
    .unwrap_err();
    let new_key = saved.expect("the Security Key was handed over");
    // Version 2 holds the 6 sessions; its key is stored under the new key only, while the
    // pointer still names the old key.
    assert_eq!(server.versions[&2].1.session_count(), 6);
    open_secret(&server, &new_key, "m.megolm_backup.v1");
    assert_ne!(
        server.account_data["m.secret_storage.default_key"]["key"],
        json!(null)
    );
    server.fail = None;
    server.log.clear();

    let result = drive(&mut server, SetupOptions::new().reset(Some(&new_key)), None);
    let (outcome, _) = result.unwrap_or_else(|e| {
        panic!("the reset with the Security Key the stopped reset handed over is refused: {e}")
    });
    assert_eq!(outcome.carried_over, 6);
    assert!(opens_the_current_backup(&server, &outcome.security_key));
}

/// Review4: the review3 guard (a download bringing fewer sessions than the old version's
/// `count` keeps the old version) reads `count` as 0 when the `GET /room_keys/version`
/// answer lacks it (`held = … .unwrap_or(0)`). An answer without `count` (a proxy or a
/// cache that strips or never had it, a server that omits the field) plus a download
/// that brings nothing (`{"rooms": {}}`, the review3 case) makes the carry-over copy 0
/// sessions, `missing` 0, and the setup delete version 1 with its 9 sessions. What should
/// happen: with no `count` the flow cannot tell a cut download from an empty backup, so
/// it keeps the old version (or reads `GET /room_keys/version/{old}` again for its count
/// and refuses to delete without one).
#[test]
fn an_old_version_answered_without_count_is_not_deleted_after_an_empty_download() {
    let (mut server, old_key) = set_up_with_sessions(9);
    server.raw_keys = Some(r#"{"rooms": {}}"#.into());
    let mut flow = SetupFlow::new(USER, SetupOptions::new().reset(Some(&old_key)));
    let result = loop {
        match flow.next_step() {
            Ok(SetupStep::Send(r)) => {
                let version_read = r.method == Method::Get && r.path.contains("/room_keys/version");
                let mut answer = server.handle(&r);
                if version_read && let Some(body) = answer.body.as_object_mut() {
                    body.remove("count");
                }
                flow.receive(answer).unwrap();
            }
            Ok(SetupStep::SendForBytes(r)) => {
                let answer = server.handle(&r);
                let bytes = match &server.raw_keys {
                    Some(raw) if answer.status == 200 => raw.clone().into_bytes(),
                    _ => serde_json::to_vec(&answer.body).unwrap(),
                };
                flow.receive_bytes(answer.status, &bytes).unwrap();
            }
            Ok(SetupStep::SaveKey) => flow.key_saved().unwrap(),
            Ok(SetupStep::Event(_)) => {}
            Ok(SetupStep::Done) => break flow.finish().map(|o| o.old_version_deleted),
            Ok(other) => panic!("{other:?}"),
            Err(e) => break Err(e),
        }
    };
    assert!(
        server.versions.contains_key(&1),
        "version 1 and its 9 sessions were deleted after a download that brought none ({:?})",
        result.map_err(|e| e.to_string())
    );
}

/// Review4: `AccountState::situation` names any account with a secret stored under some
/// key and no default-key pointer `SetupInterrupted` ("a setup that stopped before its
/// last write … a reset with the Security Key that setup gave carries the sessions and
/// the cross-signing keys over"), and `decide` refuses it as `AlreadySetUp` ("secure
/// backup is already set up …"), a refusal `reset` alone lifts. Element X leaves that
/// state on purpose, with secrets that belong to nothing current:
/// - "Reset your identity" (matrix-rust-sdk `Recovery::reset_identity`, current): deletes
///   the backup, writes `m.secret_storage.default_key` as `{}`, replaces the cross-signing
///   keys and makes a new backup version whose key stays on the device — the secrets
///   under the old key (the old identity's seeds, the deleted version's key) are left.
///   That is `KeysOnOtherDevices` (new master key published, version 2 whose key never
///   left the device), whose refusal `reset` does not lift; it is called set up instead.
/// - "Turn off recovery" (`Recovery::disable` before it emptied the secrets, and
///   matrix-js-sdk's `setDefaultKeyId(null)`): backup deleted, pointer `{}`,
///   `m.org.matrix.custom.backup_disabled`, secrets left; the user turned recovery off and
///   is told it is set up.
///
/// What should happen: a pointer event that exists but names no key (`{}`, written by a
/// client that turned secret storage off; this flow never writes one) is not "a setup that
/// stopped before its last write"; the identity-reset state is refused as
/// `KeysOnOtherDevices`, and neither is refused as already set up.
#[test]
fn secret_storage_turned_off_by_element_x_is_not_a_setup_stopped_before_its_pointer() {
    // Element X's "Reset your identity".
    let (mut server, _old_key) = set_up_with_sessions(3);
    server.versions.clear();
    server
        .account_data
        .insert("m.secret_storage.default_key".into(), json!({}));
    let mut master = server.master_key.clone().unwrap();
    master["keys"] = json!({"ed25519:TmV3TWFzdGVy": "TmV3TWFzdGVy"});
    server.master_key = Some(master);
    let device_key = BackupDecryptionKey::from_bytes(&[8; 32]);
    server.versions.insert(
        2,
        (
            serde_json::to_value(BackupVersion::new(device_key.public_key())).unwrap(),
            backup_cipher::fixtures::synthetic_backup(device_key.public_key(), 4, 1),
        ),
    );
    server.log.clear();
    let err = drive(&mut server, SetupOptions::new(), None).unwrap_err();
    assert!(
        matches!(
            &err,
            SetupFlowError::Refused(flows::PlanError::KeysOnOtherDevices { .. })
        ),
        "an account whose identity Element X reset is not refused as KeysOnOtherDevices: {err}"
    );

    // Element X's "Turn off recovery" (before the secrets were emptied).
    let (mut server, _security_key) = set_up_with_sessions(3);
    server.versions.clear();
    server
        .account_data
        .insert("m.secret_storage.default_key".into(), json!({}));
    server.account_data.insert(
        "m.org.matrix.custom.backup_disabled".into(),
        json!({"disabled": true}),
    );
    server.log.clear();
    let err = drive(&mut server, SetupOptions::new(), None).unwrap_err();
    assert!(
        !matches!(
            &err,
            SetupFlowError::Refused(flows::PlanError::AlreadySetUp { .. })
        ),
        "an account whose recovery was turned off is refused as set up: {err}"
    );
}

/// Review4: `SecretStorageFlow` now reads `m.megolm_backup.v1` and the descriptions of the
/// keys it is under without a default-key pointer, and setup names that state
/// `SetupInterrupted` ("as good as set up: the caller has the key it was handed"), but
/// `RecoveryFlow` (the restore path, sharing that read) ends in `recover_backup_key`,
/// which stops at "secret storage is not set up on this account" whenever there is no
/// pointer. After a setup stopped before its pointer, the Security Key it handed over —
/// which opens the stored backup key of the current version 1 — cannot restore that
/// version, and the error says there is no secret storage while setup refuses the same
/// account as already set up under that key. What should happen: with no pointer,
/// `RecoveryFlow` tries the input on the keys the stored backup key is encrypted under
/// (as `unlock_old` does) and recovers version 1's key, or says the pointer is missing
/// rather than that secret storage is not set up.
#[test]
fn recovery_after_a_setup_stopped_before_the_pointer_opens_with_the_key_it_handed_over() {
    use flows::Flow as _;
    let mut server = Server {
        fail: Some("PUT account_data m.secret_storage.default_key".into()),
        ..Server::default()
    };
    let mut saved = None;
    drive_saving(&mut server, SetupOptions::new(), None, &mut saved).unwrap_err();
    let saved = saved.expect("the Security Key was handed over");
    server.fail = None;
    // The key handed over opens the stored backup key of the current version.
    let stored = open_secret(&server, &saved, "m.megolm_backup.v1");
    assert!(!stored.is_empty());

    let mut flow = flows::RecoveryFlow::new(USER, &saved);
    while let Some(request) = flow.next_request() {
        let answer = server.handle(&request);
        flow.receive(answer).unwrap();
    }
    let recovered = flow.finish();
    assert!(
        recovered.is_ok(),
        "the Security Key the stopped setup handed over does not recover version 1: {}",
        recovered.err().map(|e| e.to_string()).unwrap_or_default()
    );
}

/// Everything is written but the read-back finds the stored backup key gone (another
/// client wrote over it meanwhile): the error says the setup could not be verified and
/// carries the new Security Key, which the secrets written are encrypted to.
#[test]
fn a_setup_that_cannot_be_verified_carries_the_new_security_key() {
    let mut server = Server::default();
    let mut flow = SetupFlow::new(USER, SetupOptions::new());
    let mut saved = None;
    let mut enabled = false;
    let err = loop {
        match flow.next_step() {
            Ok(SetupStep::Send(r)) => {
                let answer = server.handle(&r);
                if !enabled
                    && server
                        .log
                        .last()
                        .is_some_and(|l| l == "PUT account_data m.key_backup")
                {
                    enabled = true;
                    server
                        .account_data
                        .insert("m.megolm_backup.v1".into(), json!({"encrypted": {}}));
                }
                flow.receive(answer).unwrap();
            }
            Ok(SetupStep::SaveKey) => {
                saved = Some(flow.security_key().unwrap().to_string());
                flow.key_saved().unwrap();
            }
            Ok(SetupStep::Event(_)) => {}
            Ok(other) => panic!("{other:?}"),
            Err(e) => break e,
        }
    };
    assert!(enabled, "{:#?}", server.log);
    assert!(matches!(err, SetupFlowError::NotVerified { .. }), "{err:?}");
    let saved = saved.unwrap();
    assert_eq!(
        err.security_key().map(|k| k.as_str().to_owned()),
        Some(saved.clone())
    );
    assert!(err.to_string().contains("keep it"), "{err}");
    assert!(!format!("{err:?}").contains(&saved[..9]), "{err:?}");
}

/// Review5: the read-back is there to catch "everything was written, but a fresh read
/// does not unlock with what the user got". It now goes through `recover_backup_key`,
/// which unlocks with `SecretStore::unlock_for`: the default key, else the keys
/// `m.megolm_backup.v1` is encrypted under. So a default-key pointer that never arrived
/// (a write acknowledged and dropped; likewise a reset's pointer still naming the old
/// key) is no longer noticed: the new key opens the secrets through their `encrypted`
/// map, and the setup reports `Verified`. Element, which reads secret storage only
/// through `m.secret_storage.default_key`, sees no secret storage (or the old key), asks
/// to set up recovery again, and its new secret storage writes `m.megolm_backup.v1` over,
/// losing the only copy of the new version's key. Before review4's change the read-back
/// failed here ("secret storage is not set up"). What should happen: the read-back checks
/// that the pointer names the new key (unlocks with the default key only) and fails with
/// `NotVerified` otherwise, handing the Security Key over.
#[test]
fn a_read_back_without_the_new_default_key_pointer_is_not_verified() {
    let mut server = Server {
        dropped: vec!["PUT account_data m.secret_storage.default_key".into()],
        ..Server::default()
    };
    let result = drive(&mut server, SetupOptions::new(), None);
    assert!(
        !server
            .account_data
            .contains_key("m.secret_storage.default_key"),
        "the pointer write was dropped"
    );
    match result {
        Err(SetupFlowError::NotVerified { .. }) => {}
        Ok((_, events)) => panic!(
            "no default-key pointer on the server, yet the setup says it is verified: {:?}",
            events.last()
        ),
        Err(e) => panic!("another error: {e}"),
    }
}
