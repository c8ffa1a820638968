//! Restoring a backup straight from the homeserver, across cut downloads: the bodies of
//! [`flows::requests::room_keys`] and [`flows::requests::room_keys_for_room`] opened
//! again as [`backup_cipher::restore_resumable`] asks.

use std::io::{self, Read};

use backup_cipher::{
    BackupDecryptionKey, BodyRequest, Progress, RestoreError, RestoreOptions, RestoreSink,
    ResumeNotice, ResumeSource, restore_resumable,
};

use crate::{Client, ClientError, KeysDownload};

/// Resumptions a restore from the homeserver makes at most (each must finish at least
/// one more room).
pub const MAX_RESUMPTIONS: u32 = 5;

/// What is told of each resumption.
type ResumeCallback<'c> = Box<dyn FnMut(&ResumeNotice) + 'c>;

/// The downloads of one backup version, for [`restore_resumable`].
pub struct BackupDownloads<'c> {
    client: &'c Client,
    version: String,
    first: Option<KeysDownload>,
    on_resume: Option<ResumeCallback<'c>>,
}

impl<'c> BackupDownloads<'c> {
    /// Starts the download of backup `version`: the first request is sent now, so a
    /// refusal (no backup, a wrong version, a refused token) is a [`ClientError`] before
    /// any restore begins.
    pub fn start(client: &'c Client, version: &str) -> Result<Self, ClientError> {
        Ok(Self {
            first: Some(client.room_keys_reader(version)?),
            client,
            version: version.to_owned(),
            on_resume: None,
        })
    }

    /// Told before each resumption (e.g. to show "the download broke off at byte N;
    /// fetching room R again").
    pub fn on_resume(mut self, f: impl FnMut(&ResumeNotice) + 'c) -> Self {
        self.on_resume = Some(Box::new(f));
        self
    }

    /// Restores the whole backup into `sink`, resuming after cuts (at most
    /// [`MAX_RESUMPTIONS`] times).
    pub fn restore<S: RestoreSink + ?Sized>(
        mut self,
        key: &BackupDecryptionKey,
        opts: &RestoreOptions,
        sink: &mut S,
    ) -> Result<Progress, RestoreError> {
        restore_resumable(key, &mut self, opts, MAX_RESUMPTIONS, sink)
    }
}

impl ResumeSource for BackupDownloads<'_> {
    fn open(&mut self, request: BodyRequest<'_>) -> io::Result<Box<dyn Read + '_>> {
        let download = match request {
            BodyRequest::Whole => match self.first.take() {
                Some(first) => Ok(first),
                None => self.client.room_keys_reader(&self.version),
            },
            BodyRequest::Room(room) => self.client.room_keys_reader_for_room(&self.version, room),
            _ => return Err(io::Error::other("a body this client cannot fetch")),
        };
        download
            .map(|d| Box::new(d) as Box<dyn Read>)
            .map_err(io::Error::other)
    }

    fn resuming(&mut self, notice: &ResumeNotice) {
        if let Some(f) = &mut self.on_resume {
            f(notice);
        }
    }
}
