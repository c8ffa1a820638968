//! The public types of a restore: its options, what it delivers (sessions, failure
//! records with their class, progress), the sink it delivers to, and why a whole restore
//! could not run.

use std::{fmt, io, sync::Arc};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, value::RawValue};
use zeroize::Zeroizing;

use crate::{BACKUP_ALGORITHM, DecryptError};

/// Why one entry could not be restored: a class of the vector profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RestoreErrorClass {
    /// A `session_data` field is not base64.
    Base64,
    /// The ephemeral key is malformed or non-contributory.
    Key,
    /// The MAC does not verify: encrypted to another key.
    Mac,
    /// Bad PKCS#7 padding: corrupt ciphertext.
    Padding,
    /// The plaintext is not a session object (`algorithm` string, 165-byte `session_key`).
    Json,
    /// The session's algorithm is not `m.megolm.v1.aes-sha2`.
    Algorithm,
    /// The session key's Ed25519 key is not the session id it is filed under.
    SessionId,
    /// The entry itself is not a `KeyBackupData` object with a `session_data`.
    Malformed,
    /// A bug in this library stopped the entry's restore (a worker panicked); the rest
    /// of the restore went on.
    Internal,
    /// The body ends (or its reader failed) before it is complete: one record for the
    /// cut, naming the room in progress; every complete entry before it was delivered.
    Truncated,
    /// Structural damage lost the walk's place: one record naming the bytes stepped over
    /// (and the entries given up with them) before the walk found its place again.
    Damaged,
}

impl RestoreErrorClass {
    /// The class name used in vectors and failure files.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Base64 => "base64",
            Self::Key => "key",
            Self::Mac => "mac",
            Self::Padding => "padding",
            Self::Json => "json",
            Self::Algorithm => "algorithm",
            Self::SessionId => "session_id",
            Self::Malformed => "malformed",
            Self::Internal => "internal",
            Self::Truncated => "truncated",
            Self::Damaged => "damaged",
        }
    }
}

impl fmt::Display for RestoreErrorClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<&DecryptError> for RestoreErrorClass {
    fn from(e: &DecryptError) -> Self {
        match e {
            DecryptError::Base64 { .. } => Self::Base64,
            DecryptError::Key(_) => Self::Key,
            DecryptError::Mac => Self::Mac,
            DecryptError::Padding => Self::Padding,
        }
    }
}

/// One entry that could not be restored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestoreFailure {
    /// The room it is filed under.
    pub room_id: String,
    /// The session id it is filed under.
    pub session_id: String,
    /// The error class.
    pub error: RestoreErrorClass,
    /// What went wrong, for a person.
    pub message: String,
}

/// A restored session: the decrypted JSON object exactly as decrypted (no field added,
/// dropped or renamed, members in their order), with `room_id` and `session_id` set to
/// the ids the entry is filed under — the Element key-export format.
///
/// It is kept as JSON text: the plaintext with `room_id` and `session_id` written in
/// front, so a restore never builds and re-serializes a map per session.
#[derive(Clone, PartialEq)]
pub struct RestoredSession {
    pub(crate) room_id: String,
    pub(crate) session_id: String,
    pub(crate) json: Zeroizing<String>,
}

impl std::fmt::Debug for RestoredSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The JSON holds the session key: only the ids are shown.
        f.debug_struct("RestoredSession")
            .field("room_id", &self.room_id)
            .field("session_id", &self.session_id)
            .finish_non_exhaustive()
    }
}

impl RestoredSession {
    /// The room id.
    pub fn room_id(&self) -> &str {
        &self.room_id
    }
    /// The session id.
    pub fn session_id(&self) -> &str {
        &self.session_id
    }
    /// The session object as JSON text, including `room_id` and `session_id`. This
    /// exposes the session key.
    pub fn json_text(&self) -> &str {
        &self.json
    }
    /// The session as the typed room key (the same type export files and uploads use).
    pub fn room_key(&self) -> Result<crate::RoomKey, serde_json::Error> {
        serde_json::from_str(&self.json)
    }
    /// The session object, parsed.
    pub fn to_json(&self) -> Map<String, Value> {
        serde_json::from_str(&self.json).unwrap_or_default()
    }
    /// The session object, parsed, consuming the session.
    pub fn into_json(self) -> Map<String, Value> {
        self.to_json()
    }
    /// Replaces the line breaks of the JSON text by spaces ([`RestoreOptions::with_single_line`]).
    pub(crate) fn make_single_line(&mut self) {
        if memchr::memchr2(b'\n', b'\r', self.json.as_bytes()).is_some() {
            // Made at its final size (a string grown as it is built leaves unwiped
            // copies); the old text is wiped when it is replaced.
            let mut one_line = Zeroizing::new(String::with_capacity(self.json.len()));
            one_line.extend(self.json.chars().map(|c| match c {
                '\n' | '\r' => ' ',
                c => c,
            }));
            self.json = one_line;
        }
    }
    /// Room id, session id and the JSON text ([`json_text`](Self::json_text)), taken
    /// apart without copying: for writers that keep many sessions (the text stays in
    /// its wiped-on-drop buffer).
    pub fn into_parts(self) -> (String, String, Zeroizing<String>) {
        (self.room_id, self.session_id, self.json)
    }
}

impl Serialize for RestoredSession {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // Borrowed, so no unwiped copy of the session key is made.
        match serde_json::from_str::<&RawValue>(&self.json) {
            Ok(raw) => raw.serialize(s),
            Err(e) => Err(serde::ser::Error::custom(e)),
        }
    }
}

/// Counts reported while a restore runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Progress {
    /// Results delivered: sessions restored plus failure records.
    pub done: u64,
    /// Failure records delivered (entries that failed, and the records of bad rooms,
    /// damage and the cut).
    pub failed: u64,
    /// Entries in the body, when known in advance.
    pub total: Option<u64>,
    /// Bytes of the body read so far.
    pub bytes_read: u64,
    /// Set in the final counts when the body ended (or its reader failed) before it was
    /// complete: the bytes that arrived. The [`RestoreErrorClass::Truncated`] record
    /// names the room in progress; rooms reported by [`RestoreSink::room_done`] are
    /// whole.
    pub truncated_at: Option<u64>,
    /// Damaged stretches stepped over (each also a failure record), in the final counts.
    pub damaged: u64,
}

/// Where a restore delivers its results, in input order, batch by batch.
pub trait RestoreSink {
    /// A session was restored.
    fn restored(&mut self, session: RestoredSession);
    /// An entry failed; the restore goes on.
    fn failed(&mut self, failure: RestoreFailure);
    /// Called after each batch.
    fn progress(&mut self, _progress: Progress) {}
    /// A room's object closed, after every result of its entries was delivered: a
    /// resumed download need not fetch it again. Not called for rooms stepped over
    /// ([`RestoreOptions::with_skip_rooms`]), nor for a room the body was cut in.
    fn room_done(&mut self, _room_id: &str) {}
    /// Asked after each batch: `true` stops the restore, which then returns
    /// [`RestoreError::Cancelled`] (what was delivered before stays delivered). The same
    /// style as the homeserver client's uploads.
    fn cancelled(&self) -> bool {
        false
    }
}

/// All results of a restore, in memory.
#[derive(Debug, Clone, Default)]
pub struct RestoreResult {
    /// Restored sessions.
    pub sessions: Vec<RestoredSession>,
    /// Failed entries.
    pub failures: Vec<RestoreFailure>,
}

impl RestoreResult {
    /// Sorts both lists by room id, then session id.
    pub fn sort(&mut self) {
        self.sessions
            .sort_by(|a, b| (&a.room_id, &a.session_id).cmp(&(&b.room_id, &b.session_id)));
        self.failures
            .sort_by(|a, b| (&a.room_id, &a.session_id).cmp(&(&b.room_id, &b.session_id)));
    }
}

impl RestoreSink for RestoreResult {
    fn restored(&mut self, session: RestoredSession) {
        self.sessions.push(session);
    }
    fn failed(&mut self, failure: RestoreFailure) {
        self.failures.push(failure);
    }
}

/// How a restore runs.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RestoreOptions {
    /// Worker threads; `None` uses every core. At most four per core are started,
    /// whatever is asked.
    pub jobs: Option<usize>,
    /// Entries decrypted per parallel batch (bounds memory).
    pub batch_size: usize,
    /// Refuse bodies larger than this many bytes.
    pub max_body_bytes: u64,
    /// How many entries the body holds, when the caller knows (the `count` of the backup
    /// version): reported as [`Progress::total`].
    pub expected_total: Option<u64>,
    /// Entries decrypted before any result is delivered, to say "wrong key" first
    /// ([`with_key_probe`](Self::with_key_probe)); 0 is off.
    pub key_probe: usize,
    /// Rooms stepped over without decrypting ([`with_skip_rooms`](Self::with_skip_rooms)).
    pub skip_rooms: Option<RoomFilter>,
    /// Sessions' JSON text on one line ([`with_single_line`](Self::with_single_line)).
    pub single_line: bool,
}

/// A predicate on room ids: `true` steps over the room.
#[derive(Clone)]
pub struct RoomFilter(pub(crate) Arc<dyn Fn(&str) -> bool + Send + Sync>);

impl fmt::Debug for RoomFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RoomFilter(..)")
    }
}

impl RestoreOptions {
    /// Worker threads (`None`: every core; `Some(1)`: the calling thread only).
    pub fn with_jobs(mut self, jobs: Option<usize>) -> Self {
        self.jobs = jobs;
        self
    }
    /// Entries decrypted per parallel batch.
    pub fn with_batch_size(mut self, batch_size: usize) -> Self {
        self.batch_size = batch_size;
        self
    }
    /// The body-size limit in bytes.
    pub fn with_max_body_bytes(mut self, max_body_bytes: u64) -> Self {
        self.max_body_bytes = max_body_bytes;
        self
    }
    /// How many entries the body holds, when known (reported as [`Progress::total`]).
    pub fn with_expected_total(mut self, total: Option<u64>) -> Self {
        self.expected_total = total;
        self
    }
    /// Decrypts the first `n` entries before delivering any result: if none of them
    /// restored, at least one reached the MAC check and every one that did failed it,
    /// the restore stops with [`RestoreError::WrongKey`], having delivered nothing and
    /// without reading the rest. Otherwise the held results are delivered in order and
    /// the restore goes on.
    ///
    /// Off (0) by default: use it when the key was not matched against the backup
    /// version ([`check_backup_version`](crate::check_backup_version)). A key that was matched can still meet entries
    /// encrypted to another key (element-meta #2338: clients that uploaded to a stale
    /// backup), and those must cost only themselves, never stop the restore.
    pub fn with_key_probe(mut self, n: usize) -> Self {
        self.key_probe = n;
        self
    }
    /// Delivers every restored session's JSON text on one line: a line break in it
    /// (whitespace between tokens, as a JSON string cannot hold a raw one) becomes a
    /// space; the value is the same. It is done in the worker that restored the session,
    /// so a sink that writes one session per line (JSON Lines, a sort's spill files) does
    /// no per-session work on the calling thread, which reads the body and feeds the
    /// sink. Off by default: the text is then exactly as decrypted.
    pub fn with_single_line(mut self, single_line: bool) -> Self {
        self.single_line = single_line;
        self
    }
    /// Steps over every room for which `skip` returns `true`, without decrypting its
    /// entries or reporting them: for resuming a restore whose earlier rooms were done
    /// ([`RestoreSink::room_done`]).
    pub fn with_skip_rooms(mut self, skip: impl Fn(&str) -> bool + Send + Sync + 'static) -> Self {
        self.skip_rooms = Some(RoomFilter(Arc::new(skip)));
        self
    }
}

impl Default for RestoreOptions {
    fn default() -> Self {
        Self {
            jobs: None,
            batch_size: 2048,
            max_body_bytes: 64 << 30,
            expected_total: None,
            key_probe: 0,
            skip_rooms: None,
            single_line: false,
        }
    }
}

/// A restore that could not run at all.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RestoreError {
    /// The key does not belong to the backup version.
    #[error(
        "this key does not belong to backup version {version}: its public key is {ours}, the \
         backup's is {theirs}. Use the recovery key of this backup; if the key came from \
         secret storage, it is stale (the backup was reset since)"
    )]
    KeyMismatch {
        /// The version id, or "?".
        version: String,
        /// Our public key.
        ours: String,
        /// The backup's `public_key` as written.
        theirs: String,
    },
    /// The backup version uses another algorithm.
    #[error("backup version uses algorithm {0:?}; only {BACKUP_ALGORITHM} is supported")]
    Algorithm(String),
    /// The body is not a `GET /room_keys/keys` document.
    #[error("the backup body is not valid: {0}")]
    Body(#[source] serde_json::Error),
    /// The body is larger than the configured limit.
    #[error(
        "the backup body is larger than the limit of {0} bytes; raise the limit if it is genuine"
    )]
    TooLarge(u64),
    /// Reading the body failed.
    #[error("cannot read the backup body: {0}")]
    Io(#[from] io::Error),
    /// The worker pool could not start.
    #[error("cannot start worker threads: {0}")]
    Threads(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The sink asked to stop ([`RestoreSink::cancelled`]).
    #[error("the restore was cancelled")]
    Cancelled,
    /// The key probe ([`RestoreOptions::with_key_probe`]): none of the first entries
    /// decrypts with this key. Nothing was delivered.
    #[error(
        "this key does not open this backup: none of the first {tried} entries decrypt with it"
    )]
    WrongKey {
        /// Entries tried.
        tried: u64,
    },
}

impl RestoreError {
    /// The error class of the vector profile, where there is one.
    pub fn class(&self) -> &'static str {
        match self {
            Self::KeyMismatch { .. } => "key_mismatch",
            Self::Algorithm(_) => "algorithm",
            Self::Body(_) | Self::TooLarge(_) => "json",
            Self::Io(_) | Self::Threads(_) => "io",
            Self::Cancelled => "cancelled",
            Self::WrongKey { .. } => "wrong_key",
        }
    }
}

/// What [`check_body`](crate::check_body) found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct BodyCheck {
    /// Rooms whose object was opened.
    pub rooms: u64,
    /// Entries found.
    pub entries: u64,
    /// Entries found that are not `KeyBackupData` objects.
    pub malformed: u64,
    /// Bytes of the body read.
    pub bytes: u64,
    /// The body closed: it is complete.
    pub complete: bool,
    /// Where the body ends before it is complete, when it does.
    pub truncated_at: Option<u64>,
    /// Damaged stretches stepped over.
    pub damaged: u64,
    /// Every record of damage, of a bad room or id, and of the cut: at most
    /// [`BodyCheck::SAMPLE`] are kept, `problems` counts them all.
    pub sample: Vec<RestoreFailure>,
    /// How many records there were.
    pub problems: u64,
}

impl BodyCheck {
    /// At most this many records are kept in [`BodyCheck::sample`].
    pub const SAMPLE: usize = 16;
}
