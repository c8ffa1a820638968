//! Reading keys bodies: the current version's, each older version's and the read-back,
//! with the backup body's one grammar, and what each means for the migration.

use std::collections::BTreeMap;

use backup_cipher::{KeyBackupData, RoomKey, restore_entry};

use super::{MigrateFlow, OldVersionFate, SessionRef, Step};
use crate::FlowError;

/// The request whose answers are read here.
pub(super) const KEYS: &str = "GET /room_keys/keys";

pub(super) fn unexpected(request: &str, reason: impl std::fmt::Display) -> FlowError {
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
/// ([`backup_cipher::body_entries`], as a restore reads it): every listing of a room
/// listed twice, so one session may be found twice.
struct Entries {
    /// Every entry found, in body order; one that is not a `KeyBackupData` is `None`.
    found: Vec<(String, String, Option<KeyBackupData>)>,
    /// What the grammar found that is not an entry (a room or `sessions` that is not an
    /// object, damage, a cut): each may hide sessions, so a version showing any is never
    /// deleted.
    structural: usize,
}

/// Reads the entries of a keys body, the bytes the server sent; fails when it is not a
/// keys body at all (`{}`, no `rooms`, `rooms` not an object): that is no version's
/// content, and reading it as an empty version could delete one.
fn entries(body: &[u8]) -> Result<Entries, FlowError> {
    let mut found = Vec::new();
    let check = backup_cipher::body_entries(body, u64::MAX, |room, sid, entry| {
        found.push((room.to_owned(), sid.to_owned(), entry));
    })
    .map_err(|e| unexpected(KEYS, format!("not a backup keys body: {e}")))?;
    Ok(Entries {
        found,
        structural: usize::try_from(check.problems).unwrap_or(usize::MAX),
    })
}

/// Keeps for `id` the lowest first message index seen: what an older version holds of a
/// session listed twice is its copy that opens the most, which the current version must
/// match before the older one is deleted.
fn keep_lowest(map: &mut BTreeMap<SessionRef, u32>, id: SessionRef, index: u32) {
    map.entry(id)
        .and_modify(|i| *i = (*i).min(index))
        .or_insert(index);
}

/// Keeps for `id` the highest first message index seen: what the current version holds
/// of a session listed twice is its copy that opens the least (a client that keeps one
/// listing may keep that one), so nothing is deleted on the strength of the other.
fn keep_highest(map: &mut BTreeMap<SessionRef, u32>, id: SessionRef, index: u32) {
    map.entry(id)
        .and_modify(|i| *i = (*i).max(index))
        .or_insert(index);
}

impl MigrateFlow {
    /// Reads the keys body that answered `step`.
    pub(super) fn read_keys(&mut self, step: Step, body: &[u8]) -> Result<(), FlowError> {
        match step {
            Step::ReadCurrent => self.read_current(body),
            Step::ReadOld(i) => {
                self.read_old(i, body)?;
                self.after_old(i);
                Ok(())
            }
            Step::ReadBack => self.read_back(body),
            Step::CreateVersion | Step::Upload(_) | Step::Delete(_) => Err(FlowError::OutOfOrder(
                "a keys body came for a request that is no keys download",
            )),
        }
    }

    /// After the answer about the last older version, the uploads are planned.
    pub(super) fn after_old(&mut self, i: usize) {
        if i + 1 == self.old.len() {
            self.after_reads();
        }
    }

    /// The current version's entries: which open with its key (and how early), and
    /// how many open with an older key only (then a fresh version takes their place).
    pub(super) fn read_current(&mut self, body: &[u8]) -> Result<(), FlowError> {
        let mut older = 0;
        for (room, sid, data) in entries(body)?.found {
            let Some(data) = data else { continue };
            if let Ok(s) = restore_entry(&self.current_key, &room, &sid, &data.session_data) {
                keep_highest(&mut self.current_good, (room, sid), index_of(&s));
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
            self.steps.push(Step::CreateVersion);
        } else {
            self.steps.extend((0..self.old.len()).map(Step::ReadOld));
            if self.old.is_empty() {
                self.after_reads();
            }
        }
        Ok(())
    }

    /// An older version's entries: what opens is kept to re-encrypt when the current
    /// version lacks it (or holds a copy that opens fewer messages).
    pub(super) fn read_old(&mut self, i: usize, body: &[u8]) -> Result<(), FlowError> {
        let read = entries(body)?;
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
                    let better = self
                        .todo
                        .get(&id)
                        .is_none_or(|(k, _)| index < k.first_message_index().unwrap_or(u32::MAX));
                    if needed && better {
                        self.todo.insert(id.clone(), found);
                    }
                    keep_lowest(&mut self.old[i].sessions, id, index);
                }
            }
        }
        Ok(())
    }

    /// The read-back: which older versions every session of which is in the current
    /// version, opening at least as early; those are deleted next, the others kept.
    pub(super) fn read_back(&mut self, body: &[u8]) -> Result<(), FlowError> {
        let mut present: BTreeMap<SessionRef, u32> = BTreeMap::new();
        for (room, sid, data) in entries(body)?.found {
            // A listing that does not open with the current key is the worst copy.
            let index = data
                .and_then(|d| restore_entry(&self.current_key, &room, &sid, &d.session_data).ok())
                .map_or(u32::MAX, |s| index_of(&s));
            keep_highest(&mut present, (room, sid), index);
        }
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
                    self.steps.push(Step::Delete(i));
                    continue;
                }
            };
            self.outcome.old_versions.insert(old.id.clone(), fate);
        }
        Ok(())
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
