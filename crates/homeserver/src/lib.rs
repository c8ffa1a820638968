#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod client;
mod doctor;
mod download;
mod driver;
mod endpoints;
mod error;
mod options;
mod restore;
mod setup;
#[cfg(feature = "test-util")]
pub mod testing;
mod transport;
mod upload;

pub use client::Client;
pub use download::{BodyProblem, DownloadError, KeysDownload, SavedBody, save_keys_body};
pub use endpoints::{LoginInfo, RoomKeysUpdate};
pub use error::{ClientError, TokenProblem};
pub use options::{ConnectOptions, RetryCallback, RetryCause, RetryWait};
pub use restore::{BackupDownloads, MAX_RESUMPTIONS};
pub use setup::{SetupObserver, SetupRunError};
pub use upload::{UploadProgress, UploadReport, UploadSink};
