#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod base58;
mod key;
pub mod kdf;
pub mod passphrase;

pub use base58::{encode_base58, looks_like_passphrase};
pub use key::{DecodeError, RecoveryKey, KEY_LEN, ENCODED_LEN};
pub use passphrase::{PassphraseError, PassphraseInfo, derive_bits};

/// Secret-carrying buffers handed out by this crate, wiped on drop.
pub use zeroize::Zeroizing;
