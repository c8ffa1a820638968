//! A recovery key pasted with extra characters (49–96 of them: a stray character, the key
//! pasted twice) is decoded without growing a buffer that would free its text unwiped,
//! and base64 secrets decode into wiped buffers. One test function: the spy is global.

#[global_allocator]
static SPY: zeroize_audit::Spy = zeroize_audit::Spy;

use std::hint::black_box;

use zeroize_audit::{MARKER, freed_with};

#[test]
fn long_key_input_and_base64_secrets_leave_nothing_behind() {
    let key = recovery_key::RecoveryKey::from_slice(&MARKER).unwrap();
    let compact = key.to_base58();
    // The decoder's copies would hold the key's characters (or their digits) in order.
    let patterns = vec![
        compact.as_bytes()[..20].to_vec(),
        compact.as_bytes()[20..40].to_vec(),
    ];
    let mut leaks = Vec::new();
    for extra in ["x", "EsTc", compact.as_str()] {
        let text = zeroize::Zeroizing::new(format!("{}{extra}", compact.as_str()));
        let n = freed_with(&patterns, || {
            let _ = black_box(recovery_key::RecoveryKey::from_base58(&text));
        });
        if n > 0 {
            leaks.push(format!("key + {} characters: {n} block(s)", extra.len()));
        }
    }
    let b64 = zeroize::Zeroizing::new(recovery_key::encode_base64(&MARKER));
    let n = freed_with(&[MARKER.to_vec()], || {
        drop(black_box(recovery_key::decode_base64(&b64).unwrap()));
        drop(black_box(
            backup_cipher::BackupDecryptionKey::from_base64(&b64).unwrap(),
        ));
    });
    if n > 0 {
        leaks.push(format!("base64 secret: {n} block(s)"));
    }
    assert!(leaks.is_empty(), "{leaks:#?}");
}
