//! `backup.*` kinds, run against the `backup-cipher` crate.

use backup_cipher::{
    BackupDecryptionKey, BackupPublicKey, BackupVersion, EncryptedSessionData, RestoreOptions,
    check_backup_version, restore_slice,
};
use serde_json::{Value, json};

use super::{Check, Checks};
use crate::values::{CaseResult, Outcome, field, hex_field, key, setup, str_field};

fn decryption_key(input: &Value) -> CaseResult<BackupDecryptionKey> {
    let k = key(field(input, "key")?)?;
    Ok(BackupDecryptionKey::from_recovery_key(&k))
}

pub(super) fn public_key(input: &Value) -> CaseResult<Checks> {
    let key = decryption_key(input)?;
    Ok(vec![(
        "public_key",
        Check::Base64(key.public_key().as_bytes().to_vec()),
    )])
}

pub(super) fn decrypt(input: &Value) -> CaseResult<Checks> {
    let key = decryption_key(input)?;
    let data: EncryptedSessionData = serde_json::from_value(field(input, "session_data")?.clone())
        .map_err(|e| setup(format!("session_data: {e}")))?;
    let pt = key
        .decrypt(&data)
        .map_err(|e| Outcome::error(e.class().as_str(), e))?;
    let text = String::from_utf8_lossy(&pt).into_owned();
    let json = serde_json::from_slice(&pt).unwrap_or(Value::Null);
    Ok(vec![
        ("plaintext_utf8", Check::Str(text)),
        ("plaintext_json", Check::Json(json)),
    ])
}

pub(super) fn encrypt(input: &Value) -> CaseResult<Checks> {
    let public = BackupPublicKey::from_base64(str_field(input, "public_key")?)
        .map_err(|e| Outcome::error("key", e))?;
    let eph: [u8; 32] = hex_field(input, "ephemeral_private_key_hex")?
        .try_into()
        .map_err(|_| setup("ephemeral_private_key_hex is not 32 bytes"))?;
    let pt = str_field(input, "plaintext_utf8")?;
    let data = public
        .encrypt_with_ephemeral_key(pt.as_bytes(), &eph)
        .map_err(|e| Outcome::error("key", e))?;
    Ok(vec![(
        "session_data",
        Check::Json(serde_json::to_value(&data).unwrap_or(Value::Null)),
    )])
}

/// `session_data` compares field by field as decoded bytes.
pub(super) fn session_data_matches(expected: &Value, actual: &Value) -> Result<(), String> {
    for name in ["ephemeral", "ciphertext", "mac"] {
        let got = actual[name].as_str().unwrap_or_default();
        let got = recovery_key::decode_base64(got).map_err(|e| e.to_string())?;
        crate::values::check_base64(name, &expected[name], &got)?;
    }
    Ok(())
}

pub(super) fn restore(input: &Value) -> CaseResult<Checks> {
    let key = decryption_key(input)?;
    if let Some(info) = input.get("backup_info_json") {
        let version: BackupVersion = serde_json::from_value(info.clone())
            .map_err(|e| setup(format!("backup_info_json: {e}")))?;
        check_backup_version(&key, &version).map_err(|e| Outcome::error(e.class(), e))?;
    }
    let body =
        serde_json::to_vec(field(input, "backup_json")?).map_err(|e| setup(e.to_string()))?;
    let result = restore_slice(&key, &body, &RestoreOptions::default())
        .map_err(|e| Outcome::error(e.class(), e))?;
    let sessions = Value::Array(
        result
            .sessions
            .into_iter()
            .map(|s| Value::Object(s.into_json()))
            .collect(),
    );
    let failures = Value::Array(
        result
            .failures
            .iter()
            .map(|f| json!({"room_id": f.room_id, "session_id": f.session_id, "error": f.error.as_str()}))
            .collect(),
    );
    Ok(vec![
        ("sessions_json", Check::Json(sessions)),
        ("failures_json", Check::Json(failures)),
    ])
}
