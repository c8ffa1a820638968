//! Cross-signing keys, as Element's "Set up recovery" creates them (spec "Cross-signing"):
//! a master key, a self-signing key and a user-signing key (Ed25519), the last two signed by the master key; their seeds kept in secret storage; and the backup
//! version signed by the master key, which is what makes an Element device trust the
//! backup and upload its own room keys to it.

use std::fmt;

use backup_cipher::{AuthData, CanonicalJsonError, canonical_json, sign_auth_data};
use ed25519_dalek::{Signer, SigningKey};
use recovery_key::{decode_base64, encode_base64};
use serde_json::{Value, json};
use zeroize::Zeroizing;

use crate::{AccountDataError, CROSS_SIGNING_SECRETS, SecretStorageKey, SecretStore};

/// The three cross-signing private keys of a user. `Debug` shows only public keys.
#[derive(Clone)]
pub struct CrossSigningKeys {
    master: SigningKey,
    self_signing: SigningKey,
    user_signing: SigningKey,
}

impl fmt::Debug for CrossSigningKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CrossSigningKeys")
            .field("master", &self.master_public_key())
            .finish_non_exhaustive()
    }
}

/// Why the cross-signing keys in secret storage cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CrossSigningError {
    /// A seed is missing or unreadable.
    #[error(transparent)]
    Secret(#[from] AccountDataError),
    /// The system random number generator failed.
    #[error("the system random number generator failed: {0}")]
    Random(#[source] getrandom::Error),
    /// A value could not be put in canonical JSON for signing.
    #[error("cannot sign: {0}")]
    Sign(#[from] CanonicalJsonError),
}

fn random_signing_key() -> Result<SigningKey, CrossSigningError> {
    let mut seed = Zeroizing::new([0u8; 32]);
    getrandom::fill(seed.as_mut_slice()).map_err(CrossSigningError::Random)?;
    Ok(SigningKey::from_bytes(&seed))
}

impl CrossSigningKeys {
    /// Three fresh keys from the operating system's random number generator.
    pub fn generate() -> Result<Self, CrossSigningError> {
        Ok(Self {
            master: random_signing_key()?,
            self_signing: random_signing_key()?,
            user_signing: random_signing_key()?,
        })
    }

    /// The keys from their 32-byte Ed25519 seeds (master, self-signing, user-signing).
    pub fn from_seeds(master: &[u8; 32], self_signing: &[u8; 32], user_signing: &[u8; 32]) -> Self {
        Self {
            master: SigningKey::from_bytes(master),
            self_signing: SigningKey::from_bytes(self_signing),
            user_signing: SigningKey::from_bytes(user_signing),
        }
    }

    /// The keys stored in secret storage under `key` (`m.cross_signing.master`, `…self_signing`,
    /// `…user_signing`, each base64 of a 32-byte seed).
    pub fn from_secret_store(
        store: &SecretStore,
        key: &SecretStorageKey,
    ) -> Result<Self, CrossSigningError> {
        let seed = |name: &str| -> Result<Zeroizing<[u8; 32]>, CrossSigningError> {
            let text = store.get_secret(key, name)?;
            let bytes = Zeroizing::new(decode_base64(text.trim()).unwrap_or_default());
            let arr: [u8; 32] =
                bytes
                    .as_slice()
                    .try_into()
                    .map_err(|_| AccountDataError::Value {
                        name: name.to_owned(),
                        expected: "a 32-byte Ed25519 seed in base64",
                    })?;
            Ok(Zeroizing::new(arr))
        };
        let [m, s, u] = CROSS_SIGNING_SECRETS;
        let (m, s, u) = (seed(m)?, seed(s)?, seed(u)?);
        Ok(Self::from_seeds(&m, &s, &u))
    }

    /// The master public key, unpadded base64 (also its key id after `ed25519:`).
    pub fn master_public_key(&self) -> String {
        encode_base64(self.master.verifying_key().as_bytes())
    }

    /// The master key's id in signatures: `ed25519:<master public key>`.
    pub fn master_key_id(&self) -> String {
        format!("ed25519:{}", self.master_public_key())
    }

    /// The master signing key (to sign with, e.g. a backup's `auth_data`).
    pub fn master(&self) -> &SigningKey {
        &self.master
    }

    /// The seeds to store in secret storage: (secret name, unpadded base64 of the seed).
    /// This exposes the secrets.
    pub fn secrets(&self) -> [(&'static str, Zeroizing<String>); 3] {
        let [m, s, u] = CROSS_SIGNING_SECRETS;
        [
            (m, Zeroizing::new(encode_base64(self.master.as_bytes()))),
            (
                s,
                Zeroizing::new(encode_base64(self.self_signing.as_bytes())),
            ),
            (
                u,
                Zeroizing::new(encode_base64(self.user_signing.as_bytes())),
            ),
        ]
    }

    /// The body of `POST /_matrix/client/v3/keys/device_signing/upload` (without `auth`):
    /// the three public keys, the self-signing and user-signing keys signed by the master
    /// key.
    pub fn upload_body(&self, user_id: &str) -> Result<Value, CrossSigningError> {
        let key_object = |key: &SigningKey, usage: &str| {
            let public = encode_base64(key.verifying_key().as_bytes());
            json!({
                "user_id": user_id,
                "usage": [usage],
                "keys": { format!("ed25519:{public}"): public },
            })
        };
        let master = key_object(&self.master, "master");
        let mut self_signing = key_object(&self.self_signing, "self_signing");
        let mut user_signing = key_object(&self.user_signing, "user_signing");
        for object in [&mut self_signing, &mut user_signing] {
            self.sign_with_master(object, user_id)?;
        }
        Ok(json!({
            "master_key": master,
            "self_signing_key": self_signing,
            "user_signing_key": user_signing,
        }))
    }

    /// Signs a JSON object with the master key (spec "Signing JSON": canonical JSON of the
    /// object without `signatures` and `unsigned`), adding
    /// `signatures.<user_id>."ed25519:<master>"`.
    pub fn sign_with_master(
        &self,
        object: &mut Value,
        user_id: &str,
    ) -> Result<(), CrossSigningError> {
        let mut unsigned = object.clone();
        if let Value::Object(map) = &mut unsigned {
            map.remove("signatures");
            map.remove("unsigned");
        }
        let message = canonical_json(&unsigned)?;
        let signature = encode_base64(&self.master.sign(message.as_bytes()).to_bytes());
        if let Value::Object(map) = object {
            let sigs = map.entry("signatures").or_insert_with(|| json!({}));
            if !sigs.is_object() {
                *sigs = json!({});
            }
            if let Some(sigs) = sigs.as_object_mut() {
                let user = sigs.entry(user_id.to_owned()).or_insert_with(|| json!({}));
                if !user.is_object() {
                    *user = json!({});
                }
                if let Some(user) = user.as_object_mut() {
                    user.insert(self.master_key_id(), Value::String(signature));
                }
            }
        }
        Ok(())
    }

    /// Signs a backup version's `auth_data` with the master key, as Element does; a device
    /// that trusts this master key then trusts the backup.
    pub fn sign_backup(
        &self,
        auth_data: &mut AuthData,
        user_id: &str,
    ) -> Result<(), CrossSigningError> {
        sign_auth_data(auth_data, user_id, &self.master_key_id(), &self.master)?;
        Ok(())
    }
}
