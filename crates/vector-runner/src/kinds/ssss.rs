//! `ssss.*` kinds, run against the `ssss` crate.

use serde_json::Value;
use ssss::{
    EncryptedSecret, KeyDescription, SecretStorageKey, decrypt_secret, encrypt_secret_with_iv,
};

use super::{Check, Checks};
use crate::values::{CaseResult, Outcome, field, hex_field, key, setup, str_field};

fn storage_key(input: &Value) -> CaseResult<SecretStorageKey> {
    Ok(SecretStorageKey::from_recovery_key(
        &key(field(input, "key")?)?,
        "vector",
    ))
}

pub(super) fn key_check(input: &Value) -> CaseResult<Checks> {
    let key = storage_key(input)?;
    let desc: KeyDescription =
        serde_json::from_value(field(input, "key_description_json")?.clone())
            .map_err(|e| setup(format!("key_description_json: {e}")))?;
    let result = desc.check(&key).map_err(|e| Outcome::error(e.class(), e))?;
    Ok(vec![("result", Check::Str(result.as_str().to_owned()))])
}

pub(super) fn decrypt(input: &Value) -> CaseResult<Checks> {
    let key = storage_key(input)?;
    let name = str_field(input, "secret_name")?;
    let sealed: EncryptedSecret = serde_json::from_value(field(input, "encrypted")?.clone())
        .map_err(|e| setup(format!("encrypted: {e}")))?;
    let pt = decrypt_secret(&key, name, &sealed).map_err(|e| Outcome::error(e.class(), e))?;
    Ok(vec![(
        "plaintext_utf8",
        Check::Str(String::from_utf8_lossy(&pt).into_owned()),
    )])
}

pub(super) fn encrypt(input: &Value) -> CaseResult<Checks> {
    let key = storage_key(input)?;
    let name = str_field(input, "secret_name")?;
    let iv: [u8; 16] = hex_field(input, "iv_hex")?
        .try_into()
        .map_err(|_| setup("iv_hex is not 16 bytes"))?;
    let pt = str_field(input, "plaintext_utf8")?;
    let sealed = encrypt_secret_with_iv(&key, name, pt.as_bytes(), &iv);
    Ok(vec![(
        "encrypted",
        Check::Json(serde_json::to_value(&sealed).unwrap_or(Value::Null)),
    )])
}

/// `encrypted` objects compare field by field as decoded bytes.
pub(super) fn encrypted_matches(expected: &Value, actual: &Value) -> Result<(), String> {
    for name in ["iv", "ciphertext", "mac"] {
        let got = recovery_key::decode_base64(actual[name].as_str().unwrap_or_default())
            .map_err(|e| e.to_string())?;
        crate::values::check_base64(name, &expected[name], &got)?;
    }
    Ok(())
}
