//! Uploading sessions to a backup version in chunks, skipping what the server holds.

use std::{collections::BTreeSet, ops::Range};

use backup_cipher::{KeyBackupData, KeysBackup};
use serde_json::Value;

use crate::{Flow, FlowError, Request, Response, requests, step::Steps};

/// How an upload went.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct UploadOutcome {
    /// Sessions sent in this run.
    pub uploaded: u64,
    /// Sessions skipped because the server already held them (a resumed upload).
    pub skipped: u64,
    /// Sessions this run had to send.
    pub to_send: u64,
    /// The server's `etag` after the last chunk (`None` when nothing was sent).
    pub etag: Option<String>,
    /// The server's key count after the last chunk (`None` when nothing was sent).
    pub count: Option<u64>,
}

/// `PUT /room_keys/keys?version=V` of a body, `chunk_size` sessions at a time, skipping the
/// sessions the server already holds ([`skipping`](Self::skipping): the caller lists them,
/// e.g. by streaming `GET /room_keys/keys`, which can be larger than memory should hold).
/// Rerun after an interruption, it sends only the rest. [`cancel`](Self::cancel) stops it
/// after the chunk in flight. A chunk whose body cannot be written stops it, and
/// [`finish`](Flow::finish) fails with [`FlowError::Encode`] (never a short upload
/// reported as done).
#[derive(Debug)]
pub struct UploadFlow<'a> {
    version: String,
    todo: Vec<(&'a str, &'a str, &'a KeyBackupData)>,
    chunk_size: usize,
    /// One step per chunk: its sessions, a range of `todo`.
    steps: Steps<Range<usize>>,
    /// Why a chunk could not be built; [`finish`](Flow::finish) returns it.
    failed: Option<FlowError>,
    outcome: UploadOutcome,
}

impl<'a> UploadFlow<'a> {
    /// Uploads `body` to `version`.
    pub fn new(version: &str, body: &'a KeysBackup, chunk_size: usize) -> Self {
        let todo: Vec<_> = body
            .rooms
            .iter()
            .flat_map(|(room, r)| {
                r.sessions
                    .iter()
                    .map(move |(sid, data)| (room.as_str(), sid.as_str(), data))
            })
            .collect();
        let chunk_size = chunk_size.max(1);
        let outcome = UploadOutcome {
            to_send: todo.len() as u64,
            ..UploadOutcome::default()
        };
        Self {
            version: version.to_owned(),
            steps: chunks(todo.len(), chunk_size),
            todo,
            chunk_size,
            failed: None,
            outcome,
        }
    }

    /// Leaves out the (room id, session id) pairs the server already holds.
    pub fn skipping(mut self, stored: &BTreeSet<(String, String)>) -> Self {
        let before = self.todo.len();
        self.todo
            .retain(|(room, sid, _)| !stored.contains(&((*room).to_owned(), (*sid).to_owned())));
        self.outcome.skipped = (before - self.todo.len()) as u64;
        self.outcome.to_send = self.todo.len() as u64;
        self.steps = chunks(self.todo.len(), self.chunk_size);
        self
    }

    /// Stops after the chunk in flight.
    pub fn cancel(&mut self) {
        self.steps.clear();
    }

    /// What has happened so far.
    pub fn outcome(&self) -> &UploadOutcome {
        &self.outcome
    }

    /// The request of a chunk of `sent` sessions, or `None` after keeping why it could not
    /// be built: the flow then ends, and [`finish`](Flow::finish) fails with that reason
    /// instead of reporting a short upload as done.
    fn chunk_request(
        &mut self,
        built: Result<Request, serde_json::Error>,
        chunk: Range<usize>,
    ) -> Option<Request> {
        match built {
            Ok(request) => self.steps.send(chunk, request),
            Err(e) => {
                self.steps.clear();
                self.failed = Some(FlowError::Encode {
                    request: "PUT /room_keys/keys".to_owned(),
                    reason: e.to_string(),
                });
                None
            }
        }
    }
}

impl Flow for UploadFlow<'_> {
    type Output = UploadOutcome;

    fn next_request(&mut self) -> Option<Request> {
        let chunk = self.steps.pop()?;
        let mut part = KeysBackup::default();
        for (room, sid, data) in &self.todo[chunk.clone()] {
            part.rooms
                .entry((*room).to_owned())
                .or_default()
                .sessions
                .insert((*sid).to_owned(), (*data).clone());
        }
        let built = requests::put_room_keys(&self.version, &part);
        self.chunk_request(built, chunk)
    }

    fn receive(&mut self, response: Response) -> Result<(), FlowError> {
        let sent = self.steps.answered()?;
        if !response.is_success() {
            return Err(response.error());
        }
        self.outcome.uploaded += sent.len() as u64;
        self.outcome.etag = response
            .body
            .get("etag")
            .and_then(Value::as_str)
            .map(str::to_owned);
        self.outcome.count = response.body.get("count").and_then(Value::as_u64);
        Ok(())
    }

    fn finish(self) -> Result<UploadOutcome, FlowError> {
        if let Some(e) = self.failed {
            return Err(e);
        }
        self.steps.finished()?;
        Ok(self.outcome)
    }
}

/// The chunks of `len` sessions, `size` at a time.
fn chunks(len: usize, size: usize) -> Steps<Range<usize>> {
    Steps::new(
        (0..len)
            .step_by(size)
            .map(|start| start..(start + size).min(len)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::collections::BTreeMap;

    /// A chunk whose body cannot be written ends the flow with an error `finish` returns,
    /// not a quiet end reported as a finished upload. (`KeysBackup` always serialises, so
    /// the error is made here, as serde would make it, and fed where the chunk's is.)
    #[test]
    fn a_chunk_that_cannot_be_written_fails_the_upload() {
        let key = backup_cipher::BackupDecryptionKey::from_bytes(&[3; 32]);
        let body = backup_cipher::fixtures::synthetic_backup(key.public_key(), 25, 1);
        let mut flow = UploadFlow::new("7", &body, 10);
        assert!(flow.next_request().is_some());
        flow.receive(Response::ok(json!({"etag": "e", "count": 10})))
            .unwrap();
        // A map whose keys are not strings is what serde_json refuses to write.
        let refused = serde_json::to_value(BTreeMap::from([((1u8, 2u8), 0u8)])).unwrap_err();
        let reason_given = refused.to_string();
        let broken: Result<Request, serde_json::Error> = Err(refused);
        assert!(flow.chunk_request(broken, 10..20).is_none());
        assert!(flow.next_request().is_none());
        match flow.finish() {
            Err(FlowError::Encode { request, reason }) => {
                assert_eq!(request, "PUT /room_keys/keys");
                assert_eq!(reason, reason_given);
            }
            other => panic!("expected an encode error, got {other:?}"),
        }
    }

    #[test]
    fn chunks_skip_what_the_server_holds_and_stop_when_cancelled() {
        let key = backup_cipher::BackupDecryptionKey::from_bytes(&[3; 32]);
        let body = backup_cipher::fixtures::synthetic_backup(key.public_key(), 25, 1);
        let first: (String, String) = body
            .rooms
            .iter()
            .next()
            .map(|(r, s)| (r.clone(), s.sessions.keys().next().cloned().unwrap()))
            .unwrap();
        let stored = BTreeSet::from([first.clone()]);
        let mut flow = UploadFlow::new("7", &body, 10).skipping(&stored);
        let mut sizes = Vec::new();
        while let Some(request) = flow.next_request() {
            assert_eq!(request.path, "/_matrix/client/v3/room_keys/keys?version=7");
            let part: KeysBackup = serde_json::from_value(request.body.unwrap()).unwrap();
            assert!(
                !part
                    .rooms
                    .get(&first.0)
                    .is_some_and(|r| r.sessions.contains_key(&first.1))
            );
            sizes.push(part.session_count());
            flow.receive(Response::ok(json!({"etag": "e", "count": 99})))
                .unwrap();
        }
        assert_eq!(sizes, [10, 10, 4]);
        let outcome = flow.finish().unwrap();
        assert_eq!(
            (outcome.uploaded, outcome.skipped, outcome.to_send),
            (24, 1, 24)
        );
        assert_eq!(outcome.count, Some(99));

        let mut flow = UploadFlow::new("7", &body, 10);
        assert!(flow.next_request().is_some());
        flow.receive(Response::ok(json!({"etag": "e", "count": 10})))
            .unwrap();
        flow.cancel();
        assert!(flow.next_request().is_none());
        assert_eq!(flow.finish().unwrap().uploaded, 10);
    }
}
