//! What a migration can refuse ([`MigrateError`]) and what it did ([`MigrationOutcome`],
//! [`OldVersionFate`]).

use std::collections::BTreeMap;

/// Why a [`MigrateFlow`](super::MigrateFlow) cannot start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MigrateError {
    /// The current backup version given has no `version` id: pass the version as the
    /// server returned it (`GET /room_keys/version`).
    #[error("the current backup version has no version id: pass it as the server returned it")]
    NoVersionId,
    /// The key given as the current key is not the key of the current version: give the
    /// key that opens it (from secret storage or the backup's own key).
    #[error(
        "the key given as the current backup key does not open backup version {version}: give \
         the key stored in secret storage or the backup's own key"
    )]
    KeyDoesNotOpenCurrent {
        /// The current version.
        version: String,
    },
}

/// What happened to one older backup version.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum OldVersionFate {
    /// Every session of it is in the current version (read back), and it was deleted.
    Deleted,
    /// It was already gone from the server.
    Gone,
    /// Kept: some of its entries open with none of the keys given, so they exist nowhere
    /// else. Give the key of this version to move them.
    KeptUnreadable {
        /// How many entries no key opens.
        unreadable: usize,
    },
    /// Kept: it holds no entry, but none of the keys given is its key, so whose it is
    /// cannot be told. Give its key to have it deleted.
    KeptNoKey,
    /// Kept: some of its sessions were not found in the current version when it was read
    /// back after the upload (another client may have replaced the current version). Run
    /// the migration again.
    KeptNotVerified {
        /// How many sessions were missing.
        missing: usize,
    },
    /// Kept: the server refused to delete it. Everything in it is in the current version:
    /// run the migration again to delete it.
    KeptDeleteRefused {
        /// The HTTP status of the refusal.
        status: u16,
    },
}

/// What [`MigrateFlow`](super::MigrateFlow) did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MigrationOutcome {
    /// The backup version everything was moved into.
    pub current_version: String,
    /// The version that was current when the flow began, when it had to be replaced: its
    /// entries encrypted to another key cannot be overwritten in place (a server keeps
    /// an entry when the new one is no better), so a fresh version with the same
    /// `auth_data` (same public key, same signatures) became current, and the replaced one
    /// is migrated and deleted like any older version.
    pub replaced_version: Option<String>,
    /// Entries of the version current at the start that open with an older key only.
    pub entries_for_older_key: usize,
    /// Sessions decrypted with the user's keys and re-encrypted to the current key.
    pub reencrypted: usize,
    /// Sessions uploaded (`PUT /room_keys/keys`).
    pub uploaded: usize,
    /// Sessions that could not be re-encrypted (their decrypted form is not a valid
    /// session): their versions are kept.
    pub not_reencrypted: usize,
    /// What became of each older version, by id.
    pub old_versions: BTreeMap<String, OldVersionFate>,
}

impl MigrationOutcome {
    /// Every older version is deleted or was gone, and every session was re-encrypted:
    /// nothing was kept, so no older key is needed any more (what
    /// [`RepairPlan::after_migration`](crate::RepairPlan::after_migration) waits for).
    pub fn kept_nothing(&self) -> bool {
        self.not_reencrypted == 0
            && self
                .old_versions
                .values()
                .all(|f| matches!(f, OldVersionFate::Deleted | OldVersionFate::Gone))
    }
}
