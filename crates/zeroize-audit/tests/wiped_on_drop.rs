//! Every secret type frees only zeros. One test function: the spy is global state.

#[global_allocator]
static SPY: zeroize_audit::Spy = zeroize_audit::Spy;

use std::hint::black_box;

use zeroize_audit::{MARKER, freed_with_marker};

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
                let armored = key_export::encrypt_export(&MARKER, "pw", 2).unwrap();
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
    assert!(leaks.is_empty(), "{leaks:#?}");
}
