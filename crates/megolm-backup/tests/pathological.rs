//! 100 MB hostile inputs: every parser finishes promptly with a clear error (no
//! quadratic behaviour, no unbounded allocation from a length field). Wall time is not
//! asserted (see the README's rule on speed claims); a quadratic parser would not finish.

use std::time::Instant;

use backup_cipher::{BackupDecryptionKey, RestoreError, RestoreOptions, restore_slice};

const HUNDRED_MB: usize = 100 * 1024 * 1024;

fn report(what: &str, start: Instant) {
    eprintln!("{what}: {:.2} s", start.elapsed().as_secs_f64());
}

#[test]
fn recovery_key_of_100_mb() {
    let t = Instant::now();
    let err = recovery_key::RecoveryKey::from_base58(&"1".repeat(HUNDRED_MB)).unwrap_err();
    assert_eq!(err.class(), "length");
    let spaced = "EsTc ".repeat(HUNDRED_MB / 5);
    assert_eq!(
        recovery_key::RecoveryKey::from_base58(&spaced)
            .unwrap_err()
            .class(),
        "length"
    );
    let err = recovery_key::RecoveryKey::from_base58(&"abcde ".repeat(HUNDRED_MB / 6)).unwrap_err();
    assert!(err.looks_like_passphrase());
    report("recovery key", t);
}

#[test]
fn backup_body_of_100_mb() {
    let key = BackupDecryptionKey::from_slice(&[1; 32]).unwrap();
    let t = Instant::now();
    // One entry whose fields are huge: a per-entry failure (longer than an entry can
    // be), not a crash, a hang or the loss of the rest of the body.
    let huge = "A".repeat(HUNDRED_MB);
    let body = format!(
        r#"{{"rooms": {{"!r:x": {{"sessions": {{"s": {{"session_data": {{"ephemeral": "{huge}", "ciphertext": "{huge}", "mac": "AAAAAAAAAAA"}}}}}}}}}}}}"#
    );
    let r = restore_slice(&key, body.as_bytes(), &RestoreOptions::default()).unwrap();
    assert_eq!(r.failures.len(), 1, "{:?}", r.failures);
    assert_eq!(r.failures[0].error.as_str(), "malformed");
    assert!(r.failures[0].message.contains("stepped over"));
    drop(body);
    // Nesting 100 MB deep: refused by the depth limit straight away.
    let deep = format!(
        r#"{{"rooms": {{"!r": {{"sessions": {{"s": {}"#,
        "[".repeat(HUNDRED_MB)
    );
    assert!(matches!(
        restore_slice(&key, deep.as_bytes(), &RestoreOptions::default()),
        Err(RestoreError::Body(_))
    ));
    // Many tiny malformed entries: each reported, linear time.
    let mut many = String::from(r#"{"rooms": {"!r": {"sessions": {"#);
    let n = 1_000_000;
    for i in 0..n {
        many.push_str(&format!(r#""{i}": {{}},"#));
    }
    many.push_str(r#""end": 1}}}}"#);
    let r = restore_slice(&key, many.as_bytes(), &RestoreOptions::default()).unwrap();
    assert_eq!(r.failures.len(), n + 1);
    // And the size cap is a clear error.
    let err = restore_slice(
        &key,
        huge.as_bytes(),
        &RestoreOptions::default().with_max_body_bytes(1 << 20),
    )
    .unwrap_err();
    assert!(err.to_string().contains("larger than the limit"));
    report("backup body", t);
}

#[test]
fn key_export_of_100_mb() {
    let t = Instant::now();
    let body = "A".repeat(HUNDRED_MB);
    let no_trailer = format!("{}\n{body}\n", key_export::HEADER);
    assert_eq!(
        key_export::decrypt_export(&no_trailer, "x")
            .unwrap_err()
            .class(),
        "armor"
    );
    // A real 75 MB body with a wrong MAC: one HMAC pass, then refused.
    let armored = format!("{}\n{body}\n{}\n", key_export::HEADER, key_export::TRAILER);
    let err = key_export::decrypt_export(&armored, "x").unwrap_err();
    // "AAAA…" is version 0.
    assert_eq!(err.class(), "version");
    let lines = format!(
        "{}\n{}{}\n",
        key_export::HEADER,
        "\n".repeat(HUNDRED_MB),
        key_export::TRAILER
    );
    assert_eq!(
        key_export::decrypt_export(&lines, "x").unwrap_err().class(),
        "too_short"
    );
    report("key export", t);
}

#[test]
fn secret_storage_of_100_mb() {
    let t = Instant::now();
    let key = ssss::SecretStorageKey::from_recovery_key(
        &recovery_key::RecoveryKey::from_slice(&[2; 32]).unwrap(),
        "k",
    );
    let sealed = ssss::EncryptedSecret {
        iv: "AAAAAAAAAAAAAAAAAAAAAA".into(),
        ciphertext: "A".repeat(HUNDRED_MB),
        mac: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".into(),
    };
    assert_eq!(
        ssss::decrypt_secret(&key, "m.x", &sealed)
            .unwrap_err()
            .class(),
        "mac"
    );
    let data = serde_json::json!({"m.secret_storage.default_key": {"key": "k"}, "big": "A".repeat(HUNDRED_MB)});
    let store = ssss::SecretStore::from_json(&data).unwrap();
    assert!(store.unlock("x").is_err());
    report("secret storage", t);
}
