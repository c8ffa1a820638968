//! Setting up secure backup from nothing, as Element's "Set up Secure Backup" dialog
//! does: a secret-storage key (generated, or from a Security Phrase), its description
//! with the key check, a new backup key stored as the `m.megolm_backup.v1` secret, and
//! the backup version to create — returned as data to send, so it works with any HTTP
//! client.

use backup_cipher::{BackupDecryptionKey, BackupVersion, sign_auth_data};
use serde_json::Value;

use crate::{
    CreateKeyError, CrossSigningKeys, KeyDescription, SecretError, SecretStorageKey, SecretStore,
};

#[cfg(feature = "passphrase-policy")]
/// The zxcvbn score a Security Phrase needs: 4, as Element requires ("more than 10^10
/// guesses to crack").
pub const MIN_PASSPHRASE_SCORE: u8 = 4;

/// Why a Security Phrase was refused.
#[cfg(feature = "passphrase-policy")]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PassphraseRejected {
    /// Too easy to guess.
    #[error(
        "this Security Phrase is too easy to guess (strength {score} of 4, 4 is needed){warning}. \
         {suggestions}Use a phrase of several uncommon words, or let the tool generate a Security Key"
    )]
    Weak {
        /// zxcvbn's score, 0–4.
        score: u8,
        /// zxcvbn's warning, prefixed for display (may be empty).
        warning: String,
        /// zxcvbn's suggestions, joined for display (may be empty).
        suggestions: String,
    },
    /// The phrase is the account password.
    #[error(
        "the Security Phrase must not be your account password: anyone with the password \
         (including the server) could then read your backup. Choose a different phrase"
    )]
    AccountPassword,
}

#[cfg(feature = "passphrase-policy")]
/// Checks a Security Phrase: zxcvbn score at least [`MIN_PASSPHRASE_SCORE`] (the user's
/// own identifiers count against it), and not the account password.
pub fn check_passphrase(
    phrase: &str,
    account_password: Option<&str>,
    user_inputs: &[&str],
) -> Result<(), PassphraseRejected> {
    if account_password.is_some_and(|p| p == phrase) {
        return Err(PassphraseRejected::AccountPassword);
    }
    let entropy = zxcvbn::zxcvbn(phrase, user_inputs);
    let score = u8::from(entropy.score());
    if score < MIN_PASSPHRASE_SCORE {
        let feedback = entropy.feedback();
        let warning = feedback
            .and_then(|f| f.warning())
            .map(|w| format!(": {w}"))
            .unwrap_or_default();
        let suggestions: String = feedback
            .map(|f| f.suggestions().iter().map(|s| format!("{s} ")).collect())
            .unwrap_or_default();
        return Err(PassphraseRejected::Weak {
            score,
            warning,
            suggestions,
        });
    }
    Ok(())
}

/// What the secret-storage key is made from. Its `Debug` leaves the phrase out.
#[derive(Clone, Copy)]
#[non_exhaustive]
pub enum SetupSecret<'a> {
    /// A random key, shown to the user as a recovery key (Security Key).
    GenerateKey,
    /// A Security Phrase (already checked with `check_passphrase`, feature
    /// `passphrase-policy`), with fresh `m.pbkdf2` parameters.
    Passphrase(&'a str),
}

impl std::fmt::Debug for SetupSecret<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::GenerateKey => f.write_str("GenerateKey"),
            Self::Passphrase(_) => f.write_str("Passphrase(…)"),
        }
    }
}

/// An Ed25519 key to sign the backup version's `auth_data` with.
#[derive(Debug, Clone, Copy)]
pub struct Signer<'a> {
    /// The key.
    pub key: &'a ed25519_dalek::SigningKey,
    /// The signing user.
    pub user_id: &'a str,
    /// The key id, e.g. `ed25519:DEVICEID`.
    pub key_id: &'a str,
}

/// Everything a new secure-backup setup consists of.
#[derive(Debug, Clone)]
pub struct SecureBackupSetup {
    /// The new secret-storage key: show it to the user (as a recovery key) once.
    pub secret_storage_key: SecretStorageKey,
    /// Its description (`m.secret_storage.key.<id>`).
    pub key_description: KeyDescription,
    /// The new backup decryption key (stored in secret storage as `m.megolm_backup.v1`).
    pub backup_key: BackupDecryptionKey,
    /// The body of `POST /room_keys/version`.
    pub backup_version: BackupVersion,
    /// Account-data events to write, in this order: the key description, the secrets,
    /// and last the default-key pointer — so that a setup interrupted half-way never
    /// points clients at a key whose secrets are missing.
    pub account_data: Vec<(String, Value)>,
    store: SecretStore,
}

/// Why a setup could not be created.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SetupError {
    /// Creating the key failed.
    #[error(transparent)]
    Key(#[from] CreateKeyError),
    /// Encrypting a secret failed.
    #[error(transparent)]
    Secret(#[from] SecretError),
    /// The system random number generator failed.
    #[error("the system random number generator failed: {0}")]
    Random(#[source] getrandom::Error),
    /// The new key's description could not be read back.
    #[error(transparent)]
    AccountData(#[from] crate::AccountDataError),
    /// Signing `auth_data` failed.
    #[error("cannot sign the backup's auth_data: {0}")]
    Sign(String),
}

impl SecureBackupSetup {
    /// Creates a new setup from nothing.
    pub fn create(
        secret: SetupSecret<'_>,
        key_name: Option<&str>,
        signer: Option<Signer<'_>>,
    ) -> Result<Self, SetupError> {
        let mut store = SecretStore::default();
        let phrase = match secret {
            SetupSecret::GenerateKey => None,
            SetupSecret::Passphrase(p) => Some(p),
        };
        let (key, mut events) = store.create_key(phrase, key_name)?;
        let key_description = store.key_description(key.key_id())?;
        let backup_key = BackupDecryptionKey::generate().map_err(SetupError::Random)?;
        let secret_event = store.set_backup_key(&key, &backup_key)?;
        // create_key returned [description, default]; put the secret between them.
        let default = events.pop();
        events.push(secret_event);
        events.extend(default);
        let mut backup_version = BackupVersion::new(backup_key.public_key());
        if let Some(s) = signer {
            sign_auth_data(&mut backup_version.auth_data, s.user_id, s.key_id, s.key)
                .map_err(|e| SetupError::Sign(e.to_string()))?;
        }
        Ok(Self {
            secret_storage_key: key,
            key_description,
            backup_key,
            backup_version,
            account_data: events,
            store,
        })
    }

    /// Makes the setup what Element's "Set up recovery" leaves: stores the three
    /// cross-signing seeds in secret storage (before the default-key pointer) and signs the
    /// backup version with the master key, so a device that imports them trusts the
    /// backup. Upload the keys themselves with [`CrossSigningKeys::upload_body`] when they
    /// are new.
    pub fn add_cross_signing(
        &mut self,
        keys: &CrossSigningKeys,
        user_id: &str,
    ) -> Result<(), SetupError> {
        for (name, value) in keys.secrets() {
            self.add_secret(name, &value)?;
        }
        keys.sign_backup(&mut self.backup_version.auth_data, user_id)
            .map_err(|e| SetupError::Sign(e.to_string()))
    }

    /// Also stores another secret (e.g. a cross-signing seed carried over on a reset)
    /// under the new key; its event goes before the default-key pointer.
    pub fn add_secret(&mut self, name: &str, value: &str) -> Result<(), SetupError> {
        let event = self
            .store
            .set_secret(&self.secret_storage_key, name, value)?;
        let default = self.account_data.pop();
        self.account_data.push(event);
        self.account_data.extend(default);
        Ok(())
    }
}
