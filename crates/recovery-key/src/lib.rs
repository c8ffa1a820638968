#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod base58;
pub mod encoding;
/// The bare PBKDF2-HMAC-SHA-512 (no iteration cap). Public only with the `hazmat`
/// feature, for benchmarks; a client, and every library crate of this workspace, uses
/// the capped derivations of [`passphrase`] instead.
#[cfg(feature = "hazmat")]
pub mod kdf;
#[cfg(not(feature = "hazmat"))]
#[allow(unreachable_pub)]
mod kdf;
mod key;
pub mod passphrase;

pub use base58::{encode_base58, looks_like_passphrase};
pub use encoding::{Base64Error, decode_base64, decode_base64_public, encode_base64};
pub use key::{DecodeError, ENCODED_LEN, KEY_LEN, RecoveryKey};
pub use passphrase::{PassphraseError, PassphraseInfo, derive_bits};

/// Secret-carrying buffers handed out by this crate, wiped on drop.
pub use zeroize::Zeroizing;
