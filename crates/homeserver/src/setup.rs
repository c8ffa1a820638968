//! Runs Element's "Set up recovery" ([`flows::SetupFlow`]) over a [`Client`].

use flows::{SetupEvent, SetupFlow, SetupFlowError, SetupOptions, SetupOutcome, SetupStep};
use zeroize::Zeroizing;

use crate::{Client, ClientError};

/// Hears what a setup does and answers what it asks. `()` listens to nothing and has no
/// Security Phrase.
pub trait SetupObserver {
    /// Something to tell the user (a line for a person in its `Display`).
    fn event(&mut self, _event: &SetupEvent) {}
    /// The Security Phrase, asked for once the account allows the setup (only with
    /// [`SetupOptions::use_phrase`]); `None` stops the setup before anything changes.
    fn phrase(&mut self) -> Option<Zeroizing<String>> {
        None
    }
    /// The new Security Key (base58, in groups of four; with a Security Phrase, its
    /// equivalent), handed over before secret storage is written with it: save it or show
    /// it now, as a setup that stops from here on leaves secrets only this key opens. The
    /// error of such a setup carries it too ([`SetupFlowError::security_key`]).
    fn save_key(&mut self, _security_key: &str) {}
}

impl SetupObserver for () {}

/// Why [`Client::set_up_recovery`] stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SetupRunError {
    /// Talking to the homeserver failed.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The setup was refused or did not finish: its message says what changed.
    #[error(transparent)]
    Setup(#[from] SetupFlowError),
    /// The observer gave no Security Phrase; nothing was changed.
    #[error("no Security Phrase was given; nothing was changed")]
    NoPhrase,
}

impl Client {
    /// Element's "Set up recovery" (or, with [`SetupOptions::reset`], its reset) on the
    /// account of this client's access token: reads the account, plans, answers the
    /// server's password confirmation with `password`, carries the old backup's sessions
    /// over, writes in the crash-safe order, and reads everything back. Returns the new
    /// Security Key and what was done; `observer` hears each step.
    ///
    /// A request that gets no answer after this client's retries (a cut connection, a
    /// timeout, an answer that cannot be read) is told to the flow
    /// ([`SetupFlow::no_answer`]): between the creation of the new backup version and the
    /// sending of its key to secret storage, the flow then deletes that version and the
    /// error is [`SetupFlowError::Unfinished`], saying whether it was deleted
    /// ([`SetupFlowError::rolled_back`]), or that a version may exist unfound when even
    /// the read that looks for it failed ([`SetupFlowError::version_unknown`]); elsewhere
    /// the error is this client's ([`SetupRunError::Client`]).
    pub fn set_up_recovery(
        &self,
        options: SetupOptions<'_>,
        password: Option<&str>,
        observer: &mut dyn SetupObserver,
    ) -> Result<SetupOutcome, SetupRunError> {
        let user = self.whoami()?.user_id;
        let mut flow = SetupFlow::new(&user, options.have_password(password.is_some()));
        loop {
            match flow.next_step()? {
                SetupStep::Send(request) => match self.send_request(&request) {
                    Ok(response) => flow.receive(response)?,
                    Err(e) => no_answer(&mut flow, e)?,
                },
                SetupStep::NeedsPhrase => {
                    let phrase = observer.phrase().ok_or(SetupRunError::NoPhrase)?;
                    flow.answer_phrase(phrase)?;
                }
                SetupStep::NeedsPassword => match password {
                    Some(p) => flow.answer_password(p)?,
                    None => return Err(SetupFlowError::NeedsPassword.into()),
                },
                SetupStep::SendForBytes(request) => match self.send_for_bytes(&request) {
                    Ok((status, bytes)) => flow.receive_bytes(status, &bytes)?,
                    Err(e) => no_answer(&mut flow, e)?,
                },
                SetupStep::SaveKey => {
                    if let Some(key) = flow.security_key() {
                        observer.save_key(&key);
                    }
                    flow.key_saved()?;
                }
                SetupStep::Event(event) => observer.event(&event),
                _ => break,
            }
        }
        Ok(flow.finish()?)
    }
}

/// Tells `flow` that its request got no answer (`error`, after the client's retries):
/// `Ok` when the flow goes on to delete the new backup version it made, else the client's
/// error.
fn no_answer(flow: &mut SetupFlow<'_>, error: ClientError) -> Result<(), SetupRunError> {
    match flow.no_answer(&error.to_string()) {
        Ok(()) => Ok(()),
        Err(_) => Err(error.into()),
    }
}
