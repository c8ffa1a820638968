//! [`MigrateFlow`] against an in-memory server that keeps backup versions as Synapse does:
//! an upload goes to the current version only, and a stored entry is replaced only by a
//! better one (verified, lower first message index, fewer forwards).

use std::collections::{BTreeMap, BTreeSet};

use backup_cipher::{
    BackupDecryptionKey, BackupVersion, KeysBackup, RoomKey, encrypt_sessions, restore_entry,
};
use serde_json::{Value, json};

use super::*;
use crate::{Flow, FlowError, Method, Request, Response};

mod moves;
mod plan;
mod tampered;

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

fn is_get_keys_of(r: &Request, version: &str) -> bool {
    r.method == Method::Get && r.path.ends_with(&format!("?version={version}"))
}
