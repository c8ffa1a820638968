//! `key_export.*` kinds, run against the `key-export` crate.

use serde_json::Value;

use super::{Check, Checks};
use crate::values::{CaseResult, Outcome, hex_field, setup, str_field, u64_field};

pub(super) fn decrypt(input: &Value) -> CaseResult<Checks> {
    let passphrase = str_field(input, "passphrase")?;
    let armored = str_field(input, "armored")?;
    let pt = key_export::decrypt_export(armored, passphrase)
        .map_err(|e| Outcome::error(e.class(), e))?;
    Ok(vec![
        (
            "plaintext_utf8",
            Check::Str(String::from_utf8_lossy(&pt).into_owned()),
        ),
        (
            "plaintext_json",
            Check::Json(serde_json::from_slice(&pt).unwrap_or(Value::Null)),
        ),
    ])
}

pub(super) fn encrypt(input: &Value) -> CaseResult<Checks> {
    let passphrase = str_field(input, "passphrase")?;
    let salt: [u8; 16] = hex_field(input, "salt_hex")?
        .try_into()
        .map_err(|_| setup("salt_hex is not 16 bytes"))?;
    let iv: [u8; 16] = hex_field(input, "iv_hex")?
        .try_into()
        .map_err(|_| setup("iv_hex is not 16 bytes"))?;
    let rounds = u32::try_from(u64_field(input, "rounds")?)
        .map_err(|_| Outcome::error("rounds", "rounds above u32"))?;
    let pt = str_field(input, "plaintext_utf8")?;
    let body = key_export::encrypt_body_with(pt.as_bytes(), passphrase, &salt, &iv, rounds)
        .map_err(|e| Outcome::error(e.class(), e))?;
    Ok(vec![("body_base64", Check::Base64(body))])
}
