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

use std::{
    collections::{BTreeMap, VecDeque},
    fmt,
};

use backup_cipher::{
    BackupDecryptionKey, BackupVersion, KeyBackupData, RestoreErrorClass, restore_entry,
    signatures::{SignatureStatus, canonical_json, sign_auth_data, verify_auth_data},
};
use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use serde_json::{Map, Value};
use ssss::{
    AccountDataError, CROSS_SIGNING_SECRETS, DEFAULT_KEY_EVENT, MEGOLM_BACKUP_SECRET, SecretStore,
    Unlocked, recover_backup_key,
};
use zeroize::Zeroizing;

use crate::{API_PREFIX, Flow, FlowError, Method, Request, Response, requests};

/// The account-data event that says whether key storage (the backup) is on: `{"enabled":
/// bool}` (spec since 2026-04; Element X reads it).
pub const KEY_BACKUP_EVENT: &str = "m.key_backup";

/// The device display name a password login of this workspace gives its device
/// ([`requests::login_password`]).
pub const TOOL_DEVICE_NAME: &str = "megolm-backup";

/// How many backup versions below the current one are probed for leftovers by default.
pub const DEFAULT_OLD_VERSION_PROBES: u32 = 20;

/// How many entries are decrypted by default: a sample.
pub const DEFAULT_ENTRY_SAMPLE: usize = 200;

/// `GET /devices`: the user's devices (id, display name). A GET: repeatable.
pub fn devices_request() -> Request {
    Request::new(Method::Get, format!("{API_PREFIX}/devices"), None)
}

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
    /// The display name of the devices this tool's logins make ([`TOOL_DEVICE_NAME`]).
    pub tool_device_name: String,
    /// The device the diagnosis is read with (not counted as a login left behind).
    pub own_device_id: Option<String>,
}

impl Default for DoctorOptions {
    fn default() -> Self {
        Self {
            entries: EntryCheck::Sample(DEFAULT_ENTRY_SAMPLE),
            old_version_probes: DEFAULT_OLD_VERSION_PROBES,
            tool_device_name: TOOL_DEVICE_NAME.to_owned(),
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
    /// The current version's entries (`GET /room_keys/keys`), when read.
    pub entries: Option<Value>,
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

/// How much a finding matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Severity {
    /// Worth knowing; the account works.
    Advice,
    /// Something is broken: keys can be lost, or Element shows a warning.
    Problem,
}

/// What the doctor found. Each has a stable [`as_str`](Self::as_str) code, the words
/// Element shows ([`element_says`](Self::element_says)), a [`cause`](Self::cause) and a
/// [`fix`](Self::fix).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum FindingCode {
    /// Secret storage has no default key: recovery is not set up.
    SecretStorageNotSetUp,
    /// The default key points at a key description that is missing or unreadable.
    DefaultKeyDescriptionMissing,
    /// What the user has does not unlock secret storage (the key check fails).
    RecoveryKeyIncorrect,
    /// The account has no backup version.
    NoBackup,
    /// Secret storage holds no backup key.
    BackupKeyNotStored,
    /// The backup key in secret storage belongs to another backup version.
    BackupKeyStale,
    /// The current backup was made by a device whose backup key never reached secret
    /// storage.
    BackupMadeByDevice,
    /// The backup version is signed neither by the published master key nor by a device
    /// the self-signing key signed: Element does not trust it.
    BackupNotSignedByMasterKey,
    /// The backup version is signed by a master key the server no longer publishes.
    BackupSignedByOldMasterKey,
    /// Older backup versions are still on the server.
    OldBackupVersions,
    /// The server publishes no cross-signing keys.
    CrossSigningNotSetUp,
    /// Cross-signing private keys are missing from secret storage.
    CrossSigningKeysNotStored,
    /// Cross-signing private keys in secret storage do not match the published keys.
    CrossSigningKeysMismatch,
    /// Some of the user's devices are not signed by the self-signing key.
    DevicesNotCrossSigned,
    /// `m.key_backup` is not set while a backup exists.
    KeyBackupEventMissing,
    /// `m.key_backup` says disabled while a backup exists.
    KeyBackupDisabled,
    /// Entries of the backup are encrypted to another backup key.
    EntriesForAnotherKey,
    /// Entries of the backup decrypt to bad padding (damaged ciphertext).
    EntriesBadPadding,
    /// Entries of the backup are malformed.
    EntriesMalformed,
    /// Devices this tool logged in are still on the account, with live access tokens.
    ToolLoginsLeft,
}

impl FindingCode {
    /// The stable code, for scripts and documentation (`backup_key_stale` …).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SecretStorageNotSetUp => "secret_storage_not_set_up",
            Self::DefaultKeyDescriptionMissing => "default_key_description_missing",
            Self::RecoveryKeyIncorrect => "recovery_key_incorrect",
            Self::NoBackup => "no_backup",
            Self::BackupKeyNotStored => "backup_key_not_stored",
            Self::BackupKeyStale => "backup_key_stale",
            Self::BackupMadeByDevice => "backup_made_by_device",
            Self::BackupNotSignedByMasterKey => "backup_not_signed_by_master_key",
            Self::BackupSignedByOldMasterKey => "backup_signed_by_old_master_key",
            Self::OldBackupVersions => "old_backup_versions",
            Self::CrossSigningNotSetUp => "cross_signing_not_set_up",
            Self::CrossSigningKeysNotStored => "cross_signing_keys_not_stored",
            Self::CrossSigningKeysMismatch => "cross_signing_keys_mismatch",
            Self::DevicesNotCrossSigned => "devices_not_cross_signed",
            Self::KeyBackupEventMissing => "key_backup_event_missing",
            Self::KeyBackupDisabled => "key_backup_disabled",
            Self::EntriesForAnotherKey => "entries_for_another_key",
            Self::EntriesBadPadding => "entries_bad_padding",
            Self::EntriesMalformed => "entries_malformed",
            Self::ToolLoginsLeft => "tool_logins_left",
        }
    }

    /// How much it matters: an account with no [`Severity::Problem`] is healthy.
    pub fn severity(self) -> Severity {
        match self {
            Self::OldBackupVersions | Self::KeyBackupEventMissing => Severity::Advice,
            _ => Severity::Problem,
        }
    }

    /// What Element (Web or X) shows the user for it, when it shows anything.
    pub fn element_says(self) -> Option<&'static str> {
        Some(match self {
            Self::SecretStorageNotSetUp => "Set up recovery",
            Self::DefaultKeyDescriptionMissing
            | Self::BackupKeyNotStored
            | Self::BackupKeyStale
            | Self::BackupMadeByDevice
            | Self::CrossSigningKeysNotStored => "Key storage out of sync",
            Self::RecoveryKeyIncorrect => "Your recovery key is incorrect",
            Self::NoBackup | Self::KeyBackupDisabled => "Key storage is turned off",
            Self::BackupNotSignedByMasterKey | Self::BackupSignedByOldMasterKey => {
                "This backup is not trusted"
            }
            Self::CrossSigningNotSetUp => "Cross-signing is not set up",
            Self::CrossSigningKeysMismatch => {
                "Your account has a cross-signing identity in secret storage, but it is not yet \
                 trusted by this session"
            }
            Self::DevicesNotCrossSigned => "Unverified session",
            Self::EntriesForAnotherKey | Self::EntriesBadPadding | Self::EntriesMalformed => {
                "Failed to decrypt sessions"
            }
            Self::OldBackupVersions | Self::KeyBackupEventMissing | Self::ToolLoginsLeft => {
                return None;
            }
        })
    }

    /// What causes it, in the library's words.
    pub fn cause(self) -> &'static str {
        match self {
            Self::SecretStorageNotSetUp => {
                "recovery was never set up on this account, or it was removed: there is no \
                 default secret-storage key, so no Security Key or Phrase can unlock anything"
            }
            Self::DefaultKeyDescriptionMissing => {
                "the default secret-storage key names a key description that is not in the \
                 account data (or cannot be read): a reset that stopped half-way, or a client \
                 that wrote the pointer without the description"
            }
            Self::RecoveryKeyIncorrect => {
                "the Security Key or Phrase given is not the one of the current secret-storage \
                 key: a key saved before recovery was reset, another account's, or a typo"
            }
            Self::NoBackup => {
                "the account has no server-side key backup: room keys exist only on the \
                 devices that have them"
            }
            Self::BackupKeyNotStored => {
                "the backup key was never stored in secret storage (or was stored under \
                 another secret-storage key): a new device that unlocks secret storage cannot \
                 read the backup"
            }
            Self::BackupKeyStale => {
                "the backup was reset (a new version with a new key) without updating secret \
                 storage: the stored backup key opens an older version, not the current one"
            }
            Self::BackupMadeByDevice => {
                "one device created the current backup version and kept its key to itself: the \
                 key never reached secret storage"
            }
            Self::BackupNotSignedByMasterKey => {
                "the backup version carries no valid signature by the account's cross-signing \
                 master key (nor by one of its devices the self-signing key signed), so \
                 clients do not trust the backup and do not upload their keys to it"
            }
            Self::BackupSignedByOldMasterKey => {
                "the backup version is signed by a master key the server no longer publishes: \
                 cross-signing was reset after the backup was made"
            }
            Self::OldBackupVersions => {
                "earlier backup versions are still on the server: a reset that kept them, or \
                 a client that made a new version without deleting the old one"
            }
            Self::CrossSigningNotSetUp => {
                "the server publishes no cross-signing master key for the account"
            }
            Self::CrossSigningKeysNotStored => {
                "some cross-signing private keys are not in secret storage: a new device that \
                 unlocks secret storage cannot verify itself or others"
            }
            Self::CrossSigningKeysMismatch => {
                "the cross-signing private keys in secret storage are not the public keys the \
                 server publishes: cross-signing was reset without updating secret storage"
            }
            Self::DevicesNotCrossSigned => {
                "these devices of the account are not signed by its self-signing key: they \
                 were never verified, or cross-signing was reset since"
            }
            Self::KeyBackupEventMissing => {
                "the account data m.key_backup is not set: clients that read it (Element X) \
                 cannot tell that key storage is on"
            }
            Self::KeyBackupDisabled => {
                "the account data m.key_backup says key storage is disabled, yet a backup \
                 exists: clients that read it stop backing keys up"
            }
            Self::EntriesForAnotherKey => {
                "entries of the backup are encrypted to a different backup key than the \
                 version's (their MAC fails): a client uploaded with an old or wrong key"
            }
            Self::EntriesBadPadding => {
                "entries decrypt with the backup key but their padding is wrong: the \
                 ciphertext was damaged, or written by a buggy client"
            }
            Self::EntriesMalformed => {
                "entries are not what a backup entry must be (not base64, a bad ephemeral \
                 key, not a room key once decrypted)"
            }
            Self::ToolLoginsLeft => {
                "password logins made by this tool were kept and never logged out: their \
                 access tokens still work"
            }
        }
    }

    /// What fixes it, in the library's words.
    pub fn fix(self) -> &'static str {
        match self {
            Self::SecretStorageNotSetUp | Self::DefaultKeyDescriptionMissing => {
                "set up recovery (a new Security Key, with the backup key and cross-signing keys \
                 stored under it)"
            }
            Self::RecoveryKeyIncorrect => {
                "use the Security Key (Recovery key) or Phrase saved at the last reset; if it is \
                 lost, reset recovery from a device that still has the keys"
            }
            Self::NoBackup => "turn key storage on: create a backup version",
            Self::BackupKeyNotStored | Self::BackupKeyStale => {
                "store the current backup's key in secret storage (from a device that has it, \
                 or with the backup's own recovery key); if no one has it, reset the backup and \
                 store the new key"
            }
            Self::BackupMadeByDevice => {
                "open that device: it holds the backup key and can store it in secret storage; \
                 or reset the backup from a device that unlocks secret storage"
            }
            Self::BackupNotSignedByMasterKey | Self::BackupSignedByOldMasterKey => {
                "sign the backup version's auth_data with the current master key (it needs the \
                 master private key from secret storage)"
            }
            Self::OldBackupVersions => {
                "once every session of the old versions is in the current one, delete the old \
                 versions"
            }
            Self::CrossSigningNotSetUp => {
                "set up cross-signing (new master, self-signing and user-signing keys, stored in \
                 secret storage)"
            }
            Self::CrossSigningKeysNotStored | Self::CrossSigningKeysMismatch => {
                "from a device that has the published cross-signing keys, store them in secret \
                 storage; if none has, reset cross-signing (others must verify you again)"
            }
            Self::DevicesNotCrossSigned => {
                "verify each of these devices, or log out the ones no longer used"
            }
            Self::KeyBackupEventMissing | Self::KeyBackupDisabled => {
                "write m.key_backup {\"enabled\": true}"
            }
            Self::EntriesForAnotherKey => {
                "with the other key (an older Security Key or backup key), decrypt those entries \
                 and upload them again encrypted to the current key; otherwise they cannot be \
                 read"
            }
            Self::EntriesBadPadding | Self::EntriesMalformed => {
                "upload those sessions again from a device that still has them; the damaged \
                 entries cannot be read"
            }
            Self::ToolLoginsLeft => "log out these devices (the account's session list)",
        }
    }
}

impl fmt::Display for FindingCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One thing the doctor found.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Finding {
    /// What it is.
    pub code: FindingCode,
    /// The facts of this account: versions, devices, counts.
    pub detail: String,
}

impl Finding {
    fn new(code: FindingCode, detail: impl Into<String>) -> Self {
        Self {
            code,
            detail: detail.into(),
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

/// Called as entries are decrypted: (checked so far, to check in all).
pub type EntryProgress = Box<dyn FnMut(usize, usize) + Send>;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Version,
    OldVersion(String),
    AccountData(String),
    KeysQuery,
    Devices,
    Entries(String),
}

/// Reads the account for [`diagnose`] and runs it in [`finish`](Flow::finish).
///
/// A Security Phrase costs one PBKDF2 derivation in `finish`, and the entries one X25519
/// each: call it off an async runtime's reactor thread.
pub struct DoctorFlow {
    snapshot: AccountSnapshot,
    input: Option<Zeroizing<String>>,
    options: DoctorOptions,
    pending: VecDeque<Step>,
    in_flight: Option<Step>,
    events: Map<String, Value>,
    progress: Option<EntryProgress>,
}

impl fmt::Debug for DoctorFlow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DoctorFlow")
            .field("user_id", &self.snapshot.user_id)
            .field("options", &self.options)
            .field("pending", &self.pending)
            .finish_non_exhaustive()
    }
}

impl DoctorFlow {
    /// For `user_id`, with what the user has (`input`: Security Key or Phrase, or the
    /// backup's own key; `None` skips what needs a key).
    pub fn new(user_id: &str, input: Option<&str>, options: DoctorOptions) -> Self {
        let mut pending = VecDeque::from([
            Step::Version,
            Step::AccountData(DEFAULT_KEY_EVENT.to_owned()),
            Step::AccountData(MEGOLM_BACKUP_SECRET.to_owned()),
            Step::AccountData(KEY_BACKUP_EVENT.to_owned()),
            Step::KeysQuery,
            Step::Devices,
        ]);
        for name in CROSS_SIGNING_SECRETS {
            pending.push_back(Step::AccountData(name.to_owned()));
        }
        Self {
            snapshot: AccountSnapshot::new(user_id),
            input: input.map(|i| Zeroizing::new(i.to_owned())),
            options,
            pending,
            in_flight: None,
            events: Map::new(),
            progress: None,
        }
    }

    /// Calls `f` as entries are decrypted.
    pub fn on_entry_progress(mut self, f: impl FnMut(usize, usize) + Send + 'static) -> Self {
        self.progress = Some(Box::new(f));
        self
    }

    fn request(&self, step: &Step) -> Request {
        let user = &self.snapshot.user_id;
        match step {
            Step::Version => requests::backup_version(None),
            Step::OldVersion(v) => requests::backup_version(Some(v)),
            Step::AccountData(t) => requests::account_data(user, t),
            Step::KeysQuery => requests::keys_query(user),
            Step::Devices => devices_request(),
            Step::Entries(v) => requests::room_keys(v),
        }
    }
}

fn unexpected(request: &str, reason: impl fmt::Display) -> FlowError {
    FlowError::Unexpected {
        request: request.to_owned(),
        reason: reason.to_string(),
    }
}

impl Flow for DoctorFlow {
    type Output = Diagnosis;

    fn next_request(&mut self) -> Option<Request> {
        let step = self.pending.pop_front()?;
        let request = self.request(&step);
        self.in_flight = Some(step);
        Some(request)
    }

    fn receive(&mut self, response: Response) -> Result<(), FlowError> {
        let step = self.in_flight.take().ok_or(FlowError::OutOfOrder(
            "a response came with no request pending",
        ))?;
        if response.is_not_found() {
            return Ok(());
        }
        if !response.is_success() {
            // A probe of an old version may be refused in other ways (a server that hides
            // deleted versions behind another error): nothing is known of it.
            if matches!(step, Step::OldVersion(_)) && (400..500).contains(&response.status) {
                return Ok(());
            }
            return Err(response.error());
        }
        match step {
            Step::Version => {
                let version: BackupVersion = serde_json::from_value(response.body)
                    .map_err(|e| unexpected("GET /room_keys/version", e))?;
                if let Some(id) = &version.version {
                    if self.options.entries != EntryCheck::Skip {
                        self.pending.push_back(Step::Entries(id.clone()));
                    }
                    // Synapse numbers versions 1, 2, 3 …: probe the ones below.
                    if let Ok(n) = id.parse::<u64>() {
                        let lowest = n.saturating_sub(u64::from(self.options.old_version_probes));
                        for v in (lowest.max(1)..n).rev() {
                            self.pending.push_back(Step::OldVersion(v.to_string()));
                        }
                    }
                }
                self.snapshot.version = Some(version);
            }
            Step::OldVersion(_) => {
                // An unreadable old version is still an old version: keep what parses.
                if let Ok(v) = serde_json::from_value::<BackupVersion>(response.body) {
                    self.snapshot.old_versions.push(v);
                }
            }
            Step::AccountData(event_type) => {
                if event_type == DEFAULT_KEY_EVENT
                    && let Some(id) = response.body.get("key").and_then(Value::as_str)
                {
                    self.pending
                        .push_front(Step::AccountData(format!("m.secret_storage.key.{id}")));
                }
                if event_type == KEY_BACKUP_EVENT {
                    self.snapshot.key_backup_event = Some(response.body);
                } else {
                    self.events.insert(event_type, response.body);
                }
            }
            Step::KeysQuery => self.snapshot.keys_query = response.body,
            Step::Devices => {
                self.snapshot.devices = response
                    .body
                    .get("devices")
                    .and_then(Value::as_array)
                    .map(|list| {
                        list.iter()
                            .filter_map(|d| {
                                Some(Device {
                                    device_id: d.get("device_id")?.as_str()?.to_owned(),
                                    display_name: d
                                        .get("display_name")
                                        .and_then(Value::as_str)
                                        .map(str::to_owned),
                                })
                            })
                            .collect()
                    })
                    .unwrap_or_default();
            }
            Step::Entries(_) => self.snapshot.entries = Some(response.body),
        }
        Ok(())
    }

    fn finish(mut self) -> Result<Diagnosis, FlowError> {
        if self.in_flight.is_some() || !self.pending.is_empty() {
            return Err(FlowError::OutOfOrder(
                "finish came before the last response",
            ));
        }
        self.snapshot.secret_storage = SecretStore::from_json(&Value::Object(self.events))?;
        let input = self.input.as_deref().map(String::as_str);
        Ok(diagnose_with_progress(
            &self.snapshot,
            input,
            &self.options,
            self.progress.as_mut(),
        ))
    }
}

/// Diagnoses an account from what was read, with what the user has (`input`; `None`
/// skips what needs a key). Never fails: what cannot be read is a finding.
pub fn diagnose(
    account: &AccountSnapshot,
    input: Option<&str>,
    options: &DoctorOptions,
) -> Diagnosis {
    diagnose_with_progress(account, input, options, None)
}

/// The published cross-signing keys: (master, self-signing, user-signing).
fn published_keys(query: &Value, user_id: &str) -> [Option<String>; 3] {
    let key = |field: &str| {
        query
            .get(field)?
            .get(user_id)?
            .get("keys")?
            .as_object()?
            .values()
            .find_map(|v| v.as_str().map(str::to_owned))
    };
    [
        key("master_keys"),
        key("self_signing_keys"),
        key("user_signing_keys"),
    ]
}

fn verifying_key(public: &str) -> Option<VerifyingKey> {
    let bytes: [u8; 32] = recovery_key::decode_base64_public(public)
        .ok()?
        .try_into()
        .ok()?;
    VerifyingKey::from_bytes(&bytes).ok()
}

/// Does `object` (a device's keys) carry a valid signature of `user_id` by `key`?
fn signed_by(object: &Value, user_id: &str, key_public: &str) -> bool {
    let Some(key) = verifying_key(key_public) else {
        return false;
    };
    let Some(sig) = object
        .get("signatures")
        .and_then(|s| s.get(user_id))
        .and_then(|s| s.get(format!("ed25519:{key_public}")))
        .and_then(Value::as_str)
        .and_then(|s| recovery_key::decode_base64_public(s).ok())
        .and_then(|b| Signature::from_slice(&b).ok())
    else {
        return false;
    };
    let mut unsigned = object.clone();
    if let Value::Object(map) = &mut unsigned {
        map.remove("signatures");
        map.remove("unsigned");
    }
    canonical_json(&unsigned).is_ok_and(|message| key.verify(message.as_bytes(), &sig).is_ok())
}

/// The user's devices whose keys the self-signing key signed: (`ed25519:DEVICE`, the
/// device's Ed25519 key).
fn cross_signed_devices(
    query: &Value,
    user_id: &str,
    self_signing: Option<&str>,
) -> Vec<(String, VerifyingKey)> {
    let (Some(ssk), Some(devices)) = (
        self_signing,
        query
            .get("device_keys")
            .and_then(|d| d.get(user_id))
            .and_then(Value::as_object),
    ) else {
        return Vec::new();
    };
    devices
        .iter()
        .filter(|(_, keys)| signed_by(keys, user_id, ssk))
        .filter_map(|(id, keys)| {
            let key_id = format!("ed25519:{id}");
            let public = keys.get("keys")?.get(&key_id)?.as_str()?;
            Some((key_id, verifying_key(public)?))
        })
        .collect()
}

fn version_id(v: &BackupVersion) -> &str {
    v.version.as_deref().unwrap_or("?")
}

/// Is this key id's name a device of the account (not a cross-signing key)?
fn device_named(devices: &[Device], query: &Value, user: &str, name: &str) -> Option<String> {
    let known = devices.iter().find(|d| d.device_id == name);
    let in_query = query
        .get("device_keys")
        .and_then(|d| d.get(user))
        .and_then(|d| d.get(name))
        .is_some();
    match known {
        Some(d) => Some(match &d.display_name {
            Some(n) => format!("device {name} (\"{n}\")"),
            None => format!("device {name}"),
        }),
        None if in_query => Some(format!("device {name}")),
        // A device id is short; a public key is 43 characters of base64.
        None if name.len() < 40 => Some(format!("device {name} (no longer on the account)")),
        None => None,
    }
}

fn diagnose_with_progress(
    account: &AccountSnapshot,
    input: Option<&str>,
    options: &DoctorOptions,
    progress: Option<&mut EntryProgress>,
) -> Diagnosis {
    use FindingCode as C;
    let user = account.user_id.as_str();
    let store = &account.secret_storage;
    let version = account.version.as_ref();
    let mut findings = Vec::new();
    let [master, self_signing, user_signing] = published_keys(&account.keys_query, user);

    // Secret storage, unlocked with what the user has.
    let mut unlocked: Option<Unlocked> = None;
    match store.default_key_id() {
        None => findings.push(Finding::new(
            C::SecretStorageNotSetUp,
            "no m.secret_storage.default_key in the account data",
        )),
        Some(id) => match store.key_description(id) {
            Err(e) => findings.push(Finding::new(C::DefaultKeyDescriptionMissing, e.to_string())),
            Ok(_) => {
                if let Some(input) = input {
                    match store.unlock(input) {
                        Ok(u) => unlocked = Some(u),
                        Err(e) => findings.push(Finding::new(
                            C::RecoveryKeyIncorrect,
                            format!("secret-storage key {id}: {e}"),
                        )),
                    }
                }
            }
        },
    }

    // The backup key: from secret storage, or what the user gave directly.
    let mut stored_key: Option<BackupDecryptionKey> = None;
    let mut backup_key: Option<BackupDecryptionKey> = None;
    let mut key_description = None;
    if let Some(u) = &unlocked {
        match store.backup_key(&u.key) {
            Ok(secret) => stored_key = Some(secret.key),
            Err(e) => {
                if version.is_some() {
                    let detail = match e {
                        AccountDataError::MissingSecret(_) | AccountDataError::NotForKey { .. } => {
                            format!(
                                "{MEGOLM_BACKUP_SECRET} is not stored under the default key {}",
                                u.key.key_id()
                            )
                        }
                        other => format!("{MEGOLM_BACKUP_SECRET} cannot be read: {other}"),
                    };
                    findings.push(Finding::new(C::BackupKeyNotStored, detail));
                }
            }
        }
    }
    match version {
        None => findings.push(Finding::new(C::NoBackup, "GET /room_keys/version: none")),
        Some(v) => {
            if let Some(stored) = &stored_key {
                if stored.matches(&v.auth_data) {
                    backup_key = Some(stored.clone());
                } else {
                    let opens = account
                        .old_versions
                        .iter()
                        .find(|old| stored.matches(&old.auth_data))
                        .map(|old| {
                            format!(
                                "; it opens version {} (still on the server)",
                                version_id(old)
                            )
                        })
                        .unwrap_or_default();
                    findings.push(Finding::new(
                        C::BackupKeyStale,
                        format!(
                            "the stored backup key (public key {}) is not the key of backup \
                             version {} (public key {}){opens}",
                            stored.public_key().to_base64(),
                            version_id(v),
                            v.auth_data.public_key
                        ),
                    ));
                }
            }
            if backup_key.is_none()
                && let Some(input) = input
                && let Ok(found) = recover_backup_key(input, None, Some(v))
            {
                key_description = Some(found.describe());
                backup_key = Some(found.backup_key);
                // The backup's own key is not the Security Key: say so where it was refused.
                for f in findings
                    .iter_mut()
                    .filter(|f| f.code == C::RecoveryKeyIncorrect)
                {
                    f.detail.push_str(&format!(
                        "; what was given is the {}: it opens backup version {} but not secret \
                         storage",
                        found.source,
                        version_id(v)
                    ));
                }
            }
            if backup_key.is_some() && key_description.is_none() {
                key_description = Some(format!(
                    "the backup key stored in secret storage opens backup version {}",
                    version_id(v)
                ));
            }
            // Who made a version whose key is not in secret storage?
            let key_not_stored = findings
                .iter()
                .any(|f| matches!(f.code, C::BackupKeyNotStored | C::BackupKeyStale));
            if key_not_stored {
                let makers: Vec<String> = v
                    .auth_data
                    .signatures
                    .get(user)
                    .into_iter()
                    .flat_map(|s| s.keys())
                    .filter_map(|k| k.strip_prefix("ed25519:"))
                    .filter(|name| Some(*name) != master.as_deref())
                    .filter_map(|name| {
                        device_named(&account.devices, &account.keys_query, user, name)
                    })
                    .collect();
                if !makers.is_empty() {
                    findings.push(Finding::new(
                        C::BackupMadeByDevice,
                        format!(
                            "backup version {} was made (signed) by {}",
                            version_id(v),
                            makers.join(", ")
                        ),
                    ));
                }
            }
            // Trust, as Element decides it: a valid signature by the published master key,
            // or by one of the user's devices that the self-signing key signed.
            match &master {
                None => {}
                Some(m) => {
                    let mut keys: BTreeMap<String, VerifyingKey> = verifying_key(m)
                        .map(|k| (format!("ed25519:{m}"), k))
                        .into_iter()
                        .collect();
                    keys.extend(cross_signed_devices(
                        &account.keys_query,
                        user,
                        self_signing.as_deref(),
                    ));
                    let checks = verify_auth_data(&v.auth_data, user, &keys).unwrap_or_default();
                    let valid = checks.iter().any(|c| c.status == SignatureStatus::Valid);
                    if !valid {
                        let old_master: Vec<&str> = checks
                            .iter()
                            .filter(|c| c.status == SignatureStatus::UnknownKey)
                            .filter_map(|c| c.key_id.strip_prefix("ed25519:"))
                            .filter(|name| {
                                name.len() >= 40
                                    && device_named(
                                        &account.devices,
                                        &account.keys_query,
                                        user,
                                        name,
                                    )
                                    .is_none()
                            })
                            .collect();
                        if old_master.is_empty() {
                            let invalid =
                                checks.iter().any(|c| c.status == SignatureStatus::Invalid);
                            findings.push(Finding::new(
                                C::BackupNotSignedByMasterKey,
                                format!(
                                    "backup version {}: {} by the master key {m}",
                                    version_id(v),
                                    if invalid {
                                        "the signature does not verify"
                                    } else {
                                        "no signature"
                                    }
                                ),
                            ));
                        } else {
                            findings.push(Finding::new(
                                C::BackupSignedByOldMasterKey,
                                format!(
                                    "backup version {} is signed by {}; the master key is now {m}",
                                    version_id(v),
                                    old_master.join(", ")
                                ),
                            ));
                        }
                    }
                }
            }
            // m.key_backup.
            match account
                .key_backup_event
                .as_ref()
                .map(|e| e.get("enabled").and_then(Value::as_bool))
            {
                None => findings.push(Finding::new(
                    C::KeyBackupEventMissing,
                    format!("backup version {} exists", version_id(v)),
                )),
                Some(Some(true)) => {}
                Some(other) => findings.push(Finding::new(
                    C::KeyBackupDisabled,
                    format!(
                        "m.key_backup is {}, yet backup version {} exists",
                        match other {
                            Some(_) => "{\"enabled\": false}".to_owned(),
                            None => "set without \"enabled\": true".to_owned(),
                        },
                        version_id(v)
                    ),
                )),
            }
        }
    }
    if !account.old_versions.is_empty() {
        let list: Vec<String> = account
            .old_versions
            .iter()
            .map(|o| match o.count {
                Some(c) => format!("{} ({c} keys)", version_id(o)),
                None => version_id(o).to_owned(),
            })
            .collect();
        findings.push(Finding::new(
            C::OldBackupVersions,
            format!("older versions on the server: {}", list.join(", ")),
        ));
    }

    // Cross-signing.
    match &master {
        None => findings.push(Finding::new(
            C::CrossSigningNotSetUp,
            "POST /keys/query shows no master key",
        )),
        Some(_) => {
            if let Some(u) = &unlocked {
                let published = [&master, &self_signing, &user_signing];
                let mut missing = Vec::new();
                let mut mismatched = Vec::new();
                for ((name, seed), public) in
                    store.cross_signing_seeds(&u.key).into_iter().zip(published)
                {
                    match seed {
                        Ok(seed) => {
                            if let Some(p) = public
                                && *p != seed.public_key
                            {
                                mismatched.push(format!(
                                    "{name} (stored {}, published {p})",
                                    seed.public_key
                                ));
                            }
                        }
                        Err(
                            AccountDataError::MissingSecret(_) | AccountDataError::NotForKey { .. },
                        ) => {
                            missing.push(name.to_owned());
                        }
                        Err(e) => missing.push(format!("{name} (unreadable: {e})")),
                    }
                }
                if !missing.is_empty() {
                    findings.push(Finding::new(
                        C::CrossSigningKeysNotStored,
                        format!("not in secret storage: {}", missing.join(", ")),
                    ));
                }
                if !mismatched.is_empty() {
                    findings.push(Finding::new(
                        C::CrossSigningKeysMismatch,
                        mismatched.join("; "),
                    ));
                }
            }
            // Own devices (those with device keys) signed by the self-signing key.
            if let Some(ssk) = &self_signing
                && let Some(devices) = account
                    .keys_query
                    .get("device_keys")
                    .and_then(|d| d.get(user))
                    .and_then(Value::as_object)
            {
                let unsigned: Vec<String> = devices
                    .iter()
                    .filter(|(_, keys)| !signed_by(keys, user, ssk))
                    .map(|(id, _)| {
                        device_named(&account.devices, &account.keys_query, user, id)
                            .unwrap_or_else(|| format!("device {id}"))
                    })
                    .collect();
                if !unsigned.is_empty() {
                    findings.push(Finding::new(
                        C::DevicesNotCrossSigned,
                        format!(
                            "not signed by the self-signing key: {}",
                            unsigned.join(", ")
                        ),
                    ));
                }
            }
        }
    }

    // The entries.
    let entries = match (&backup_key, &account.entries) {
        (Some(key), Some(body)) => {
            let stale = stored_key
                .as_ref()
                .filter(|s| version.is_some_and(|v| !s.matches(&v.auth_data)));
            let report = check_entries(key, stale, body, options.entries, progress);
            entry_findings(&report, &mut findings);
            Some(report)
        }
        _ => None,
    };

    // Logins this tool left.
    let left: Vec<&str> = account
        .devices
        .iter()
        .filter(|d| d.display_name.as_deref() == Some(options.tool_device_name.as_str()))
        .filter(|d| options.own_device_id.as_deref() != Some(d.device_id.as_str()))
        .map(|d| d.device_id.as_str())
        .collect();
    if !left.is_empty() {
        findings.push(Finding::new(
            C::ToolLoginsLeft,
            format!(
                "devices named \"{}\": {}",
                options.tool_device_name,
                left.join(", ")
            ),
        ));
    }

    findings.sort_by_key(|f| std::cmp::Reverse(f.code.severity()));
    Diagnosis {
        findings,
        version: version.and_then(|v| v.version.clone()),
        key_description,
        entries,
        account: AccountSnapshot {
            entries: None,
            ..account.clone()
        },
    }
}

/// One safe repair: the request that makes it, and what it repairs.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Repair {
    /// The finding it repairs.
    pub fixes: FindingCode,
    /// What it does, for the user to approve.
    pub description: String,
    /// The request to send (`PUT` of account data or of the backup version).
    pub request: Request,
}

/// The safe repairs for a diagnosis, in the order to send them, and the findings left.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct RepairPlan {
    /// The repairs, in order: the backup key stored, the version signed, `m.key_backup`.
    /// Each is idempotent: after a crash at any step, diagnose and plan again.
    pub repairs: Vec<Repair>,
    /// Findings no safe repair covers, with why.
    pub not_repaired: Vec<(FindingCode, String)>,
}

/// Plans the safe repairs (nothing is deleted, nothing replaced that is not kept
/// elsewhere) of `diagnosis`, with what the user has: `input` (Security Key or Phrase,
/// unlocking secret storage) and `backup_key` (the current backup's own key, when secret
/// storage does not hold it):
///
/// - the backup key stored in secret storage, when a key the user gave opens the current
///   version;
/// - the version signed with the master key from secret storage, when that key is the
///   published one **and** a key the user holds opens the version (a version the user
///   cannot open may be the server's, and signing it would make clients trust it);
/// - `m.key_backup` set to `{"enabled": true}` while a backup exists.
pub fn plan_repairs(diagnosis: &Diagnosis, input: &str, backup_key: Option<&str>) -> RepairPlan {
    use FindingCode as C;
    let account = &diagnosis.account;
    let user = account.user_id.as_str();
    let store = &account.secret_storage;
    let mut plan = RepairPlan::default();
    let Some(version) = account.version.as_ref() else {
        for f in &diagnosis.findings {
            plan.not_repaired
                .push((f.code, "there is no backup version".into()));
        }
        return plan;
    };
    let unlocked = store.unlock(input).ok();
    let stored = unlocked
        .as_ref()
        .and_then(|u| store.backup_key(&u.key).ok())
        .map(|s| s.key)
        .filter(|k| k.matches(&version.auth_data));
    let given = backup_key
        .and_then(|text| recover_backup_key(text, None, Some(version)).ok())
        .map(|found| found.backup_key);
    let direct = recover_backup_key(input, None, Some(version))
        .ok()
        .map(|found| found.backup_key);
    let opening = stored.clone().or(given).or(direct);
    let [master, ..] = published_keys(&account.keys_query, user);

    for f in &diagnosis.findings {
        match f.code {
            C::BackupKeyNotStored | C::BackupKeyStale => match (&unlocked, &opening) {
                (Some(u), Some(key)) if stored.is_none() => {
                    let mut scratch = store.clone();
                    match scratch.set_backup_key(&u.key, key) {
                        Ok((event_type, content)) => plan.repairs.push(Repair {
                            fixes: f.code,
                            description: format!(
                                "store the key of backup version {} in secret storage (under \
                                 key {})",
                                version_id(version),
                                u.key.key_id()
                            ),
                            request: requests::set_account_data(user, &event_type, content),
                        }),
                        Err(e) => plan.not_repaired.push((f.code, e.to_string())),
                    }
                }
                (None, _) => plan
                    .not_repaired
                    .push((f.code, "secret storage is not unlocked".into())),
                _ => plan.not_repaired.push((
                    f.code,
                    "no key opens the current backup version: give its own key".into(),
                )),
            },
            C::BackupNotSignedByMasterKey | C::BackupSignedByOldMasterKey => {
                let seed = unlocked.as_ref().and_then(|u| {
                    store
                        .cross_signing_seeds(&u.key)
                        .into_iter()
                        .find(|(name, _)| *name == CROSS_SIGNING_SECRETS[0])
                        .and_then(|(_, s)| s.ok())
                });
                match (seed, &master, &opening) {
                    (Some(seed), Some(m), Some(_)) if seed.public_key == *m => {
                        let signer = ed25519_dalek::SigningKey::from_bytes(seed.seed());
                        let mut signed = version.clone();
                        match sign_auth_data(
                            &mut signed.auth_data,
                            user,
                            &format!("ed25519:{m}"),
                            &signer,
                        ) {
                            Ok(()) => plan.repairs.push(Repair {
                                fixes: f.code,
                                description: format!(
                                    "sign backup version {} with the master key {m}",
                                    version_id(version)
                                ),
                                request: requests::update_backup_version(
                                    version_id(version),
                                    &signed,
                                ),
                            }),
                            Err(e) => plan.not_repaired.push((f.code, e.to_string())),
                        }
                    }
                    (_, _, None) => plan.not_repaired.push((
                        f.code,
                        "no key the user gave opens this backup version, so it is not signed \
                         (it may not be the user's)"
                            .into(),
                    )),
                    _ => plan.not_repaired.push((
                        f.code,
                        "the published master key's private key is not in secret storage (or \
                         it is not unlocked)"
                            .into(),
                    )),
                }
            }
            C::KeyBackupEventMissing | C::KeyBackupDisabled => plan.repairs.push(Repair {
                fixes: f.code,
                description: format!("write {KEY_BACKUP_EVENT} {{\"enabled\": true}}"),
                request: requests::set_account_data(
                    user,
                    KEY_BACKUP_EVENT,
                    serde_json::json!({"enabled": true}),
                ),
            }),
            other => plan
                .not_repaired
                .push((other, "no safe automatic repair".into())),
        }
    }
    // The key first, the signature next, the account data flag last.
    plan.repairs.sort_by_key(|r| match r.fixes {
        C::BackupKeyNotStored | C::BackupKeyStale => 0,
        C::BackupNotSignedByMasterKey | C::BackupSignedByOldMasterKey => 1,
        _ => 2,
    });
    plan
}

/// The entries of a `GET /room_keys/keys` body, each read on its own: one malformed
/// entry does not hide the others.
fn body_entries(body: &Value) -> Vec<(&str, &str, &Value)> {
    let mut out = Vec::new();
    if let Some(rooms) = body.get("rooms").and_then(Value::as_object) {
        for (room, r) in rooms {
            if let Some(sessions) = r.get("sessions").and_then(Value::as_object) {
                for (session, entry) in sessions {
                    out.push((room.as_str(), session.as_str(), entry));
                }
            }
        }
    }
    out
}

fn check_entries(
    key: &BackupDecryptionKey,
    stale: Option<&BackupDecryptionKey>,
    body: &Value,
    check: EntryCheck,
    mut progress: Option<&mut EntryProgress>,
) -> EntryReport {
    let all = body_entries(body);
    let limit = match check {
        EntryCheck::Skip => 0,
        EntryCheck::Sample(n) => n.min(all.len()),
        EntryCheck::All => all.len(),
    };
    let mut report = EntryReport {
        total: all.len(),
        ..EntryReport::default()
    };
    for (i, (room, session, entry)) in all.into_iter().take(limit).enumerate() {
        let class = match serde_json::from_value::<KeyBackupData>(entry.clone()) {
            Err(_) => Some(RestoreErrorClass::Malformed),
            Ok(data) => match restore_entry(key, room, session, &data.session_data) {
                Ok(_) => None,
                Err(failure) => {
                    if failure.error == RestoreErrorClass::Mac
                        && let Some(old) = stale
                        && restore_entry(old, room, session, &data.session_data).is_ok()
                    {
                        report.open_with_stored_key += 1;
                    }
                    Some(failure.error)
                }
            },
        };
        report.checked += 1;
        if let Some(class) = class {
            *report.failed.entry(class.as_str()).or_default() += 1;
            if report.sample.len() < 5 {
                report
                    .sample
                    .push((room.to_owned(), session.to_owned(), class));
            }
        }
        if let Some(p) = progress.as_mut()
            && ((i + 1) % 100 == 0 || i + 1 == limit)
        {
            p(i + 1, limit);
        }
    }
    report
}

fn entry_findings(report: &EntryReport, findings: &mut Vec<Finding>) {
    use RestoreErrorClass as R;
    let count = |classes: &[R]| -> usize {
        classes
            .iter()
            .map(|c| report.failed.get(c.as_str()).copied().unwrap_or(0))
            .sum()
    };
    let of = if report.checked < report.total {
        format!(
            "of {} entries checked (of {})",
            report.checked, report.total
        )
    } else {
        format!("of {} entries", report.checked)
    };
    let other_key = count(&[R::Mac]);
    if other_key > 0 {
        let stored = if report.open_with_stored_key > 0 {
            format!(
                "; {} of them open with the (stale) backup key in secret storage",
                report.open_with_stored_key
            )
        } else {
            String::new()
        };
        findings.push(Finding::new(
            FindingCode::EntriesForAnotherKey,
            format!("{other_key} {of} are encrypted to another key{stored}"),
        ));
    }
    let padding = count(&[R::Padding]);
    if padding > 0 {
        findings.push(Finding::new(
            FindingCode::EntriesBadPadding,
            format!("{padding} {of} have bad padding"),
        ));
    }
    let malformed = count(&[
        R::Base64,
        R::Key,
        R::Json,
        R::Algorithm,
        R::SessionId,
        R::Malformed,
        R::Internal,
        R::Truncated,
        R::Damaged,
    ]);
    if malformed > 0 {
        findings.push(Finding::new(
            FindingCode::EntriesMalformed,
            format!("{malformed} {of} are malformed"),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use backup_cipher::signatures::sign_auth_data;
    use ed25519_dalek::{Signer, SigningKey};
    use recovery_key::encode_base64;
    use serde_json::json;

    const USER: &str = "@a:x";

    fn public(key: &SigningKey) -> String {
        encode_base64(key.verifying_key().as_bytes())
    }

    /// A device's keys, signed by the device itself and, if given, by `ssk`.
    fn device_keys(id: &str, device: &SigningKey, ssk: Option<&SigningKey>) -> Value {
        let mut keys = json!({
            "user_id": USER,
            "device_id": id,
            "algorithms": ["m.megolm.v1.aes-sha2"],
            "keys": {(format!("ed25519:{id}")): public(device)},
        });
        let message = canonical_json(&keys).unwrap();
        let mut sigs = Map::new();
        sigs.insert(
            format!("ed25519:{id}"),
            json!(encode_base64(&device.sign(message.as_bytes()).to_bytes())),
        );
        if let Some(ssk) = ssk {
            sigs.insert(
                format!("ed25519:{}", public(ssk)),
                json!(encode_base64(&ssk.sign(message.as_bytes()).to_bytes())),
            );
        }
        keys["signatures"] = json!({ USER: sigs });
        keys
    }

    #[test]
    fn out_of_order_is_an_error_not_a_panic() {
        let mut flow = DoctorFlow::new(USER, None, DoctorOptions::default());
        assert!(flow.receive(Response::ok(json!({}))).is_err());
        assert!(
            DoctorFlow::new(USER, None, DoctorOptions::default())
                .finish()
                .is_err()
        );
    }

    /// The flow probes the versions below the current one and downloads the entries;
    /// a deleted version (404) is not reported, a kept one is.
    #[test]
    fn the_flow_probes_old_versions_and_reads_the_entries() {
        let key = BackupDecryptionKey::generate().unwrap();
        let mut current = BackupVersion::new(key.public_key());
        current.version = Some("3".into());
        let mut kept = current.clone();
        kept.version = Some("1".into());
        kept.count = Some(5);
        let mut flow = DoctorFlow::new(USER, None, DoctorOptions::default());
        let mut paths = Vec::new();
        while let Some(request) = flow.next_request() {
            let path = request.path.trim_start_matches(API_PREFIX).to_owned();
            let response = match path.as_str() {
                "/room_keys/version" => Response::ok(serde_json::to_value(&current).unwrap()),
                "/room_keys/version/1" => Response::ok(serde_json::to_value(&kept).unwrap()),
                "/room_keys/keys?version=3" => Response::ok(json!({"rooms": {}})),
                "/devices" => Response::ok(json!({"devices": []})),
                "/keys/query" => Response::ok(json!({})),
                _ => Response::new(404, json!({"errcode": "M_NOT_FOUND"})),
            };
            paths.push(path);
            flow.receive(response).unwrap();
        }
        for expected in [
            "/room_keys/version/2",
            "/room_keys/version/1",
            "/room_keys/keys?version=3",
            "/devices",
            "/keys/query",
        ] {
            assert!(paths.iter().any(|p| p == expected), "{expected}: {paths:?}");
        }
        let diagnosis = flow.finish().unwrap();
        let old: Vec<&Finding> = diagnosis
            .findings
            .iter()
            .filter(|f| f.code == FindingCode::OldBackupVersions)
            .collect();
        assert_eq!(old.len(), 1);
        assert_eq!(old[0].detail, "older versions on the server: 1 (5 keys)");
        assert_eq!(diagnosis.version.as_deref(), Some("3"));
    }

    /// Element trusts a backup signed by a device the self-signing key signed; an
    /// unverified device's signature is not enough, and that device is named.
    #[test]
    fn trust_follows_the_self_signing_key() {
        let master = SigningKey::from_bytes(&[1; 32]);
        let ssk = SigningKey::from_bytes(&[2; 32]);
        let verified = SigningKey::from_bytes(&[3; 32]);
        let unverified = SigningKey::from_bytes(&[4; 32]);
        let mut account = AccountSnapshot::new(USER);
        account.keys_query = json!({
            "master_keys": {USER: {"keys": {(format!("ed25519:{}", public(&master))): public(&master)}}},
            "self_signing_keys": {USER: {"keys": {(format!("ed25519:{}", public(&ssk))): public(&ssk)}}},
            "device_keys": {USER: {
                "VERIFIED": device_keys("VERIFIED", &verified, Some(&ssk)),
                "UNVERIFIED": device_keys("UNVERIFIED", &unverified, None),
            }},
        });
        let backup = BackupDecryptionKey::generate().unwrap();
        let signed_by = |id: &str, key: &SigningKey| {
            let mut v = BackupVersion::new(backup.public_key());
            v.version = Some("1".into());
            sign_auth_data(&mut v.auth_data, USER, &format!("ed25519:{id}"), key).unwrap();
            v
        };
        let options = DoctorOptions::default();

        account.version = Some(signed_by("VERIFIED", &verified));
        let d = diagnose(&account, None, &options);
        assert!(!d.has(FindingCode::BackupNotSignedByMasterKey), "{d:?}");
        let unsigned: Vec<&Finding> = d
            .findings
            .iter()
            .filter(|f| f.code == FindingCode::DevicesNotCrossSigned)
            .collect();
        assert_eq!(unsigned.len(), 1);
        assert!(
            unsigned[0].detail.contains("UNVERIFIED") && !unsigned[0].detail.contains(" VERIFIED"),
            "{}",
            unsigned[0].detail
        );

        account.version = Some(signed_by("UNVERIFIED", &unverified));
        assert!(diagnose(&account, None, &options).has(FindingCode::BackupNotSignedByMasterKey));

        let master_id = public(&master);
        account.version = Some(signed_by(&master_id, &master));
        assert!(!diagnose(&account, None, &options).has(FindingCode::BackupNotSignedByMasterKey));
    }

    /// Secret storage made by the ssss crate: the right key finds it in order, another key
    /// is incorrect, and no key given checks nothing that needs one.
    #[test]
    fn secret_storage_with_the_right_key_the_wrong_one_and_none() {
        let mut store = SecretStore::default();
        let (sskey, _) = store.create_key(None, None).unwrap();
        let backup_rk = recovery_key::RecoveryKey::generate().unwrap();
        let backup = BackupDecryptionKey::from_recovery_key(&backup_rk);
        store.set_backup_key(&sskey, &backup).unwrap();
        let mut account = AccountSnapshot::new(USER);
        account.secret_storage = store;
        let mut v = BackupVersion::new(backup.public_key());
        v.version = Some("1".into());
        account.version = Some(v);
        account.key_backup_event = Some(json!({"enabled": true}));
        let options = DoctorOptions::default();
        let right = sskey.to_recovery_key().to_base58_grouped();

        let d = diagnose(&account, Some(right.as_str()), &options);
        assert!(!d.has(FindingCode::RecoveryKeyIncorrect));
        assert!(!d.has(FindingCode::BackupKeyNotStored) && !d.has(FindingCode::BackupKeyStale));

        let other = recovery_key::RecoveryKey::generate()
            .unwrap()
            .to_base58_grouped();
        let d = diagnose(&account, Some(other.as_str()), &options);
        assert!(d.has(FindingCode::RecoveryKeyIncorrect), "{d:?}");

        // The backup's own key opens the backup, not secret storage: both are said.
        let own = backup_rk.to_base58_grouped();
        let d = diagnose(&account, Some(own.as_str()), &options);
        let refused = d
            .findings
            .iter()
            .find(|f| f.code == FindingCode::RecoveryKeyIncorrect)
            .unwrap();
        assert!(
            refused
                .detail
                .contains("it opens backup version 1 but not secret storage"),
            "{}",
            refused.detail
        );

        let d = diagnose(&account, None, &options);
        assert!(!d.has(FindingCode::RecoveryKeyIncorrect));
        assert!(d.entries.is_none());
    }

    #[test]
    fn the_doctors_own_device_is_not_a_login_left_behind() {
        let mut account = AccountSnapshot::new(USER);
        account.devices = ["OWN", "LEFT"]
            .iter()
            .map(|id| Device {
                device_id: (*id).to_owned(),
                display_name: Some(TOOL_DEVICE_NAME.to_owned()),
            })
            .collect();
        let options = DoctorOptions::default().own_device_id(Some("OWN".into()));
        let d = diagnose(&account, None, &options);
        let left: Vec<&Finding> = d
            .findings
            .iter()
            .filter(|f| f.code == FindingCode::ToolLoginsLeft)
            .collect();
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].detail, "devices named \"megolm-backup\": LEFT");
    }

    /// A version no key of the user opens is never signed with the master key (it may be
    /// the server's); with the version's own key it is, and the signature verifies.
    #[test]
    fn repairs_sign_only_a_version_the_user_can_open() {
        let master = SigningKey::from_bytes(&[5; 32]);
        let mut store = SecretStore::default();
        let (sskey, _) = store.create_key(None, None).unwrap();
        store
            .set_secret(
                &sskey,
                CROSS_SIGNING_SECRETS[0],
                &encode_base64(master.as_bytes()),
            )
            .unwrap();
        let backup_rk = recovery_key::RecoveryKey::generate().unwrap();
        let backup = BackupDecryptionKey::from_recovery_key(&backup_rk);
        let mut account = AccountSnapshot::new(USER);
        account.secret_storage = store;
        account.keys_query = json!({
            "master_keys": {USER: {"keys": {(format!("ed25519:{}", public(&master))): public(&master)}}},
        });
        let mut v = BackupVersion::new(backup.public_key());
        v.version = Some("1".into());
        account.version = Some(v);
        let input = sskey.to_recovery_key().to_base58_grouped();
        let d = diagnose(&account, Some(input.as_str()), &DoctorOptions::default());
        assert!(d.has(FindingCode::BackupNotSignedByMasterKey), "{d:?}");
        assert!(d.has(FindingCode::BackupKeyNotStored), "{d:?}");

        let plan = plan_repairs(&d, &input, None);
        assert!(
            plan.repairs
                .iter()
                .all(|r| r.fixes != FindingCode::BackupNotSignedByMasterKey
                    && r.fixes != FindingCode::BackupKeyNotStored),
            "{plan:?}"
        );
        assert!(
            plan.not_repaired
                .iter()
                .any(|(c, _)| *c == FindingCode::BackupNotSignedByMasterKey)
        );

        let given = backup_rk.to_base58_grouped();
        let plan = plan_repairs(&d, &input, Some(given.as_str()));
        let order: Vec<FindingCode> = plan.repairs.iter().map(|r| r.fixes).collect();
        assert_eq!(
            order,
            [
                FindingCode::BackupKeyNotStored,
                FindingCode::BackupNotSignedByMasterKey,
                FindingCode::KeyBackupEventMissing
            ]
        );
        let body = plan.repairs[1].request.body.clone().unwrap();
        let signed: BackupVersion = serde_json::from_value(body).unwrap();
        let keys = BTreeMap::from([(
            format!("ed25519:{}", public(&master)),
            master.verifying_key(),
        )]);
        let checks = verify_auth_data(&signed.auth_data, USER, &keys).unwrap();
        assert!(
            checks.iter().any(|c| c.status == SignatureStatus::Valid),
            "{checks:?}"
        );
    }
}
