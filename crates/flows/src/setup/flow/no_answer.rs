//! A request that got no answer: what the flow does when the caller could not reach the
//! server (after its own retries) — the same as for a refusal, but for the request that
//! creates the new version, whose fate is then read back.

use backup_cipher::BackupPublicKey;
use serde_json::Value;

use super::{Phase, SetupFlow, receive::newer_version};
use crate::{
    FlowError, Method, Request, Response,
    setup::{RolledBack, SetupFlowError, VersionUnknown},
};

/// The request as the error names it: method and path, without the query.
fn describe(request: &Request) -> String {
    let method = match request.method {
        Method::Get => "GET",
        Method::Post => "POST",
        Method::Put => "PUT",
        Method::Delete => "DELETE",
    };
    let path = request.path.split('?').next().unwrap_or_default();
    let path = path.strip_prefix("/_matrix/client/v3").unwrap_or(path);
    format!("{method} {path}")
}

impl SetupFlow<'_> {
    /// The request [`next_step`](Self::next_step) returned got no answer: the connection
    /// failed, was cut or timed out (after the caller's own retries), or what came could
    /// not be read. `reason` says what the caller saw, for the error (never a secret).
    ///
    /// The request may or may not have been carried out. While the new backup version
    /// exists and its key was not sent to be stored (the window in which a stop leaves a
    /// version no key opens), the flow deletes that version — the request creating it
    /// included: the current version is read first to learn whether it was made — and
    /// returns `Ok`: go on with [`next_step`](Self::next_step), which sends the delete
    /// (it works if the failure was brief), then gives
    /// [`SetupFlowError::Unfinished`] whose [`rolled_back`](SetupFlowError::rolled_back)
    /// says whether the version was deleted. Otherwise the flow stops and returns the
    /// error (a caller may report its own error of the connection instead).
    pub fn no_answer(&mut self, reason: &str) -> Result<(), SetupFlowError> {
        let request = self.in_flight.take().ok_or(SetupFlowError::OutOfOrder(
            "no request is waiting for an answer",
        ))?;
        let source = FlowError::NoAnswer {
            request: describe(&request),
            reason: reason.to_owned(),
        };
        match std::mem::replace(&mut self.phase, Phase::Failed(None)) {
            Phase::Read(_) => Err(SetupFlowError::Read(source)),
            Phase::UploadKeys => {
                Err(self.unfinished("cannot upload the new cross-signing keys", source))
            }
            Phase::CreateVersion => {
                // The version may exist, with the new key, without its id being known.
                let error = self.unfinished("cannot create the new backup version", source);
                self.phase = Phase::FindVersion(Box::new(error));
                Ok(())
            }
            // Nothing was changed: the refusal stands, without the older version's name.
            Phase::ProbeOlder(refusal, _) => {
                self.phase = Phase::Failed(Some(Box::new(SetupFlowError::Refused(*refusal))));
                Ok(())
            }
            Phase::FindVersion(mut error) => {
                error.set_version_unknown(VersionUnknown {
                    before: self.old_version_id().map(str::to_owned),
                    lookup: source,
                });
                self.phase = Phase::Failed(Some(error));
                Ok(())
            }
            Phase::Download => {
                let error = self.unfinished("cannot download the old backup's sessions", source);
                self.stop(error)
            }
            Phase::UploadSessions => {
                let error = self.unfinished("cannot upload the carried-over sessions", source);
                self.stop(error)
            }
            Phase::CountCheck => {
                let error = self.unfinished("cannot read the new backup version", source);
                self.stop(error)
            }
            Phase::AccountData(_) => {
                let error =
                    self.unfinished("cannot write secret storage to the account data", source);
                self.stop(error)
            }
            Phase::DeleteOld => Err(self.after_set_up(
                "the old backup version may not have been deleted (if it is still on the \
                 server, delete it once the new backup holds its sessions)",
                source,
            )),
            Phase::KeyBackup => Err(self.after_set_up(
                "m.key_backup {\"enabled\": true} may not have been written to the account \
                 data (Element X reads it to know that backup is on)",
                source,
            )),
            Phase::ReadBack(_) => {
                Err(self.after_set_up("the read-back that checks it did not finish", source))
            }
            Phase::RollBack(mut error) => {
                error.set_rolled_back(RolledBack {
                    version: self.new_version.clone().unwrap_or_default(),
                    not_deleted: Some(source),
                });
                self.phase = Phase::Failed(Some(error));
                Ok(())
            }
            other => {
                self.phase = other;
                Err(SetupFlowError::OutOfOrder(
                    "no request is waiting for an answer",
                ))
            }
        }
    }

    /// The answer to the read of the current version after the request creating the new
    /// one got no answer: the new version, if that is what the server now has.
    pub(super) fn found_version(&mut self, response: &Response, mut error: Box<SetupFlowError>) {
        let ours = self
            .plan
            .as_ref()
            .map(|p| p.setup.backup_key.public_key().to_base64());
        // As the server spells it (padded or not), read back to the same form.
        let current = response
            .body
            .get("auth_data")
            .and_then(|a| a.get("public_key"))
            .and_then(Value::as_str)
            .and_then(|k| BackupPublicKey::from_base64(k).ok())
            .map(|k| k.to_base64());
        let id = response.body.get("version").and_then(Value::as_str);
        let old = self.old_version_id().map(str::to_owned);
        // Never the version there before (nor an older one), whatever the server says.
        let made = |id: &str| !id.is_empty() && old.as_deref().is_none_or(|o| newer_version(id, o));
        let lookup = match (response.is_success(), ours, current, id) {
            (true, Some(ours), Some(current), Some(id)) if current == ours && made(id) => {
                self.new_version = Some(id.to_owned());
                self.phase = Phase::RollBack(error);
                return;
            }
            // Another version, or none: the creation may not have happened, or may not be
            // seen yet (a cache, a lagging replica). Not learnt either way.
            (true, _, Some(_), Some(id)) => FlowError::Unexpected {
                request: "GET /room_keys/version".into(),
                reason: format!("it answers version {id}, whose key is not the new one"),
            },
            (true, ..) => FlowError::Unexpected {
                request: "GET /room_keys/version".into(),
                reason: "the answer names no version or no public key".into(),
            },
            _ if response.is_not_found() => FlowError::Unexpected {
                request: "GET /room_keys/version".into(),
                reason: "it answers that the account has no backup version".into(),
            },
            _ => response.error(),
        };
        error.set_version_unknown(VersionUnknown {
            before: old,
            lookup,
        });
        self.phase = Phase::Failed(Some(error));
    }
}
