//! The bodies of the fuzz targets. Each `fuzz_targets/*.rs` calls one of these, and
//! `tests/replay.rs` feeds them every committed corpus file, so `cargo test` exercises
//! the corpus without a fuzzer.
#![forbid(unsafe_code)]

use recovery_key::RecoveryKey;

/// Recovery-key decoding of arbitrary bytes (as lossy UTF-8): never panics, and every
/// key it accepts re-encodes to the same bytes.
pub fn recovery_key_decode(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    match RecoveryKey::from_base58(&text) {
        Ok(key) => {
            let again = RecoveryKey::from_base58(&key.to_base58_grouped());
            assert!(
                again.is_ok_and(|k| k == key),
                "accepted key does not round-trip"
            );
        }
        Err(e) => {
            // Messages are built for every error; they must not panic either.
            let _ = e.to_string();
        }
    }
}

/// A fuzz target's body.
pub type Target = fn(&[u8]);

/// Every target by name, for the replay test.
pub const TARGETS: &[(&str, Target)] = &[("recovery_key_decode", recovery_key_decode)];
