//! The shared value forms of the vector schema (KEY, base64, hex, JSON comparison).

use recovery_key::{RecoveryKey, decode_base64};
use serde_json::Value;

pub(crate) type CaseResult<T> = Result<T, Outcome>;

/// Why a case did not produce a success value: the operation failed with a class
/// (which may be what the case expects), or the case itself is malformed.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// The operation under test failed with this error class and message.
    Error { class: String, message: String },
    /// The case is malformed or could not be set up.
    Setup(String),
}

impl Outcome {
    pub(crate) fn error(class: &str, message: impl ToString) -> Self {
        Self::Error {
            class: class.to_owned(),
            message: message.to_string(),
        }
    }
}

pub(crate) fn setup(msg: impl Into<String>) -> Outcome {
    Outcome::Setup(msg.into())
}

pub(crate) fn field<'a>(v: &'a Value, name: &str) -> CaseResult<&'a Value> {
    v.get(name)
        .ok_or_else(|| setup(format!("input has no `{name}`")))
}

pub(crate) fn str_field<'a>(v: &'a Value, name: &str) -> CaseResult<&'a str> {
    field(v, name)?
        .as_str()
        .ok_or_else(|| setup(format!("`{name}` is not a string")))
}

pub(crate) fn u64_field(v: &Value, name: &str) -> CaseResult<u64> {
    field(v, name)?
        .as_u64()
        .ok_or_else(|| setup(format!("`{name}` is not a non-negative integer")))
}

pub(crate) fn hex_field(v: &Value, name: &str) -> CaseResult<Vec<u8>> {
    hex::decode(str_field(v, name)?).map_err(|e| setup(format!("`{name}` is not hex: {e}")))
}

/// Reads a KEY value. Errors of the key's own decoding (a bad recovery key, a passphrase
/// over the cap) are reported with their class, so a case may expect them.
pub(crate) fn key(v: &Value) -> CaseResult<RecoveryKey> {
    if let Some(h) = v.get("hex") {
        let bytes = hex::decode(h.as_str().unwrap_or_default())
            .map_err(|e| setup(format!("key hex: {e}")))?;
        return RecoveryKey::from_slice(&bytes).map_err(|e| Outcome::error("key", e));
    }
    if let Some(b) = v.get("base64") {
        let bytes = decode_base64(b.as_str().unwrap_or_default())
            .map_err(|e| Outcome::error("base64", e))?;
        return RecoveryKey::from_slice(&bytes).map_err(|e| Outcome::error("key", e));
    }
    if let Some(r) = v.get("recovery_key") {
        return RecoveryKey::from_base58(r.as_str().unwrap_or_default())
            .map_err(|e| Outcome::error(e.class(), e));
    }
    if let Some(p) = v.get("passphrase") {
        let passphrase = p
            .as_str()
            .ok_or_else(|| setup("key passphrase is not a string"))?;
        let salt = str_field(v, "salt")?;
        let iterations = u64_field(v, "iterations")?;
        let bits = v.get("bits").and_then(Value::as_u64).unwrap_or(256);
        let bytes =
            recovery_key::derive_bits(passphrase.as_bytes(), salt.as_bytes(), iterations, bits)
                .map_err(|e| Outcome::error(e.class(), e))?;
        return RecoveryKey::from_slice(&bytes).map_err(|e| Outcome::error("bits", e));
    }
    Err(setup(
        "KEY has none of hex, base64, recovery_key, passphrase",
    ))
}

/// Compares an expected base64 value with actual bytes, as decoded bytes.
pub(crate) fn check_base64(name: &str, expected: &Value, actual: &[u8]) -> Result<(), String> {
    let text = expected
        .as_str()
        .ok_or_else(|| format!("expected `{name}` is not a string"))?;
    let want = decode_base64(text).map_err(|e| format!("expected `{name}`: {e}"))?;
    if want.as_slice() == actual {
        Ok(())
    } else {
        Err(format!(
            "`{name}` differs: expected {text}, got {}",
            recovery_key::encode_base64(actual)
        ))
    }
}

/// Compares an expected string with an actual one exactly.
pub(crate) fn check_str(name: &str, expected: &Value, actual: &str) -> Result<(), String> {
    match expected.as_str() {
        Some(e) if e == actual => Ok(()),
        Some(e) => Err(format!("`{name}` differs: expected {e:?}, got {actual:?}")),
        None => Err(format!("expected `{name}` is not a string")),
    }
}

/// Compares JSON values structurally.
pub(crate) fn check_json(name: &str, expected: &Value, actual: &Value) -> Result<(), String> {
    if expected == actual {
        Ok(())
    } else {
        Err(format!(
            "`{name}` differs: expected {expected}, got {actual}"
        ))
    }
}
