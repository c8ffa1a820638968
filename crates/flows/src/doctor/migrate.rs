//! Moving every session the user's keys can read into the current backup version, and only
//! then deleting the versions they came from: [`MigrateFlow`].

use std::collections::{BTreeMap, VecDeque};

use backup_cipher::{
    BackupDecryptionKey, BackupVersion, KeyBackupData, KeysBackup, RoomKey, encrypt_sessions,
    restore_entry,
};
use serde_json::Value;

use super::{Diagnosis, FindingCode};
use crate::{Flow, FlowError, Request, Response, requests};

/// How many sessions one `PUT /room_keys/keys` of the migration carries.
pub const MIGRATION_CHUNK: usize = 500;

/// (room id, session id).
type SessionRef = (String, String);

/// Why a [`MigrateFlow`] cannot start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MigrateError {
    /// The current backup version given has no `version` id: pass the version as the
    /// server returned it (`GET /room_keys/version`).
    #[error("the current backup version has no version id: pass it as the server returned it")]
    NoVersionId,
    /// The key given as the current key is not the key of the current version: give the
    /// key that opens it (from secret storage or the backup's own key).
    #[error(
        "the key given as the current backup key does not open backup version {version}: give \
         the key stored in secret storage or the backup's own key"
    )]
    KeyDoesNotOpenCurrent {
        /// The current version.
        version: String,
    },
}

/// What happened to one older backup version.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum OldVersionFate {
    /// Every session of it is in the current version (read back), and it was deleted.
    Deleted,
    /// It was already gone from the server.
    Gone,
    /// Kept: some of its entries open with none of the keys given, so they exist nowhere
    /// else. Give the key of this version to move them.
    KeptUnreadable {
        /// How many entries no key opens.
        unreadable: usize,
    },
    /// Kept: it holds no entry, but none of the keys given is its key, so whose it is
    /// cannot be told. Give its key to have it deleted.
    KeptNoKey,
    /// Kept: some of its sessions were not found in the current version when it was read
    /// back after the upload (another client may have replaced the current version). Run
    /// the migration again.
    KeptNotVerified {
        /// How many sessions were missing.
        missing: usize,
    },
    /// Kept: the server refused to delete it. Everything in it is in the current version:
    /// run the migration again to delete it.
    KeptDeleteRefused {
        /// The HTTP status of the refusal.
        status: u16,
    },
}

/// What [`MigrateFlow`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MigrationOutcome {
    /// The backup version everything was moved into.
    pub current_version: String,
    /// The version that was current when the flow began, when it had to be replaced: its
    /// entries encrypted to another key cannot be overwritten in place (a server keeps
    /// an entry when the new one is no better), so a fresh version with the same
    /// `auth_data` (same public key, same signatures) became current, and the replaced one
    /// is migrated and deleted like any older version.
    pub replaced_version: Option<String>,
    /// Entries of the version current at the start that open with an older key only.
    pub entries_for_older_key: usize,
    /// Sessions decrypted with the user's keys and re-encrypted to the current key.
    pub reencrypted: usize,
    /// Sessions uploaded (`PUT /room_keys/keys`).
    pub uploaded: usize,
    /// Sessions that could not be re-encrypted (their decrypted form is not a valid
    /// session): their versions are kept.
    pub not_reencrypted: usize,
    /// What became of each older version, by id.
    pub old_versions: BTreeMap<String, OldVersionFate>,
}

impl MigrationOutcome {
    /// Every older version is deleted or was gone, and every session was re-encrypted:
    /// nothing was kept, so no older key is needed any more (what
    /// [`RepairPlan::after_migration`](super::RepairPlan::after_migration) waits for).
    pub fn kept_nothing(&self) -> bool {
        self.not_reencrypted == 0
            && self
                .old_versions
                .values()
                .all(|f| matches!(f, OldVersionFate::Deleted | OldVersionFate::Gone))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    ReadCurrent,
    CreateVersion,
    ReadOld(usize),
    Upload(usize),
    ReadBack,
    Delete(usize),
}

#[derive(Debug, Clone, Default)]
struct Old {
    id: String,
    /// One of the keys given is this version's key.
    key_known: bool,
    gone: bool,
    unreadable: usize,
    /// Its sessions that opened, with their first message index.
    sessions: BTreeMap<SessionRef, u32>,
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
    current: BackupVersion,
    current_id: String,
    current_key: BackupDecryptionKey,
    keys: Vec<BackupDecryptionKey>,
    old: Vec<Old>,
    /// The current version's sessions that open with its key, with their first message
    /// index.
    current_good: BTreeMap<SessionRef, u32>,
    todo: BTreeMap<SessionRef, (RoomKey, bool)>,
    chunks: Vec<KeysBackup>,
    pending: VecDeque<Step>,
    in_flight: Option<Step>,
    /// Why a request could not be built; [`finish`](Flow::finish) returns it.
    failed: Option<FlowError>,
    outcome: MigrationOutcome,
}

impl std::fmt::Debug for MigrateFlow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The keys and sessions are secret: only the ids and the steps are shown.
        f.debug_struct("MigrateFlow")
            .field("current_version", &self.current_id)
            .field("old_versions", &self.old.len())
            .field("pending", &self.pending)
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
            pending: VecDeque::from([Step::ReadCurrent]),
            in_flight: None,
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

    fn after_reads(&mut self) {
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
        for i in 0..self.chunks.len() {
            self.pending.push_back(Step::Upload(i));
        }
        self.pending.push_back(Step::ReadBack);
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
                self.pending.clear();
                self.failed = Some(FlowError::Encode {
                    request: "PUT /room_keys/keys".to_owned(),
                    reason: e.to_string(),
                });
                None
            }
        }
    }

    /// Decrypts an entry with the current key, then the older keys.
    fn open(&self, room: &str, sid: &str, data: &KeyBackupData) -> Option<(RoomKey, bool)> {
        std::iter::once(&self.current_key)
            .chain(&self.keys)
            .find_map(|k| restore_entry(k, room, sid, &data.session_data).ok())
            .and_then(|s| s.room_key().ok())
            .map(|k| (k, data.is_verified))
    }
}

fn unexpected(request: &str, reason: impl std::fmt::Display) -> FlowError {
    FlowError::Unexpected {
        request: request.to_owned(),
        reason: reason.to_string(),
    }
}

/// The first message index of a decrypted session (`u32::MAX` when it cannot be read:
/// the worst).
fn index_of(session: &backup_cipher::RestoredSession) -> u32 {
    session
        .room_key()
        .ok()
        .and_then(|k| k.first_message_index())
        .unwrap_or(u32::MAX)
}

/// The entries of a `GET /room_keys/keys` body, read with the backup body's one grammar
/// ([`backup_cipher::check_body`], as a restore reads it).
struct Entries {
    /// Every entry found; one that does not parse as a `KeyBackupData` is `None`.
    found: Vec<(String, String, Option<KeyBackupData>)>,
    /// What the grammar found that is not an entry it can hand on (a room or `sessions`
    /// that is not an object, an entry that is not a `KeyBackupData`, damage, a cut) and
    /// is not already a `None` of `found`: each may hide sessions, so a version showing
    /// any is never deleted.
    structural: usize,
}

/// Reads the entries of the body `request` answered; fails when the body is not a keys
/// body at all (`{}`, no `rooms`, `rooms` not an object): that is no version's content,
/// and reading it as an empty version could delete one.
fn entries(request: &str, body: &Value) -> Result<Entries, FlowError> {
    let bytes = serde_json::to_vec(body).map_err(|e| unexpected(request, e))?;
    let check = backup_cipher::check_body(bytes.as_slice(), u64::MAX)
        .map_err(|e| unexpected(request, format!("not a backup keys body: {e}")))?;
    let mut found = Vec::new();
    if let Some(rooms) = body.get("rooms").and_then(Value::as_object) {
        for (room, r) in rooms {
            if let Some(sessions) = r.get("sessions").and_then(Value::as_object) {
                for (sid, entry) in sessions {
                    found.push((
                        room.clone(),
                        sid.clone(),
                        serde_json::from_value(entry.clone()).ok(),
                    ));
                }
            }
        }
    }
    let unparsed = found.iter().filter(|(_, _, d)| d.is_none()).count() as u64;
    // Records of bad rooms, damage and the cut; entries the grammar refused that are not
    // a `None` here; entries it found that are not here at all.
    let structural = check.problems
        + check.malformed.saturating_sub(unparsed)
        + check.entries.saturating_sub(found.len() as u64);
    Ok(Entries {
        found,
        structural: usize::try_from(structural).unwrap_or(usize::MAX),
    })
}

impl Flow for MigrateFlow {
    type Output = MigrationOutcome;

    fn next_request(&mut self) -> Option<Request> {
        let step = self.pending.pop_front()?;
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
        self.in_flight = Some(step);
        Some(request)
    }

    fn receive(&mut self, response: Response) -> Result<(), FlowError> {
        let step = self.in_flight.take().ok_or(FlowError::OutOfOrder(
            "a response came with no request pending",
        ))?;
        match step {
            Step::ReadCurrent => {
                if !response.is_success() {
                    return Err(response.error());
                }
                let mut older = 0;
                for (room, sid, data) in entries("GET /room_keys/keys", &response.body)?.found {
                    let Some(data) = data else { continue };
                    if let Ok(s) = restore_entry(&self.current_key, &room, &sid, &data.session_data)
                    {
                        self.current_good.insert((room, sid), index_of(&s));
                    } else if self
                        .keys
                        .iter()
                        .any(|k| restore_entry(k, &room, &sid, &data.session_data).is_ok())
                    {
                        older += 1;
                    }
                }
                self.outcome.entries_for_older_key = older;
                if older > 0 {
                    self.pending.push_back(Step::CreateVersion);
                } else {
                    self.pending.extend((0..self.old.len()).map(Step::ReadOld));
                    if self.old.is_empty() {
                        self.after_reads();
                    }
                }
            }
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
                self.pending.extend((0..self.old.len()).map(Step::ReadOld));
            }
            Step::ReadOld(i) => {
                if response.is_not_found() {
                    self.old[i].gone = true;
                } else if !response.is_success() {
                    return Err(response.error());
                } else {
                    let read = entries("GET /room_keys/keys", &response.body)?;
                    self.old[i].unreadable += read.structural;
                    for (room, sid, data) in read.found {
                        let id = (room, sid);
                        let opened = data.as_ref().and_then(|d| self.open(&id.0, &id.1, d));
                        match opened {
                            None => self.old[i].unreadable += 1,
                            Some(found) => {
                                // The lowest first message index opens the most messages:
                                // a copy that opens more than the current one is uploaded
                                // too (the server replaces an entry by one with a lower
                                // index).
                                let index = found.0.first_message_index().unwrap_or(u32::MAX);
                                let needed = self.current_good.get(&id).is_none_or(|c| index < *c);
                                let better = self.todo.get(&id).is_none_or(|(k, _)| {
                                    index < k.first_message_index().unwrap_or(u32::MAX)
                                });
                                if needed && better {
                                    self.todo.insert(id.clone(), found);
                                }
                                self.old[i].sessions.insert(id, index);
                            }
                        }
                    }
                }
                if i + 1 == self.old.len() {
                    self.after_reads();
                }
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
            Step::ReadBack => {
                if !response.is_success() {
                    return Err(response.error());
                }
                let present: BTreeMap<SessionRef, u32> =
                    entries("GET /room_keys/keys", &response.body)?
                        .found
                        .into_iter()
                        .filter_map(|(room, sid, data)| {
                            let s =
                                restore_entry(&self.current_key, &room, &sid, &data?.session_data)
                                    .ok()?;
                            Some(((room, sid), index_of(&s)))
                        })
                        .collect();
                for (i, old) in self.old.iter().enumerate() {
                    let fate = if old.gone {
                        OldVersionFate::Gone
                    } else if old.unreadable > 0 {
                        OldVersionFate::KeptUnreadable {
                            unreadable: old.unreadable,
                        }
                    } else if old.sessions.is_empty() && !old.key_known {
                        OldVersionFate::KeptNoKey
                    } else {
                        // Each session there, opening at least as early as the old copy.
                        let missing = old
                            .sessions
                            .iter()
                            .filter(|(id, index)| present.get(*id).is_none_or(|p| p > *index))
                            .count();
                        if missing > 0 {
                            OldVersionFate::KeptNotVerified { missing }
                        } else {
                            self.pending.push_back(Step::Delete(i));
                            continue;
                        }
                    };
                    self.outcome.old_versions.insert(old.id.clone(), fate);
                }
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
        if self.in_flight.is_some() || !self.pending.is_empty() {
            return Err(FlowError::OutOfOrder(
                "finish came before the last response",
            ));
        }
        Ok(self.outcome)
    }
}

/// What the doctor's migration step will do for a diagnosis ([`plan_migration`]).
#[derive(Debug)]
#[non_exhaustive]
pub enum MigrationPlan {
    /// Nothing calls for it: no older version on the server, no entry found encrypted to
    /// another key, no older key given.
    NotNeeded,
    /// It is called for but cannot run.
    Blocked {
        /// The finding it would have repaired.
        fixes: FindingCode,
        /// Why not, and what would let it run.
        why: String,
    },
    /// Ready to run.
    Ready {
        /// The flow to drive.
        flow: Box<MigrateFlow>,
        /// What it does, for the user to approve.
        description: String,
        /// The findings it repairs.
        fixes: Vec<FindingCode>,
    },
}

/// The keys that `text` stands for among the older versions: tried against each (as the
/// backup's own key, a Security Phrase of a passphrase backup, or the Security Key or
/// Phrase of secret storage whose stored backup key opens it), and as a backup key on its
/// own (recovery key or base64, unchecked).
fn older_keys_of(
    text: &str,
    store: &ssss::SecretStore,
    versions: &[BackupVersion],
) -> Vec<BackupDecryptionKey> {
    let mut keys: Vec<BackupDecryptionKey> = versions
        .iter()
        .filter_map(|v| ssss::recover_backup_key(text, Some(store), Some(v)).ok())
        .map(|found| found.backup_key)
        .collect();
    keys.extend(
        ssss::recover_backup_key(text, None, None)
            .ok()
            .map(|f| f.backup_key),
    );
    // A backup key stored under the secret-storage key that `text` unlocks, even a stale
    // one: a client may still have used it for entries of the current version.
    if let Ok(u) = store.unlock(text)
        && let Ok(secret) = store.backup_key(&u.key)
    {
        keys.push(secret.key);
    }
    keys
}

/// Plans the doctor's migration: every session that the user's keys open in the older
/// versions still on the server, and in entries of the current version encrypted to an
/// older key, moved into the current version re-encrypted ([`MigrateFlow`]). It is
/// planned too when secret storage holds a stale backup key, so that what that key
/// opens moves before the key is replaced. `input`
/// (Security Key or Phrase) and `backup_key` (the current backup's own key) give the
/// current key as in [`plan_repairs`](super::plan_repairs); `older` are the keys of
/// older versions the user also has (backup keys, Security Keys or Phrases from before a
/// reset); `input` is tried as an older key too.
pub fn plan_migration(
    diagnosis: &Diagnosis,
    input: &str,
    backup_key: Option<&str>,
    older: &[&str],
) -> MigrationPlan {
    use FindingCode as C;
    let account = &diagnosis.account;
    let mut fixes = Vec::new();
    if diagnosis.has(C::EntriesForAnotherKey) {
        fixes.push(C::EntriesForAnotherKey);
    }
    if diagnosis.has(C::OldBackupVersions) {
        fixes.push(C::OldBackupVersions);
    }
    let Some(version) = account.version.as_ref() else {
        return MigrationPlan::NotNeeded;
    };
    // A stale backup key in secret storage is an older key: the migration runs to move
    // what it opens before it is replaced (RepairPlan::after_migration).
    let stale = diagnosis.has(C::BackupKeyStale);
    if fixes.is_empty() && older.is_empty() && !stale {
        return MigrationPlan::NotNeeded;
    }
    let first = fixes.first().copied().unwrap_or(if stale {
        C::BackupKeyStale
    } else {
        C::EntriesForAnotherKey
    });
    let Some(current_key) = super::current_backup_key(diagnosis, input, backup_key) else {
        return MigrationPlan::Blocked {
            fixes: first,
            why: "no key the user gave opens the current backup version, so nothing can be \
                  re-encrypted to it: give its own key"
                .into(),
        };
    };
    let store = &account.secret_storage;
    let mut keys = Vec::new();
    for text in older.iter().copied().chain(std::iter::once(input)) {
        for k in older_keys_of(text, store, &account.old_versions) {
            let public = k.public_key().to_base64();
            if !keys
                .iter()
                .any(|o: &BackupDecryptionKey| o.public_key().to_base64() == public)
            {
                keys.push(k);
            }
        }
    }
    let old_ids: Vec<String> = account
        .old_versions
        .iter()
        .filter_map(|v| v.version.clone())
        .collect();
    let old_versions = &account.old_versions;
    let current_public = current_key.public_key().to_base64();
    let has_older_key = keys
        .iter()
        .any(|k| k.public_key().to_base64() != current_public);
    if old_ids.is_empty() && !has_older_key {
        // Planned for a stale stored key alone, which is not at hand (secret storage not
        // unlocked): nothing to move with, and the plan of repairs says why.
        if fixes.is_empty() && older.is_empty() {
            return MigrationPlan::NotNeeded;
        }
        return MigrationPlan::Blocked {
            fixes: first,
            why: "no older key was given, so the entries encrypted to another key cannot be \
                  read: give the older backup key or the Security Key from before the reset"
                .into(),
        };
    }
    let flow = match MigrateFlow::new(version, &current_key, &keys, old_versions) {
        Ok(flow) => flow,
        Err(e) => {
            return MigrationPlan::Blocked {
                fixes: first,
                why: e.to_string(),
            };
        }
    };
    let id = version.version.as_deref().unwrap_or("?");
    let olds = if old_ids.is_empty() {
        String::new()
    } else {
        format!(" of older versions {} and", old_ids.join(", "))
    };
    MigrationPlan::Ready {
        flow: Box::new(flow),
        description: format!(
            "move into backup version {id}, re-encrypted to its key, every session that your \
             keys open{olds} of entries of version {id} encrypted to an older key (those move \
             with the rest to a new version with the same key and signatures); read the \
             result back; then delete each older version whose every session is in it (a \
             version with entries no key opens is kept)"
        ),
        fixes,
    }
}
