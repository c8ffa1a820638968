//! Reading the account: the requests of [`DoctorFlow`] and what it keeps of the answers.

use std::fmt;

use backup_cipher::BackupVersion;
use serde_json::{Map, Value};
use ssss::{CROSS_SIGNING_SECRETS, DEFAULT_KEY_EVENT, MEGOLM_BACKUP_SECRET, SecretStore};
use zeroize::Zeroizing;

use super::{
    AccountSnapshot, Device, Diagnosis, DoctorOptions, EntryCheck, diagnose::diagnose_with_progress,
};
use crate::{Flow, FlowError, KEY_BACKUP_EVENT, Request, Response, requests, step::Steps};

/// Called as entries are decrypted: (checked so far, to check in all).
pub type EntryProgress = Box<dyn FnMut(usize, usize) + Send>;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Version,
    OldVersion(String),
    AccountData(String),
    KeysQuery,
    Devices,
    Entries(String),
}

/// Reads the account for [`diagnose`](super::diagnose) and runs it in [`finish`](Flow::finish).
///
/// A Security Phrase costs one PBKDF2 derivation in `finish`, and the entries one X25519
/// each: call it off an async runtime's reactor thread.
pub struct DoctorFlow {
    snapshot: AccountSnapshot,
    input: Option<Zeroizing<String>>,
    options: DoctorOptions,
    steps: Steps<Step>,
    events: Map<String, Value>,
    progress: Option<EntryProgress>,
}

impl fmt::Debug for DoctorFlow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DoctorFlow")
            .field("user_id", &self.snapshot.user_id)
            .field("options", &self.options)
            .field("steps", &self.steps)
            .finish_non_exhaustive()
    }
}

impl DoctorFlow {
    /// For `user_id`, with what the user has (`input`: Security Key or Phrase, or the
    /// backup's own key; `None` skips what needs a key).
    pub fn new(user_id: &str, input: Option<&str>, options: DoctorOptions) -> Self {
        let mut steps = Steps::new([
            Step::Version,
            Step::AccountData(DEFAULT_KEY_EVENT.to_owned()),
            Step::AccountData(MEGOLM_BACKUP_SECRET.to_owned()),
            Step::AccountData(KEY_BACKUP_EVENT.to_owned()),
            Step::KeysQuery,
            Step::Devices,
        ]);
        steps.extend(
            CROSS_SIGNING_SECRETS
                .iter()
                .map(|name| Step::AccountData((*name).to_owned())),
        );
        Self {
            snapshot: AccountSnapshot::new(user_id),
            input: input.map(|i| Zeroizing::new(i.to_owned())),
            options,
            steps,
            events: Map::new(),
            progress: None,
        }
    }

    /// Calls `f` as entries are decrypted.
    pub fn on_entry_progress(mut self, f: impl FnMut(usize, usize) + Send + 'static) -> Self {
        self.progress = Some(Box::new(f));
        self
    }

    fn request(&self, step: &Step) -> Request {
        let user = &self.snapshot.user_id;
        match step {
            Step::Version => requests::backup_version(None),
            Step::OldVersion(v) => requests::backup_version(Some(v)),
            Step::AccountData(t) => requests::account_data(user, t),
            Step::KeysQuery => requests::keys_query(user),
            Step::Devices => requests::devices(),
            Step::Entries(v) => requests::room_keys(v),
        }
    }
}

fn unexpected(request: &str, reason: impl fmt::Display) -> FlowError {
    FlowError::Unexpected {
        request: request.to_owned(),
        reason: reason.to_string(),
    }
}

impl Flow for DoctorFlow {
    type Output = Diagnosis;

    fn next_request(&mut self) -> Option<Request> {
        let step = self.steps.pop()?;
        let request = self.request(&step);
        self.steps.send(step, request)
    }

    /// The keys body of the current version is kept as it came, to be read with the
    /// backup body's grammar (every listing of a room listed twice); any other answer is
    /// parsed and handled as [`receive`](Flow::receive) does.
    fn receive_bytes(&mut self, status: u16, body: &[u8]) -> Result<(), FlowError> {
        let entries = matches!(self.steps.in_flight(), Some(Step::Entries(_)));
        if !entries || !(200..300).contains(&status) {
            return self.receive(Response::from_bytes(status, body));
        }
        self.steps.answered()?;
        self.snapshot.entries = Some(body.to_vec());
        Ok(())
    }

    fn receive(&mut self, response: Response) -> Result<(), FlowError> {
        let step = self.steps.answered()?;
        if response.is_not_found() {
            return Ok(());
        }
        if !response.is_success() {
            // A probe of an old version may be refused in other ways (a server that hides
            // deleted versions behind another error): nothing is known of it.
            if matches!(step, Step::OldVersion(_)) && (400..500).contains(&response.status) {
                return Ok(());
            }
            return Err(response.error());
        }
        match step {
            Step::Version => {
                let version: BackupVersion = serde_json::from_value(response.body)
                    .map_err(|e| unexpected("GET /room_keys/version", e))?;
                if let Some(id) = &version.version {
                    if self.options.entries != EntryCheck::Skip {
                        self.steps.push(Step::Entries(id.clone()));
                    }
                    // Synapse numbers versions 1, 2, 3 …: probe the ones below.
                    if let Ok(n) = id.parse::<u64>() {
                        let lowest = n.saturating_sub(u64::from(self.options.old_version_probes));
                        self.steps.extend(
                            (lowest.max(1)..n)
                                .rev()
                                .map(|v| Step::OldVersion(v.to_string())),
                        );
                    }
                }
                self.snapshot.version = Some(version);
            }
            Step::OldVersion(_) => {
                // An unreadable old version is still an old version: keep what parses.
                if let Ok(v) = serde_json::from_value::<BackupVersion>(response.body) {
                    self.snapshot.old_versions.push(v);
                }
            }
            Step::AccountData(event_type) => {
                if event_type == DEFAULT_KEY_EVENT
                    && let Some(id) = response.body.get("key").and_then(Value::as_str)
                {
                    self.steps
                        .push_front(Step::AccountData(format!("m.secret_storage.key.{id}")));
                }
                if event_type == KEY_BACKUP_EVENT {
                    self.snapshot.key_backup_event = Some(response.body);
                } else {
                    self.events.insert(event_type, response.body);
                }
            }
            Step::KeysQuery => self.snapshot.keys_query = response.body,
            Step::Devices => {
                self.snapshot.devices = response
                    .body
                    .get("devices")
                    .and_then(Value::as_array)
                    .map(|list| {
                        list.iter()
                            .filter_map(|d| {
                                Some(Device {
                                    device_id: d.get("device_id")?.as_str()?.to_owned(),
                                    display_name: d
                                        .get("display_name")
                                        .and_then(Value::as_str)
                                        .map(str::to_owned),
                                })
                            })
                            .collect()
                    })
                    .unwrap_or_default();
            }
            // Parsed already (a client that does not honour `wants_bytes`): what the
            // parser kept is read, written back as bytes.
            Step::Entries(_) => {
                let bytes = serde_json::to_vec(&response.body)
                    .map_err(|e| unexpected("GET /room_keys/keys", e))?;
                self.snapshot.entries = Some(bytes);
            }
        }
        Ok(())
    }

    fn finish(mut self) -> Result<Diagnosis, FlowError> {
        self.steps.finished()?;
        self.snapshot.secret_storage = SecretStore::from_json(&Value::Object(self.events))?;
        let input = self.input.as_deref().map(String::as_str);
        Ok(diagnose_with_progress(
            &self.snapshot,
            input,
            &self.options,
            self.progress.as_mut(),
        ))
    }
}
