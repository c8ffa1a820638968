#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod format;
mod types;
mod writer;

pub use format::{
    DEFAULT_ROUNDS, ExportError, ExportOptions, HEADER, MAX_ROUNDS, MIN_ROUNDS, TRAILER,
    check_export_params, dearmor, decrypt_export, decrypt_sessions, encrypt_body_with,
    encrypt_export, looks_like_export,
};
pub use types::ExportedRoomKey;
pub use writer::ExportWriter;
