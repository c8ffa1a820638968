//! How a command ends when it fails: [`Fatal`] (a message and an exit [`Status`]), and the
//! one place that turns each library error into what the user of this tool reads — the
//! library's own message, then on a line of its own the flag or command that helps.
//!
//! The libraries speak their own words (the old key, a password, the account data); the
//! flags that give those things are this tool's, so they are added here and nowhere else.

use std::process::ExitCode;

use ssss::RecoverError;

/// Every exit status of the tool, in one place (`restore --help` lists them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    /// Everything was done: every session restored, every file written.
    Success = 0,
    /// An error stopped the command; nothing was written.
    Error = 1,
    /// Partly done: the output holds every good session, and the failures are listed.
    Partial = 2,
    /// The key does not open this backup; nothing was written.
    WrongKey = 3,
    /// Entries failed and none could be restored; nothing was written.
    NothingRestored = 4,
    /// `fetch`: the download is not a whole, undamaged body; OUT is not replaced, what
    /// arrived is kept beside it.
    FetchIncomplete = 5,
    /// `doctor`: a problem was found (with `--fix`: still there after the repairs).
    Unhealthy = 6,
    /// SIGINT or SIGTERM: nothing was written, no temporary file is left.
    Interrupted = 130,
}

/// `restore --help`: its exit statuses (the numbers of [`Status`]).
pub(crate) const RESTORE_EXIT_STATUSES: &str = "\
Exit status:
  0    every session restored and written
  1    an error (a mistyped command line too); nothing was written
  2    partly restored: the output holds every good session, the failures are listed
  3    the key does not open this backup; nothing was written
  4    entries failed and none could be restored; nothing was written
  130  interrupted (SIGINT, SIGTERM); nothing was written, no temporary file is left";

impl From<Status> for ExitCode {
    fn from(status: Status) -> Self {
        ExitCode::from(status as u8)
    }
}

/// A failure that ends the program: its message goes to stderr, and the process exits
/// with its status (1 unless said otherwise).
#[derive(Debug, thiserror::Error)]
#[error("{msg}")]
pub(crate) struct Fatal {
    msg: String,
    status: Status,
}

impl Fatal {
    /// An error: exit status 1.
    pub(crate) fn new(msg: impl std::fmt::Display) -> Self {
        Self::with_status(Status::Error, msg)
    }

    /// An error that ends the program with `status`.
    pub(crate) fn with_status(status: Status, msg: impl std::fmt::Display) -> Self {
        Self {
            msg: msg.to_string(),
            status,
        }
    }

    /// An error, and on a line of its own what the user can do about it here.
    pub(crate) fn hinted(msg: impl std::fmt::Display, hint: Option<&str>) -> Self {
        match hint {
            Some(hint) => Self::new(format!("{msg}\nhint: {hint}")),
            None => Self::new(msg),
        }
    }

    /// Says the error on stderr and gives the status to exit with.
    pub(crate) fn report(self) -> ExitCode {
        eprintln!("error: {}", self.msg);
        self.status.into()
    }
}

// ---------------------------------------------------------------------------------------
// ssss: finding the backup key from what the user has.

/// The command-line way to act on a [`RecoverError`], when there is one.
pub(crate) fn recover_hint(e: &RecoverError) -> Option<&'static str> {
    match e {
        RecoverError::NoMatch {
            secret_storage_missing: true,
            ..
        } => Some(
            "a Security Key or Security Phrase opens the backup through secret storage: give \
             the account data with --account-data FILE (from `fetch --account-data-out`), or \
             use --homeserver",
        ),
        RecoverError::KeyFromBeforeReset { .. } | RecoverError::NoBackupKeyStored { .. } => {
            Some("to set up recovery again (a new backup and Security Key): `setup --reset`")
        }
        RecoverError::StaleBackupKey { .. } => Some(
            "an older backup version can be restored with --backup-version if it still \
             exists; to set up recovery again: `setup --reset`",
        ),
        _ => None,
    }
}

/// A [`RecoverError`] with its hint; a key that does not open this backup exits with
/// [`Status::WrongKey`], as when it is found out by decrypting; a phrase given without
/// secret storage could not be tried at all, which is an error (1), not a wrong key.
pub(crate) fn recover_error(e: RecoverError) -> Fatal {
    let hint = recover_hint(&e);
    let status = match e {
        RecoverError::NoMatch {
            secret_storage_missing: true,
            input_is_key: false,
            ..
        } => Status::Error,
        RecoverError::NoMatch { .. }
        | RecoverError::KeyFromBeforeReset { .. }
        | RecoverError::NoBackupKeyStored { .. }
        | RecoverError::StaleBackupKey { .. } => Status::WrongKey,
        _ => Status::Error,
    };
    let msg = match hint {
        Some(hint) => format!("{e}\nhint: {hint}"),
        None => e.to_string(),
    };
    Fatal::with_status(status, msg)
}

/// A refused [`ssss::UnlockError`] (`ssss unlock`, `ssss get`), with its hint.
pub(crate) fn unlock_error(e: ssss::UnlockError) -> Fatal {
    let hint = match &e {
        ssss::UnlockError::AccountData(ssss::AccountDataError::NoDefaultKey) => Some(
            "without secret storage, restore with the backup's own key (`restore --key-file`), \
             or set up recovery (`setup`)",
        ),
        ssss::UnlockError::AccountData(ssss::AccountDataError::Shape) => Some(
            "--account-data takes the account data (`fetch --account-data-out FILE` writes it)",
        ),
        _ => None,
    };
    Fatal::hinted(e, hint)
}

// ---------------------------------------------------------------------------------------
// recovery-key: decoding a Security Key.

/// A [`recovery_key::DecodeError`] of `recovery-key decode`, with its hint.
pub(crate) fn decode_error(e: recovery_key::DecodeError) -> Fatal {
    let hint = e.looks_like_passphrase().then_some(
        "`recovery-key decode` takes only Security Keys; a Security Phrase opens the backup \
         through secret storage: `restore --account-data FILE` or `restore --homeserver URL`",
    );
    Fatal::hinted(e, hint)
}

// ---------------------------------------------------------------------------------------
// backup-cipher: the restore.

/// The error that stopped a restore, for the user (`described`: what the key was taken
/// for, in the user's words).
pub(crate) fn restore_failed(e: backup_cipher::RestoreError, described: &str) -> Fatal {
    use backup_cipher::RestoreError;
    match e {
        RestoreError::WrongKey { tried } => wrong_key(tried, described),
        RestoreError::TooLarge(_) => Fatal::hinted(
            e,
            Some("if the backup is genuine, raise the limit with --max-body-bytes BYTES"),
        ),
        e => Fatal::new(e),
    }
}

/// Every entry tried failed its MAC: the key is not this backup's (exit status 3).
pub(crate) fn wrong_key(tried: u64, described: &str) -> Fatal {
    Fatal::with_status(
        Status::WrongKey,
        format!(
            "this key does not open this backup: none of the {tried} entries tried decrypts \
             with it (every MAC check failed), so nothing was written. The key was taken as: \
             {described}"
        ),
    )
}

/// Entries failed and none could be restored (exit status 4): how many, their classes
/// ("mac: 3, padding: 1") and a sample, one per line.
pub(crate) fn nothing_restored(total: u64, classes: &str, sample: &str) -> Fatal {
    Fatal::with_status(
        Status::NothingRestored,
        format!(
            "nothing could be restored: all {total} entries failed ({classes}); nothing was \
             written{sample}"
        ),
    )
}

// ---------------------------------------------------------------------------------------
// key-export: Element's export files.

/// A refused export passphrase or round count; `allow_low_rounds` is the flag of the
/// command at hand that writes a file with fewer rounds anyway.
pub(crate) fn export_params_error(e: key_export::ExportError, allow_low_rounds: &str) -> Fatal {
    match e {
        key_export::ExportError::LowRounds(_) => Fatal::new(format!(
            "{e}\nhint: use the default (500,000), or pass {allow_low_rounds} to write it anyway"
        )),
        other => Fatal::new(other),
    }
}

// ---------------------------------------------------------------------------------------
// homeserver (and the flows it runs).

/// A setup error as the CLI says it: the library's reason, and the options that help.
/// `key_shown`: the new Security Key was printed (and written to `--key-out`), so secret
/// storage may already be written encrypted to it.
#[cfg(feature = "homeserver")]
pub(crate) fn setup_error(e: homeserver::SetupRunError, key_shown: bool) -> Fatal {
    use flows::{PlanError as P, SetupFlowError as S};
    use homeserver::SetupRunError;
    let e = match e {
        // The homeserver stopped answering (or answered garbage): the library's runner
        // gives the client's error, which knows nothing of the key already handed over.
        SetupRunError::Client(c) if key_shown => {
            let mut fatal = client_error(c);
            fatal.msg = format!(
                "{}\nhint: setup did not finish: keep the Security Key printed above until a \
                 setup finishes, as secrets may already be written encrypted to it. \
                 {KEY_OUT_REPLACED}. Once the homeserver answers, run setup again with --reset \
                 (with --replace-cross-signing if new cross-signing keys were uploaded above)",
                fatal.msg
            );
            return fatal;
        }
        SetupRunError::Client(c) => return client_error(c),
        other => other,
    };
    let hint = match &e {
        SetupRunError::Setup(S::Refused(plan)) => match plan {
            P::AlreadySetUp { .. } => {
                "use --reset, with --old-key-file FILE to carry the old sessions over".to_owned()
            }
            P::BackupWithoutSecretStorage { .. } => "use --reset with --old-key-file FILE (the \
                backup's recovery key) to copy its sessions; without the key, --reset keeps the \
                old version (add --delete-old-version to delete it)"
                .to_owned(),
            P::SecretStorageWithoutBackup {
                master: Some(_), ..
            } => "use --reset --old-key-file FILE (the Security Key or Phrase) to keep the \
                cross-signing keys"
                .to_owned(),
            P::SecretStorageWithoutBackup { .. } => {
                "use --reset (the account has no cross-signing keys to keep)".to_owned()
            }
            P::KeysOnOtherDevices { version, .. } => format!(
                "to replace the identity here: --replace-cross-signing, with the account \
                 password (--user, or --password-file FILE){}",
                version
                    .as_deref()
                    .map(|v| format!(
                        "; backup version {v} is then kept, or deleted with --delete-old-version"
                    ))
                    .unwrap_or_default()
            ),
            P::CrossSigningExists(_) => "to keep them: --reset --old-key-file FILE; to replace \
                them: --replace-cross-signing"
                .to_owned(),
            P::NeedsPassword => {
                "give it with --password-file FILE, or log in with --user".to_owned()
            }
            P::OldKey(_) => "check the file given with --old-key-file".to_owned(),
            P::StoredBackupKeyStale { .. } => "run `doctor --fix` first, which moves that \
                version's sessions (--key-file with the old Security Key or Phrase, \
                --backup-key-file with the current version's own key) and then stores the \
                current key, and run this setup again; or keep the stale key (`fetch \
                --account-data-out FILE`, then `ssss get m.megolm_backup.v1 --account-data \
                FILE` prints it) and add --discard-stale-backup-key"
                .to_owned(),
            P::StoredBackupKeyUnreadable { under, .. } => format!(
                "give --old-key-file the Security Key or Phrase of secret-storage key {}; or \
                 keep the stored backup key (`fetch --account-data-out FILE`, then `ssss get \
                 m.megolm_backup.v1 --account-data FILE` with that key prints it) and add \
                 --discard-stale-backup-key",
                under.join(", ")
            ),
            _ => return Fatal::new(e),
        },
        SetupRunError::Setup(S::NeedsPassword) => {
            "give it with --password-file FILE, or log in with --user".to_owned()
        }
        SetupRunError::Setup(S::AfterSetUp { .. }) => {
            "keep the Security Key printed above (also in the --key-out file, if given): it \
             unlocks the new secret storage and backup. To finish what is missing: \
             `doctor --fix --key-file FILE`, FILE holding that key; `status` shows what the \
             account has"
                .to_owned()
        }
        SetupRunError::Setup(
            s @ (S::Unfinished {
                new_cross_signing, ..
            }
            | S::CarryOver {
                new_cross_signing, ..
            }
            | S::CarryOverIncomplete {
                new_cross_signing, ..
            }),
        ) => {
            let again = if *new_cross_signing {
                "run setup again with --reset --replace-cross-signing"
            } else {
                "run setup again with --reset"
            };
            if let Some(unknown) = s.version_unknown() {
                // A version no key opens may be the current one: a new setup would take
                // it for the old version (and --delete-old-version would delete it unread).
                let before = unknown
                    .before
                    .as_deref()
                    .map_or("none".to_owned(), |v| format!("version {v}"));
                format!(
                    "once the homeserver answers, run `status`: if its backup version is not \
                     the one the account had ({before}), delete that version (DELETE \
                     /_matrix/client/v3/room_keys/version/VERSION with your access token); \
                     then {again}"
                )
            } else if s.rolled_back().is_some_and(|r| r.not_deleted.is_some()) {
                // The new version, which no key opens, must go before a new setup, or
                // that setup would keep it as the old version.
                format!(
                    "once the homeserver answers, delete that backup version (DELETE \
                     /_matrix/client/v3/room_keys/version/VERSION with your access token), \
                     then {again}"
                )
            } else if s.security_key().is_some() {
                format!(
                    "keep the Security Key printed above until a setup finishes: the secrets \
                     written so far open only with it. {KEY_OUT_REPLACED}; then {again}"
                )
            } else if matches!(s, S::Unfinished { source, .. }
                if matches!(**source, flows::FlowError::NoAnswer { .. }))
            {
                format!("once the homeserver answers, {again}")
            } else {
                again.to_owned()
            }
        }
        _ => return Fatal::new(e),
    };
    Fatal::new(format!("{e}\nhint: {hint}"))
}

/// How to keep the new Security Key of a setup that stopped after printing it: a new
/// run writes its own key over the `--key-out` file.
#[cfg(feature = "homeserver")]
const KEY_OUT_REPLACED: &str = "If it is in a --key-out file, copy it elsewhere before \
     setting up again: a new run writes its own key to --key-out";

/// A homeserver error as the CLI says it: the library's message, and the option or
/// command that helps where there is one.
#[cfg(feature = "homeserver")]
pub(crate) fn client_error(e: homeserver::ClientError) -> Fatal {
    use homeserver::ClientError;
    let hint = match &e {
        ClientError::InsecureHttp(_) => Some(
            "use https://; only if the token may cross the network in the clear: \
             --allow-insecure-http",
        ),
        ClientError::NoBackup => Some("create one with `upload` or `setup`"),
        ClientError::AuthRequired { .. } => {
            Some("give the account password with --password-file FILE (or log in with --user)")
        }
        ClientError::Unauthorized { .. } => Some(
            "give a current token with --access-token-file FILE, or log in with --user \
             (and --password-file)",
        ),
        ClientError::WrongVersion { .. } => {
            Some("leave out --backup-version to use the current backup")
        }
        ClientError::Stalled { .. } => Some("for a slow homeserver, raise --idle-timeout SECONDS"),
        ClientError::CaFile(_) => Some(
            "--ca-file takes the PEM file of the certificate authority that signed the \
             homeserver's certificate",
        ),
        ClientError::Flow(flows::FlowError::Recover(r)) => recover_hint(r),
        _ => None,
    };
    Fatal::hinted(e, hint)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restore_help_lists_every_exit_status() {
        for status in [
            Status::Success,
            Status::Error,
            Status::Partial,
            Status::WrongKey,
            Status::NothingRestored,
            Status::Interrupted,
        ] {
            let line = format!("\n  {:<5}", status as u8);
            assert!(RESTORE_EXIT_STATUSES.contains(&line), "{status:?}");
        }
    }

    /// Secret storage without a backup: the hint offers to keep cross-signing keys only
    /// when the account has them.
    #[cfg(feature = "homeserver")]
    #[test]
    fn the_secret_storage_only_hint_names_cross_signing_keys_only_when_there_are_some() {
        let refused = |master: Option<&str>| {
            setup_error(
                homeserver::SetupRunError::Setup(flows::SetupFlowError::Refused(
                    flows::PlanError::SecretStorageWithoutBackup {
                        user: "@alice:example.org".into(),
                        key: "K".into(),
                        master: master.map(str::to_owned),
                    },
                )),
                false,
            )
            .msg
        };
        let none = refused(None);
        assert!(none.contains("but no key backup"), "{none}");
        assert!(none.contains("hint: use --reset"), "{none}");
        assert!(!none.contains("keep the cross-signing keys"), "{none}");
        assert!(!none.contains("--old-key-file"), "{none}");
        let some = refused(Some("bWFzdGVy"));
        assert!(
            some.contains(
                "hint: use --reset --old-key-file FILE (the Security Key or Phrase) \
                 to keep the cross-signing keys"
            ),
            "{some}"
        );
    }
}
