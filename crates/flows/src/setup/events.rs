//! What the flow asks of its caller ([`SetupStep`]) and tells the user ([`SetupEvent`]).

use std::fmt;

use super::AccountSituation;
use crate::Request;
#[cfg(doc)]
use crate::SetupFlow;

/// What the flow asks of its caller next.
#[derive(Debug)]
#[non_exhaustive]
pub enum SetupStep {
    /// Send this request and feed its answer (whatever its status) to
    /// [`SetupFlow::receive`].
    Send(Request),
    /// Send this request (the old backup's sessions) and feed its status and the bytes of
    /// its body, unparsed, to [`SetupFlow::receive_bytes`]: they are read with the
    /// restore's own grammar, so a room listed twice keeps the sessions of both copies.
    /// ([`SetupFlow::receive`] with the parsed body is accepted too, but a JSON parser
    /// keeps one copy of a repeated room.)
    SendForBytes(Request),
    /// The Security Phrase is needed: answer with [`SetupFlow::answer_phrase`] (the
    /// account allows the setup; nothing has changed yet).
    NeedsPhrase,
    /// The server asks for the account password to accept the new cross-signing keys:
    /// answer with [`SetupFlow::answer_password`]. Nothing has changed yet.
    NeedsPassword,
    /// The new Security Key exists and secret storage is about to be written with it:
    /// read it with [`SetupFlow::security_key`], save it or show it now (a setup that
    /// stops from here on leaves secrets that only it opens), then call
    /// [`SetupFlow::key_saved`].
    SaveKey,
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
    /// Entries of the old backup could not be copied (unreadable ones, unless the caller
    /// chose [`SetupChoices::delete_unreadable_old_version`](crate::SetupChoices), or
    /// ones the download did not bring), or whether all were copied cannot be told (the
    /// server does not say how many it holds), so the old version stays on the server
    /// instead of being deleted.
    OldVersionKeptUncopied {
        /// Its id.
        version: String,
        /// How many of its entries were not copied; `None` when the server does not say
        /// how many the old version holds.
        not_copied: Option<u64>,
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
            Self::OldVersionKeptUncopied {
                version,
                not_copied: Some(n),
            } => write!(
                f,
                "warning: {n} entries of backup version {version} could not be copied, so \
                 version {version} is kept on the server"
            ),
            Self::OldVersionKeptUncopied {
                version,
                not_copied: None,
            } => write!(
                f,
                "warning: the homeserver does not say how many sessions backup version \
                 {version} holds, so a cut download cannot be told from a whole one; version \
                 {version} is kept on the server"
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
