//! How a [`SetupFlow`] ends: [`SetupOutcome`], or [`SetupFlowError`].

use std::fmt;

use zeroize::Zeroizing;

use super::{AccountSituation, PlanError};
use crate::FlowError;
#[cfg(doc)]
use crate::SetupFlow;

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
