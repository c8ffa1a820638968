//! Element's "Set up recovery" (and its reset) as one sans-IO flow.

use std::{collections::VecDeque, fmt};

use backup_cipher::{KeysBackup, RestoreOptions, restore_slice};
use serde_json::Value;
use ssss::{
    CrossSigningKeys,
    setup::{SetupSecret, Signer},
};
use zeroize::Zeroizing;

use super::{
    AccountSituation, AccountState, AccountStateFlow, Decision, PlanError, SetupChoices, SetupPlan,
    build, decide, with_password,
};
use crate::{Flow, FlowError, Request, Response, requests};

/// How many sessions one upload request of the carry-over holds.
const CARRY_OVER_CHUNK: usize = 1000;

/// What the caller chose for a [`SetupFlow`]. Its `Debug` leaves the old key out.
#[derive(Clone, Copy, Default)]
#[non_exhaustive]
pub struct SetupOptions<'a> {
    /// Make the secret-storage key from a Security Phrase (asked for with
    /// [`SetupStep::NeedsPhrase`], once the account is known to allow the setup) instead
    /// of generating a Security Key.
    pub use_phrase: bool,
    /// Replace an existing setup.
    pub reset: bool,
    /// With `reset`: what the user had for the old setup (Security Key or Phrase, or the
    /// old backup's key), to keep the cross-signing keys and carry the old sessions over.
    pub old_input: Option<&'a str>,
    /// Create new cross-signing keys even when the account's cannot be read (this
    /// replaces the user's identity).
    pub replace_cross_signing: bool,
    /// Delete an old backup version whose key is not at hand, instead of keeping it.
    pub delete_unreadable_old_version: bool,
    /// Whether the caller can answer the server's password confirmation.
    pub have_password: bool,
    /// Also sign the new backup version with this key (e.g. the device's).
    pub signer: Option<Signer<'a>>,
}

impl fmt::Debug for SetupOptions<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.choices(SetupSecret::GenerateKey), f)
    }
}

impl<'a> SetupOptions<'a> {
    /// A setup with a generated Security Key on an account that has none.
    pub fn new() -> Self {
        Self::default()
    }
    /// Use a Security Phrase (asked for during the flow) instead of a generated key.
    pub fn phrase(mut self, use_phrase: bool) -> Self {
        self.use_phrase = use_phrase;
        self
    }
    /// Replace an existing setup, with what the user had for it (if anything).
    pub fn reset(mut self, old_input: Option<&'a str>) -> Self {
        self.reset = true;
        self.old_input = old_input;
        self
    }
    /// Allow replacing cross-signing keys whose private parts cannot be read.
    pub fn replace_cross_signing(mut self, replace: bool) -> Self {
        self.replace_cross_signing = replace;
        self
    }
    /// Delete (instead of keep) an old backup version whose key is not at hand.
    pub fn delete_unreadable_old_version(mut self, delete: bool) -> Self {
        self.delete_unreadable_old_version = delete;
        self
    }
    /// Whether a password is at hand for the server's confirmation.
    pub fn have_password(mut self, have: bool) -> Self {
        self.have_password = have;
        self
    }
    /// Also sign the backup with this key.
    pub fn signer(mut self, signer: Option<Signer<'a>>) -> Self {
        self.signer = signer;
        self
    }

    fn choices(&self, secret: SetupSecret<'a>) -> SetupChoices<'a> {
        SetupChoices {
            secret,
            reset: self.reset,
            old_input: self.old_input.filter(|_| self.reset),
            replace_cross_signing: self.replace_cross_signing,
            delete_unreadable_old_version: self.delete_unreadable_old_version,
            have_password: self.have_password,
            signer: self.signer,
        }
    }
}

/// What the flow asks of its caller next.
#[derive(Debug)]
#[non_exhaustive]
pub enum SetupStep {
    /// Send this request and feed its answer (whatever its status) to
    /// [`SetupFlow::receive`].
    Send(Request),
    /// The Security Phrase is needed: answer with [`SetupFlow::answer_phrase`] (the
    /// account allows the setup; nothing has changed yet).
    NeedsPhrase,
    /// The server asks for the account password to accept the new cross-signing keys:
    /// answer with [`SetupFlow::answer_password`]. Nothing has changed yet.
    NeedsPassword,
    /// Something to tell the user.
    Event(SetupEvent),
    /// Finished: call [`SetupFlow::finish`].
    Done,
}

/// What happened, for the user. Its `Display` is a line for a person.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SetupEvent {
    /// The state the account was found in.
    Situation(AccountSituation),
    /// One decision of the plan.
    Note(String),
    /// New cross-signing keys were uploaded.
    CrossSigningUploaded {
        /// The new master public key.
        master: String,
    },
    /// The new backup version exists, signed by the master key.
    VersionCreated {
        /// Its id.
        version: String,
    },
    /// The old backup's sessions are being copied into the new version.
    CarryingOver {
        /// How many sessions are copied.
        sessions: u64,
        /// Entries of the old backup that could not be read and are not copied.
        unreadable: u64,
        /// The old version.
        old_version: String,
    },
    /// Sessions uploaded so far by the carry-over.
    Progress {
        /// Sent so far.
        sent: u64,
        /// To send in all.
        total: u64,
    },
    /// Every carried-over session is in the new version.
    CarriedOver {
        /// How many.
        sessions: u64,
        /// From this version.
        old_version: String,
        /// Into this one.
        new_version: String,
    },
    /// The old backup version was deleted.
    OldVersionDeleted {
        /// Its id.
        version: String,
        /// Whether its sessions had been copied first (`false`: deleted unread, as the
        /// caller chose).
        carried_over: bool,
    },
    /// The old backup version stays on the server, unread.
    OldVersionKept {
        /// Its id.
        version: String,
    },
    /// `m.key_backup` `{"enabled": true}` was written.
    KeyBackupEnabled,
    /// A fresh read of the account unlocks with what the user was given.
    Verified {
        /// The new backup version.
        version: String,
        /// Whether the user has a Security Phrase (else a Security Key).
        with_phrase: bool,
    },
}

impl fmt::Display for SetupEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Situation(s) => write!(f, "account: {s}"),
            Self::Note(n) => f.write_str(n),
            Self::CrossSigningUploaded { master } => {
                write!(f, "uploaded new cross-signing keys (master key {master})")
            }
            Self::VersionCreated { version } => write!(
                f,
                "created backup version {version}, signed by the cross-signing master key"
            ),
            Self::CarryingOver {
                sessions,
                unreadable,
                old_version,
            } => {
                write!(
                    f,
                    "carrying over {sessions} sessions from backup version {old_version}"
                )?;
                if *unreadable > 0 {
                    write!(
                        f,
                        " (warning: {unreadable} entries of the old backup could not be \
                         restored and are not copied)"
                    )?;
                }
                Ok(())
            }
            Self::Progress { sent, total } => write!(f, "uploaded {sent} of {total} sessions"),
            Self::CarriedOver {
                sessions,
                old_version,
                new_version,
            } => write!(
                f,
                "copied {sessions} sessions from backup version {old_version} into version \
                 {new_version}"
            ),
            Self::OldVersionDeleted {
                version,
                carried_over: true,
            } => write!(f, "deleted the old backup version {version}"),
            Self::OldVersionDeleted { version, .. } => write!(
                f,
                "deleted the old backup version {version} unread, as chosen: its sessions are \
                 gone from the server"
            ),
            Self::OldVersionKept { version } => write!(
                f,
                "warning: without the old backup's key the sessions of backup version \
                 {version} cannot be read, so they are not copied; version {version} is kept \
                 on the server"
            ),
            Self::KeyBackupEnabled => {
                f.write_str("wrote m.key_backup {\"enabled\": true} (read by Element X)")
            }
            Self::Verified {
                version,
                with_phrase,
            } => write!(
                f,
                "verified: a fresh read of the account unlocks secret storage with your {} \
                 and finds the key of backup version {version}",
                if *with_phrase {
                    "Security Phrase"
                } else {
                    "Security Key"
                }
            ),
        }
    }
}

/// What a finished setup gave the user. Its `Debug` leaves the Security Key out.
#[non_exhaustive]
pub struct SetupOutcome {
    /// The new Security Key (base58, in groups of four): show it once. With a Security
    /// Phrase it is the phrase's equivalent.
    pub security_key: Zeroizing<String>,
    /// Whether the secret-storage key was made from a Security Phrase.
    pub with_phrase: bool,
    /// The new backup version.
    pub version: String,
    /// The cross-signing master public key the account now has.
    pub master_key: String,
    /// Whether new cross-signing keys were uploaded (a new identity).
    pub new_cross_signing: bool,
    /// Sessions copied from the old backup version.
    pub carried_over: u64,
    /// The old version left on the server, unread.
    pub old_version_kept: Option<String>,
    /// The old version deleted.
    pub old_version_deleted: Option<String>,
    /// The state the account was found in.
    pub situation: AccountSituation,
}

impl fmt::Debug for SetupOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SetupOutcome")
            .field("security_key", &"…")
            .field("with_phrase", &self.with_phrase)
            .field("version", &self.version)
            .field("master_key", &self.master_key)
            .field("new_cross_signing", &self.new_cross_signing)
            .field("carried_over", &self.carried_over)
            .field("old_version_kept", &self.old_version_kept)
            .field("old_version_deleted", &self.old_version_deleted)
            .field("situation", &self.situation)
            .finish()
    }
}

/// Why a [`SetupFlow`] stopped. Each message says what changed and what would finish the
/// setup, in this API's terms.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SetupFlowError {
    /// The account could not be read; nothing was changed.
    #[error("cannot read the account: {0}")]
    Read(#[source] FlowError),
    /// The plan was refused: the account's state and what is needed. Nothing was changed.
    #[error(transparent)]
    Refused(#[from] PlanError),
    /// The server asks for the account password and none was given. Nothing was changed.
    #[error(
        "the homeserver asks for the account password to accept new cross-signing keys, and \
         none was given. Nothing was changed"
    )]
    NeedsPassword,
    /// The server refused the new cross-signing keys. Nothing was changed.
    #[error("the homeserver refused the new cross-signing keys ({0}). Nothing else was changed")]
    CrossSigningRefused(#[source] FlowError),
    /// A step after the first change failed: the setup is unfinished.
    #[error("{step}: {source}. {}", unfinished(*new_cross_signing))]
    Unfinished {
        /// Which step.
        step: &'static str,
        /// The server's answer.
        #[source]
        source: FlowError,
        /// Whether new cross-signing keys had been uploaded.
        new_cross_signing: bool,
    },
    /// The old backup could not be read for the carry-over; the old version is kept.
    #[error(
        "the old backup version {old_version} could not be read: {source}. It is kept; {}",
        unfinished(*new_cross_signing)
    )]
    CarryOver {
        /// The old version.
        old_version: String,
        /// Why.
        #[source]
        source: backup_cipher::RestoreError,
        /// Whether new cross-signing keys had been uploaded.
        new_cross_signing: bool,
    },
    /// The new version holds fewer sessions than were copied; the old version is kept.
    #[error(
        "the new backup holds {held} of {expected} sessions; the old version {old_version} is \
         kept. {}",
        unfinished(*new_cross_signing)
    )]
    CarryOverIncomplete {
        /// Sessions the new version holds.
        held: u64,
        /// Sessions copied.
        expected: u64,
        /// The old version.
        old_version: String,
        /// Whether new cross-signing keys had been uploaded.
        new_cross_signing: bool,
    },
    /// Everything was written, but a fresh read does not unlock with what the user got.
    #[error("setup could not be verified: {0}")]
    NotVerified(String),
    /// The caller drove the flow out of order (a response with no request pending, an
    /// answer that was not asked for).
    #[error("the setup flow was driven out of order: {0}")]
    OutOfOrder(&'static str),
}

fn unfinished(new_cross_signing: bool) -> &'static str {
    if new_cross_signing {
        "Setup did not finish after the new cross-signing keys were uploaded: set up again \
         with a reset, replacing the cross-signing keys"
    } else {
        "Setup did not finish: set up again with a reset"
    }
}

/// Where the flow is.
#[derive(Debug)]
enum Phase {
    Read(Box<AccountStateFlow>),
    Plan,
    WaitPhrase,
    UploadKeys,
    WaitPassword,
    CreateVersion,
    Download,
    UploadSessions,
    CountCheck,
    AccountData(usize),
    DeleteOld,
    KeyBackup,
    ReadBack(Box<AccountStateFlow>),
    Done,
}

/// Element's "Set up recovery", or its reset, as one sans-IO flow: read the account,
/// plan, confirm with the password, carry the old sessions over, write in the crash-safe
/// order [`plan_setup`](crate::plan_setup) lists, and read everything back.
///
/// ```text
/// loop {
///     match flow.next_step()? {
///         SetupStep::Send(request) => flow.receive(send(request)?)?,
///         SetupStep::NeedsPhrase => flow.answer_phrase(ask_phrase()),
///         SetupStep::NeedsPassword => flow.answer_password(&password)?,
///         SetupStep::Event(event) => println!("{event}"),
///         SetupStep::Done => break,
///     }
/// }
/// let outcome = flow.finish()?;
/// ```
pub struct SetupFlow<'a> {
    user_id: String,
    options: SetupOptions<'a>,
    phase: Phase,
    /// The request whose answer is awaited.
    in_flight: Option<Request>,
    /// The request to send next (a retry with the password).
    queued: Option<Request>,
    /// The server's password question, while it waits for an answer.
    question: Option<Response>,
    events: VecDeque<SetupEvent>,
    state: Option<AccountState>,
    situation: Option<AccountSituation>,
    decision: Option<Decision>,
    phrase: Option<Zeroizing<String>>,
    plan: Option<SetupPlan>,
    new_version: Option<String>,
    chunks: VecDeque<KeysBackup>,
    copied: u64,
    to_copy: u64,
    old_deleted: Option<String>,
}

impl fmt::Debug for SetupFlow<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SetupFlow")
            .field("user_id", &self.user_id)
            .field("phase", &self.phase)
            .finish_non_exhaustive()
    }
}

impl<'a> SetupFlow<'a> {
    /// For `user_id` (from `GET /account/whoami`).
    pub fn new(user_id: &str, options: SetupOptions<'a>) -> Self {
        Self {
            user_id: user_id.to_owned(),
            options,
            phase: Phase::Read(Box::new(AccountStateFlow::new(user_id))),
            in_flight: None,
            queued: None,
            question: None,
            events: VecDeque::new(),
            state: None,
            situation: None,
            decision: None,
            phrase: None,
            plan: None,
            new_version: None,
            chunks: VecDeque::new(),
            copied: 0,
            to_copy: 0,
            old_deleted: None,
        }
    }

    /// The Security Phrase, after [`SetupStep::NeedsPhrase`] (check it with the caller's
    /// policy first, e.g. `ssss::setup::check_passphrase`).
    pub fn answer_phrase(&mut self, phrase: Zeroizing<String>) -> Result<(), SetupFlowError> {
        if !matches!(self.phase, Phase::WaitPhrase) {
            return Err(SetupFlowError::OutOfOrder(
                "no Security Phrase was asked for",
            ));
        }
        self.phrase = Some(phrase);
        self.phase = Phase::Plan;
        Ok(())
    }

    /// The account password, after [`SetupStep::NeedsPassword`]: the next request is the
    /// same upload with the answer to the server's question.
    pub fn answer_password(&mut self, password: &str) -> Result<(), SetupFlowError> {
        let (Phase::WaitPassword, Some(question)) = (&self.phase, self.question.take()) else {
            return Err(SetupFlowError::OutOfOrder("no password was asked for"));
        };
        let upload = self
            .plan
            .as_ref()
            .and_then(|p| p.upload_cross_signing.as_ref())
            .ok_or(SetupFlowError::OutOfOrder("no upload waits for a password"))?;
        let again = with_password(upload, &question, &self.user_id, password)
            .ok_or(SetupFlowError::OutOfOrder("the server asked no question"))?;
        self.queued = Some(again);
        self.phase = Phase::UploadKeys;
        Ok(())
    }

    fn plan(&self) -> Result<&SetupPlan, SetupFlowError> {
        self.plan
            .as_ref()
            .ok_or(SetupFlowError::OutOfOrder("no plan yet"))
    }

    fn new_keys(&self) -> bool {
        self.plan
            .as_ref()
            .is_some_and(|p| p.upload_cross_signing.is_some())
    }

    fn send(&mut self, request: Request) -> Result<SetupStep, SetupFlowError> {
        self.in_flight = Some(request.clone());
        Ok(SetupStep::Send(request))
    }

    /// What to do next.
    pub fn next_step(&mut self) -> Result<SetupStep, SetupFlowError> {
        if self.in_flight.is_some() {
            return Err(SetupFlowError::OutOfOrder(
                "next_step came before the answer to the last request",
            ));
        }
        if let Some(event) = self.events.pop_front() {
            return Ok(SetupStep::Event(event));
        }
        loop {
            match &mut self.phase {
                Phase::Read(read) => match read.next_request() {
                    Some(r) => return self.send(r),
                    None => {
                        let read = std::mem::replace(&mut self.phase, Phase::Plan);
                        let Phase::Read(read) = read else {
                            return Err(SetupFlowError::OutOfOrder("lost the account read"));
                        };
                        let state = read.finish().map_err(SetupFlowError::Read)?;
                        let situation = state.situation();
                        let choices = self.options.choices(SetupSecret::GenerateKey);
                        self.events
                            .push_back(SetupEvent::Situation(situation.clone()));
                        self.situation = Some(situation);
                        let decision = decide(&state, &choices);
                        self.state = Some(state);
                        self.decision = Some(decision?);
                        if self.options.use_phrase {
                            self.phase = Phase::WaitPhrase;
                        }
                        if let Some(event) = self.events.pop_front() {
                            return Ok(SetupStep::Event(event));
                        }
                    }
                },
                Phase::WaitPhrase => return Ok(SetupStep::NeedsPhrase),
                Phase::WaitPassword => return Ok(SetupStep::NeedsPassword),
                Phase::Plan => {
                    let (Some(state), Some(decision)) = (&self.state, self.decision.take()) else {
                        return Err(SetupFlowError::OutOfOrder("no account state"));
                    };
                    let secret = match &self.phrase {
                        Some(p) => SetupSecret::Passphrase(p.as_str()),
                        None => SetupSecret::GenerateKey,
                    };
                    let choices = SetupChoices {
                        secret,
                        ..self.options.choices(SetupSecret::GenerateKey)
                    };
                    let plan = build(state, &choices, decision)?;
                    self.events
                        .extend(plan.notes.iter().cloned().map(SetupEvent::Note));
                    self.phase = if plan.upload_cross_signing.is_some() {
                        Phase::UploadKeys
                    } else {
                        Phase::CreateVersion
                    };
                    self.plan = Some(plan);
                    if let Some(event) = self.events.pop_front() {
                        return Ok(SetupStep::Event(event));
                    }
                }
                Phase::UploadKeys => {
                    let request = match self.queued.take() {
                        Some(r) => r,
                        None => self
                            .plan()?
                            .upload_cross_signing
                            .clone()
                            .ok_or(SetupFlowError::OutOfOrder("no keys to upload"))?,
                    };
                    return self.send(request);
                }
                Phase::CreateVersion => {
                    let r = self.plan()?.create_version.clone();
                    return self.send(r);
                }
                Phase::Download => {
                    let old = self
                        .plan()?
                        .carry_over
                        .as_ref()
                        .map(|c| c.old_version.clone())
                        .ok_or(SetupFlowError::OutOfOrder("nothing to carry over"))?;
                    return self.send(requests::room_keys(&old));
                }
                Phase::UploadSessions => match self.chunks.front() {
                    Some(chunk) => {
                        let version = self.new_version.clone().unwrap_or_default();
                        let r = requests::put_room_keys(&version, chunk).map_err(|e| {
                            self.unfinished(
                                "cannot upload the carried-over sessions",
                                FlowError::Unexpected {
                                    request: "PUT /room_keys/keys".into(),
                                    reason: e.to_string(),
                                },
                            )
                        })?;
                        return self.send(r);
                    }
                    None => self.phase = Phase::CountCheck,
                },
                Phase::CountCheck => {
                    let version = self.new_version.clone().unwrap_or_default();
                    return self.send(requests::backup_version(Some(&version)));
                }
                Phase::AccountData(i) => {
                    let i = *i;
                    match self.plan()?.account_data.get(i).cloned() {
                        Some(r) => return self.send(r),
                        None => self.phase = Phase::DeleteOld,
                    }
                }
                Phase::DeleteOld => match self.plan()?.delete_old_version.clone() {
                    Some(r) => return self.send(r),
                    None => {
                        if let Some(v) = self.plan()?.old_version_kept.clone() {
                            self.events
                                .push_back(SetupEvent::OldVersionKept { version: v });
                        }
                        self.phase = Phase::KeyBackup;
                        if let Some(event) = self.events.pop_front() {
                            return Ok(SetupStep::Event(event));
                        }
                    }
                },
                Phase::KeyBackup => {
                    let r = self.plan()?.key_backup_enabled.clone();
                    return self.send(r);
                }
                Phase::ReadBack(read) => match read.next_request() {
                    Some(r) => return self.send(r),
                    None => {
                        let read = std::mem::replace(&mut self.phase, Phase::Done);
                        let Phase::ReadBack(read) = read else {
                            return Err(SetupFlowError::OutOfOrder("lost the read-back"));
                        };
                        let state = read.finish().map_err(|e| {
                            SetupFlowError::NotVerified(format!("cannot read the account: {e}"))
                        })?;
                        self.verify(&state)?;
                        return Ok(SetupStep::Event(SetupEvent::Verified {
                            version: self.new_version.clone().unwrap_or_default(),
                            with_phrase: self.phrase.is_some(),
                        }));
                    }
                },
                Phase::Done => return Ok(SetupStep::Done),
            }
        }
    }

    fn unfinished(&self, step: &'static str, source: FlowError) -> SetupFlowError {
        SetupFlowError::Unfinished {
            step,
            source,
            new_cross_signing: self.new_keys(),
        }
    }

    /// The answer (whatever its status) to the request [`next_step`](Self::next_step) returned.
    pub fn receive(&mut self, response: Response) -> Result<(), SetupFlowError> {
        let request = self.in_flight.take().ok_or(SetupFlowError::OutOfOrder(
            "a response came with no request pending",
        ))?;
        match &mut self.phase {
            Phase::Read(read) => read.receive(response).map_err(SetupFlowError::Read),
            Phase::ReadBack(read) => read
                .receive(response)
                .map_err(|e| SetupFlowError::NotVerified(format!("cannot read the account: {e}"))),
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
                    if !self.options.have_password {
                        return Err(SetupFlowError::NeedsPassword);
                    }
                    self.question = Some(response);
                    self.phase = Phase::WaitPassword;
                    return Ok(());
                }
                Err(SetupFlowError::CrossSigningRefused(response.error()))
            }
            Phase::CreateVersion => {
                if !response.is_success() {
                    return Err(
                        self.unfinished("cannot create the new backup version", response.error())
                    );
                }
                let version = response
                    .body
                    .get("version")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                    .ok_or_else(|| {
                        self.unfinished(
                            "cannot create the new backup version",
                            FlowError::Unexpected {
                                request: "POST /room_keys/version".into(),
                                reason: "the answer has no version".into(),
                            },
                        )
                    })?;
                self.events.push_back(SetupEvent::VersionCreated {
                    version: version.clone(),
                });
                self.new_version = Some(version);
                self.phase = if self.plan()?.carry_over.is_some() {
                    Phase::Download
                } else {
                    Phase::AccountData(0)
                };
                Ok(())
            }
            Phase::Download => {
                if !response.is_success() {
                    return Err(self.unfinished(
                        "cannot download the old backup's sessions",
                        response.error(),
                    ));
                }
                self.carry_over(&response.body)
            }
            Phase::UploadSessions => {
                if !response.is_success() {
                    return Err(self
                        .unfinished("cannot upload the carried-over sessions", response.error()));
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
                    return Err(
                        self.unfinished("cannot read the new backup version", response.error())
                    );
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
                    return Err(SetupFlowError::CarryOverIncomplete {
                        held,
                        expected: self.to_copy,
                        old_version,
                        new_cross_signing: self.new_keys(),
                    });
                }
                self.events.push_back(SetupEvent::CarriedOver {
                    sessions: self.to_copy,
                    old_version,
                    new_version: self.new_version.clone().unwrap_or_default(),
                });
                self.phase = Phase::AccountData(0);
                Ok(())
            }
            Phase::AccountData(i) => {
                if !response.is_success() {
                    return Err(self.unfinished(
                        "cannot write secret storage to the account data",
                        response.error(),
                    ));
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
                    return Err(self.unfinished(
                        "cannot delete the old backup version (the new setup is written)",
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
                    return Err(self.unfinished(
                        "cannot write m.key_backup to the account data",
                        response.error(),
                    ));
                }
                self.events.push_back(SetupEvent::KeyBackupEnabled);
                self.phase = Phase::ReadBack(Box::new(AccountStateFlow::new(&self.user_id)));
                Ok(())
            }
            Phase::Plan | Phase::WaitPhrase | Phase::WaitPassword | Phase::Done => Err(
                SetupFlowError::OutOfOrder("a response came with no request pending"),
            ),
        }
    }

    /// Restores the old backup's body and re-encrypts it to the new key, in chunks.
    fn carry_over(&mut self, body: &Value) -> Result<(), SetupFlowError> {
        let plan = self.plan()?;
        let Some(old) = plan.carry_over.as_ref() else {
            return Err(SetupFlowError::OutOfOrder("nothing to carry over"));
        };
        let old_version = old.old_version.clone();
        let new_key = plan.setup.backup_key.public_key();
        let bytes = Zeroizing::new(serde_json::to_vec(body).unwrap_or_default());
        let restored =
            restore_slice(&old.old_key, &bytes, &RestoreOptions::default()).map_err(|source| {
                SetupFlowError::CarryOver {
                    old_version: old_version.clone(),
                    source,
                    new_cross_signing: self.new_keys(),
                }
            })?;
        let restored_count = restored.sessions.len();
        let sessions: Vec<_> = restored
            .sessions
            .into_iter()
            .filter_map(|s| s.room_key().ok())
            .collect();
        let (body, errors) = backup_cipher::encrypt_sessions(new_key, &sessions);
        let unreadable = restored.failures.len() + errors.len() + (restored_count - sessions.len());
        self.to_copy = body.session_count() as u64;
        self.events.push_back(SetupEvent::CarryingOver {
            sessions: self.to_copy,
            unreadable: unreadable as u64,
            old_version,
        });
        let mut chunk = KeysBackup::default();
        let mut n = 0;
        for (room, r) in body.rooms {
            for (sid, data) in r.sessions {
                chunk
                    .rooms
                    .entry(room.clone())
                    .or_default()
                    .sessions
                    .insert(sid, data);
                n += 1;
                if n == CARRY_OVER_CHUNK {
                    self.chunks.push_back(std::mem::take(&mut chunk));
                    n = 0;
                }
            }
        }
        if n > 0 {
            self.chunks.push_back(chunk);
        }
        self.phase = Phase::UploadSessions;
        Ok(())
    }

    /// The read-back: what a fresh client finds unlocks with what the user was given.
    fn verify(&self, state: &AccountState) -> Result<(), SetupFlowError> {
        let fail = |what: String| SetupFlowError::NotVerified(what);
        let version = self.new_version.as_deref().unwrap_or_default();
        let plan = self.plan()?;
        let shown = plan
            .setup
            .secret_storage_key
            .to_recovery_key()
            .to_base58_grouped();
        let given: &str = match &self.phrase {
            Some(p) => p,
            None => &shown,
        };
        let info = state
            .version
            .as_ref()
            .filter(|v| v.version.as_deref() == Some(version))
            .ok_or_else(|| fail(format!("backup version {version} is not the current one")))?;
        let store = &state.secret_storage;
        let found = ssss::recover_backup_key(given, Some(store), Some(info))
            .map_err(|e| fail(e.to_string()))?;
        let unlocked = found
            .secret_storage
            .ok_or_else(|| fail("secret storage did not unlock".into()))?;
        let keys = CrossSigningKeys::from_secret_store(store, &unlocked.key)
            .map_err(|e| fail(format!("the cross-signing keys: {e}")))?;
        if state.master_key.as_deref() != Some(keys.master_public_key().as_str()) {
            return Err(fail(format!(
                "the master key in secret storage ({}) is not the account's ({})",
                keys.master_public_key(),
                state.master_key.as_deref().unwrap_or("none")
            )));
        }
        if state.key_backup_enabled != Some(true) {
            return Err(fail("m.key_backup does not say enabled".into()));
        }
        Ok(())
    }

    /// The outcome, once [`next_step`](Self::next_step) returned [`SetupStep::Done`].
    pub fn finish(self) -> Result<SetupOutcome, SetupFlowError> {
        if !matches!(self.phase, Phase::Done) || self.in_flight.is_some() {
            return Err(SetupFlowError::OutOfOrder(
                "finish came before the flow was done",
            ));
        }
        let plan = self.plan.ok_or(SetupFlowError::OutOfOrder("no plan yet"))?;
        Ok(SetupOutcome {
            security_key: plan
                .setup
                .secret_storage_key
                .to_recovery_key()
                .to_base58_grouped(),
            with_phrase: self.phrase.is_some(),
            version: self.new_version.unwrap_or_default(),
            master_key: plan.cross_signing.master_public_key(),
            new_cross_signing: plan.upload_cross_signing.is_some(),
            carried_over: self.copied,
            old_version_kept: plan.old_version_kept,
            old_version_deleted: self.old_deleted,
            situation: self.situation.unwrap_or(AccountSituation::Fresh),
        })
    }
}
