//! The findings: their codes, the words Element shows, their causes and fixes — one
//! home for what the doctor says.

use std::fmt;

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
    pub(super) fn new(code: FindingCode, detail: impl Into<String>) -> Self {
        Self {
            code,
            detail: detail.into(),
        }
    }
}
