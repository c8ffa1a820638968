//! What the user chose: [`SetupChoices`] for [`plan_setup`](crate::plan_setup), and
//! [`SetupOptions`] for a [`SetupFlow`](crate::SetupFlow).

use std::fmt;

use ssss::setup::{SetupSecret, Signer};

/// What the user chose. Its `Debug` leaves the old key out.
#[derive(Clone, Copy)]
#[non_exhaustive]
pub struct SetupChoices<'a> {
    /// A generated Security Key, or a Security Phrase (checked by the caller's policy).
    pub secret: SetupSecret<'a>,
    /// Replace an existing setup.
    pub reset: bool,
    /// With `reset`: what the user had for the old setup (Security Key or Phrase, or the
    /// old backup's key), to keep the cross-signing keys and copy the old sessions.
    pub old_input: Option<&'a str>,
    /// Create new cross-signing keys even when the account's cannot be read (this
    /// replaces the user's identity).
    pub replace_cross_signing: bool,
    /// Delete an old backup version whose key is not at hand (its sessions are lost)
    /// instead of keeping it on the server.
    pub delete_unreadable_old_version: bool,
    /// Whether the caller can answer the server's password confirmation.
    pub have_password: bool,
    /// With `reset` and an old key: write over a backup key in the old secret storage
    /// that opens no current backup version, or that the old key cannot read (either
    /// may be the only copy of an older version's key: see
    /// [`PlanError::StoredBackupKeyStale`] and [`PlanError::StoredBackupKeyUnreadable`])
    /// instead of refusing. Only once that key is saved elsewhere, or known to open
    /// nothing needed.
    ///
    /// [`PlanError::StoredBackupKeyStale`]: crate::PlanError::StoredBackupKeyStale
    /// [`PlanError::StoredBackupKeyUnreadable`]: crate::PlanError::StoredBackupKeyUnreadable
    pub discard_stale_backup_key: bool,
    /// Also sign the backup with this key (e.g. the device's).
    pub signer: Option<Signer<'a>>,
}

impl fmt::Debug for SetupChoices<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SetupChoices")
            .field("secret", &self.secret)
            .field("reset", &self.reset)
            .field("old_input", &self.old_input.map(|_| "…"))
            .field("replace_cross_signing", &self.replace_cross_signing)
            .field(
                "delete_unreadable_old_version",
                &self.delete_unreadable_old_version,
            )
            .field("have_password", &self.have_password)
            .field("discard_stale_backup_key", &self.discard_stale_backup_key)
            .finish_non_exhaustive()
    }
}

impl<'a> SetupChoices<'a> {
    /// A fresh setup with `secret`, nothing else.
    pub fn new(secret: SetupSecret<'a>) -> Self {
        Self {
            secret,
            reset: false,
            old_input: None,
            replace_cross_signing: false,
            delete_unreadable_old_version: false,
            have_password: false,
            discard_stale_backup_key: false,
            signer: None,
        }
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
    /// Write over a stale backup key of the old secret storage
    /// ([`discard_stale_backup_key`](Self::discard_stale_backup_key)).
    pub fn discard_stale_backup_key(mut self, discard: bool) -> Self {
        self.discard_stale_backup_key = discard;
        self
    }
    /// Also sign the backup with this key.
    pub fn signer(mut self, signer: Option<Signer<'a>>) -> Self {
        self.signer = signer;
        self
    }
}

/// What the caller chose for a [`SetupFlow`](crate::SetupFlow): the [`SetupChoices`] but
/// the secret, which the flow sets itself (a generated Security Key, or the Security Phrase
/// it asks for when [`use_phrase`](Self::use_phrase) is set). Its `Debug` leaves the old
/// key out.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct SetupOptions<'a> {
    /// Make the secret-storage key from a Security Phrase (asked for with
    /// [`SetupStep::NeedsPhrase`](crate::SetupStep::NeedsPhrase), once the account is
    /// known to allow the setup) instead of generating a Security Key.
    pub use_phrase: bool,
    /// Every other choice; its `secret` is replaced by the flow's.
    choices: SetupChoices<'a>,
}

impl Default for SetupOptions<'_> {
    fn default() -> Self {
        Self {
            use_phrase: false,
            choices: SetupChoices::new(SetupSecret::GenerateKey),
        }
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
    /// [`SetupChoices::reset`].
    pub fn reset(mut self, old_input: Option<&'a str>) -> Self {
        self.choices = self.choices.reset(old_input);
        self
    }
    /// [`SetupChoices::replace_cross_signing`].
    pub fn replace_cross_signing(mut self, replace: bool) -> Self {
        self.choices = self.choices.replace_cross_signing(replace);
        self
    }
    /// [`SetupChoices::delete_unreadable_old_version`].
    pub fn delete_unreadable_old_version(mut self, delete: bool) -> Self {
        self.choices = self.choices.delete_unreadable_old_version(delete);
        self
    }
    /// [`SetupChoices::have_password`].
    pub fn have_password(mut self, have: bool) -> Self {
        self.choices = self.choices.have_password(have);
        self
    }
    /// [`SetupChoices::discard_stale_backup_key`].
    pub fn discard_stale_backup_key(mut self, discard: bool) -> Self {
        self.choices = self.choices.discard_stale_backup_key(discard);
        self
    }
    /// [`SetupChoices::signer`].
    pub fn signer(mut self, signer: Option<Signer<'a>>) -> Self {
        self.choices = self.choices.signer(signer);
        self
    }

    /// The choices, with `secret`.
    pub(super) fn choices(&self, secret: SetupSecret<'a>) -> SetupChoices<'a> {
        SetupChoices {
            secret,
            ..self.choices
        }
    }
    /// Whether the caller can answer the server's password confirmation.
    pub(super) fn has_password(&self) -> bool {
        self.choices.have_password
    }
}
