//! The upload loop: a backup body sent in chunks by `flows::UploadFlow`, resuming past
//! what the server already holds.

use std::{collections::BTreeSet, io::Read};

use backup_cipher::KeysBackup;

use flows::Flow as _;

use crate::{Client, ClientError, RoomKeysUpdate};

/// Hears of an upload's progress, chunk by chunk, and may stop it: the same style as a
/// restore's `backup_cipher::RestoreSink`. `()` is a sink that listens to nothing.
pub trait UploadSink {
    /// Called after each chunk the server accepted.
    fn progress(&mut self, _progress: UploadProgress) {}
    /// Asked after each chunk: `true` stops the upload (a rerun resumes).
    fn cancelled(&self) -> bool {
        false
    }
}

impl UploadSink for () {}

/// Progress of a chunked upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UploadProgress {
    /// Sessions sent so far in this run.
    pub sent: u64,
    /// Sessions this run has to send.
    pub to_send: u64,
    /// Sessions skipped because the server already holds them.
    pub skipped: u64,
}

/// The outcome of [`Client::upload_room_keys`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadReport {
    /// Sessions uploaded in this run.
    pub uploaded: u64,
    /// Sessions skipped because the server already had them (resume).
    pub skipped: u64,
    /// The server's answer to the last chunk (`None` when nothing was sent).
    pub last_update: Option<RoomKeysUpdate>,
}

impl Client {
    /// The (room, session) ids a version already holds, from the keys download, read by
    /// the restore's own streaming grammar ([`backup_cipher::session_ids`]): a room the
    /// body lists twice gives the sessions of both, and only the ids are kept, never an
    /// entry. Entries that are damaged or not `KeyBackupData` objects are left out (an
    /// upload then sends those sessions again, which the server may keep or not: nothing
    /// is lost). A download cut by the network, or an answer that is not a keys body, is
    /// [`ClientError::Json`].
    pub fn stored_session_ids(
        &self,
        version: &str,
    ) -> Result<BTreeSet<(String, String)>, ClientError> {
        /// Keeps the reader's first error, which the grammar turns into a cut.
        struct Watch<R> {
            inner: R,
            error: Option<std::io::Error>,
        }
        impl<R: Read> Read for Watch<R> {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                // The original (it may carry a `DownloadError`) is kept for the caller; the
                // grammar gets its text.
                self.inner.read(buf).map_err(|e| {
                    let copy = std::io::Error::new(e.kind(), e.to_string());
                    self.error.get_or_insert(e);
                    copy
                })
            }
        }
        let mut reader = Watch {
            inner: self.room_keys_reader(version)?,
            error: None,
        };
        let mut ids = BTreeSet::new();
        let walked = backup_cipher::session_ids(&mut reader, u64::MAX, |room, sid| {
            ids.insert((room.to_owned(), sid.to_owned()));
        });
        if let Some(e) = reader.error {
            return Err(ClientError::Json(e.into()));
        }
        walked.map_err(|e| ClientError::Json(e.into()))?;
        Ok(ids)
    }

    /// Uploads a backup body in chunks of `chunk_size` sessions, retrying transient
    /// failures. Resumes: sessions the server already holds are skipped, so a rerun after
    /// an interruption sends only the rest. `sink` hears of each chunk and may cancel
    /// after it (the next run resumes) — the same style as a restore's `RestoreSink`.
    pub fn upload_room_keys<S: UploadSink + ?Sized>(
        &self,
        version: &str,
        body: &KeysBackup,
        chunk_size: usize,
        sink: &mut S,
    ) -> Result<UploadReport, ClientError> {
        // What the server holds is streamed (it can be large); the library's flow plans
        // the chunks from it.
        let present = self.stored_session_ids(version)?;
        let mut flow = flows::UploadFlow::new(version, body, chunk_size).skipping(&present);
        while let Some(request) = flow.next_request() {
            // Typed errors (a replaced backup version, …) through the ordinary path.
            let answer = self.call(&request)?;
            flow.receive(answer).map_err(ClientError::Flow)?;
            let o = flow.outcome();
            sink.progress(UploadProgress {
                sent: o.uploaded,
                to_send: o.to_send,
                skipped: o.skipped,
            });
            if sink.cancelled() {
                flow.cancel();
            }
        }
        let outcome = flow.finish().map_err(ClientError::Flow)?;
        Ok(UploadReport {
            uploaded: outcome.uploaded,
            skipped: outcome.skipped,
            last_update: match (outcome.etag, outcome.count) {
                (Some(etag), Some(count)) => Some(RoomKeysUpdate { etag, count }),
                _ => None,
            },
        })
    }
}
