//! Element's "Set up recovery" (and its reset) over the library's client
//! (`homeserver::Client::set_up_recovery`): the outcome, the account situation, the
//! events a callback hears, and the errors as the package's exceptions.

use flows::{AccountSituation as Situation, PlanError, SetupEvent as Event, SetupFlowError};
use homeserver::{SetupObserver, SetupRunError};
use pyo3::prelude::*;
use pyo3::types::PyAny;
use zeroize::Zeroizing;

use crate::errors;
use crate::keys::{BackupKey, Recovered};
use crate::session::Session;

/// `None` or the text quoted, as Python's `repr` shows an optional string.
fn opt(v: &Option<String>) -> String {
    v.as_ref()
        .map_or_else(|| "None".to_owned(), |s| format!("{s:?}"))
}

/// The state an account was in, in the terms of Element's "Set up recovery".
#[pyclass(frozen, module = "megolm_backup", name = "AccountSituation")]
#[derive(Clone)]
pub(crate) struct AccountSituation {
    /// `fresh`, `set_up`, `backup_without_secret_storage`,
    /// `secret_storage_without_backup` or `keys_on_other_devices` (Element X used
    /// without recovery).
    #[pyo3(get)]
    kind: &'static str,
    /// The default secret-storage key id, when the account has secret storage.
    #[pyo3(get)]
    key_id: Option<String>,
    /// The backup version the account had, if any.
    #[pyo3(get)]
    version: Option<String>,
    /// The cross-signing master public key, for `keys_on_other_devices`.
    #[pyo3(get)]
    master_key: Option<String>,
    /// What the state is and what setting up recovery costs in it, for a person.
    #[pyo3(get)]
    description: String,
}

impl AccountSituation {
    fn new(s: &Situation) -> Self {
        let description = s.to_string();
        let (kind, key_id, version, master_key) = match s {
            Situation::Fresh => ("fresh", None, None, None),
            Situation::SetUp { key, version } => {
                ("set_up", Some(key.clone()), Some(version.clone()), None)
            }
            Situation::BackupWithoutSecretStorage { version } => (
                "backup_without_secret_storage",
                None,
                Some(version.clone()),
                None,
            ),
            Situation::SecretStorageWithoutBackup { key } => (
                "secret_storage_without_backup",
                Some(key.clone()),
                None,
                None,
            ),
            Situation::KeysOnOtherDevices { master, version } => (
                "keys_on_other_devices",
                None,
                version.clone(),
                Some(master.clone()),
            ),
            Situation::SetupInterrupted { key, version } => (
                "setup_interrupted",
                Some(key.clone()),
                version.clone(),
                None,
            ),
            _ => ("unknown", None, None, None),
        };
        Self {
            kind,
            key_id,
            version,
            master_key,
            description,
        }
    }
}

#[pymethods]
impl AccountSituation {
    fn __str__(&self) -> String {
        self.description.clone()
    }

    fn __repr__(&self) -> String {
        format!(
            "AccountSituation(kind={:?}, key_id={}, version={}, master_key={})",
            self.kind,
            opt(&self.key_id),
            opt(&self.version),
            opt(&self.master_key)
        )
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other.cast::<Self>().is_ok_and(|o| {
            let o = o.get();
            (o.kind, &o.key_id, &o.version, &o.master_key)
                == (self.kind, &self.key_id, &self.version, &self.master_key)
        })
    }
}

/// One step of a setup, told to `on_event`.
#[pyclass(frozen, module = "megolm_backup", name = "SetupEvent")]
pub(crate) struct SetupEvent {
    /// `situation`, `note`, `cross_signing_uploaded`, `version_created`,
    /// `carrying_over`, `progress`, `carried_over`, `old_version_deleted`,
    /// `old_version_kept`, `key_backup_enabled` or `verified`.
    #[pyo3(get)]
    kind: &'static str,
    /// A line for a person.
    #[pyo3(get)]
    message: String,
    /// The account's state, for `situation`.
    #[pyo3(get)]
    situation: Option<AccountSituation>,
    /// The backup version the event is about (the new one, or the old one for
    /// `carrying_over`, `old_version_deleted`, `old_version_kept`).
    #[pyo3(get)]
    version: Option<String>,
    /// Sessions sent so far (`progress`), or sessions copied (`carrying_over`,
    /// `carried_over`).
    #[pyo3(get)]
    sessions: Option<u64>,
    /// Sessions to send in all, for `progress`.
    #[pyo3(get)]
    total: Option<u64>,
}

impl SetupEvent {
    fn new(e: &Event) -> Self {
        let mut out = Self {
            kind: "unknown",
            message: e.to_string(),
            situation: None,
            version: None,
            sessions: None,
            total: None,
        };
        match e {
            Event::Situation(s) => {
                out.kind = "situation";
                out.situation = Some(AccountSituation::new(s));
            }
            Event::Note(_) => out.kind = "note",
            Event::CrossSigningUploaded { .. } => out.kind = "cross_signing_uploaded",
            Event::VersionCreated { version } => {
                out.kind = "version_created";
                out.version = Some(version.clone());
            }
            Event::CarryingOver {
                sessions,
                old_version,
                ..
            } => {
                out.kind = "carrying_over";
                out.sessions = Some(*sessions);
                out.version = Some(old_version.clone());
            }
            Event::Progress { sent, total } => {
                out.kind = "progress";
                out.sessions = Some(*sent);
                out.total = Some(*total);
            }
            Event::CarriedOver {
                sessions,
                new_version,
                ..
            } => {
                out.kind = "carried_over";
                out.sessions = Some(*sessions);
                out.version = Some(new_version.clone());
            }
            Event::OldVersionDeleted { version, .. } => {
                out.kind = "old_version_deleted";
                out.version = Some(version.clone());
            }
            Event::OldVersionKept { version } => {
                out.kind = "old_version_kept";
                out.version = Some(version.clone());
            }
            Event::OldVersionKeptUncopied {
                version,
                not_copied,
            } => {
                out.kind = "old_version_kept";
                out.version = Some(version.clone());
                out.sessions = *not_copied;
            }
            Event::KeyBackupEnabled => out.kind = "key_backup_enabled",
            Event::Verified { version, .. } => {
                out.kind = "verified";
                out.version = Some(version.clone());
            }
            _ => {}
        }
        out
    }
}

#[pymethods]
impl SetupEvent {
    fn __str__(&self) -> String {
        self.message.clone()
    }

    fn __repr__(&self) -> String {
        format!(
            "SetupEvent(kind={:?}, message={:?})",
            self.kind, self.message
        )
    }
}

/// What a finished setup gave the user. Its `repr` leaves the Security Key out.
#[pyclass(frozen, module = "megolm_backup", name = "SetupOutcome")]
pub(crate) struct SetupOutcome {
    security_key: Zeroizing<String>,
    /// Whether the secret-storage key was made from the Security Phrase.
    #[pyo3(get)]
    with_phrase: bool,
    /// The new backup version.
    #[pyo3(get)]
    version: String,
    /// The cross-signing master public key the account now has.
    #[pyo3(get)]
    master_key: String,
    /// Whether new cross-signing keys were uploaded (a new identity).
    #[pyo3(get)]
    new_cross_signing: bool,
    /// Sessions copied from the old backup version into the new one.
    #[pyo3(get)]
    carried_over: u64,
    /// The old backup version left on the server, unread.
    #[pyo3(get)]
    old_version_kept: Option<String>,
    /// The old backup version deleted.
    #[pyo3(get)]
    old_version_deleted: Option<String>,
    /// The state the account was found in.
    #[pyo3(get)]
    situation: AccountSituation,
    /// What the plan decided and warned about, one line each.
    #[pyo3(get)]
    notes: Vec<String>,
}

#[pymethods]
impl SetupOutcome {
    /// The new Security Key (base58, in groups of four): show it to the user once. With a
    /// Security Phrase it is the phrase's equivalent. This exposes the secret.
    #[getter]
    fn security_key(&self) -> String {
        self.security_key.as_str().to_owned()
    }

    fn __repr__(&self) -> String {
        format!(
            "SetupOutcome(version={:?}, with_phrase={}, new_cross_signing={}, carried_over={}, \
             old_version_kept={}, old_version_deleted={}, situation={:?})",
            self.version,
            if self.with_phrase { "True" } else { "False" },
            if self.new_cross_signing {
                "True"
            } else {
                "False"
            },
            self.carried_over,
            opt(&self.old_version_kept),
            opt(&self.old_version_deleted),
            self.situation.kind
        )
    }
}

/// Hears the library's events: keeps the notes, tells `on_event`, gives the phrase.
struct Observer {
    on_event: Option<Py<PyAny>>,
    phrase: Option<Zeroizing<String>>,
    notes: Vec<String>,
    /// The new Security Key, once the setup handed it over (before secret storage is
    /// written with it): put on the exception of a setup that stops later.
    security_key: Option<Zeroizing<String>>,
}

impl SetupObserver for Observer {
    fn event(&mut self, event: &Event) {
        match event {
            Event::Note(n) => self.notes.push(n.clone()),
            Event::OldVersionKept { .. } | Event::OldVersionKeptUncopied { .. } => {
                self.notes.push(event.to_string())
            }
            Event::CarryingOver { unreadable, .. } if *unreadable > 0 => {
                self.notes.push(event.to_string())
            }
            _ => {}
        }
        let Some(callback) = &self.on_event else {
            return;
        };
        Python::attach(|py| {
            let result = Py::new(py, SetupEvent::new(event))
                .and_then(|e| callback.call1(py, (e,)).map(drop));
            // The account is being changed: stopping half-way would leave it unfinished,
            // so a failing callback is reported (sys.unraisablehook) and the setup goes on.
            if let Err(e) = result {
                e.write_unraisable(py, Some(callback.bind(py)));
            }
        });
    }

    fn phrase(&mut self) -> Option<Zeroizing<String>> {
        self.phrase.take()
    }

    fn save_key(&mut self, security_key: &str) {
        self.security_key = Some(Zeroizing::new(security_key.to_owned()));
    }
}

fn recovery_key_text(k: &BackupKey) -> Zeroizing<String> {
    Zeroizing::new(k.key.to_recovery_key().to_base58_grouped().to_string())
}

/// `old_key` as text: a `BackupKey` or `Recovered` is given as the backup's recovery key.
fn old_key_text(old_key: &Bound<'_, PyAny>) -> PyResult<Zeroizing<String>> {
    if let Ok(text) = old_key.extract::<String>() {
        return Ok(Zeroizing::new(text));
    }
    if let Ok(k) = old_key.cast::<BackupKey>() {
        return Ok(recovery_key_text(k.get()));
    }
    if let Ok(r) = old_key.cast::<Recovered>() {
        return Ok(recovery_key_text(r.get().key.get()));
    }
    Err(errors::invalid(
        "type",
        "old_key must be the old Security Key or Phrase (or the old backup's recovery key) as \
         text, a BackupKey or a Recovered",
    ))
}

/// `SetupRefusedError` (or its subclass `class`) with the account's situation.
fn refused(
    py: Python<'_>,
    class: &str,
    kind: &str,
    message: String,
    situation: Option<AccountSituation>,
) -> PyErr {
    let err = errors::raise(class, kind, message, None, None);
    let value = err.value(py);
    let set = match situation {
        Some(s) => Py::new(py, s).and_then(|s| value.setattr("situation", s)),
        None => value.setattr("situation", py.None()),
    };
    match set {
        Ok(()) => err,
        Err(e) => e,
    }
}

/// The situation a refusal names, when it names one.
fn situation_of(plan: &PlanError) -> Option<Situation> {
    Some(match plan {
        PlanError::AlreadySetUp { key, version, .. } => Situation::SetUp {
            key: key.clone(),
            version: version.clone(),
        },
        PlanError::BackupWithoutSecretStorage { version, .. } => {
            Situation::BackupWithoutSecretStorage {
                version: version.clone(),
            }
        }
        PlanError::SecretStorageWithoutBackup { key, .. } => {
            Situation::SecretStorageWithoutBackup { key: key.clone() }
        }
        PlanError::KeysOnOtherDevices {
            master, version, ..
        } => Situation::KeysOnOtherDevices {
            master: master.clone(),
            version: version.clone(),
        },
        _ => return None,
    })
}

impl Session {
    /// The account's situation, read again (after a refusal that does not name it;
    /// nothing was changed). `None` when it cannot be read.
    fn situation_now(&self) -> Option<Situation> {
        let user = self.whoami().ok()?;
        let state = self
            .client()
            .run(flows::AccountStateFlow::new(&user))
            .ok()?;
        Some(state.situation())
    }

    fn setup_error(&self, py: Python<'_>, e: SetupRunError) -> PyErr {
        let message = e.to_string();
        let e = match e {
            SetupRunError::Client(c) => return errors::client(c),
            SetupRunError::Setup(s) => s,
            _ => return errors::raise("MegolmBackupError", "setup", message, None, None),
        };
        // What the account is in, for the refusals: named by the refusal, or read again.
        let situation = |plan: Option<&PlanError>| {
            let s = plan
                .and_then(situation_of)
                .or_else(|| py.detach(|| self.situation_now()));
            s.as_ref().map(AccountSituation::new)
        };
        match e {
            SetupFlowError::Refused(plan) => match plan {
                PlanError::NeedsPassword => refused(
                    py,
                    "PasswordRequiredError",
                    "needs_password",
                    message,
                    situation(None),
                ),
                PlanError::OldKey(r) => {
                    let err = errors::recover(r);
                    // The library's message says it is about the old key.
                    let value = err.value(py);
                    let _ = value.setattr("message", &message);
                    let _ = value.setattr("args", (message,));
                    err
                }
                PlanError::Setup(_) | PlanError::CrossSigning(_) => {
                    errors::raise("MegolmBackupError", "setup", message, None, None)
                }
                plan => {
                    let kind = match &plan {
                        PlanError::AlreadySetUp { .. } => "already_set_up",
                        PlanError::BackupWithoutSecretStorage { .. } => {
                            "backup_without_secret_storage"
                        }
                        PlanError::SecretStorageWithoutBackup { .. } => {
                            "secret_storage_without_backup"
                        }
                        PlanError::KeysOnOtherDevices { .. } => "keys_on_other_devices",
                        PlanError::CrossSigningExists(_) => "cross_signing_exists",
                        PlanError::StoredBackupKeyStale { .. } => "stored_backup_key_stale",
                        PlanError::StoredBackupKeyUnreadable { .. } => {
                            "stored_backup_key_unreadable"
                        }
                        _ => "refused",
                    };
                    let s = situation(Some(&plan));
                    refused(py, "SetupRefusedError", kind, message, s)
                }
            },
            SetupFlowError::NeedsPassword => refused(
                py,
                "PasswordRequiredError",
                "needs_password",
                message,
                situation(None),
            ),
            SetupFlowError::Read(f) => errors::flow(f),
            SetupFlowError::CrossSigningRefused(ref f) => {
                server_error("cross_signing_refused", message, f)
            }
            SetupFlowError::Unfinished { ref source, .. } => {
                server_error("unfinished", message, source)
            }
            SetupFlowError::AfterSetUp { ref source, .. } => {
                server_error("set_up_incomplete", message, source)
            }
            SetupFlowError::CarryOver { .. } | SetupFlowError::CarryOverIncomplete { .. } => {
                errors::raise("MegolmBackupError", "unfinished", message, None, None)
            }
            SetupFlowError::NotVerified { .. } => {
                errors::raise("MegolmBackupError", "not_verified", message, None, None)
            }
            _ => errors::raise("MegolmBackupError", "setup", message, None, None),
        }
    }
}

/// A `ServerError` with the whole setup message (what changed, what finishes the setup)
/// and the server's errcode.
fn server_error(kind: &str, message: String, f: &flows::FlowError) -> PyErr {
    match f {
        flows::FlowError::Server {
            status, errcode, ..
        } => errors::raise("ServerError", kind, message, Some(errcode), Some(*status)),
        _ => errors::raise("ServerError", kind, message, None, None),
    }
}

/// `Homeserver.set_up_recovery` (documented there).
#[allow(clippy::too_many_arguments)]
pub(crate) fn set_up_recovery(
    hs: &Session,
    py: Python<'_>,
    passphrase: Option<&str>,
    password: Option<&str>,
    reset: bool,
    old_key: Option<&Bound<'_, PyAny>>,
    replace_cross_signing: bool,
    delete_old_version: bool,
    discard_stale_backup_key: bool,
    on_event: Option<Py<PyAny>>,
) -> PyResult<SetupOutcome> {
    if let Some(c) = &on_event
        && !c.bind(py).is_callable()
    {
        return Err(errors::invalid(
            "type",
            "on_event must be a callable taking a SetupEvent",
        ));
    }
    let old = old_key
        .filter(|k| !k.is_none())
        .map(old_key_text)
        .transpose()?;
    if old.is_some() && !reset {
        return Err(errors::invalid(
            "old_key",
            "the old key is used only by a reset: pass reset=True with it",
        ));
    }
    let phrase = passphrase.map(|p| Zeroizing::new(p.to_owned()));
    let password = password.map(|p| Zeroizing::new(p.to_owned()));
    if let Some(p) = &phrase {
        let user = py.detach(|| hs.whoami()).map_err(errors::client)?;
        let local = user
            .trim_start_matches('@')
            .split(':')
            .next()
            .unwrap_or_default();
        let account_password = password.as_deref().map(|s| s.as_str());
        ssss::setup::check_passphrase(p, account_password, &[local, &user]).map_err(|e| {
            let kind = match e {
                ssss::setup::PassphraseRejected::AccountPassword => "account_password",
                _ => "weak_passphrase",
            };
            errors::invalid(kind, e.to_string())
        })?;
    }
    let mut options = flows::SetupOptions::new()
        .phrase(phrase.is_some())
        .replace_cross_signing(replace_cross_signing)
        .delete_unreadable_old_version(delete_old_version)
        .discard_stale_backup_key(discard_stale_backup_key);
    if reset {
        options = options.reset(old.as_deref().map(|s| s.as_str()));
    }
    let mut observer = Observer {
        on_event,
        phrase,
        notes: Vec::new(),
        security_key: None,
    };
    let result = py.detach(|| {
        hs.client().set_up_recovery(
            options,
            password.as_deref().map(|s| s.as_str()),
            &mut observer,
        )
    });
    let outcome = result.map_err(|e| {
        let err = hs.setup_error(py, e);
        // A setup that stopped after handing the key over: secrets may be encrypted to it.
        if let Some(key) = &observer.security_key
            && let Err(e) = err.value(py).setattr("security_key", key.as_str())
        {
            e.write_unraisable(py, None);
        }
        err
    })?;
    Ok(SetupOutcome {
        with_phrase: outcome.with_phrase,
        version: outcome.version.clone(),
        master_key: outcome.master_key.clone(),
        new_cross_signing: outcome.new_cross_signing,
        carried_over: outcome.carried_over,
        old_version_kept: outcome.old_version_kept.clone(),
        old_version_deleted: outcome.old_version_deleted.clone(),
        situation: AccountSituation::new(&outcome.situation),
        notes: observer.notes,
        security_key: outcome.security_key,
    })
}
