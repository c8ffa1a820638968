//! What is wrong with an account's backup and recovery, found and said in a user's words.
//!
//! Element tells users "Key storage out of sync", "Your recovery key is incorrect" or
//! "This backup is not trusted" and stops there. [`DoctorFlow`] reads everything those
//! verdicts come from — secret storage (default key, its description, the backup key and
//! the cross-signing keys stored in it), the backup version and its signatures, the older
//! versions still on the server, the published cross-signing keys and the user's devices
//! (`POST /keys/query`, `GET /devices`), `m.key_backup`, and the backup's entries — and
//! [`diagnose`] turns it into [`Finding`]s: each with a stable [`FindingCode`], the words
//! Element shows for it, what causes it and what fixes it.
//!
//! No I/O happens here; nothing is changed on the account.

mod diagnose;
mod entries;
mod findings;
mod migrate;
mod read;
mod repair;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use backup_cipher::{BackupVersion, RestoreErrorClass};
use serde_json::{Map, Value};
use ssss::SecretStore;

pub use diagnose::diagnose;
pub use findings::{Finding, FindingCode, Severity};
pub use migrate::{
    MIGRATION_CHUNK, MigrateError, MigrateFlow, MigrationOutcome, MigrationPlan, OldVersionFate,
    plan_migration,
};
pub use read::{DoctorFlow, EntryProgress};
pub use repair::{Repair, RepairPlan, current_backup_key, plan_repairs};

/// How many backup versions below the current one are probed for leftovers by default.
pub const DEFAULT_OLD_VERSION_PROBES: u32 = 20;

/// How many entries are decrypted by default: a sample.
pub const DEFAULT_ENTRY_SAMPLE: usize = 200;

/// How much of the backup's entries the doctor decrypts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum EntryCheck {
    /// None: the entries are not downloaded.
    Skip,
    /// At most this many, rooms then sessions in id order. The whole body is still
    /// downloaded (one `GET /room_keys/keys`); only the sample is decrypted.
    Sample(usize),
    /// Every entry.
    All,
}

/// What the doctor reads and how far it goes.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct DoctorOptions {
    /// How many entries to decrypt (default: a sample of [`DEFAULT_ENTRY_SAMPLE`]).
    pub entries: EntryCheck,
    /// How many versions below the current one to probe (`GET /room_keys/version/{v}`).
    pub old_version_probes: u32,
    /// The display name of the devices this tool's logins make ([`TOOL_DEVICE_NAME`](crate::requests::TOOL_DEVICE_NAME)).
    pub tool_device_name: String,
    /// The device the diagnosis is read with (not counted as a login left behind).
    pub own_device_id: Option<String>,
}

impl Default for DoctorOptions {
    fn default() -> Self {
        Self {
            entries: EntryCheck::Sample(DEFAULT_ENTRY_SAMPLE),
            old_version_probes: DEFAULT_OLD_VERSION_PROBES,
            tool_device_name: crate::requests::TOOL_DEVICE_NAME.to_owned(),
            own_device_id: None,
        }
    }
}

impl DoctorOptions {
    /// How many entries to decrypt.
    pub fn entries(mut self, entries: EntryCheck) -> Self {
        self.entries = entries;
        self
    }
    /// The device the diagnosis is read with.
    pub fn own_device_id(mut self, device_id: Option<String>) -> Self {
        self.own_device_id = device_id;
        self
    }
    /// How many older versions to probe.
    pub fn old_version_probes(mut self, n: u32) -> Self {
        self.old_version_probes = n;
        self
    }
}

/// One of the user's devices, from `GET /devices`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Device {
    /// The device id.
    pub device_id: String,
    /// Its display name, if it has one.
    pub display_name: Option<String>,
}

/// Everything the doctor read from the account.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct AccountSnapshot {
    /// The user.
    pub user_id: String,
    /// The current backup version, if any.
    pub version: Option<BackupVersion>,
    /// Older versions still on the server (newest first).
    pub old_versions: Vec<BackupVersion>,
    /// Secret storage and the other account data read.
    pub secret_storage: SecretStore,
    /// `m.key_backup`, if set.
    pub key_backup_event: Option<Value>,
    /// The `POST /keys/query` answer for the user.
    pub keys_query: Value,
    /// The user's devices.
    pub devices: Vec<Device>,
    /// The body of the current version's `GET /room_keys/keys` as it came, when read:
    /// [`diagnose`] reads it with the backup body's grammar (every listing of a room
    /// listed twice, each entry on its own).
    pub entries: Option<Vec<u8>>,
}

impl AccountSnapshot {
    /// A snapshot of an account with nothing on it, to fill in (for tests and callers that
    /// read the account their own way).
    pub fn new(user_id: &str) -> Self {
        Self {
            user_id: user_id.to_owned(),
            version: None,
            old_versions: Vec::new(),
            secret_storage: SecretStore::default(),
            key_backup_event: None,
            keys_query: Value::Object(Map::new()),
            devices: Vec::new(),
            entries: None,
        }
    }
}

/// How the backup's entries fared with the backup key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct EntryReport {
    /// How many entries the backup holds (in the body read).
    pub total: usize,
    /// How many were decrypted.
    pub checked: usize,
    /// How many of those failed, by class ([`RestoreErrorClass::as_str`]).
    pub failed: BTreeMap<&'static str, usize>,
    /// Of the MAC failures, how many open with the backup key stored in secret storage
    /// when that key is stale (an older key still in use by a client).
    pub open_with_stored_key: usize,
    /// A few failing entries, (room id, session id, class).
    pub sample: Vec<(String, String, RestoreErrorClass)>,
}

/// What the doctor concluded.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Diagnosis {
    /// Every finding, most important first.
    pub findings: Vec<Finding>,
    /// The current backup version id, if any.
    pub version: Option<String>,
    /// What the user's input turned out to be, in one line, when it led to a key.
    pub key_description: Option<String>,
    /// The entries, when they were read and a backup key was found.
    pub entries: Option<EntryReport>,
    /// The devices this tool's logins left on the account (device ids).
    pub tool_logins_left: Vec<String>,
    /// What was read (without the entries), for [`plan_repairs`].
    pub account: AccountSnapshot,
}

impl Diagnosis {
    /// Healthy: no finding of [`Severity::Problem`].
    pub fn is_healthy(&self) -> bool {
        self.findings
            .iter()
            .all(|f| f.code.severity() < Severity::Problem)
    }

    /// Whether a finding with `code` is there.
    pub fn has(&self, code: FindingCode) -> bool {
        self.findings.iter().any(|f| f.code == code)
    }
}
