//! The upload loop: a backup body sent in chunks by `flows::UploadFlow`, resuming past
//! what the server already holds.

use std::collections::BTreeSet;

use backup_cipher::KeysBackup;
use serde::Deserialize;

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
    /// The (room, session) ids a version already holds, from the keys download.
    pub fn stored_session_ids(
        &self,
        version: &str,
    ) -> Result<BTreeSet<(String, String)>, ClientError> {
        #[derive(Deserialize)]
        struct Ids {
            rooms: std::collections::BTreeMap<String, RoomIds>,
        }
        #[derive(Deserialize)]
        struct RoomIds {
            sessions: std::collections::BTreeMap<String, serde::de::IgnoredAny>,
        }
        let reader = self.room_keys_reader(version)?;
        let ids: Ids = serde_json::from_reader(std::io::BufReader::new(reader))
            .map_err(|e| ClientError::Json(e.into()))?;
        Ok(ids
            .rooms
            .into_iter()
            .flat_map(|(room, r)| r.sessions.into_keys().map(move |s| (room.clone(), s)))
            .collect())
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
