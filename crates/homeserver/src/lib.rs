#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod client;
mod download;
mod error;
mod restore;
mod setup;
#[cfg(feature = "test-util")]
pub mod testing;

pub use client::{
    Client, ConnectOptions, LoginInfo, RetryCallback, RetryCause, RetryWait, RoomKeysUpdate,
    UploadProgress, UploadReport, UploadSink,
};
pub use download::{BodyProblem, DownloadError, KeysDownload, SavedBody, save_keys_body};
pub use error::{ClientError, TokenProblem};
pub use restore::{BackupDownloads, MAX_RESUMPTIONS};
pub use setup::{SetupObserver, SetupRunError};
