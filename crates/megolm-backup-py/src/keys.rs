//! The backup key, and what a recovery found.

use backup_cipher::{BackupDecryptionKey, BackupVersion};
use pyo3::prelude::*;
use pyo3::types::PyAny;
use ssss::{KeySource, RecoveredBackupKey, SecretStore};

use crate::errors;
use crate::json;

/// The backup decryption key (the private key of a `m.megolm_backup.v1.curve25519-aes-sha2`
/// backup). Wiped from memory when dropped; its `repr` shows only the public key.
#[pyclass(frozen, module = "megolm_backup", name = "BackupKey")]
pub(crate) struct BackupKey {
    pub(crate) key: BackupDecryptionKey,
}

#[pymethods]
impl BackupKey {
    /// A fresh random key.
    #[staticmethod]
    fn generate() -> PyResult<Self> {
        BackupDecryptionKey::generate()
            .map(|key| Self { key })
            .map_err(|e| errors::raise("MegolmBackupError", "random", e.to_string(), None, None))
    }

    /// The key from its recovery-key form (base58, 48 characters in groups of four).
    #[staticmethod]
    fn from_recovery_key(text: &str) -> PyResult<Self> {
        BackupDecryptionKey::from_base58(text)
            .map(|key| Self { key })
            .map_err(errors::key)
    }

    /// The key from unpadded or padded base64 of its 32 bytes.
    #[staticmethod]
    fn from_base64(text: &str) -> PyResult<Self> {
        BackupDecryptionKey::from_base64(text.trim())
            .map(|key| Self { key })
            .map_err(errors::key)
    }

    /// The key from its 32 bytes.
    #[staticmethod]
    fn from_bytes(data: &[u8]) -> PyResult<Self> {
        BackupDecryptionKey::from_slice(data)
            .map(|key| Self { key })
            .map_err(errors::key)
    }

    /// The public key (unpadded base64), as the backup version's `auth_data` holds it.
    #[getter]
    fn public_key(&self) -> String {
        self.key.public_key().to_base64()
    }

    /// The recovery-key form (base58 in groups of four, as Element shows it). This exposes
    /// the secret.
    fn to_recovery_key(&self) -> String {
        self.key.to_recovery_key().to_base58_grouped().to_string()
    }

    /// Unpadded base64 of the key. This exposes the secret.
    fn to_base64(&self) -> String {
        self.key.to_base64_secret().to_string()
    }

    /// Equal when the keys are (compared in constant time).
    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other
            .cast::<BackupKey>()
            .map(|o| self.key == o.get().key)
            .unwrap_or(false)
    }

    fn __repr__(&self) -> String {
        format!("BackupKey(public_key='{}')", self.public_key())
    }
}

/// The library's name for what the input was.
pub(crate) fn source_name(source: KeySource) -> &'static str {
    match source {
        KeySource::SecurityKey => "security_key",
        KeySource::SecurityPhrase => "security_phrase",
        KeySource::BackupRecoveryKey => "backup_recovery_key",
        KeySource::BackupKeyBase64 => "backup_key_base64",
        KeySource::LegacyBackupPassphrase => "legacy_backup_passphrase",
        _ => "other",
    }
}

/// What a recovery found: the backup key, what the input was taken for, and the backup
/// version the key was checked against.
#[pyclass(frozen, module = "megolm_backup", name = "Recovered")]
pub(crate) struct Recovered {
    /// The backup key.
    #[pyo3(get)]
    pub(crate) key: Py<BackupKey>,
    /// What the input was taken for.
    #[pyo3(get)]
    source: &'static str,
    /// One line for a person.
    #[pyo3(get)]
    description: String,
    /// The backup version the key was checked against.
    #[pyo3(get)]
    version: Option<String>,
    /// Sessions the backup version holds, when the server said.
    #[pyo3(get)]
    count: Option<u64>,
}

impl Recovered {
    pub(crate) fn new(
        py: Python<'_>,
        found: RecoveredBackupKey,
        version: Option<&BackupVersion>,
    ) -> PyResult<Self> {
        Ok(Self {
            source: source_name(found.source),
            description: found.describe(),
            version: version
                .and_then(|v| v.version.clone())
                .or_else(|| found.checked_version.clone()),
            count: version.and_then(|v| v.count),
            key: Py::new(
                py,
                BackupKey {
                    key: found.backup_key.clone(),
                },
            )?,
        })
    }
}

#[pymethods]
impl Recovered {
    fn __repr__(&self) -> String {
        format!(
            "Recovered(source='{}', version={}, key=<BackupKey>)",
            self.source,
            self.version
                .as_deref()
                .map_or("None".to_owned(), |v| format!("'{v}'"))
        )
    }
}

/// Finds the backup key from what the user has, without a homeserver: the Security Key,
/// Security Phrase, the backup's own recovery key or its base64. `backup_version` is the
/// answer of `GET /room_keys/version` (checks the key, and reads legacy passphrase
/// backups); `account_data` the account's secret-storage account data (event type to
/// content) needed for a Security Key or Phrase.
#[pyfunction]
#[pyo3(signature = (secret, *, backup_version=None, account_data=None))]
pub(crate) fn recover_key(
    py: Python<'_>,
    secret: &str,
    backup_version: Option<&Bound<'_, PyAny>>,
    account_data: Option<&Bound<'_, PyAny>>,
) -> PyResult<Recovered> {
    let version: Option<BackupVersion> = match backup_version {
        Some(v) => Some(json::from_py(v, "backup_version")?),
        None => None,
    };
    let store = match account_data {
        Some(a) => {
            let value: serde_json::Value = json::from_py(a, "account_data")?;
            Some(
                SecretStore::from_json(&value)
                    .map_err(|e| errors::invalid("account_data", e.to_string()))?,
            )
        }
        None => None,
    };
    let secret = zeroize::Zeroizing::new(secret.to_owned());
    let found = py
        .detach(|| ssss::recover_backup_key(&secret, store.as_ref(), version.as_ref()))
        .map_err(errors::recover)?;
    Recovered::new(py, found, version.as_ref())
}
