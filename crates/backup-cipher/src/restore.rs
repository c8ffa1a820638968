//! Bulk restore: a whole `GET /room_keys/keys` body in, restored sessions and one failure
//! record per bad entry out. One corrupt entry never stops or loses the others
//! (docs/interop.md P14).
//!
//! There is one grammar and one code path after it. The body is walked incrementally by
//! the chunked splitter of `split.rs` (a slice is a reader too), which keeps what
//! arrived and steps over damage (its module documentation says how); entries are
//! collected into batches
//! of [`RestoreOptions::batch_size`], each batch is decrypted on all cores with rayon,
//! and its results are handed to a [`RestoreSink`] in input order. Within a batch,
//! entries go in groups of 64 whose key agreements are one
//! [`Scalar::diffie_hellman_many`](crate::x25519::Scalar::diffie_hellman_many) call
//! (several SIMD lanes at once, one batched inversion, where the CPU and features
//! allow); each entry is then finished, and fails, on its own. Memory is bounded by the batch, not by the body: a body of any size
//! restores in bounded memory when the sink writes results out.

use std::{
    borrow::Cow,
    fmt,
    io::{self, Read},
    sync::Arc,
};

use serde::{
    Deserialize, Deserializer, Serialize,
    de::{IgnoredAny, Visitor},
};
use serde_json::{Map, Value, value::RawValue};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::{
    BACKUP_ALGORITHM, BackupDecryptionKey, BackupVersion, DecryptError, EncryptedSessionData,
    KeysBackup, MEGOLM_ALGORITHM,
    cipher::DecodedParts,
    par::{self, *},
    split::{CountingReader, Events, Fatal, Shape},
    types::session_id_of,
    x25519::SharedSecret,
};

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
    room_id: String,
    session_id: String,
    json: Zeroizing<String>,
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
    /// Worker threads; `None` uses every core.
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
}

/// A predicate on room ids: `true` steps over the room.
#[derive(Clone)]
pub struct RoomFilter(pub Arc<dyn Fn(&str) -> bool + Send + Sync>);

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
    /// version ([`check_backup_version`]). A key that was matched can still meet entries
    /// encrypted to another key (element-meta #2338: clients that uploaded to a stale
    /// backup), and those must cost only themselves, never stop the restore.
    pub fn with_key_probe(mut self, n: usize) -> Self {
        self.key_probe = n;
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

/// Refuses a key that does not belong to `version` (compared as decoded bytes, in
/// constant time), or a version of another algorithm, before any work is done.
pub fn check_backup_version(
    key: &BackupDecryptionKey,
    version: &BackupVersion,
) -> Result<(), RestoreError> {
    if version.algorithm != BACKUP_ALGORITHM {
        return Err(RestoreError::Algorithm(version.algorithm.clone()));
    }
    if !key.matches(&version.auth_data) {
        return Err(RestoreError::KeyMismatch {
            version: version.version.clone().unwrap_or_else(|| "?".into()),
            ours: key.public_key().to_base64(),
            theirs: version.auth_data.public_key.clone(),
        });
    }
    Ok(())
}

/// Decrypts and checks one entry.
pub fn restore_entry(
    key: &BackupDecryptionKey,
    room_id: &str,
    session_id: &str,
    data: &EncryptedSessionData,
) -> Result<RestoredSession, RestoreFailure> {
    let pending = Pending::new(
        room_id,
        session_id,
        (&data.ephemeral, &data.ciphertext, &data.mac),
    );
    let shared = pending
        .decoded
        .as_ref()
        .ok()
        .and_then(|d| key.scalar().diffie_hellman(&d.ephemeral));
    pending.finish(shared)
}

/// The fields a restore checks, read without copying the plaintext.
#[derive(Deserialize)]
struct SessionFields<'a> {
    #[serde(borrow, default)]
    algorithm: Option<PlainStr<'a>>,
    #[serde(borrow, default)]
    session_key: Option<PlainStr<'a>>,
    #[serde(default)]
    room_id: Option<IgnoredAny>,
    #[serde(default)]
    session_id: Option<IgnoredAny>,
}

/// A string of the decrypted plaintext: borrowed from it when it has no escapes (always,
/// for base64), else a copy that is wiped on drop. (serde's own `Option<Cow<str>>` always
/// copies, and that copy of the session key was freed unwiped: the spy allocator of
/// `crates/zeroize-audit` found it.)
enum PlainStr<'a> {
    Borrowed(&'a str),
    Owned(Zeroizing<String>),
}

impl PlainStr<'_> {
    fn as_str(&self) -> &str {
        match self {
            Self::Borrowed(s) => s,
            Self::Owned(s) => s,
        }
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for PlainStr<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = PlainStr<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(PlainStr::Borrowed(v))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(PlainStr::Owned(Zeroizing::new(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
                Ok(PlainStr::Owned(Zeroizing::new(v)))
            }
        }
        d.deserialize_str(V)
    }
}

type EntryError = (RestoreErrorClass, String);

fn entry_error(e: DecryptError) -> EntryError {
    (RestoreErrorClass::from(&e), e.to_string())
}

/// One entry of a group: its ids, and its `session_data` decoded (or why not).
struct Pending<'a> {
    room_id: &'a str,
    session_id: &'a str,
    decoded: Result<DecodedParts, EntryError>,
}

impl<'a> Pending<'a> {
    fn new(room_id: &'a str, session_id: &'a str, parts: (&str, &str, &str)) -> Self {
        Self {
            room_id,
            session_id,
            decoded: DecodedParts::decode(parts.0, parts.1, parts.2).map_err(entry_error),
        }
    }

    /// Finishes the entry with the X25519 result for its ephemeral key (`None` when it did
    /// not decode, or the result is non-contributory): MAC, decryption, plaintext checks.
    fn finish(self, shared: Option<SharedSecret>) -> Result<RestoredSession, RestoreFailure> {
        let Self {
            room_id,
            session_id,
            decoded,
        } = self;
        decoded
            .and_then(|d| {
                let plaintext = d.decrypt(shared).map_err(entry_error)?;
                check_plaintext(room_id, session_id, &plaintext)
            })
            .map_err(|(error, message)| RestoreFailure {
                room_id: room_id.to_owned(),
                session_id: session_id.to_owned(),
                error,
                message,
            })
    }
}

/// Entries whose key agreements are computed together: several lane groups of the wide
/// X25519, so their inversions are batched (`x25519/lanes.rs`).
const GROUP: usize = 64;

/// Finishes a group: one [`Scalar::diffie_hellman_many`](crate::x25519::Scalar) call for
/// every entry that decoded, then each entry on its own, in order.
fn finish_group(
    key: &BackupDecryptionKey,
    group: Vec<Pending<'_>>,
    out: &mut Vec<Result<RestoredSession, RestoreFailure>>,
) {
    // A bug must cost the entries of its group, never the whole restore: a panic becomes
    // one `internal` failure per entry.
    let ids: Vec<(&str, &str)> = group.iter().map(|p| (p.room_id, p.session_id)).collect();
    let start = out.len();
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        finish_group_unguarded(key, group, out);
    }));
    if outcome.is_err() {
        out.truncate(start);
        out.extend(ids.into_iter().map(|(room_id, session_id)| {
            Err(RestoreFailure {
                room_id: room_id.to_owned(),
                session_id: session_id.to_owned(),
                error: RestoreErrorClass::Internal,
                message: "an internal error (a bug in this tool) stopped this entry's restore; \
                          the other entries were restored. Please report it"
                    .into(),
            })
        }));
    }
}

/// Entries filed under this room make their group panic, to test the guard above.
#[cfg(test)]
const PANIC_ROOM: &str = "!panic-for-the-test:example.org";

fn finish_group_unguarded(
    key: &BackupDecryptionKey,
    group: Vec<Pending<'_>>,
    out: &mut Vec<Result<RestoredSession, RestoreFailure>>,
) {
    #[cfg(test)]
    if group.iter().any(|p| p.room_id == PANIC_ROOM) {
        panic!("a test asked this group to panic");
    }
    let points: Vec<[u8; 32]> = group
        .iter()
        .filter_map(|p| p.decoded.as_ref().ok().map(|d| d.ephemeral))
        .collect();
    let mut shared = key.scalar().diffie_hellman_many(&points).into_iter();
    for p in group {
        // One result per decoded entry, in the same order as `points`.
        let s = if p.decoded.is_ok() {
            shared.next().flatten()
        } else {
            None
        };
        out.push(p.finish(s));
    }
}

/// The checks on a decrypted plaintext, and the restored session's JSON text.
fn check_plaintext(
    room_id: &str,
    session_id: &str,
    plaintext: &[u8],
) -> Result<RestoredSession, EntryError> {
    let json = |m: &str| (RestoreErrorClass::Json, m.to_owned());
    let text = std::str::from_utf8(plaintext)
        .map_err(|_| json("the decrypted session is not UTF-8 JSON"))?;
    let fields: SessionFields<'_> = serde_json::from_str(text)
        .map_err(|_| json("the decrypted session is not a JSON object"))?;
    let algorithm = fields
        .algorithm
        .as_ref()
        .map(PlainStr::as_str)
        .ok_or_else(|| json("the decrypted session has no algorithm"))?;
    let embedded = fields
        .session_key
        .as_ref()
        .map(PlainStr::as_str)
        .and_then(session_id_of)
        .ok_or_else(|| {
            json("the decrypted session has no valid session_key (165-byte export form)")
        })?;
    if algorithm != MEGOLM_ALGORITHM {
        return Err((
            RestoreErrorClass::Algorithm,
            format!("the session's algorithm is {algorithm:?}, not {MEGOLM_ALGORITHM}"),
        ));
    }
    let filed = recovery_key::decode_base64_public(session_id).ok();
    if !filed.is_some_and(|f| bool::from(f.as_slice().ct_eq(&embedded))) {
        return Err((
            RestoreErrorClass::SessionId,
            "the session key inside does not belong to the session id it is filed under".into(),
        ));
    }
    let output = if fields.room_id.is_some() || fields.session_id.is_some() {
        // The plaintext names ids of its own: overwrite them in place (rare).
        let mut map: Map<String, Value> = serde_json::from_str(text)
            .map_err(|_| json("the decrypted session is not a JSON object"))?;
        map.insert("room_id".into(), Value::String(room_id.to_owned()));
        map.insert("session_id".into(), Value::String(session_id.to_owned()));
        serde_json::to_string(&map)
            .map_err(|_| json("the decrypted session is not a JSON object"))?
    } else {
        // Write the ids in front of the plaintext's own members, untouched.
        let body = text.trim_start().strip_prefix('{').unwrap_or_default();
        let mut out = String::with_capacity(text.len() + room_id.len() + session_id.len() + 32);
        // Serializing a &str cannot fail; it only escapes.
        out.push_str("{\"room_id\":");
        out.push_str(&serde_json::to_string(room_id).unwrap_or_default());
        out.push_str(",\"session_id\":");
        out.push_str(&serde_json::to_string(session_id).unwrap_or_default());
        if !body.trim_start().starts_with('}') {
            out.push(',');
        }
        out.push_str(body);
        out
    };
    Ok(RestoredSession {
        room_id: room_id.to_owned(),
        session_id: session_id.to_owned(),
        json: Zeroizing::new(output),
    })
}

/// Restores a parsed body on all cores (or `opts.jobs`), sorted by room then session.
pub fn restore_keys(
    key: &BackupDecryptionKey,
    body: &KeysBackup,
    opts: &RestoreOptions,
) -> Result<RestoreResult, RestoreError> {
    let entries: Vec<(&str, &str, &EncryptedSessionData)> = body
        .entries()
        .map(|(room, sid, d)| (room, sid, &d.session_data))
        .collect();
    let run = || -> Vec<Result<RestoredSession, RestoreFailure>> {
        entries
            .par_chunks(GROUP)
            .flat_map_iter(|chunk| {
                let group = chunk
                    .iter()
                    .map(|(room, sid, d)| {
                        Pending::new(room, sid, (&d.ephemeral, &d.ciphertext, &d.mac))
                    })
                    .collect();
                let mut out = Vec::with_capacity(chunk.len());
                finish_group(key, group, &mut out);
                out
            })
            .collect()
    };
    let results = match pool(opts)? {
        Some(p) => p.install(run),
        None => run(),
    };
    let mut out = RestoreResult::default();
    for r in results {
        match r {
            Ok(s) => out.sessions.push(s),
            Err(f) => out.failures.push(f),
        }
    }
    out.sort();
    Ok(out)
}

/// Restores a body held in memory, sorted by room then session. The same walk as
/// [`restore_reader`] (the slice is its reader), so it keeps what arrived and steps over
/// damage in the same way.
pub fn restore_slice(
    key: &BackupDecryptionKey,
    body: &[u8],
    opts: &RestoreOptions,
) -> Result<RestoreResult, RestoreError> {
    if body.len() as u64 > opts.max_body_bytes {
        return Err(RestoreError::TooLarge(opts.max_body_bytes));
    }
    let mut out = RestoreResult::default();
    restore_reader(key, body, opts, &mut out)?;
    out.sort();
    Ok(out)
}

/// Restores a body from a reader while parsing it, delivering results to `sink` batch by
/// batch in input order. Returns the final counts.
///
/// The calling thread reads the body in chunks and finds each entry (`split.rs`, whose
/// module documentation gives the grammar, what each kind of damage costs and how the
/// walk resynchronises); batches are decrypted in the worker pool while the next one is
/// read. At most [`IN_FLIGHT`] batches are held at once, each of at most
/// [`RestoreOptions::batch_size`] entries and [`BATCH_BYTES`] bytes of entry text, so
/// memory is bounded whatever the size or content of the body.
///
/// What arrived is kept: a body cut anywhere (or whose reader fails) delivers every
/// complete entry before the cut, one [`RestoreErrorClass::Truncated`] record, and
/// returns `Ok` with [`Progress::truncated_at`] set. Damage costs only what is damaged
/// (records of class `malformed` or `damaged`). The whole restore fails only when the
/// body is not a backup body at all ([`RestoreError::Body`]), is over
/// [`RestoreOptions::max_body_bytes`], or the key probe finds the wrong key.
pub fn restore_reader<R: Read, S: RestoreSink + ?Sized>(
    key: &BackupDecryptionKey,
    reader: R,
    opts: &RestoreOptions,
    sink: &mut S,
) -> Result<Progress, RestoreError> {
    restore_shape(key, reader, Shape::Body, opts, sink)
}

/// Restores the body of `GET /room_keys/keys/{roomId}` (`{"sessions": {…}}`) for
/// `room_id`, with the same resilience and bounds as [`restore_reader`]: for resuming a
/// cut download room by room. [`RestoreSink::room_done`] is called once, when the body's
/// object closes.
pub fn restore_room_reader<R: Read, S: RestoreSink + ?Sized>(
    key: &BackupDecryptionKey,
    room_id: &str,
    reader: R,
    opts: &RestoreOptions,
    sink: &mut S,
) -> Result<Progress, RestoreError> {
    restore_shape(key, reader, Shape::Room(Arc::from(room_id)), opts, sink)
}

fn restore_shape<R: Read, S: RestoreSink + ?Sized>(
    key: &BackupDecryptionKey,
    reader: R,
    shape: Shape,
    opts: &RestoreOptions,
    sink: &mut S,
) -> Result<Progress, RestoreError> {
    let pool = pool(opts)?;
    let counter = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let reader = CountingReader {
        inner: reader,
        count: counter.clone(),
        limit: opts.max_body_bytes,
    };
    let parse = |ctx: &mut dyn Events| crate::split::walk(reader, shape, ctx);
    match &pool {
        Some(p) => p.in_place_scope(|s| restore_in_scope(key, parse, counter, opts, sink, s)),
        None => par::in_place_scope(|s| restore_in_scope(key, parse, counter, opts, sink, s)),
    }
}

/// Batches decrypting at once while the next is parsed.
pub const IN_FLIGHT: usize = 2;

/// A batch is handed to the workers once its entries' text reaches this many bytes,
/// whatever [`RestoreOptions::batch_size`] says: with entries of up to
/// [`MAX_ENTRY_BYTES`](crate::MAX_ENTRY_BYTES) the batches in memory stay a few MiB.
pub const BATCH_BYTES: usize = 4 << 20;

fn restore_in_scope<'scope, S: RestoreSink + ?Sized>(
    key: &'scope BackupDecryptionKey,
    parse: impl FnOnce(&mut dyn Events) -> Result<crate::split::Outcome, Fatal>,
    counter: Arc<std::sync::atomic::AtomicU64>,
    opts: &RestoreOptions,
    sink: &mut S,
    scope: &par::Scope<'scope>,
) -> Result<Progress, RestoreError> {
    let mut ctx = Ctx {
        key,
        scope,
        // Start small so the workers are busy while the parser is still near the start of
        // the body; the size doubles up to `opts.batch_size`. With a key probe, the
        // first batch is the probe.
        batch_size: if opts.key_probe > 0 {
            opts.key_probe
        } else {
            opts.batch_size.clamp(1, 256)
        },
        max_batch_size: opts.batch_size.max(1),
        batch: Vec::new(),
        batch_bytes: 0,
        batch_entries: 0,
        in_flight: std::collections::VecDeque::new(),
        inline: opts.jobs == Some(1),
        sink,
        progress: Progress {
            total: opts.expected_total,
            ..Progress::default()
        },
        bytes: counter,
        cancelled: false,
        probe: (opts.key_probe > 0).then(|| Probe {
            want: opts.key_probe as u64,
            held: Vec::new(),
            tried: 0,
            restored: 0,
            mac_failed: 0,
            mac_passed: 0,
            wrong_key: false,
        }),
        skip_rooms: opts.skip_rooms.clone(),
    };
    let parsed = parse(&mut ctx);
    ctx.finish();
    if ctx.probe.as_ref().is_some_and(|p| p.wrong_key) {
        let tried = ctx.probe.as_ref().map_or(0, |p| p.tried);
        return Err(RestoreError::WrongKey { tried });
    }
    if ctx.cancelled {
        return Err(RestoreError::Cancelled);
    }
    let outcome = match parsed {
        Ok(o) => o,
        Err(Fatal::Stopped) => return Err(RestoreError::Cancelled),
        Err(Fatal::TooLarge(limit)) => return Err(RestoreError::TooLarge(limit)),
        Err(Fatal::Body(msg)) => {
            return Err(RestoreError::Body(serde::de::Error::custom(msg)));
        }
    };
    ctx.progress.truncated_at = outcome.cut_at;
    ctx.progress.damaged = outcome.damaged;
    Ok(ctx.progress)
}

#[cfg(feature = "parallel")]
fn pool(opts: &RestoreOptions) -> Result<Option<par::ThreadPool>, RestoreError> {
    // One job runs inline on the calling thread: no pool to build.
    opts.jobs
        .filter(|&n| n > 1)
        .map(|n| {
            par::ThreadPoolBuilder::new()
                .num_threads(n.max(1))
                .build()
                .map_err(|e| RestoreError::Threads(Box::new(e)))
        })
        .transpose()
}

/// Without the `parallel` feature everything runs on the calling thread.
#[cfg(not(feature = "parallel"))]
fn pool(_: &RestoreOptions) -> Result<Option<par::ThreadPool>, RestoreError> {
    Ok(None)
}

/// The fields of a `KeyBackupData` a restore needs; the rest is ignored so that entries
/// from lenient servers still restore.
#[derive(Deserialize)]
pub(crate) struct EntryShape<'a> {
    #[serde(borrow)]
    session_data: SessionDataRef<'a>,
}

/// `session_data` borrowed from the entry's JSON text (copied only when escaped).
#[derive(Deserialize)]
struct SessionDataRef<'a> {
    #[serde(borrow)]
    ephemeral: Cow<'a, str>,
    #[serde(borrow)]
    ciphertext: Cow<'a, str>,
    #[serde(borrow)]
    mac: Cow<'a, str>,
}

/// The longest message of a failure record made from another error's text.
const MESSAGE_MAX: usize = 300;

/// One item of a batch, in body order.
enum Item {
    /// An entry to decrypt: room, session id, its JSON text.
    Entry(Arc<str>, String, Box<[u8]>),
    /// A record the walk made (a room, damage, the cut).
    Failed(RestoreFailure),
    /// A room's object closed.
    RoomDone(Arc<str>),
}

/// One result of a batch, in body order.
enum Delivered {
    Restored(RestoredSession),
    /// A failure, and whether it is an entry's (decrypted or tried).
    Failed(RestoreFailure, bool),
    RoomDone(Arc<str>),
}

type BatchResult = Vec<Delivered>;

/// The key probe's state ([`RestoreOptions::with_key_probe`]).
struct Probe {
    want: u64,
    /// Results held back until the probe decides.
    held: Vec<Delivered>,
    tried: u64,
    restored: u64,
    mac_failed: u64,
    mac_passed: u64,
    wrong_key: bool,
}

struct Ctx<'k, 's, 'c, S: ?Sized> {
    key: &'k BackupDecryptionKey,
    scope: &'c par::Scope<'k>,
    batch_size: usize,
    max_batch_size: usize,
    batch: Vec<Item>,
    batch_bytes: usize,
    /// Entries in `batch` (items that are not entries do not count).
    batch_entries: usize,
    in_flight: std::collections::VecDeque<std::sync::mpsc::Receiver<BatchResult>>,
    inline: bool,
    sink: &'s mut S,
    progress: Progress,
    bytes: Arc<std::sync::atomic::AtomicU64>,
    /// The sink asked to stop: no more entries are taken.
    cancelled: bool,
    probe: Option<Probe>,
    skip_rooms: Option<RoomFilter>,
}

impl<S: RestoreSink + ?Sized> Events for Ctx<'_, '_, '_, S> {
    fn entry(&mut self, room: &Arc<str>, session_id: String, raw: &[u8]) {
        self.batch_bytes += raw.len();
        self.batch_entries += 1;
        self.batch
            .push(Item::Entry(room.clone(), session_id, raw.into()));
        if self
            .probe
            .as_ref()
            .is_some_and(|p| p.tried == 0 && !p.wrong_key)
            && self.batch_entries >= self.batch_size
        {
            // The probe: decrypt the first entries and decide before reading on.
            self.submit();
            while !self.in_flight.is_empty() {
                self.deliver_oldest();
            }
            self.decide_probe();
            self.batch_size = self.max_batch_size.clamp(1, 256);
        } else if self.batch_entries >= self.batch_size || self.batch_bytes >= BATCH_BYTES {
            self.submit();
            self.batch_size = (self.batch_size * 2).min(self.max_batch_size);
        }
    }
    fn failure(&mut self, failure: RestoreFailure) {
        self.batch.push(Item::Failed(failure));
    }
    fn room_done(&mut self, room: &Arc<str>) {
        self.batch.push(Item::RoomDone(room.clone()));
    }
    fn stop(&self) -> bool {
        self.cancelled || self.probe.as_ref().is_some_and(|p| p.wrong_key)
    }
    fn skip_room(&self, room: &str) -> bool {
        self.skip_rooms.as_ref().is_some_and(|f| (f.0)(room))
    }
}

impl<S: RestoreSink + ?Sized> Ctx<'_, '_, '_, S> {
    /// Hands the current batch to the pool; delivers the oldest batch first when
    /// [`IN_FLIGHT`] are already running.
    fn submit(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        while self.in_flight.len() >= IN_FLIGHT {
            self.deliver_oldest();
        }
        let batch = std::mem::take(&mut self.batch);
        self.batch_bytes = 0;
        self.batch_entries = 0;
        let key = self.key;
        if self.inline {
            // One job means one thread: no pool, no pipelining.
            let mut results = BatchResult::with_capacity(batch.len());
            for chunk in batch.chunks(GROUP) {
                restore_items(key, chunk, &mut results);
            }
            self.deliver(results);
            return;
        }
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.scope.spawn(move |_| {
            let results: BatchResult = batch
                .par_chunks(GROUP)
                .flat_map_iter(|chunk| {
                    let mut out = Vec::with_capacity(chunk.len());
                    restore_items(key, chunk, &mut out);
                    out
                })
                .collect();
            // The receiver lives until every batch is delivered.
            let _ = tx.send(results);
        });
        self.in_flight.push_back(rx);
    }

    fn deliver_oldest(&mut self) {
        let Some(rx) = self.in_flight.pop_front() else {
            return;
        };
        // A worker that panicked drops its sender; its entries are then missing from
        // the counts rather than taking the whole restore down.
        self.deliver(rx.recv().unwrap_or_default());
    }

    fn deliver(&mut self, results: BatchResult) {
        if let Some(p) = self
            .probe
            .as_mut()
            .filter(|p| p.tried < p.want && !p.wrong_key)
        {
            // Held back until the probe decides.
            for r in &results {
                match r {
                    Delivered::Restored(_) => {
                        p.tried += 1;
                        p.restored += 1;
                    }
                    Delivered::Failed(f, true) => {
                        p.tried += 1;
                        match f.error {
                            RestoreErrorClass::Mac => p.mac_failed += 1,
                            RestoreErrorClass::Padding
                            | RestoreErrorClass::Json
                            | RestoreErrorClass::Algorithm
                            | RestoreErrorClass::SessionId => p.mac_passed += 1,
                            _ => {}
                        }
                    }
                    _ => {}
                }
            }
            p.held.extend(results);
            return;
        }
        self.hand_over(results);
    }

    fn hand_over(&mut self, results: Vec<Delivered>) {
        for r in results {
            match r {
                Delivered::Restored(s) => {
                    self.progress.done += 1;
                    self.sink.restored(s);
                }
                Delivered::Failed(f, _) => {
                    self.progress.done += 1;
                    self.progress.failed += 1;
                    self.sink.failed(f);
                }
                Delivered::RoomDone(room) => self.sink.room_done(&room),
            }
        }
        self.progress.bytes_read = self.bytes.load(std::sync::atomic::Ordering::Relaxed);
        self.sink.progress(self.progress);
        self.cancelled = self.cancelled || self.sink.cancelled();
    }

    /// Decides the key probe on what it holds: the wrong key when nothing restored, at
    /// least one entry reached the MAC check and every one that did failed it. Otherwise
    /// the held results are delivered in order.
    fn decide_probe(&mut self) {
        let Some(p) = self.probe.as_mut() else {
            return;
        };
        if p.wrong_key {
            return;
        }
        if p.restored == 0 && p.mac_failed > 0 && p.mac_passed == 0 {
            p.wrong_key = true;
            p.held.clear();
            return;
        }
        let held = std::mem::take(&mut p.held);
        // Decided: later results go straight to the sink.
        p.want = 0;
        if !held.is_empty() {
            self.hand_over(held);
        }
    }

    fn finish(&mut self) {
        if self.probe.as_ref().is_some_and(|p| p.wrong_key) {
            // Nothing more is decrypted or delivered.
            self.batch.clear();
            while let Some(rx) = self.in_flight.pop_front() {
                let _ = rx.recv();
            }
            return;
        }
        self.submit();
        while !self.in_flight.is_empty() {
            self.deliver_oldest();
        }
        if self.probe.as_ref().is_some_and(|p| p.want > 0) {
            self.decide_probe();
        }
        self.progress.bytes_read = self.bytes.load(std::sync::atomic::Ordering::Relaxed);
    }
}

/// Restores a group of items: entries are parsed as a `KeyBackupData` and decrypted
/// together; the walk's records and room ends pass through in order.
fn restore_items(key: &BackupDecryptionKey, chunk: &[Item], out: &mut BatchResult) {
    // The parsed entries borrow from the raw text; keep them alive for the group.
    let parsed: Vec<Option<Result<EntryShape<'_>, String>>> = chunk
        .iter()
        .map(|item| match item {
            Item::Entry(_, _, raw) => Some(match std::str::from_utf8(raw) {
                Ok(text) => serde_json::from_str::<EntryShape>(text).map_err(|e| e.to_string()),
                Err(_) => Err("it is not UTF-8 text".into()),
            }),
            _ => None,
        })
        .collect();
    let group: Vec<Pending<'_>> = chunk
        .iter()
        .zip(&parsed)
        .filter_map(|(item, entry)| match (item, entry) {
            (Item::Entry(room, sid, _), Some(Ok(e))) => {
                let d = &e.session_data;
                Some(Pending::new(
                    room,
                    sid,
                    (&d.ephemeral, &d.ciphertext, &d.mac),
                ))
            }
            (Item::Entry(room, sid, _), Some(Err(e))) => {
                // serde_json quotes what it refused: keep the message short.
                let mut message = format!("the backup entry is not a KeyBackupData object: {e}");
                crate::split::truncate_text(&mut message, MESSAGE_MAX);
                Some(Pending {
                    room_id: room,
                    session_id: sid,
                    decoded: Err((RestoreErrorClass::Malformed, message)),
                })
            }
            _ => None,
        })
        .collect();
    let mut results = Vec::with_capacity(group.len());
    finish_group(key, group, &mut results);
    let mut results = results.into_iter();
    for item in chunk {
        out.push(match item {
            Item::Entry(..) => match results.next() {
                Some(Ok(s)) => Delivered::Restored(s),
                Some(Err(f)) => Delivered::Failed(f, true),
                None => continue,
            },
            Item::Failed(f) => Delivered::Failed(f.clone(), false),
            Item::RoomDone(r) => Delivered::RoomDone(r.clone()),
        });
    }
}

/// What [`check_body`] found.
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

/// Walks a `GET /room_keys/keys` body with the same grammar and bounds as
/// [`restore_reader`], without a key and without decrypting: what a download saved is
/// complete (and where it was cut), how many rooms and entries it holds, and what is
/// damaged. Reads at most `max_bytes` ([`RestoreError::TooLarge`] past that).
pub fn check_body<R: Read>(reader: R, max_bytes: u64) -> Result<BodyCheck, RestoreError> {
    struct Checker(BodyCheck);
    impl Events for Checker {
        fn entry(&mut self, _: &Arc<str>, _: String, raw: &[u8]) {
            if serde_json::from_slice::<EntryShape<'_>>(raw).is_err() {
                self.0.malformed += 1;
            }
        }
        fn failure(&mut self, failure: RestoreFailure) {
            self.0.problems += 1;
            if self.0.sample.len() < BodyCheck::SAMPLE {
                self.0.sample.push(failure);
            }
        }
        fn room_done(&mut self, _: &Arc<str>) {}
        fn stop(&self) -> bool {
            false
        }
    }
    let reader = CountingReader {
        inner: reader,
        count: Arc::new(std::sync::atomic::AtomicU64::new(0)),
        limit: max_bytes,
    };
    let mut checker = Checker(BodyCheck::default());
    let outcome = crate::split::walk(reader, Shape::Body, &mut checker).map_err(|e| match e {
        Fatal::TooLarge(l) => RestoreError::TooLarge(l),
        Fatal::Body(msg) => RestoreError::Body(serde::de::Error::custom(msg)),
        Fatal::Stopped => RestoreError::Cancelled,
    })?;
    let mut check = checker.0;
    check.rooms = outcome.rooms;
    check.entries = outcome.entries;
    check.bytes = outcome.bytes;
    check.complete = outcome.complete;
    check.truncated_at = outcome.cut_at;
    check.damaged = outcome.damaged;
    Ok(check)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{RoomKeyBackup, fixtures};

    /// A panic in a worker costs exactly the entries of its group, counted as `internal`
    /// failures; every other entry is restored, inline and on a pool.
    #[test]
    fn a_panicking_group_fails_its_entries_and_nothing_else() {
        let key = BackupDecryptionKey::from_bytes(&[7; 32]);
        let mut body = fixtures::synthetic_backup(key.public_key(), 3 * GROUP, 3);
        let good: u64 = body.session_count() as u64;
        // One group's worth of entries (the first group: the first room in order) that
        // make their group panic.
        let sessions: std::collections::BTreeMap<_, _> = body
            .rooms
            .values()
            .flat_map(|r| r.sessions.clone())
            .take(GROUP)
            .collect();
        assert_eq!(sessions.len(), GROUP);
        body.rooms
            .insert(PANIC_ROOM.to_owned(), RoomKeyBackup { sessions });
        let text = serde_json::to_vec(&body).unwrap();
        for jobs in [Some(1), Some(2)] {
            let opts = RestoreOptions {
                jobs,
                ..RestoreOptions::default()
            };
            // The in-memory, the slice and the streaming paths.
            let mut streamed = RestoreResult::default();
            restore_reader(&key, text.as_slice(), &opts, &mut streamed).unwrap();
            for result in [
                restore_keys(&key, &body, &opts).unwrap(),
                restore_slice(&key, &text, &opts).unwrap(),
                streamed,
            ] {
                assert_eq!(result.sessions.len() as u64, good, "jobs {jobs:?}");
                assert_eq!(result.failures.len(), GROUP, "jobs {jobs:?}");
                for f in &result.failures {
                    assert_eq!(f.room_id, PANIC_ROOM);
                    assert_eq!(f.error.as_str(), "internal");
                }
            }
        }
    }
}
