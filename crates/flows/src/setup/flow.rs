//! Element's "Set up recovery" (and its reset) as one sans-IO flow: the state machine
//! that reads the account, plans, writes in the crash-safe order and reads it back.

use std::{collections::VecDeque, fmt};

use backup_cipher::KeysBackup;
use ssss::{MEGOLM_BACKUP_SECRET, setup::SetupSecret};
use zeroize::Zeroizing;

use super::{
    AccountSituation, AccountState, AccountStateFlow, NewSecurityKey, PlanError, SetupEvent,
    SetupFlowError, SetupOptions, SetupOutcome, SetupPlan, SetupStep,
    plan::{Decision, build, decide},
    read_back::verify,
    with_password,
};
use crate::{Flow, FlowError, Request, Response, requests};

mod no_answer;
mod receive;

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
    SaveKey,
    AccountData(usize),
    DeleteOld,
    KeyBackup,
    ReadBack(Box<AccountStateFlow>),
    Done,
    /// The plan was refused over a stale stored backup key: the versions below the
    /// current one are read (newest first) to name the one that key opens.
    ProbeOlder(Box<PlanError>, VecDeque<String>),
    /// The request creating the new version got no answer: the current version is read
    /// to learn whether it was created (with the new key), to delete it if so.
    FindVersion(Box<SetupFlowError>),
    /// Stopped before the new version's key was sent to be stored: that version is
    /// deleted, then the error is given.
    RollBack(Box<SetupFlowError>),
    /// Stopped: the error, given once.
    Failed(Option<Box<SetupFlowError>>),
}

/// Element's "Set up recovery", or its reset, as one sans-IO flow: read the account,
/// plan, confirm with the password, carry the old sessions over, write in the crash-safe
/// order [`plan_setup`](crate::plan_setup) lists, and read everything back.
///
/// When the server refuses a step after the new backup version was created but before
/// its key was sent to be stored, or such a step gets no answer
/// ([`no_answer`](Self::no_answer)), the flow first deletes that version (one more
/// [`SetupStep::Send`]), then gives the error, saying so
/// ([`SetupFlowError::rolled_back`]).
///
/// ```text
/// loop {
///     match flow.next_step()? {
///         SetupStep::Send(request) => match send(request) {
///             Ok(response) => flow.receive(response)?,
///             // The connection failed (after retries): the flow may delete the new version.
///             Err(e) => flow.no_answer(&e.to_string())?,
///         },
///         SetupStep::SendForBytes(request) => {
///             let (status, bytes) = send_for_bytes(request)?;
///             flow.receive_bytes(status, &bytes)?
///         }
///         SetupStep::NeedsPhrase => flow.answer_phrase(ask_phrase()),
///         SetupStep::NeedsPassword => flow.answer_password(&password)?,
///         SetupStep::SaveKey => {
///             save(&flow.security_key().unwrap());
///             flow.key_saved()?;
///         }
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
    /// Whether the caller has the new Security Key ([`SetupStep::SaveKey`] answered).
    key_handed: bool,
    /// Whether the new backup's key was sent to be stored (the `m.megolm_backup.v1`
    /// secret): before, a stop deletes the new version, which no key could open.
    backup_key_sent: bool,
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
            key_handed: false,
            backup_key_sent: false,
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

    /// The new Security Key (base58, in groups of four), once the plan is made: save or
    /// show it at [`SetupStep::SaveKey`], before anything is encrypted to it. With a
    /// Security Phrase it is the phrase's equivalent.
    pub fn security_key(&self) -> Option<Zeroizing<String>> {
        self.plan.as_ref().map(|p| {
            p.setup
                .secret_storage_key
                .to_recovery_key()
                .to_base58_grouped()
        })
    }

    /// The caller saved or showed the new Security Key, after [`SetupStep::SaveKey`]:
    /// secret storage is written next.
    pub fn key_saved(&mut self) -> Result<(), SetupFlowError> {
        if !matches!(self.phase, Phase::SaveKey) {
            return Err(SetupFlowError::OutOfOrder(
                "the Security Key was not offered for saving",
            ));
        }
        self.key_handed = true;
        self.phase = Phase::AccountData(0);
        Ok(())
    }

    /// The new Security Key for an error, once the caller has it.
    fn handed_key(&self) -> Option<NewSecurityKey> {
        if self.key_handed {
            self.security_key().map(|k| NewSecurityKey(Box::new(k)))
        } else {
            None
        }
    }

    /// A failure after secret storage and the new version are written.
    fn after_set_up(&self, missing: &'static str, source: FlowError) -> SetupFlowError {
        match self.handed_key() {
            Some(security_key) => SetupFlowError::AfterSetUp {
                missing,
                source,
                security_key,
            },
            None => self.unfinished(missing, source),
        }
    }

    /// Ends the flow with `error` — after deleting the new backup version first, when it
    /// exists and its key was never sent to be stored ([`RolledBack`](super::RolledBack)).
    fn stop(&mut self, error: SetupFlowError) -> Result<(), SetupFlowError> {
        if self.new_version.is_some() && !self.backup_key_sent && error.carries_rollback() {
            self.phase = Phase::RollBack(Box::new(error));
            Ok(())
        } else {
            Err(error)
        }
    }

    /// The backup version the account had when the flow read it, if any.
    fn old_version_id(&self) -> Option<&str> {
        self.state
            .as_ref()
            .and_then(|s| s.version.as_ref())
            .and_then(|v| v.version.as_deref())
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
                        let older = older_versions(&state);
                        self.state = Some(state);
                        let decision = match decision {
                            Err(e @ PlanError::StoredBackupKeyStale { .. })
                                if !older.is_empty() =>
                            {
                                self.phase = Phase::ProbeOlder(Box::new(e), older);
                                continue;
                            }
                            other => other?,
                        };
                        self.decision = Some(decision);
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
                    let choices = self.options.choices(secret);
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
                    let request = requests::room_keys(&old);
                    self.in_flight = Some(request.clone());
                    return Ok(SetupStep::SendForBytes(request));
                }
                Phase::UploadSessions => match self.chunks.front() {
                    Some(chunk) => {
                        let version = self.new_version.clone().unwrap_or_default();
                        match requests::put_room_keys(&version, chunk) {
                            Ok(r) => return self.send(r),
                            Err(e) => {
                                let error = self.unfinished(
                                    "cannot upload the carried-over sessions",
                                    FlowError::Unexpected {
                                        request: "PUT /room_keys/keys".into(),
                                        reason: e.to_string(),
                                    },
                                );
                                self.stop(error)?;
                            }
                        }
                    }
                    None => self.phase = Phase::CountCheck,
                },
                Phase::CountCheck => {
                    let version = self.new_version.clone().unwrap_or_default();
                    return self.send(requests::backup_version(Some(&version)));
                }
                Phase::SaveKey => return Ok(SetupStep::SaveKey),
                Phase::AccountData(i) => {
                    let i = *i;
                    match self.plan()?.account_data.get(i).cloned() {
                        Some(r) => {
                            let backup_key =
                                requests::account_data(&self.user_id, MEGOLM_BACKUP_SECRET);
                            if r.path == backup_key.path {
                                self.backup_key_sent = true;
                            }
                            return self.send(r);
                        }
                        None => self.phase = Phase::DeleteOld,
                    }
                }
                Phase::DeleteOld => match self.plan()?.delete_old_version.clone() {
                    Some(r) => return self.send(r),
                    None => {
                        let plan = self.plan()?;
                        // A carry-over that left entries behind said so itself.
                        if let Some(v) = plan
                            .old_version_kept
                            .clone()
                            .filter(|_| plan.carry_over.is_none())
                        {
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
                            self.after_set_up("the read-back that checks it did not finish", e)
                        })?;
                        verify(
                            self.plan()?,
                            self.new_version.as_deref().unwrap_or_default(),
                            self.phrase.as_deref().map(String::as_str),
                            &state,
                        )?;
                        return Ok(SetupStep::Event(SetupEvent::Verified {
                            version: self.new_version.clone().unwrap_or_default(),
                            with_phrase: self.phrase.is_some(),
                        }));
                    }
                },
                Phase::Done => return Ok(SetupStep::Done),
                Phase::FindVersion(_) => return self.send(requests::backup_version(None)),
                Phase::ProbeOlder(_, older) => match older.pop_front() {
                    Some(v) => return self.send(requests::backup_version(Some(&v))),
                    None => {
                        let Phase::ProbeOlder(refusal, _) =
                            std::mem::replace(&mut self.phase, Phase::Failed(None))
                        else {
                            return Err(SetupFlowError::OutOfOrder("lost the refusal"));
                        };
                        return Err(SetupFlowError::Refused(*refusal));
                    }
                },
                Phase::RollBack(_) => {
                    let version = self.new_version.clone().unwrap_or_default();
                    let older = self
                        .old_version_id()
                        .is_some_and(|old| !receive::newer_version(&version, old));
                    if version.is_empty() || older {
                        // Never the version there before: the error stands, nothing deleted.
                        let Phase::RollBack(error) =
                            std::mem::replace(&mut self.phase, Phase::Failed(None))
                        else {
                            return Err(SetupFlowError::OutOfOrder("lost the roll-back"));
                        };
                        return Err(*error);
                    }
                    return self.send(requests::delete_backup_version(&version));
                }
                Phase::Failed(error) => {
                    return Err(error
                        .take()
                        .map_or(SetupFlowError::OutOfOrder("the setup stopped"), |e| *e));
                }
            }
        }
    }

    fn unfinished(&self, step: &'static str, source: FlowError) -> SetupFlowError {
        SetupFlowError::Unfinished {
            step,
            source: Box::new(source),
            new_cross_signing: self.new_keys(),
            security_key: self.handed_key(),
            rolled_back: None,
            version_unknown: None,
        }
    }
}

/// How many versions below the current one a refusal over a stale stored backup key
/// reads, to name the one that key opens.
const OLDER_VERSION_PROBES: u64 = 20;

/// The versions below the current one, newest first (Synapse numbers them 1, 2, 3 …).
fn older_versions(state: &AccountState) -> VecDeque<String> {
    let current = state
        .version
        .as_ref()
        .and_then(|v| v.version.as_deref())
        .and_then(|v| v.parse::<u64>().ok());
    match current {
        Some(n) => (n.saturating_sub(OLDER_VERSION_PROBES).max(1)..n)
            .rev()
            .map(|v| v.to_string())
            .collect(),
        None => VecDeque::new(),
    }
}

impl SetupFlow<'_> {
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
