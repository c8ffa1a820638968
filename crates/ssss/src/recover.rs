//! Finding the backup key from whatever the user has.
//!
//! Element shows users one thing: the **Security Key** (newer Element: "Recovery key"),
//! or the **Security Phrase** they chose. Both unlock secret storage, and the backup
//! decryption key is a secret inside it (`m.megolm_backup.v1`). Older Element showed the
//! backup's own recovery key instead, and some tools hand out the backup key in base64.
//! [`recover_backup_key`] takes any of these, works out which it is, checks the result
//! against the backup version when it is known, and says what it found, so a caller can
//! tell the user in one line.
//!
//! No I/O happens here: the caller brings the account data (a [`SecretStore`]) and the
//! backup version (`GET /room_keys/version`) from wherever it gets them.

use std::fmt;

use backup_cipher::{BACKUP_ALGORITHM, BackupDecryptionKey, BackupVersion};
use recovery_key::{DecodeError, RecoveryKey};

use crate::{AccountDataError, MEGOLM_BACKUP_SECRET, SecretStore, UnlockMethod, Unlocked};

/// What the user's input turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeySource {
    /// The Security Key (Element: "Security Key" or "Recovery key"): the recovery key of
    /// secret storage. The backup key came from secret storage.
    SecurityKey,
    /// The Security Phrase: the passphrase of secret storage. The backup key came from
    /// secret storage.
    SecurityPhrase,
    /// The backup's own recovery key (older Element showed this one).
    BackupRecoveryKey,
    /// The backup decryption key in base64.
    BackupKeyBase64,
    /// The passphrase of a legacy passphrase-based backup (`private_key_salt` in its
    /// `auth_data`).
    LegacyBackupPassphrase,
}

impl fmt::Display for KeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::SecurityKey => "Security Key (Recovery key) of secret storage",
            Self::SecurityPhrase => "Security Phrase of secret storage",
            Self::BackupRecoveryKey => {
                "backup's own backup key (what older Element called the backup's recovery key)"
            }
            Self::BackupKeyBase64 => "backup key in base64",
            Self::LegacyBackupPassphrase => "passphrase of this passphrase-based backup",
        })
    }
}

/// The backup key found from the user's input.
#[derive(Debug, Clone)]
pub struct RecoveredBackupKey {
    /// The backup decryption key.
    pub backup_key: BackupDecryptionKey,
    /// What the input was.
    pub source: KeySource,
    /// The unlocked secret-storage key, when the input was the Security Key or Phrase
    /// (the cross-signing keys are stored under it too).
    pub secret_storage: Option<Unlocked>,
    /// The backup version the key was checked against, when one was given.
    pub checked_version: Option<String>,
}

impl RecoveredBackupKey {
    /// One line for the user: what the input was and what it opened.
    pub fn describe(&self) -> String {
        let what = match self.source {
            KeySource::SecurityKey => "your Security Key (Recovery key) unlocked secret storage; \
                                       using the backup key stored there"
                .to_owned(),
            KeySource::SecurityPhrase => {
                "your Security Phrase unlocked secret storage; using the backup key stored there"
                    .to_owned()
            }
            other => format!("the key is the {other}"),
        };
        match &self.checked_version {
            Some(v) => format!("{what}, which matches backup version {v}"),
            None => format!("{what} (not checked against a backup version)"),
        }
    }
}

/// Why no backup key could be found. Every message says what was tried and what to do,
/// in the library's terms (a caller adds its own way of doing it: a flag, a button).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecoverError {
    /// The input opens neither the backup nor secret storage.
    #[error(
        "{input} opens neither the backup nor secret storage. Tried it {tried}. Check that it \
         is this account's Security Key (newer Element: \"Recovery key\") or Security Phrase, \
         copied whole; a key saved before secret storage or the backup was reset no longer \
         works"
    )]
    NoMatch {
        /// What the input looked like ("this recovery key", "this text" …).
        input: String,
        /// Each attempt and why it failed, joined for display.
        tried: String,
        /// Secret storage (the account data) was not given, so the input could not be
        /// tried as a Security Key or Security Phrase: give it and try again.
        secret_storage_missing: bool,
        /// Whether the input is a key (a recovery key or a base64 key), not a phrase: a
        /// key was at least tried as the backup's own.
        input_is_key: bool,
    },
    /// A well-formed key (its check digit is right) that opens neither secret storage nor
    /// the backup: a Security Key or backup key saved before the backup (or secret
    /// storage) was reset, or another account's.
    #[error(
        "this is a Security Key or backup key from before the backup was reset (or from \
         another account): it is a well-formed key, but it opens neither the backup nor secret \
         storage (backup version {version}). Use the Security Key (Recovery key) saved at the \
         last reset, or set up recovery again. Tried it {tried}"
    )]
    KeyFromBeforeReset {
        /// The backup version it was checked against.
        version: String,
        /// Each attempt and why it failed; the public keys compared come last.
        tried: String,
    },
    /// A Security Key damaged in a recognisable way (wrong letter case, dashes between
    /// its groups): told as such, and not tried as a passphrase.
    #[error("{0}")]
    MalformedKey(recovery_key::DecodeError),
    /// Secret storage unlocked, but it holds no usable backup key.
    #[error(
        "your {method} unlocked secret storage, but it holds no backup key: {reason}. Use the \
         backup's own recovery key if you have it, or set up recovery again (a new backup \
         and Security Key)"
    )]
    NoBackupKeyStored {
        /// How secret storage was unlocked ("Security Key" / "Security Phrase").
        method: &'static str,
        /// Why the secret could not be read.
        reason: AccountDataError,
    },
    /// Secret storage unlocked, but its backup key is not the current backup's.
    #[error(
        "your {method} unlocked secret storage, but the backup key stored there is stale, \
         from before the backup was reset: backup version {version} was made without updating \
         secret storage. Restore an older backup version if it still exists, use the \
         current backup's recovery key if you have one, or set up recovery again (the \
         stored key's public key is {stored}; backup version {version} has {current})"
    )]
    StaleBackupKey {
        /// How secret storage was unlocked.
        method: &'static str,
        /// The current backup version.
        version: String,
        /// The stored key's public key.
        stored: String,
        /// The backup's public key.
        current: String,
    },
    /// The backup version uses an algorithm this crate does not implement.
    #[error(
        "backup version {version} uses the algorithm {algorithm}; only {BACKUP_ALGORITHM} is \
         supported"
    )]
    Algorithm {
        /// The version id.
        version: String,
        /// Its algorithm.
        algorithm: String,
    },
}

impl RecoverError {
    /// A short class for scripts and tests: `no_match`, `before_reset`, `malformed_key`,
    /// `no_backup_key`, `stale`, `algorithm`.
    pub fn class(&self) -> &'static str {
        match self {
            Self::NoMatch { .. } => "no_match",
            Self::KeyFromBeforeReset { .. } => "before_reset",
            Self::MalformedKey(_) => "malformed_key",
            Self::NoBackupKeyStored { .. } => "no_backup_key",
            Self::StaleBackupKey { .. } => "stale",
            Self::Algorithm { .. } => "algorithm",
        }
    }
}

/// Element's word for how secret storage was unlocked.
pub fn element_name(method: UnlockMethod) -> &'static str {
    match method {
        UnlockMethod::RecoveryKey => "Security Key",
        UnlockMethod::Passphrase => "Security Phrase",
    }
}

/// Finds the backup decryption key from what the user typed (`input`, exactly as typed
/// but for one trailing newline: a passphrase may begin or end with spaces).
///
/// - `store`: the account data with secret storage, or `None` when it is not available
///   (then a Security Key or Phrase cannot be tried, and the error says so).
/// - `backup`: the backup version the key is for, or `None` (then a key given directly
///   is taken unchecked).
///
/// Tried in this order, cheapest first: the input as the backup's own key (recovery key
/// or base64) against `backup`; the input as the Security Key or Security Phrase of the
/// default secret-storage key, whose stored backup key must then match `backup` ("stale"
/// otherwise, and only then); the input as the passphrase of a legacy passphrase backup.
/// A Security Phrase costs one PBKDF2 derivation (500,000 rounds in Element: a quarter
/// of a second here), so call this off an async runtime's reactor thread.
pub fn recover_backup_key(
    input: &str,
    store: Option<&SecretStore>,
    backup: Option<&BackupVersion>,
) -> Result<RecoveredBackupKey, RecoverError> {
    if let Some(v) = backup
        && v.algorithm != BACKUP_ALGORITHM
    {
        return Err(RecoverError::Algorithm {
            version: version_id(v),
            algorithm: v.algorithm.clone(),
        });
    }
    let trimmed = input.trim();
    let as_recovery_key = RecoveryKey::from_base58(input);
    if let Err(e @ (DecodeError::Case { .. } | DecodeError::Dashes)) = &as_recovery_key {
        return Err(RecoverError::MalformedKey(e.clone()));
    }
    let direct = match &as_recovery_key {
        Ok(rk) => Some((
            BackupDecryptionKey::from_recovery_key(rk),
            KeySource::BackupRecoveryKey,
        )),
        Err(_) => BackupDecryptionKey::from_base64(trimmed)
            .ok()
            .map(|k| (k, KeySource::BackupKeyBase64)),
    };
    let input_kind = match (&as_recovery_key, &direct) {
        (Ok(_), _) => "this recovery key",
        (Err(_), Some(_)) => "this base64 key",
        (Err(_), None) => "this text (it is not a recovery key, so it was tried as a passphrase)",
    };
    let mut tried: Vec<String> = Vec::new();
    // The public keys compared, said last: the useful part of a message comes first.
    let mut public_keys: Option<String> = None;
    if let Err(e) = &as_recovery_key
        && direct.is_none()
    {
        // A phrase needs no lecture on recovery-key characters; a mistyped key does.
        tried.push(if e.looks_like_passphrase() {
            "as a recovery key: it is not one (it reads like a passphrase)".to_owned()
        } else {
            format!("as a recovery key: {e}")
        });
    }

    // 1. The backup's own key (a cheap public-key comparison).
    if let (Some((key, source)), Some(v)) = (&direct, backup) {
        if key.matches(&v.auth_data) {
            return Ok(RecoveredBackupKey {
                backup_key: key.clone(),
                source: *source,
                secret_storage: None,
                checked_version: Some(version_id(v)),
            });
        }
        tried.push(format!(
            "as the {source}: it is not the key of backup version {}",
            version_id(v)
        ));
        public_keys = Some(format!(
            "it belongs to another backup (its public key is {}, backup version {} has {})",
            key.public_key(),
            version_id(v),
            v.auth_data.public_key
        ));
    }

    // 2. Secret storage, unlocked with the Security Key or Phrase.
    match store {
        None => tried.push(
            "as a Security Key or Security Phrase: there was no secret storage to try (no account \
             data was given)"
                .to_owned(),
        ),
        Some(s)
            if s.default_key_id().is_none() && s.key_ids_of(MEGOLM_BACKUP_SECRET).is_empty() =>
        {
            tried.push(
                "as a Security Key or Security Phrase: secret storage is not set up on this \
                 account"
                    .to_owned(),
            )
        }
        // The key that reads the stored backup key: the default one, or, after a setup
        // stopped before its last write, the key no pointer names yet.
        Some(s) => match s.unlock_for(MEGOLM_BACKUP_SECRET, input) {
            Ok(unlocked) => {
                let method = element_name(unlocked.method);
                let secret = s
                    .backup_key(&unlocked.key)
                    .map_err(|reason| RecoverError::NoBackupKeyStored { method, reason })?;
                if let Some(v) = backup
                    && !secret.key.matches(&v.auth_data)
                {
                    return Err(RecoverError::StaleBackupKey {
                        method,
                        version: version_id(v),
                        stored: secret.key.public_key().to_base64(),
                        current: v.auth_data.public_key.clone(),
                    });
                }
                let source = match unlocked.method {
                    UnlockMethod::RecoveryKey => KeySource::SecurityKey,
                    UnlockMethod::Passphrase => KeySource::SecurityPhrase,
                };
                return Ok(RecoveredBackupKey {
                    backup_key: secret.key,
                    source,
                    secret_storage: Some(unlocked),
                    checked_version: backup.map(version_id),
                });
            }
            Err(e) => tried.push(format!("as a Security Key or Security Phrase: {e}")),
        },
    }

    // 3. A legacy passphrase backup (the key derived from `private_key_*` in auth_data).
    if direct.is_none()
        && let Some(v) = backup
        && v.auth_data.extra.contains_key("private_key_salt")
    {
        match BackupDecryptionKey::from_legacy_passphrase(input, &v.auth_data) {
            Ok(key) if key.matches(&v.auth_data) => {
                return Ok(RecoveredBackupKey {
                    backup_key: key,
                    source: KeySource::LegacyBackupPassphrase,
                    secret_storage: None,
                    checked_version: Some(version_id(v)),
                });
            }
            Ok(_) => tried.push(
                "as the passphrase of this passphrase-based backup: it is not that passphrase"
                    .to_owned(),
            ),
            Err(e) => tried.push(format!("as the passphrase of this backup: {e}")),
        }
    }

    // 4. Nothing to check a key against: take it as given.
    if backup.is_none()
        && let Some((key, source)) = direct
    {
        return Ok(RecoveredBackupKey {
            backup_key: key,
            source,
            secret_storage: None,
            checked_version: None,
        });
    }
    if backup.is_none() {
        tried.push("as the backup's own key: it is not a key".to_owned());
    }
    tried.extend(public_keys);
    if let (Ok(_), Some(v), Some(_)) = (&as_recovery_key, backup, store) {
        return Err(RecoverError::KeyFromBeforeReset {
            version: version_id(v),
            tried: tried.join("; "),
        });
    }
    Err(RecoverError::NoMatch {
        input: input_kind.to_owned(),
        tried: tried.join("; "),
        secret_storage_missing: store.is_none(),
        input_is_key: direct.is_some(),
    })
}

fn version_id(v: &BackupVersion) -> String {
    v.version.clone().unwrap_or_else(|| "?".to_owned())
}
