//! The answers: what each response of the server means for the setup, and the
//! carry-over's re-encryption when the old sessions arrive.

use backup_cipher::BackupPublicKey;
use serde_json::Value;
use ssss::setup::SetupSecret;
use zeroize::Zeroizing;

use super::{Phase, SetupFlow};
use crate::{
    Flow, FlowError, Response,
    setup::{
        AccountStateFlow, PlanError, RolledBack, SetupEvent, SetupFlowError, carry_over::reencrypt,
    },
};

impl SetupFlow<'_> {
    /// The answer (whatever its status) to the request [`next_step`](Self::next_step) returned.
    pub fn receive(&mut self, response: Response) -> Result<(), SetupFlowError> {
        let request = self.in_flight.take().ok_or(SetupFlowError::OutOfOrder(
            "a response came with no request pending",
        ))?;
        match &mut self.phase {
            Phase::Read(read) => read.receive(response).map_err(SetupFlowError::Read),
            Phase::ReadBack(read) => {
                let read = read.receive(response);
                read.map_err(|e| {
                    self.after_set_up("the read-back that checks it did not finish", e)
                })
            }
            Phase::UploadKeys => {
                if response.is_success() {
                    let master = self.plan()?.cross_signing.master_public_key();
                    self.events
                        .push_back(SetupEvent::CrossSigningUploaded { master });
                    self.phase = Phase::CreateVersion;
                    return Ok(());
                }
                let asked = response.status == 401 && response.body.get("flows").is_some();
                let answered = request
                    .body
                    .as_ref()
                    .is_some_and(|b| b.get("auth").is_some());
                if asked && !answered {
                    if !self.options.has_password() {
                        return Err(SetupFlowError::NeedsPassword);
                    }
                    self.question = Some(response);
                    self.phase = Phase::WaitPassword;
                    return Ok(());
                }
                Err(SetupFlowError::CrossSigningRefused(response.error()))
            }
            Phase::CreateVersion => {
                const STEP: &str = "cannot create the new backup version";
                if response.status >= 500 {
                    // A gateway's 5xx may hide a version made all the same: look for it.
                    let error = self.unfinished(STEP, response.error());
                    self.phase = Phase::FindVersion(Box::new(error));
                    return Ok(());
                }
                if !response.is_success() {
                    return Err(self.unfinished(STEP, response.error()));
                }
                let answered = response.body.get("version").and_then(Value::as_str);
                let reason = match (answered, self.old_version_id()) {
                    (None | Some(""), _) => Some("the answer names no version".to_owned()),
                    // Uploading into it, then deleting "the old version", would lose it.
                    (Some(id), Some(old)) if !newer_version(id, old) => Some(format!(
                        "the answer names version {id}, which is not newer than version \
                         {old}, the one there before"
                    )),
                    _ => None,
                };
                if let Some(reason) = reason {
                    // The version may have been made all the same: look for it.
                    let source = FlowError::Unexpected {
                        request: "POST /room_keys/version".into(),
                        reason,
                    };
                    let error = self.unfinished(STEP, source);
                    self.phase = Phase::FindVersion(Box::new(error));
                    return Ok(());
                }
                let version = answered.unwrap_or_default().to_owned();
                self.events.push_back(SetupEvent::VersionCreated {
                    version: version.clone(),
                });
                self.new_version = Some(version);
                self.phase = if self.plan()?.carry_over.is_some() {
                    Phase::Download
                } else {
                    Phase::SaveKey
                };
                Ok(())
            }
            Phase::Download => {
                if !response.is_success() {
                    let error = self.unfinished(
                        "cannot download the old backup's sessions",
                        response.error(),
                    );
                    return self.stop(error);
                }
                let bytes = Zeroizing::new(serde_json::to_vec(&response.body).unwrap_or_default());
                self.carry_over(&bytes)
            }
            Phase::UploadSessions => {
                if !response.is_success() {
                    let error = self
                        .unfinished("cannot upload the carried-over sessions", response.error());
                    return self.stop(error);
                }
                let sent = self
                    .chunks
                    .pop_front()
                    .map_or(0, |c| c.session_count() as u64);
                self.copied += sent;
                self.events.push_back(SetupEvent::Progress {
                    sent: self.copied,
                    total: self.to_copy,
                });
                Ok(())
            }
            Phase::CountCheck => {
                if !response.is_success() {
                    let error =
                        self.unfinished("cannot read the new backup version", response.error());
                    return self.stop(error);
                }
                let held = response
                    .body
                    .get("count")
                    .and_then(Value::as_u64)
                    .unwrap_or(0);
                let old_version = self
                    .plan()?
                    .carry_over
                    .as_ref()
                    .map(|c| c.old_version.clone())
                    .unwrap_or_default();
                if held < self.to_copy {
                    let error = SetupFlowError::CarryOverIncomplete {
                        held,
                        expected: self.to_copy,
                        old_version,
                        new_cross_signing: self.new_keys(),
                        rolled_back: None,
                    };
                    return self.stop(error);
                }
                self.events.push_back(SetupEvent::CarriedOver {
                    sessions: self.to_copy,
                    old_version,
                    new_version: self.new_version.clone().unwrap_or_default(),
                });
                self.phase = Phase::SaveKey;
                Ok(())
            }
            Phase::AccountData(i) => {
                if !response.is_success() {
                    let error = self.unfinished(
                        "cannot write secret storage to the account data",
                        response.error(),
                    );
                    return self.stop(error);
                }
                *i += 1;
                Ok(())
            }
            Phase::DeleteOld => {
                // The new setup is complete; a failed delete leaves the old version.
                let plan = self.plan()?;
                let carried = plan.carry_over.as_ref().map(|c| c.old_version.clone());
                let version = carried
                    .clone()
                    .or_else(|| plan.old_version_deleted_unread.clone())
                    .unwrap_or_default();
                if !response.is_success() && !response.is_not_found() {
                    return Err(self.after_set_up(
                        "the old backup version was not deleted (it stays on the server; \
                         delete it once the new backup holds its sessions)",
                        response.error(),
                    ));
                }
                self.events.push_back(SetupEvent::OldVersionDeleted {
                    version: version.clone(),
                    carried_over: carried.is_some(),
                });
                self.old_deleted = Some(version);
                self.phase = Phase::KeyBackup;
                Ok(())
            }
            Phase::KeyBackup => {
                if !response.is_success() {
                    return Err(self.after_set_up(
                        "m.key_backup {\"enabled\": true} was not written to the account data \
                         (Element X reads it to know that backup is on)",
                        response.error(),
                    ));
                }
                self.events.push_back(SetupEvent::KeyBackupEnabled);
                self.phase = Phase::ReadBack(Box::new(AccountStateFlow::new(&self.user_id)));
                Ok(())
            }
            Phase::ProbeOlder(refusal, older) => {
                if let PlanError::StoredBackupKeyStale { stored, opens, .. } = &mut **refusal
                    && response.is_success()
                    && let Some(public) = response
                        .body
                        .get("auth_data")
                        .and_then(|a| a.get("public_key"))
                        .and_then(Value::as_str)
                        .and_then(|k| BackupPublicKey::from_base64(k).ok())
                    && public.to_base64() == *stored
                {
                    *opens = response
                        .body
                        .get("version")
                        .and_then(Value::as_str)
                        .map(str::to_owned);
                    older.clear();
                }
                // Any other answer (a deleted version's 404 …) says nothing of the key.
                Ok(())
            }
            Phase::FindVersion(_) => {
                let Phase::FindVersion(error) = std::mem::replace(&mut self.phase, Phase::Done)
                else {
                    return Err(SetupFlowError::OutOfOrder(
                        "lost the search for the version",
                    ));
                };
                self.found_version(&response, error);
                Ok(())
            }
            Phase::RollBack(_) => {
                let Phase::RollBack(mut error) = std::mem::replace(&mut self.phase, Phase::Done)
                else {
                    return Err(SetupFlowError::OutOfOrder("lost the roll-back"));
                };
                let not_deleted =
                    (!response.is_success() && !response.is_not_found()).then(|| response.error());
                error.set_rolled_back(RolledBack {
                    version: self.new_version.clone().unwrap_or_default(),
                    not_deleted,
                });
                self.phase = Phase::Failed(Some(error));
                Ok(())
            }
            Phase::Plan
            | Phase::WaitPhrase
            | Phase::WaitPassword
            | Phase::SaveKey
            | Phase::Failed(_)
            | Phase::Done => Err(SetupFlowError::OutOfOrder(
                "a response came with no request pending",
            )),
        }
    }

    /// The answer to [`SetupStep::SendForBytes`](crate::SetupStep::SendForBytes): its
    /// status and the bytes of its body, unparsed (read as a restore reads them, so a
    /// room listed twice keeps the sessions of both copies).
    pub fn receive_bytes(&mut self, status: u16, body: &[u8]) -> Result<(), SetupFlowError> {
        let success = (200..300).contains(&status);
        if !success || !matches!(self.phase, Phase::Download) || self.in_flight.is_none() {
            // An error answer (or one out of order) is handled as any other.
            let parsed = if body.trim_ascii().is_empty() {
                Value::Object(serde_json::Map::new())
            } else {
                serde_json::from_slice(body).unwrap_or(Value::Null)
            };
            return self.receive(Response::new(status, parsed));
        }
        self.in_flight = None;
        self.carry_over(body)
    }

    /// Restores the old backup's body and re-encrypts it to the new key, in chunks.
    fn carry_over(&mut self, body: &[u8]) -> Result<(), SetupFlowError> {
        let plan = self.plan()?;
        let Some(old) = plan.carry_over.as_ref() else {
            return Err(SetupFlowError::OutOfOrder("nothing to carry over"));
        };
        let old_version = old.old_version.clone();
        let new_key = plan.setup.backup_key.public_key();
        let done = match reencrypt(old, new_key, body) {
            Ok(done) => done,
            Err(source) => {
                let error = SetupFlowError::CarryOver {
                    old_version,
                    source,
                    new_cross_signing: self.new_keys(),
                    rolled_back: None,
                };
                return self.stop(error);
            }
        };
        self.to_copy = done.sessions;
        self.chunks = done.chunks;
        self.events.push_back(SetupEvent::CarryingOver {
            sessions: done.sessions,
            unreadable: done.unreadable,
            old_version: old_version.clone(),
        });
        let delete_anyway = self
            .options
            .choices(SetupSecret::GenerateKey)
            .delete_unreadable_old_version;
        // What the old version holds by its own count (read at the start) but the download
        // did not bring (a cached or cut answer): never seen, so never deleted, whatever
        // was chosen for entries that could not be read.
        // Without a count (the specification requires one), completeness cannot be told.
        let held = self
            .state
            .as_ref()
            .and_then(|s| s.version.as_ref())
            .and_then(|v| v.count);
        let unread = if delete_anyway { 0 } else { done.unreadable };
        let not_copied = held.map(|held| {
            let missing = held.saturating_sub(done.sessions + done.unreadable);
            unread + missing
        });
        if not_copied != Some(0)
            && let Some(plan) = self.plan.as_mut()
        {
            // Deleting it would lose what was not copied.
            plan.delete_old_version = None;
            plan.old_version_kept = Some(old_version.clone());
            self.events.push_back(SetupEvent::OldVersionKeptUncopied {
                version: old_version,
                not_copied,
            });
        }
        self.phase = Phase::UploadSessions;
        Ok(())
    }
}

/// Whether `id`, the id a creation answer names, can be a version made after `old`:
/// compared as the homeserver reads ids (Synapse: `int(version)`, so `"01"`, `" 1"` and
/// `"+1"` all name version 1, and a new version's number is greater than every older
/// one's); ids that are not numbers need only differ.
pub(super) fn newer_version(id: &str, old: &str) -> bool {
    match (version_number(id), version_number(old)) {
        (Some(id), Some(old)) => id > old,
        (None, None) => id != old,
        // One a number, one not: not comparable, so not trusted to differ.
        _ => false,
    }
}

/// A version id read as a number, as Python's `int()` reads it (surrounding space, a
/// leading `+`, `_` between digits).
fn version_number(id: &str) -> Option<u128> {
    let digits = id.trim();
    let digits = digits.strip_prefix('+').unwrap_or(digits);
    if digits.is_empty()
        || digits.starts_with('_')
        || digits.ends_with('_')
        || digits.contains("__")
    {
        return None;
    }
    let digits: String = digits.chars().filter(|c| *c != '_').collect();
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // Leading zeros and numbers beyond u128 still compare: trim zeros, then by length.
    let trimmed = digits.trim_start_matches('0');
    if trimmed.len() > 38 {
        return Some(u128::MAX);
    }
    Some(trimmed.parse().unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::newer_version;

    #[test]
    fn version_ids_compare_as_the_server_reads_them() {
        for (id, old, newer) in [
            ("2", "1", true),
            ("10", "9", true),
            ("1", "1", false),
            ("01", "1", false),
            (" 1", "1", false),
            ("+1", "1", false),
            ("1_0", "9", true),
            ("1", "2", false),
            ("abc", "1", false),
            ("1", "abc", false),
            ("b", "a", true),
            ("a", "a", false),
            ("", "1", false),
            ("99999999999999999999999999999999999999999", "1", true),
        ] {
            assert_eq!(newer_version(id, old), newer, "{id:?} after {old:?}");
        }
    }
}
