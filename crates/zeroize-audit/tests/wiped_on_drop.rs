//! Every secret type frees only zeros. One test function: the spy is global state.

#[global_allocator]
static SPY: zeroize_audit::Spy = zeroize_audit::Spy;

use std::hint::black_box;

use zeroize_audit::{MARKER, freed_with, freed_with_marker};

/// Two PBKDF2 rounds, for speed (explicitly allowed below the floor).
fn low_rounds() -> key_export::ExportOptions {
    key_export::ExportOptions::new(2).allow_low_rounds()
}

#[test]
fn secret_types_are_wiped_before_their_memory_is_freed() {
    // Negative control: the spy must see a secret that is NOT wiped.
    assert!(
        freed_with_marker(|| drop(black_box(Box::new(MARKER)))) > 0,
        "the spy cannot see freed memory"
    );
    assert!(freed_with_marker(|| drop(black_box(MARKER.to_vec()))) > 0);

    type Case = (&'static str, Box<dyn Fn()>);
    let cases: Vec<Case> = vec![
        (
            "RecoveryKey",
            Box::new(|| {
                drop(black_box(
                    recovery_key::RecoveryKey::from_slice(&MARKER).unwrap(),
                ))
            }),
        ),
        (
            "RecoveryKey parsed from base58",
            Box::new(|| {
                let text = recovery_key::RecoveryKey::from_slice(&MARKER)
                    .unwrap()
                    .to_base58_grouped();
                drop(black_box(
                    recovery_key::RecoveryKey::from_base58(&text).unwrap(),
                ));
            }),
        ),
        (
            "BackupDecryptionKey",
            Box::new(|| {
                drop(black_box(
                    backup_cipher::BackupDecryptionKey::from_slice(&MARKER).unwrap(),
                ))
            }),
        ),
        (
            "SecretStorageKey",
            Box::new(|| {
                let rk = recovery_key::RecoveryKey::from_slice(&MARKER).unwrap();
                drop(black_box(ssss::SecretStorageKey::from_recovery_key(
                    &rk, "id",
                )));
            }),
        ),
        (
            "decrypted backup plaintext",
            Box::new(|| {
                let key = backup_cipher::BackupDecryptionKey::from_slice(&[1; 32]).unwrap();
                let sealed = key.public_key().encrypt(&MARKER).unwrap();
                drop(black_box(key.decrypt(&sealed).unwrap()));
            }),
        ),
        (
            "decrypted secret",
            Box::new(|| {
                let key = ssss::SecretStorageKey::generate().unwrap();
                let sealed = ssss::encrypt_secret(&key, "m.test", &MARKER).unwrap();
                drop(black_box(
                    ssss::decrypt_secret(&key, "m.test", &sealed).unwrap(),
                ));
            }),
        ),
        (
            "decrypted key export",
            Box::new(|| {
                let armored = key_export::encrypt_export(&MARKER, "pw", low_rounds()).unwrap();
                drop(black_box(
                    key_export::decrypt_export(&armored, "pw").unwrap(),
                ));
            }),
        ),
        (
            "backup key secret read from secret storage",
            Box::new(|| {
                let key = ssss::SecretStorageKey::generate().unwrap();
                let backup = backup_cipher::BackupDecryptionKey::from_slice(&MARKER).unwrap();
                let mut store = ssss::SecretStore::default();
                store.set_backup_key(&key, &backup).unwrap();
                drop(black_box(store.backup_key(&key).unwrap()));
                drop(backup);
            }),
        ),
    ];
    let mut leaks = Vec::new();
    for (name, case) in &cases {
        let n = freed_with_marker(case);
        if n > 0 {
            leaks.push(format!("{name}: {n} freed block(s) still held the secret"));
        }
    }

    // The secret in its text forms too: a recovery key rendered for the user, and a
    // session key as it appears in a restore's output and in an export's plaintext.
    let rk = recovery_key::RecoveryKey::from_slice(&MARKER).unwrap();
    let rk_text: Vec<Vec<u8>> = vec![
        MARKER.to_vec(),
        rk.to_base58().as_bytes().to_vec(),
        rk.to_base58_grouped().as_bytes()[..24].to_vec(),
        recovery_key::encode_base64(&MARKER).into_bytes(),
    ];
    let n = freed_with(&rk_text, || {
        drop(black_box(rk.to_base58_grouped()));
        drop(black_box(rk.to_base58()));
    });
    if n > 0 {
        leaks.push(format!(
            "rendered recovery key: {n} freed block(s) held its text"
        ));
    }

    let (backup_key, body, session_key) = one_session_backup();
    let session_text = vec![session_key.as_bytes().to_vec()];
    let n = freed_with(&session_text, || {
        let restored = backup_cipher::restore_keys(
            &backup_key,
            &body,
            &backup_cipher::RestoreOptions::default(),
        )
        .unwrap();
        assert_eq!(restored.sessions.len(), 1);
        drop(black_box(restored));
    });
    if n > 0 {
        leaks.push(format!(
            "restored session: {n} freed block(s) held its session key"
        ));
    }
    let restored = backup_cipher::restore_keys(
        &backup_key,
        &body,
        &backup_cipher::RestoreOptions::default(),
    )
    .unwrap();
    let n = freed_with(&session_text, || {
        let mut w = key_export::ExportWriter::new(Vec::new(), "pw", low_rounds()).unwrap();
        for s in &restored.sessions {
            w.write_session_json(s.json_text().as_bytes()).unwrap();
        }
        let file = w.finish().unwrap();
        let text = String::from_utf8(file).unwrap();
        let read = key_export::decrypt_sessions(&text, "pw").unwrap();
        assert_eq!(read.len(), 1);
        drop(black_box(read));
    });
    if n > 0 {
        leaks.push(format!(
            "key export written and read: {n} freed block(s) held the session key"
        ));
    }
    assert!(leaks.is_empty(), "{leaks:#?}");
}

/// A backup of one session whose session key is made from the marker; returns the key,
/// the body and the session key text.
fn one_session_backup() -> (
    backup_cipher::BackupDecryptionKey,
    backup_cipher::KeysBackup,
    String,
) {
    let key = backup_cipher::BackupDecryptionKey::from_slice(&[5; 32]).unwrap();
    let mut exported = [0u8; 165];
    exported[0] = 1;
    for (i, b) in exported[1..].iter_mut().enumerate() {
        *b = MARKER[i % 32] ^ (i as u8);
    }
    let session_key = recovery_key::encode_base64(&exported);
    let session_id = recovery_key::encode_base64(&exported[133..]);
    let plain = serde_json::json!({
        "algorithm": "m.megolm.v1.aes-sha2",
        "sender_key": "c2VuZGVy",
        "session_key": session_key,
        "sender_claimed_keys": {},
        "forwarding_curve25519_key_chain": [],
    })
    .to_string();
    let data = key.public_key().encrypt(plain.as_bytes()).unwrap();
    let body: backup_cipher::KeysBackup = serde_json::from_value(serde_json::json!({
        "rooms": {"!r:x": {"sessions": {session_id: {
            "first_message_index": 0, "forwarded_count": 0, "is_verified": false,
            "session_data": data,
        }}}}
    }))
    .unwrap();
    (key, body, session_key)
}
