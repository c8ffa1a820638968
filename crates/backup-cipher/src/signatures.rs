//! Trust in a backup version: Ed25519 signatures on `auth_data` over canonical JSON
//! (spec appendix "Signing JSON", "Server-side key backups"; docs/interop.md P16).

use std::collections::BTreeMap;

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use recovery_key::encode_base64;
use serde_json::Value;

use crate::AuthData;

/// Canonical JSON of a value: object keys sorted by code point, no insignificant
/// whitespace, UTF-8. Floats are not allowed in canonical JSON and are rejected.
pub fn canonical_json(value: &Value) -> Result<String, CanonicalJsonError> {
    let mut out = String::new();
    write_canonical(value, &mut out)?;
    Ok(out)
}

fn write_canonical(value: &Value, out: &mut String) -> Result<(), CanonicalJsonError> {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                write_canonical(&map[k], out)?;
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(v, out)?;
            }
            out.push(']');
        }
        Value::Number(n) if n.is_f64() => return Err(CanonicalJsonError::Float(n.to_string())),
        other => out.push_str(&other.to_string()),
    }
    Ok(())
}

/// A value that has no canonical JSON form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CanonicalJsonError {
    /// Canonical JSON allows integers only.
    #[error("canonical JSON allows only integers, found {0}")]
    Float(String),
    /// The value could not be turned into JSON at all.
    #[error("cannot serialize the value to sign: {0}")]
    Serialize(String),
}

/// The bytes that are signed: `auth_data` without `signatures` and `unsigned`, with every
/// other field (known or not) kept.
pub fn signed_bytes(auth_data: &AuthData) -> Result<String, CanonicalJsonError> {
    let mut value = serde_json::to_value(auth_data)
        .map_err(|e| CanonicalJsonError::Serialize(e.to_string()))?;
    if let Value::Object(map) = &mut value {
        map.remove("signatures");
        map.remove("unsigned");
    }
    canonical_json(&value)
}

/// What one signature on `auth_data` says.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SignatureStatus {
    /// Valid signature by a key the caller trusts.
    Valid,
    /// A signature by a known key that does not verify.
    Invalid,
    /// Signed by a key the caller did not provide.
    UnknownKey,
    /// Not an `ed25519:` signature, or not decodable as one.
    Malformed,
}

/// One signature found on `auth_data`, and its verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureCheck {
    /// The signing user.
    pub user_id: String,
    /// The key id, e.g. `ed25519:DEVICEID` or `ed25519:<master public key>`.
    pub key_id: String,
    /// The verdict.
    pub status: SignatureStatus,
}

/// Checks every signature of `user_id` on `auth_data` against `keys` (key id →
/// Ed25519 key: the user's verified devices and cross-signing master key), and reports
/// each one. The backup is trusted when any is [`SignatureStatus::Valid`].
pub fn verify_auth_data(
    auth_data: &AuthData,
    user_id: &str,
    keys: &BTreeMap<String, VerifyingKey>,
) -> Result<Vec<SignatureCheck>, CanonicalJsonError> {
    let message = signed_bytes(auth_data)?;
    let Some(sigs) = auth_data.signatures.get(user_id) else {
        return Ok(Vec::new());
    };
    Ok(sigs
        .iter()
        .map(|(key_id, sig)| {
            let status = if !key_id.starts_with("ed25519:") {
                SignatureStatus::Malformed
            } else if let Some(key) = keys.get(key_id) {
                match recovery_key::decode_base64_public(sig)
                    .ok()
                    .and_then(|b| Signature::from_slice(&b).ok())
                {
                    None => SignatureStatus::Malformed,
                    Some(sig) if key.verify(message.as_bytes(), &sig).is_ok() => {
                        SignatureStatus::Valid
                    }
                    Some(_) => SignatureStatus::Invalid,
                }
            } else {
                SignatureStatus::UnknownKey
            };
            SignatureCheck {
                user_id: user_id.to_owned(),
                key_id: key_id.clone(),
                status,
            }
        })
        .collect())
}

/// Signs `auth_data` with `key` as `signatures[user_id][key_id]` (`key_id` like
/// `ed25519:DEVICEID`), keeping other signatures.
pub fn sign_auth_data(
    auth_data: &mut AuthData,
    user_id: &str,
    key_id: &str,
    key: &SigningKey,
) -> Result<(), CanonicalJsonError> {
    let message = signed_bytes(auth_data)?;
    let sig = key.sign(message.as_bytes());
    auth_data
        .signatures
        .entry(user_id.to_owned())
        .or_default()
        .insert(key_id.to_owned(), encode_base64(&sig.to_bytes()));
    Ok(())
}
