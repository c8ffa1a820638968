//! How a [`SetupFlow`] ends: [`SetupOutcome`], or [`SetupFlowError`].

use std::fmt;

use zeroize::Zeroizing;

use super::{AccountSituation, PlanError};
use crate::FlowError;
#[cfg(doc)]
use crate::{SetupFlow, SetupStep};

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

/// The new Security Key (base58, in groups of four) carried by an error of a setup that
/// stopped after it was handed over ([`SetupStep::SaveKey`]): secrets may already be
/// encrypted to it. Its `Debug` hides it.
#[derive(Clone)]
pub struct NewSecurityKey(pub(super) Box<Zeroizing<String>>);

impl NewSecurityKey {
    /// The Security Key, as shown to the user.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

impl fmt::Debug for NewSecurityKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NewSecurityKey(…)")
    }
}

/// The new backup version of a setup that stopped before the version's key was stored
/// anywhere (before the `m.megolm_backup.v1` secret was sent): no key could ever open it,
/// yet as the newest version it would take the backups of the user's other devices, so
/// the flow deleted it again, leaving the account's backup as it was.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RolledBack {
    /// The new version.
    pub version: String,
    /// Why it could not be deleted, when it could not: it then stays on the server as the
    /// current version, and no key opens it.
    pub not_deleted: Option<FlowError>,
}

impl fmt::Display for RolledBack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.not_deleted {
            None => write!(
                f,
                "The new backup version {}, whose key was not stored yet, was deleted again: \
                 the account's backup is as it was. ",
                self.version
            ),
            Some(e) => write!(
                f,
                "The new backup version {v}, whose key was not stored yet, could not be \
                 deleted ({e}): no key opens it, so delete backup version {v} before setting \
                 up again. ",
                v = self.version
            ),
        }
    }
}

/// The request creating the new backup version was not answered with a new version's
/// id (no answer, a 5xx, an answer naming none or one not newer than the version there
/// before), and reading the current version did not find one made with the new key (it
/// failed, or answered another version, which a cache or a lagging replica may still
/// show): a version no key opens may exist, as the current one.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct VersionUnknown {
    /// The backup version the account had before the setup, if any.
    pub before: Option<String>,
    /// What reading the current version gave instead of the new one: its error, or
    /// another version.
    pub lookup: FlowError,
}

impl fmt::Display for VersionUnknown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let before = match &self.before {
            Some(v) => format!("is not version {v}, the one the account had"),
            None => "exists (the account had none)".to_owned(),
        };
        write!(
            f,
            "A new backup version may have been created all the same, and reading the \
             current version did not find it ({}): if the current backup version {before}, \
             no key opens it, so delete it before setting up again. ",
            self.lookup
        )
    }
}

/// The text of an optional [`VersionUnknown`] in a message.
fn version_unknown_text(v: &Option<Box<VersionUnknown>>) -> String {
    v.as_ref().map(ToString::to_string).unwrap_or_default()
}

/// The text of an optional [`RolledBack`] in a message.
fn rolled_back_text(r: &Option<Box<RolledBack>>) -> String {
    r.as_ref().map(ToString::to_string).unwrap_or_default()
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
    #[error(
        "{step}: {source}. {}{}{}{}",
        key_given(security_key.is_some()),
        rolled_back_text(rolled_back),
        version_unknown_text(version_unknown),
        unfinished(*new_cross_signing)
    )]
    Unfinished {
        /// Which step.
        step: &'static str,
        /// The server's answer.
        #[source]
        source: Box<FlowError>,
        /// Whether new cross-signing keys had been uploaded.
        new_cross_signing: bool,
        /// The new Security Key, once it was handed over ([`SetupStep::SaveKey`]): some
        /// secrets may be written encrypted to it alone.
        security_key: Option<NewSecurityKey>,
        /// The new backup version, when the setup stopped before its key was stored:
        /// deleted again, or why it could not be.
        rolled_back: Option<Box<RolledBack>>,
        /// Whether a new backup version was created could not be learnt.
        version_unknown: Option<Box<VersionUnknown>>,
    },
    /// Secret storage and the new backup version are written (recovery works with the
    /// new Security Key), but a later step failed.
    #[error(
        "recovery is set up and unlocks with the new Security Key given, but {missing}: \
         {source}"
    )]
    AfterSetUp {
        /// What did not happen, and what it leaves.
        missing: &'static str,
        /// The server's answer.
        #[source]
        source: FlowError,
        /// The new Security Key.
        security_key: NewSecurityKey,
    },
    /// The old backup could not be read for the carry-over; the old version is kept.
    #[error(
        "the old backup version {old_version} could not be read: {source}. It is kept. {}{}",
        rolled_back_text(rolled_back),
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
        /// The new backup version, when the setup stopped before its key was stored:
        /// deleted again, or why it could not be.
        rolled_back: Option<Box<RolledBack>>,
    },
    /// The new version holds fewer sessions than were copied; the old version is kept.
    #[error(
        "the new backup holds {held} of {expected} sessions; the old version {old_version} is \
         kept. {}{}",
        rolled_back_text(rolled_back),
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
        /// The new backup version, when the setup stopped before its key was stored:
        /// deleted again, or why it could not be.
        rolled_back: Option<Box<RolledBack>>,
    },
    /// Everything was written, but a fresh read does not unlock with what the user got.
    #[error(
        "setup could not be verified: {reason}. Secrets were written encrypted to the new \
         Security Key given: keep it"
    )]
    NotVerified {
        /// What the fresh read found wrong.
        reason: String,
        /// The new Security Key (with a Security Phrase, its equivalent): the secrets
        /// written are encrypted to it.
        security_key: NewSecurityKey,
    },
    /// The caller drove the flow out of order (a response with no request pending, an
    /// answer that was not asked for).
    #[error("the setup flow was driven out of order: {0}")]
    OutOfOrder(&'static str),
}

impl SetupFlowError {
    /// The new backup version deleted again (or that could not be), when the setup
    /// stopped before that version's key was stored.
    pub fn rolled_back(&self) -> Option<&RolledBack> {
        match self {
            Self::Unfinished { rolled_back, .. }
            | Self::CarryOver { rolled_back, .. }
            | Self::CarryOverIncomplete { rolled_back, .. } => rolled_back.as_deref(),
            _ => None,
        }
    }

    /// Whether this error can say what became of the new backup version.
    pub(super) fn carries_rollback(&self) -> bool {
        matches!(
            self,
            Self::Unfinished { .. } | Self::CarryOver { .. } | Self::CarryOverIncomplete { .. }
        )
    }

    /// Records what became of the new backup version.
    pub(super) fn set_rolled_back(&mut self, done: RolledBack) {
        if let Self::Unfinished { rolled_back, .. }
        | Self::CarryOver { rolled_back, .. }
        | Self::CarryOverIncomplete { rolled_back, .. } = self
        {
            *rolled_back = Some(Box::new(done));
        }
    }

    /// Whether a new backup version may exist, unfound, when the setup stopped while
    /// creating it.
    pub fn version_unknown(&self) -> Option<&VersionUnknown> {
        match self {
            Self::Unfinished {
                version_unknown, ..
            } => version_unknown.as_deref(),
            _ => None,
        }
    }

    /// Records that whether a new backup version was created could not be learnt.
    pub(super) fn set_version_unknown(&mut self, unknown: VersionUnknown) {
        if let Self::Unfinished {
            version_unknown, ..
        } = self
        {
            *version_unknown = Some(Box::new(unknown));
        }
    }

    /// The new Security Key, when the setup stopped after handing it over: keep it, as
    /// secrets may already be encrypted to it.
    pub fn security_key(&self) -> Option<&NewSecurityKey> {
        match self {
            Self::Unfinished { security_key, .. } => security_key.as_ref(),
            Self::AfterSetUp { security_key, .. } | Self::NotVerified { security_key, .. } => {
                Some(security_key)
            }
            _ => None,
        }
    }
}

fn key_given(given: bool) -> &'static str {
    if given {
        "Secrets may already be written encrypted to the new Security Key given: keep it \
         until a setup finishes. "
    } else {
        ""
    }
}

fn unfinished(new_cross_signing: bool) -> &'static str {
    if new_cross_signing {
        "Setup did not finish after the new cross-signing keys were uploaded: set up again \
         with a reset, replacing the cross-signing keys"
    } else {
        "Setup did not finish: set up again with a reset"
    }
}
