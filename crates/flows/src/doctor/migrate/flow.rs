//! The flow: its steps, the requests they send and the answers that are not keys bodies.

use std::collections::BTreeMap;

use backup_cipher::{BackupDecryptionKey, BackupVersion, KeysBackup, RoomKey, encrypt_sessions};
use serde_json::Value;

use super::{
    MIGRATION_CHUNK, MigrateError, MigrationOutcome, OldVersionFate, SessionRef, Step,
    read::{KEYS, unexpected},
};
use crate::{Flow, FlowError, Request, Response, requests, step::Steps};

#[derive(Debug, Clone, Default)]
pub(super) struct Old {
    pub(super) id: String,
    /// One of the keys given is this version's key.
    pub(super) key_known: bool,
    pub(super) gone: bool,
    pub(super) unreadable: usize,
    /// Its sessions that opened, with their first message index.
    pub(super) sessions: BTreeMap<SessionRef, u32>,
}

/// Moves into the current backup version every session of the older versions (and of
/// the current version's entries encrypted to an older key, the element-meta #2338 case)
/// that the user's keys open, re-encrypted to the current version's public key; reads the
/// current version back; deletes an older version only when every one of its sessions is
/// in the current version and opens with the current key.
///
/// Order, so that a crash at any step leaves a state a new run finishes from:
///
/// 1. `GET /room_keys/keys` of the current version; if some of its entries open with an
///    older key only, `POST /room_keys/version` with the same `auth_data` (the entries
///    cannot be replaced in place: a server keeps the stored entry when the new one is no
///    better); the version it replaces becomes an older version, deleted last.
/// 2. `GET /room_keys/keys` of each older version; what opens and is not in the current
///    version is re-encrypted.
/// 3. `PUT /room_keys/keys` of the re-encrypted sessions, in chunks.
/// 4. `GET /room_keys/keys` of the current version: the read-back.
/// 5. `DELETE /room_keys/version/{v}` of each older version whose every session was read
///    back. A version with entries no key opens is never deleted.
///
/// Nothing is deleted before step 5, and nothing that is not also in the current version.
/// Each entry costs an X25519 agreement per key tried: call it off an async reactor.
pub struct MigrateFlow {
    pub(super) current: BackupVersion,
    pub(super) current_id: String,
    pub(super) current_key: BackupDecryptionKey,
    pub(super) keys: Vec<BackupDecryptionKey>,
    pub(super) old: Vec<Old>,
    /// The current version's sessions that open with its key, with their first message
    /// index.
    pub(super) current_good: BTreeMap<SessionRef, u32>,
    pub(super) todo: BTreeMap<SessionRef, (RoomKey, bool)>,
    pub(super) chunks: Vec<KeysBackup>,
    pub(super) steps: Steps<Step>,
    /// Why a request could not be built; [`finish`](Flow::finish) returns it.
    pub(super) failed: Option<FlowError>,
    pub(super) outcome: MigrationOutcome,
}

impl std::fmt::Debug for MigrateFlow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The keys and sessions are secret: only the ids and the steps are shown.
        f.debug_struct("MigrateFlow")
            .field("current_version", &self.current_id)
            .field("old_versions", &self.old.len())
            .field("steps", &self.steps)
            .finish_non_exhaustive()
    }
}

impl MigrateFlow {
    /// Migrates into `current` (the current version, its `version` set), whose key
    /// `current_key` is, the sessions that `older_keys` (and `current_key`) open in the
    /// current version and in `old_versions` (as `GET /room_keys/version/{v}` returned
    /// them; a version not on the server any more is skipped). Fails when `current_key`
    /// does not open `current`.
    pub fn new(
        current: &BackupVersion,
        current_key: &BackupDecryptionKey,
        older_keys: &[BackupDecryptionKey],
        old_versions: &[BackupVersion],
    ) -> Result<Self, MigrateError> {
        let current_id = current.version.clone().ok_or(MigrateError::NoVersionId)?;
        if !current_key.matches(&current.auth_data) {
            return Err(MigrateError::KeyDoesNotOpenCurrent {
                version: current_id,
            });
        }
        let current_public = current_key.public_key().to_base64();
        let keys: Vec<BackupDecryptionKey> = older_keys
            .iter()
            .filter(|k| k.public_key().to_base64() != current_public)
            .cloned()
            .collect();
        let old = old_versions
            .iter()
            .filter_map(|v| Some((v.version.clone()?, v)))
            .filter(|(id, _)| *id != current_id)
            .map(|(id, v)| Old {
                id,
                key_known: std::iter::once(current_key)
                    .chain(&keys)
                    .any(|k| k.matches(&v.auth_data)),
                ..Old::default()
            })
            .collect();
        Ok(Self {
            current: current.clone(),
            outcome: MigrationOutcome {
                current_version: current_id.clone(),
                ..MigrationOutcome::default()
            },
            current_id,
            current_key: current_key.clone(),
            keys,
            old,
            current_good: BTreeMap::new(),
            todo: BTreeMap::new(),
            chunks: Vec::new(),
            steps: Steps::new([Step::ReadCurrent]),
            failed: None,
        })
    }

    /// Takes the current version as it is now (its `auth_data` re-read after a repair
    /// signed it, so that a version made in its place carries the new signatures). Before
    /// the first request only; refused when it is another version or another key.
    pub fn set_current_version(&mut self, current: &BackupVersion) -> Result<(), MigrateError> {
        if current.version.as_deref() != Some(self.current_id.as_str())
            || !self.current_key.matches(&current.auth_data)
        {
            return Err(MigrateError::KeyDoesNotOpenCurrent {
                version: current.version.clone().unwrap_or_default(),
            });
        }
        self.current = current.clone();
        Ok(())
    }

    pub(super) fn after_reads(&mut self) {
        let sessions: Vec<RoomKey> = self.todo.values().map(|(k, _)| k.clone()).collect();
        let verified: BTreeMap<&SessionRef, bool> =
            self.todo.iter().map(|(id, (_, v))| (id, *v)).collect();
        let (mut body, errors) = encrypt_sessions(self.current_key.public_key(), &sessions);
        self.outcome.not_reencrypted = errors.len();
        // Keep what the older entry said of its sender's verification.
        for (room, r) in &mut body.rooms {
            for (sid, data) in &mut r.sessions {
                data.is_verified = verified
                    .get(&(room.clone(), sid.clone()))
                    .copied()
                    .unwrap_or(false);
            }
        }
        self.outcome.reencrypted = body.rooms.values().map(|r| r.sessions.len()).sum();
        self.chunks.extend(body.into_chunks(MIGRATION_CHUNK));
        self.steps.extend((0..self.chunks.len()).map(Step::Upload));
        self.steps.push(Step::ReadBack);
    }

    /// The request built, or `None` with the reason kept for [`finish`](Flow::finish): a
    /// chunk that cannot be written stops the flow, and it never reports a short upload
    /// as done.
    pub(super) fn request_or_fail(
        &mut self,
        built: Result<Request, serde_json::Error>,
    ) -> Option<Request> {
        match built {
            Ok(r) => Some(r),
            Err(e) => {
                self.steps.clear();
                self.failed = Some(FlowError::Encode {
                    request: "PUT /room_keys/keys".to_owned(),
                    reason: e.to_string(),
                });
                None
            }
        }
    }
}

impl Flow for MigrateFlow {
    type Output = MigrationOutcome;

    fn next_request(&mut self) -> Option<Request> {
        let step = self.steps.pop()?;
        let request = match &step {
            Step::ReadCurrent | Step::ReadBack => requests::room_keys(&self.current_id),
            Step::CreateVersion => requests::create_backup_version(&self.current),
            Step::ReadOld(i) => requests::room_keys(&self.old[*i].id),
            Step::Upload(i) => {
                let built = requests::put_room_keys(&self.current_id, &self.chunks[*i]);
                self.request_or_fail(built)?
            }
            Step::Delete(i) => requests::delete_backup_version(&self.old[*i].id),
        };
        self.steps.send(step, request)
    }

    /// A keys body (the current version's, an older one's, the read-back) is read as the
    /// bytes the server sent, with the backup body's grammar: every listing of a room
    /// listed twice. Any other answer is parsed and handled as
    /// [`receive`](Flow::receive) does.
    fn receive_bytes(&mut self, status: u16, body: &[u8]) -> Result<(), FlowError> {
        let keys_body = matches!(
            self.steps.in_flight(),
            Some(Step::ReadCurrent | Step::ReadOld(_) | Step::ReadBack)
        );
        if !keys_body || !(200..300).contains(&status) {
            return self.receive(Response::from_bytes(status, body));
        }
        let step = self.steps.answered()?;
        self.read_keys(step, body)
    }

    fn receive(&mut self, response: Response) -> Result<(), FlowError> {
        let step = self.steps.answered()?;
        match step {
            Step::ReadCurrent | Step::ReadBack | Step::ReadOld(_) if response.is_success() => {
                // Parsed already (a client that does not honour `wants_bytes`): what the
                // parser kept is read, written back as bytes.
                let bytes = serde_json::to_vec(&response.body).map_err(|e| unexpected(KEYS, e))?;
                self.read_keys(step, &bytes)?;
            }
            Step::ReadCurrent | Step::ReadBack => return Err(response.error()),
            Step::CreateVersion => {
                if !response.is_success() {
                    return Err(response.error());
                }
                let id = response
                    .body
                    .get("version")
                    .and_then(Value::as_str)
                    .ok_or_else(|| unexpected("POST /room_keys/version", "no version in it"))?
                    .to_owned();
                // The new version must be new: an id of the version it replaces or of an
                // older one would make the flow delete what it just filled.
                if id == self.current_id || self.old.iter().any(|o| o.id == id) {
                    return Err(unexpected(
                        "POST /room_keys/version",
                        format!(
                            "the server named the new version {id}, the id of a version \
                             already there"
                        ),
                    ));
                }
                let replaced = std::mem::replace(&mut self.current_id, id.clone());
                self.current.version = Some(id.clone());
                self.outcome.current_version = id;
                self.outcome.replaced_version = Some(replaced.clone());
                self.old.insert(
                    0,
                    Old {
                        id: replaced,
                        key_known: true,
                        ..Old::default()
                    },
                );
                self.current_good.clear();
                self.steps.extend((0..self.old.len()).map(Step::ReadOld));
            }
            Step::ReadOld(i) => {
                if !response.is_not_found() {
                    return Err(response.error());
                }
                self.old[i].gone = true;
                self.after_old(i);
            }
            Step::Upload(i) => {
                if !response.is_success() {
                    return Err(response.error());
                }
                self.outcome.uploaded += self.chunks[i]
                    .rooms
                    .values()
                    .map(|r| r.sessions.len())
                    .sum::<usize>();
            }
            Step::Delete(i) => {
                let fate = if response.is_success() {
                    OldVersionFate::Deleted
                } else if response.is_not_found() {
                    OldVersionFate::Gone
                } else {
                    OldVersionFate::KeptDeleteRefused {
                        status: response.status,
                    }
                };
                self.outcome
                    .old_versions
                    .insert(self.old[i].id.clone(), fate);
            }
        }
        Ok(())
    }

    fn finish(self) -> Result<MigrationOutcome, FlowError> {
        if let Some(e) = self.failed {
            return Err(e);
        }
        self.steps.finished()?;
        Ok(self.outcome)
    }
}
