//! One runner per vector kind, each calling the crate that implements it.

use serde_json::Value;

mod backup;
mod key_export;
mod ssss;

use crate::{
    Case,
    values::{CaseResult, Outcome, check_str, hex_field, key, str_field, u64_field},
};

/// The kinds this build runs; any other kind fails as "unsupported kind".
pub const IMPLEMENTED_KINDS: &[&str] = &[
    "base58.encode",
    "recovery_key.decode",
    "recovery_key.encode",
    "passphrase.derive",
    "backup.public_key",
    "backup.decrypt",
    "backup.encrypt",
    "backup.restore",
    "ssss.key_check",
    "ssss.decrypt",
    "ssss.encrypt",
    "key_export.decrypt",
    "key_export.encrypt",
];

/// A success value: named fields to check against `expected`.
pub(crate) type Checks = Vec<(&'static str, Check)>;

pub(crate) enum Check {
    /// Compared as an exact string.
    Str(String),
    /// Compared as a parsed JSON value (`session_data` and `encrypted` objects field by
    /// field as decoded bytes).
    Json(Value),
    /// Compared as decoded base64 bytes.
    Base64(Vec<u8>),
}

pub(crate) fn run(case: &Case) -> Result<(), String> {
    let outcome = match case.kind.as_str() {
        "base58.encode" => base58_encode(&case.input),
        "recovery_key.decode" => recovery_key_decode(&case.input),
        "recovery_key.encode" => recovery_key_encode(&case.input),
        "passphrase.derive" => passphrase_derive(&case.input),
        "backup.public_key" => backup::public_key(&case.input),
        "backup.decrypt" => backup::decrypt(&case.input),
        "backup.encrypt" => backup::encrypt(&case.input),
        "backup.restore" => backup::restore(&case.input),
        "ssss.key_check" => ssss::key_check(&case.input),
        "ssss.decrypt" => ssss::decrypt(&case.input),
        "ssss.encrypt" => ssss::encrypt(&case.input),
        "key_export.decrypt" => key_export::decrypt(&case.input),
        "key_export.encrypt" => key_export::encrypt(&case.input),
        other => return Err(format!("unsupported kind {other:?}")),
    };
    judge(outcome, &case.expected)
}

fn judge(outcome: CaseResult<Checks>, expected: &Value) -> Result<(), String> {
    let want_error = expected.get("error").and_then(Value::as_str);
    match (outcome, want_error) {
        (Err(Outcome::Setup(msg)), _) => Err(format!("malformed case: {msg}")),
        (Err(Outcome::Error { class, .. }), Some(want)) if want == "any" || want == class => Ok(()),
        (Err(Outcome::Error { class, message }), Some(want)) => Err(format!(
            "expected error class {want:?}, got {class:?} ({message})"
        )),
        (Err(Outcome::Error { class, message }), None) => {
            Err(format!("expected success, got error {class:?}: {message}"))
        }
        (Ok(_), Some(want)) => Err(format!("expected error class {want:?}, but it succeeded")),
        (Ok(checks), None) => {
            let Some(obj) = expected.as_object() else {
                return Err("malformed case: expected is not an object".into());
            };
            if obj.is_empty() {
                return Err("malformed case: expected is empty".into());
            }
            for (name, want) in obj {
                let Some((_, got)) = checks.iter().find(|(n, _)| n == name) else {
                    return Err(format!(
                        "this runner does not produce expected field `{name}`"
                    ));
                };
                match got {
                    Check::Str(s) => check_str(name, want, s)?,
                    Check::Json(v) if name == "session_data" => {
                        backup::session_data_matches(want, v)?
                    }
                    Check::Json(v) if name == "encrypted" => ssss::encrypted_matches(want, v)?,
                    Check::Json(v) => crate::values::check_json(name, want, v)?,
                    Check::Base64(b) => crate::values::check_base64(name, want, b)?,
                }
            }
            Ok(())
        }
    }
}

fn base58_encode(input: &Value) -> CaseResult<Checks> {
    let bytes = hex_field(input, "bytes_hex")?;
    Ok(vec![(
        "base58",
        Check::Str(recovery_key::encode_base58(&bytes)),
    )])
}

fn recovery_key_decode(input: &Value) -> CaseResult<Checks> {
    let text = str_field(input, "recovery_key")?;
    let key =
        recovery_key::RecoveryKey::from_base58(text).map_err(|e| Outcome::error(e.class(), e))?;
    Ok(vec![("key_hex", Check::Str(hex::encode(key.as_bytes())))])
}

fn recovery_key_encode(input: &Value) -> CaseResult<Checks> {
    let key = key(crate::values::field(input, "key")?)?;
    Ok(vec![(
        "recovery_key",
        Check::Str(key.to_base58_grouped().to_string()),
    )])
}

fn passphrase_derive(input: &Value) -> CaseResult<Checks> {
    let passphrase = str_field(input, "passphrase")?;
    let salt = match input.get("salt_hex") {
        Some(_) => hex_field(input, "salt_hex")?,
        None => str_field(input, "salt")?.as_bytes().to_vec(),
    };
    let iterations = u64_field(input, "iterations")?;
    let bits = input.get("bits").and_then(Value::as_u64).unwrap_or(256);
    let out = recovery_key::derive_bits(passphrase.as_bytes(), &salt, iterations, bits)
        .map_err(|e| Outcome::error(e.class(), e))?;
    Ok(vec![("key_hex", Check::Str(hex::encode(out.as_slice())))])
}
