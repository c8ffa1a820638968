//! Secret storage over the account data a client downloads.

use std::{collections::BTreeMap, fmt};

use backup_cipher::{BackupDecryptionKey, BackupVersion, RestoreError, check_backup_version};
use recovery_key::{DecodeError, PassphraseError, PassphraseInfo, RecoveryKey, encode_base64};
use serde_json::{Value, json};
use zeroize::Zeroizing;

use crate::{
    EncryptedSecret, KeyCheck, KeyDescription, SecretError, SecretStorageKey, decrypt_secret,
    encrypt_secret,
    key::{SECRET_STORAGE_ALGORITHM, decode_secret_bytes, random_key_id},
};

/// The account-data type that names the default key.
pub const DEFAULT_KEY_EVENT: &str = "m.secret_storage.default_key";
const KEY_EVENT_PREFIX: &str = "m.secret_storage.key.";
/// The secret holding the backup decryption key.
pub const MEGOLM_BACKUP_SECRET: &str = "m.megolm_backup.v1";
/// How many keys besides the default one [`SecretStore::unlock_for`] tries.
pub const UNLOCK_TRIES: usize = 4;
/// The secrets holding the cross-signing private keys (Ed25519 seeds).
pub const CROSS_SIGNING_SECRETS: [&str; 3] = [
    "m.cross_signing.master",
    "m.cross_signing.self_signing",
    "m.cross_signing.user_signing",
];

/// The account data of a user, by event type.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SecretStore {
    events: BTreeMap<String, Value>,
}

/// Account data that could not be read, or a secret that is not there.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AccountDataError {
    /// The JSON is none of the accepted shapes.
    #[error(
        "not account data: expected an object of event type → content, a list of \
         {{\"type\", \"content\"}} events, or a /sync response with account_data.events"
    )]
    Shape,
    /// No `m.secret_storage.default_key`.
    #[error(
        "secret storage is not set up on this account: there is no default key (m.secret_storage.default_key)"
    )]
    NoDefaultKey,
    /// The default key's description is missing or unreadable.
    #[error("the description of secret-storage key {key_id:?} is missing or malformed: {reason}")]
    Description {
        /// The key id.
        key_id: String,
        /// What is wrong.
        reason: String,
    },
    /// The key uses an algorithm this crate does not implement.
    #[error(
        "secret-storage key {key_id:?} uses algorithm {algorithm:?}; only {SECRET_STORAGE_ALGORITHM} is supported"
    )]
    Algorithm {
        /// The key id.
        key_id: String,
        /// Its algorithm.
        algorithm: String,
    },
    /// The secret is not in the account data.
    #[error("the secret {0} is not stored on this account")]
    MissingSecret(String),
    /// The secret is not encrypted under this key.
    #[error("the secret {name} is not encrypted with secret-storage key {key_id:?}")]
    NotForKey {
        /// The secret.
        name: String,
        /// The key id.
        key_id: String,
    },
    /// The secret's event is not `{encrypted: {key_id: {iv, ciphertext, mac}}}`.
    #[error("the secret {0} is malformed in the account data")]
    MalformedSecret(String),
    /// Decryption failed.
    #[error("cannot decrypt the secret {name}: {source}")]
    Secret {
        /// The secret.
        name: String,
        /// Why.
        source: SecretError,
    },
    /// The decrypted value is not of the form this secret has.
    #[error("the secret {name} decrypted, but its value is not {expected}")]
    Value {
        /// The secret.
        name: String,
        /// What it should be.
        expected: &'static str,
    },
}

/// How the user's input unlocked the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum UnlockMethod {
    /// It was a recovery key (Security Key).
    RecoveryKey,
    /// It was the passphrase (Security Phrase).
    Passphrase,
}

impl fmt::Display for UnlockMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::RecoveryKey => "recovery key",
            Self::Passphrase => "passphrase",
        })
    }
}

/// A key unlocked from user input.
#[derive(Debug, Clone)]
pub struct Unlocked {
    /// The key.
    pub key: SecretStorageKey,
    /// Which kind of input matched.
    pub method: UnlockMethod,
    /// The key check's verdict: `Ok`, or `Unverifiable` when the description has no
    /// check and no stored secret could confirm the key either.
    pub check: KeyCheck,
}

/// Why what the user typed did not unlock secret storage. Each case says what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UnlockError {
    /// Account data problem (no default key, missing description…).
    #[error(transparent)]
    AccountData(#[from] AccountDataError),
    /// A well-formed recovery key, but for another key.
    #[error(
        "this is a valid recovery key, but not the one for this account's secret storage \
         (key {key_id:?}){also}; it may be an old key from before secret storage was reset"
    )]
    WrongRecoveryKey {
        /// The key id.
        key_id: String,
        /// Extra note when the passphrase path was tried too.
        also: String,
    },
    /// Not a recovery key, and the passphrase did not match.
    #[error(
        "the passphrase is wrong for secret-storage key {key_id:?} (and it is not a recovery \
         key): check for typos, letter case and spaces at the start or end"
    )]
    WrongPassphrase {
        /// The key id.
        key_id: String,
        /// Why it was not a recovery key (for callers; not shown).
        decode: String,
    },
    /// Not a recovery key, and the key has no passphrase to try.
    #[error(
        "{decode}. Secret-storage key {key_id:?} was not created from a passphrase, so only its \
         recovery key (Security Key) can unlock it"
    )]
    NotARecoveryKey {
        /// The key id.
        key_id: String,
        /// Why it was not a recovery key.
        decode: String,
    },
    /// A Security Key damaged in a recognisable way (wrong letter case, dashes between
    /// the groups): told as such, never tried as a passphrase.
    #[error("{0}")]
    MalformedKey(recovery_key::DecodeError),
    /// The stored passphrase parameters are unusable.
    #[error("cannot derive the key from the passphrase: {0}")]
    Passphrase(PassphraseError),
    /// The stored key check is malformed.
    #[error("the key check of secret-storage key {key_id:?} is malformed: {source}")]
    Check {
        /// The key id.
        key_id: String,
        /// Why.
        source: SecretError,
    },
}

/// How the backup key secret was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BackupKeyFormat {
    /// Unpadded base64 (rust-sdk, mautrix; what we write).
    Unpadded,
    /// Padded base64 (legacy js-sdk).
    Padded,
    /// Comma-separated decimals, from a legacy js-sdk bug (`Uint8Array.toString()`).
    LegacyCommaDecimal,
}

/// The backup decryption key read from secret storage.
#[derive(Debug, Clone)]
pub struct BackupKeySecret {
    /// The key.
    pub key: BackupDecryptionKey,
    /// How the secret was written (a legacy form is worth rewriting).
    pub format: BackupKeyFormat,
}

impl BackupKeySecret {
    /// Does the key belong to the current backup version? A key that does not is stale:
    /// the backup was reset since it was stored (docs/interop.md P15).
    pub fn check_version(&self, version: &BackupVersion) -> Result<(), RestoreError> {
        check_backup_version(&self.key, version)
    }
}

/// A cross-signing private key read from secret storage.
#[derive(Clone)]
pub struct CrossSigningSeed {
    /// The secret name (`m.cross_signing.master` …).
    pub name: &'static str,
    seed: Zeroizing<[u8; 32]>,
    /// The Ed25519 public key the seed implies, unpadded base64.
    pub public_key: String,
}

impl CrossSigningSeed {
    /// The 32-byte Ed25519 seed. This exposes the secret.
    pub fn seed(&self) -> &[u8; 32] {
        &self.seed
    }
}

impl fmt::Debug for CrossSigningSeed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CrossSigningSeed")
            .field("name", &self.name)
            .field("public_key", &self.public_key)
            .finish_non_exhaustive()
    }
}

impl SecretStore {
    /// Account data from JSON: an object of event type → content; a list of
    /// `{"type", "content"}` events; `{"events": [...]}`; or a whole `/sync` response
    /// (its `account_data.events`).
    pub fn from_json(value: &Value) -> Result<Self, AccountDataError> {
        let events = match value {
            Value::Array(list) => list,
            Value::Object(obj) => {
                if let Some(Value::Array(list)) =
                    obj.get("account_data").and_then(|a| a.get("events"))
                {
                    list
                } else if let Some(Value::Array(list)) = obj.get("events") {
                    list
                } else {
                    return Ok(Self {
                        events: obj.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
                    });
                }
            }
            _ => return Err(AccountDataError::Shape),
        };
        let mut map = BTreeMap::new();
        for e in events {
            let (Some(t), Some(c)) = (e.get("type").and_then(Value::as_str), e.get("content"))
            else {
                return Err(AccountDataError::Shape);
            };
            map.insert(t.to_owned(), c.clone());
        }
        Ok(Self { events: map })
    }

    /// Every event, by type: what to upload after changes.
    pub fn events(&self) -> &BTreeMap<String, Value> {
        &self.events
    }

    /// The event type → content object (the input shape of [`from_json`](Self::from_json)).
    pub fn to_json(&self) -> Value {
        Value::Object(
            self.events
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        )
    }

    /// The default key's id.
    pub fn default_key_id(&self) -> Option<&str> {
        self.events.get(DEFAULT_KEY_EVENT)?.get("key")?.as_str()
    }

    /// A key's description.
    pub fn key_description(&self, key_id: &str) -> Result<KeyDescription, AccountDataError> {
        let content = self
            .events
            .get(&format!("{KEY_EVENT_PREFIX}{key_id}"))
            .ok_or_else(|| AccountDataError::Description {
                key_id: key_id.to_owned(),
                reason: "no such account data".into(),
            })?;
        let d: KeyDescription =
            serde_json::from_value(content.clone()).map_err(|e| AccountDataError::Description {
                key_id: key_id.to_owned(),
                reason: e.to_string(),
            })?;
        if !d.is_supported() {
            return Err(AccountDataError::Algorithm {
                key_id: key_id.to_owned(),
                algorithm: d.algorithm,
            });
        }
        Ok(d)
    }

    /// Unlocks the default key with what the user typed: tried as a recovery key and,
    /// when the key has passphrase parameters, as the passphrase (exactly as typed).
    pub fn unlock(&self, input: &str) -> Result<Unlocked, UnlockError> {
        let key_id = self
            .default_key_id()
            .ok_or(AccountDataError::NoDefaultKey)?
            .to_owned();
        self.unlock_key(&key_id, input)
    }

    /// Unlocks the key that reads the secret `name` with what the user typed: the default
    /// key when it holds a copy of `name` (or `name` is not stored) — that key alone, so a
    /// wrong Security Phrase costs one derivation; otherwise one of the keys `name` is
    /// encrypted under (at most [`UNLOCK_TRIES`] of them: each costs a derivation for a
    /// Security Phrase), then the default key whatever it holds. A setup stopped before
    /// its last write (the default-key pointer) leaves the secrets under a key no pointer
    /// names, or names the old key still; its Security Key then opens them. When nothing
    /// opens, the error is the default key's, or, without a pointer, that of the last key
    /// tried (a wrong key, not "not set up").
    pub fn unlock_for(&self, name: &str, input: &str) -> Result<Unlocked, UnlockError> {
        let holders = self.key_ids_of(name);
        let default = self.default_key_id();
        if default.is_some_and(|d| holders.is_empty() || holders.iter().any(|h| h == d)) {
            return self.unlock(input);
        }
        let mut refused = None;
        for id in holders
            .iter()
            .filter(|h| Some(h.as_str()) != default)
            .take(UNLOCK_TRIES)
        {
            match self.unlock_key(id, input) {
                Ok(u) => return Ok(u),
                Err(e) => refused = Some(e),
            }
        }
        match (default, refused) {
            (None, Some(e)) => Err(e),
            _ => self.unlock(input),
        }
    }

    /// Unlocks a given key with what the user typed.
    pub fn unlock_key(&self, key_id: &str, input: &str) -> Result<Unlocked, UnlockError> {
        let desc = self.key_description(key_id)?;
        let check = |key: &SecretStorageKey| -> Result<KeyCheck, UnlockError> {
            match desc.check(key).map_err(|source| UnlockError::Check {
                key_id: key_id.to_owned(),
                source,
            })? {
                // No stored check: let a stored secret's MAC decide, if there is one.
                KeyCheck::Unverifiable => Ok(self.confirm_by_secret(key)),
                other => Ok(other),
            }
        };
        let decoded = RecoveryKey::from_base58(input);
        if let Err(e @ (DecodeError::Case { .. } | DecodeError::Dashes)) = &decoded {
            return Err(UnlockError::MalformedKey(e.clone()));
        }
        if let Ok(rk) = &decoded {
            let key = SecretStorageKey::from_recovery_key(rk, key_id);
            let c = check(&key)?;
            if c != KeyCheck::Mismatch {
                return Ok(Unlocked {
                    key,
                    method: UnlockMethod::RecoveryKey,
                    check: c,
                });
            }
        }
        if let Some(info) = &desc.passphrase {
            let key = SecretStorageKey::from_passphrase(input, info, key_id)
                .map_err(UnlockError::Passphrase)?;
            match check(&key)? {
                KeyCheck::Mismatch => {}
                c => {
                    return Ok(Unlocked {
                        key,
                        method: UnlockMethod::Passphrase,
                        check: c,
                    });
                }
            }
            return Err(match decoded {
                Ok(_) => UnlockError::WrongRecoveryKey {
                    key_id: key_id.to_owned(),
                    also: " (nor is it the passphrase)".into(),
                },
                Err(e) => UnlockError::WrongPassphrase {
                    key_id: key_id.to_owned(),
                    decode: e.to_string(),
                },
            });
        }
        Err(match decoded {
            Ok(_) => UnlockError::WrongRecoveryKey {
                key_id: key_id.to_owned(),
                also: String::new(),
            },
            Err(e) => UnlockError::NotARecoveryKey {
                key_id: key_id.to_owned(),
                decode: e.to_string(),
            },
        })
    }

    /// For a description without a key check: `Mismatch` if a secret stored under the key
    /// fails its MAC, `Ok` if one decrypts, `Unverifiable` if there is none.
    fn confirm_by_secret(&self, key: &SecretStorageKey) -> KeyCheck {
        match self.secret_names(key.key_id()).first() {
            None => KeyCheck::Unverifiable,
            Some(name) => match self.get_secret(key, name) {
                Ok(_) => KeyCheck::Ok,
                Err(AccountDataError::Secret {
                    source: SecretError::Mac,
                    ..
                }) => KeyCheck::Mismatch,
                Err(_) => KeyCheck::Unverifiable,
            },
        }
    }

    /// The names of every secret encrypted under `key_id`, sorted.
    pub fn secret_names(&self, key_id: &str) -> Vec<String> {
        self.events
            .iter()
            .filter(|(_, c)| c.get("encrypted").and_then(|e| e.get(key_id)).is_some())
            .map(|(t, _)| t.clone())
            .collect()
    }

    /// The ids of the keys the secret `name` is encrypted under, sorted (none when it is
    /// not stored).
    pub fn key_ids_of(&self, name: &str) -> Vec<String> {
        self.events
            .get(name)
            .and_then(|c| c.get("encrypted"))
            .and_then(Value::as_object)
            .map(|e| e.keys().cloned().collect())
            .unwrap_or_default()
    }

    fn encrypted_secret(
        &self,
        key_id: &str,
        name: &str,
    ) -> Result<EncryptedSecret, AccountDataError> {
        let content = self
            .events
            .get(name)
            .ok_or_else(|| AccountDataError::MissingSecret(name.to_owned()))?;
        let entry = content
            .get("encrypted")
            .and_then(|e| e.get(key_id))
            .ok_or_else(|| AccountDataError::NotForKey {
                name: name.to_owned(),
                key_id: key_id.to_owned(),
            })?;
        serde_json::from_value(entry.clone())
            .map_err(|_| AccountDataError::MalformedSecret(name.to_owned()))
    }

    /// Decrypts one secret (a UTF-8 string).
    pub fn get_secret(
        &self,
        key: &SecretStorageKey,
        name: &str,
    ) -> Result<Zeroizing<String>, AccountDataError> {
        let sealed = self.encrypted_secret(key.key_id(), name)?;
        let bytes =
            decrypt_secret(key, name, &sealed).map_err(|source| AccountDataError::Secret {
                name: name.to_owned(),
                source,
            })?;
        let text = std::str::from_utf8(&bytes).map_err(|_| AccountDataError::Value {
            name: name.to_owned(),
            expected: "UTF-8 text",
        })?;
        Ok(Zeroizing::new(text.to_owned()))
    }

    /// Encrypts `value` as the secret `name` under `key`, keeping copies under other keys.
    /// Returns the event type and content to upload.
    pub fn set_secret(
        &mut self,
        key: &SecretStorageKey,
        name: &str,
        value: &str,
    ) -> Result<(String, Value), SecretError> {
        let sealed = encrypt_secret(key, name, value.as_bytes())?;
        let content = self
            .events
            .entry(name.to_owned())
            .or_insert_with(|| json!({}));
        if !content.is_object() {
            *content = json!({});
        }
        let encrypted = content
            .as_object_mut()
            .map(|o| o.entry("encrypted").or_insert_with(|| json!({})));
        if let Some(enc) = encrypted {
            if !enc.is_object() {
                *enc = json!({});
            }
            if let Some(map) = enc.as_object_mut() {
                map.insert(
                    key.key_id().to_owned(),
                    serde_json::to_value(&sealed).unwrap_or(Value::Null),
                );
            }
        }
        Ok((
            name.to_owned(),
            self.events.get(name).cloned().unwrap_or(Value::Null),
        ))
    }

    /// Creates a new key (random, or from `passphrase` with fresh `m.pbkdf2` parameters),
    /// stores its description and makes it the default. Returns the key and the events
    /// to upload (description, default-key pointer).
    pub fn create_key(
        &mut self,
        passphrase: Option<&str>,
        name: Option<&str>,
    ) -> Result<(SecretStorageKey, Vec<(String, Value)>), CreateKeyError> {
        let key_id = random_key_id().map_err(CreateKeyError::Random)?;
        let (key, info) = match passphrase {
            Some(p) => {
                let info = PassphraseInfo::generate().map_err(CreateKeyError::Random)?;
                (
                    SecretStorageKey::from_passphrase(p, &info, &key_id)
                        .map_err(CreateKeyError::Passphrase)?,
                    Some(info),
                )
            }
            None => {
                let rk = RecoveryKey::generate().map_err(CreateKeyError::Random)?;
                (SecretStorageKey::from_recovery_key(&rk, &key_id), None)
            }
        };
        let mut desc = key.describe(name).map_err(CreateKeyError::Secret)?;
        desc.passphrase = info;
        let desc_event = (
            format!("{KEY_EVENT_PREFIX}{key_id}"),
            serde_json::to_value(&desc).unwrap_or(Value::Null),
        );
        let default_event = (DEFAULT_KEY_EVENT.to_owned(), json!({ "key": key_id }));
        for (t, c) in [&desc_event, &default_event] {
            self.events.insert(t.clone(), c.clone());
        }
        Ok((key, vec![desc_event, default_event]))
    }

    /// The backup decryption key (`m.megolm_backup.v1`), read in any of its three forms.
    pub fn backup_key(&self, key: &SecretStorageKey) -> Result<BackupKeySecret, AccountDataError> {
        let text = self.get_secret(key, MEGOLM_BACKUP_SECRET)?;
        let bad = || AccountDataError::Value {
            name: MEGOLM_BACKUP_SECRET.into(),
            expected: "a 32-byte key in base64 (or legacy comma-separated decimals)",
        };
        let (bytes, format) = if text.contains(',') {
            let bytes: Result<Vec<u8>, _> =
                text.split(',').map(|n| n.trim().parse::<u8>()).collect();
            (
                Zeroizing::new(bytes.map_err(|_| bad())?),
                BackupKeyFormat::LegacyCommaDecimal,
            )
        } else {
            let format = if text.trim_end().ends_with('=') {
                BackupKeyFormat::Padded
            } else {
                BackupKeyFormat::Unpadded
            };
            (decode_secret_bytes(&text).ok_or_else(bad)?, format)
        };
        let key = BackupDecryptionKey::from_slice(&bytes).map_err(|_| bad())?;
        Ok(BackupKeySecret { key, format })
    }

    /// Stores the backup decryption key as `m.megolm_backup.v1` (unpadded base64).
    pub fn set_backup_key(
        &mut self,
        key: &SecretStorageKey,
        backup_key: &BackupDecryptionKey,
    ) -> Result<(String, Value), SecretError> {
        self.set_secret(key, MEGOLM_BACKUP_SECRET, &backup_key.to_base64_secret())
    }

    /// The three cross-signing seeds, each with the Ed25519 public key it implies.
    pub fn cross_signing_seeds(
        &self,
        key: &SecretStorageKey,
    ) -> Vec<(&'static str, Result<CrossSigningSeed, AccountDataError>)> {
        CROSS_SIGNING_SECRETS
            .iter()
            .map(|name| (*name, self.cross_signing_seed(key, name)))
            .collect()
    }

    fn cross_signing_seed(
        &self,
        key: &SecretStorageKey,
        name: &'static str,
    ) -> Result<CrossSigningSeed, AccountDataError> {
        let text = self.get_secret(key, name)?;
        let bytes = decode_secret_bytes(&text).unwrap_or_default();
        let seed: [u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| AccountDataError::Value {
                name: name.into(),
                expected: "a 32-byte Ed25519 seed in base64",
            })?;
        let public = ed25519_dalek::SigningKey::from_bytes(&seed).verifying_key();
        Ok(CrossSigningSeed {
            name,
            seed: Zeroizing::new(seed),
            public_key: encode_base64(public.as_bytes()),
        })
    }
}

/// Why a new key could not be created.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CreateKeyError {
    /// The system random number generator failed.
    #[error("the system random number generator failed: {0}")]
    Random(#[source] getrandom::Error),
    /// Passphrase derivation failed.
    #[error(transparent)]
    Passphrase(PassphraseError),
    /// The key check could not be made.
    #[error(transparent)]
    Secret(SecretError),
}
