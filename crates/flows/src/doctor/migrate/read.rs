//! Reading keys bodies: the current version's, each older version's and the read-back,
//! with the backup body's one grammar, and what each means for the migration.

use std::collections::BTreeMap;

use backup_cipher::{KeyBackupData, RoomKey, restore_entry};
use serde_json::Value;

use super::{MigrateFlow, OldVersionFate, SessionRef, flow::Step};
use crate::FlowError;

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

impl MigrateFlow {
    /// The current version's entries: which open with its key (and how early), and
    /// how many open with an older key only (then a fresh version takes their place).
    pub(super) fn read_current(&mut self, body: &Value) -> Result<(), FlowError> {
        let mut older = 0;
        for (room, sid, data) in entries("GET /room_keys/keys", body)?.found {
            let Some(data) = data else { continue };
            if let Ok(s) = restore_entry(&self.current_key, &room, &sid, &data.session_data) {
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
        Ok(())
    }

    /// An older version's entries: what opens is kept to re-encrypt when the current
    /// version lacks it (or holds a copy that opens fewer messages).
    pub(super) fn read_old(&mut self, i: usize, body: &Value) -> Result<(), FlowError> {
        let read = entries("GET /room_keys/keys", body)?;
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
                    self.old[i].sessions.insert(id, index);
                }
            }
        }
        Ok(())
    }

    /// The read-back: which older versions every session of which is in the current
    /// version, opening at least as early; those are deleted next, the others kept.
    pub(super) fn read_back(&mut self, body: &Value) -> Result<(), FlowError> {
        let present: BTreeMap<SessionRef, u32> = entries("GET /room_keys/keys", body)?
            .found
            .into_iter()
            .filter_map(|(room, sid, data)| {
                let s = restore_entry(&self.current_key, &room, &sid, &data?.session_data).ok()?;
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
