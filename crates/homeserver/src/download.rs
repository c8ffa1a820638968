//! Streaming a keys download: a reader that says when the body was cut or went silent
//! (never a silent end of file), and a check of what was saved with the restore's own
//! grammar (`backup_cipher::check_body`), in bounded memory. See [`save_keys_body`] for
//! what is called complete: a body listing `"rooms"` (or a room) twice is, a body with
//! bytes after its closing brace is damaged.

use std::{
    fmt,
    io::{self, Read, Write},
    time::Duration,
};

use crate::{Client, ClientError, options::seconds, transport::Call};

/// Why a keys download ended before its body did. Carried inside the `io::Error` a
/// [`KeysDownload`] read returns (`error.get_ref()` downcasts to it), so a restore reading
/// the download can say where the body was cut.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DownloadError {
    /// The connection ended (or failed) before the whole body arrived.
    #[error(
        "the download was cut after {received} bytes{}: {cause}",
        expected.map(|e| format!(" of {e}")).unwrap_or_default()
    )]
    Cut {
        /// Bytes of the body that arrived.
        received: u64,
        /// The body's length (`Content-Length`), when the server gave one.
        expected: Option<u64>,
        /// What the connection said.
        cause: String,
    },
    /// The homeserver sent nothing for the idle timeout.
    #[error(
        "no data came from the homeserver for {} (after {received} bytes of the download)",
        seconds(*idle)
    )]
    Stalled {
        /// Bytes of the body that arrived.
        received: u64,
        /// The idle timeout.
        idle: Duration,
    },
}

impl DownloadError {
    /// Bytes of the body that arrived before the download ended.
    pub fn received(&self) -> u64 {
        match self {
            Self::Cut { received, .. } | Self::Stalled { received, .. } => *received,
        }
    }

    /// The `DownloadError` inside an `io::Error` from a [`KeysDownload`], if it is one.
    pub fn from_io(error: &io::Error) -> Option<&Self> {
        error.get_ref().and_then(|e| e.downcast_ref::<Self>())
    }

    fn into_io(self) -> io::Error {
        let kind = match self {
            Self::Cut { .. } => io::ErrorKind::UnexpectedEof,
            Self::Stalled { .. } => io::ErrorKind::TimedOut,
        };
        io::Error::new(kind, self)
    }
}

/// The body of a keys download ([`flows::requests::room_keys`], [`flows::requests::room_keys_for_room`]), streamed. A read
/// after the connection was cut, or after a body shorter than its `Content-Length`, or
/// after the server went silent for the idle timeout, is an error carrying a
/// [`DownloadError`], never a quiet end of file.
pub struct KeysDownload {
    reader: ureq::BodyReader<'static>,
    received: u64,
    content_length: Option<u64>,
    content_type: Option<String>,
    idle: Duration,
}

impl fmt::Debug for KeysDownload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeysDownload")
            .field("received", &self.received)
            .field("content_length", &self.content_length)
            .field("content_type", &self.content_type)
            .finish_non_exhaustive()
    }
}

impl KeysDownload {
    pub(crate) fn new(
        reader: ureq::BodyReader<'static>,
        content_length: Option<u64>,
        content_type: Option<String>,
        idle: Duration,
    ) -> Self {
        Self {
            reader,
            received: 0,
            content_length,
            content_type,
            idle,
        }
    }

    /// The body's length, when the server said (`Content-Length`).
    pub fn content_length(&self) -> Option<u64> {
        self.content_length
    }

    /// The body's `Content-Type`, when the server said.
    pub fn content_type(&self) -> Option<&str> {
        self.content_type.as_deref()
    }

    /// Bytes of the body read so far.
    pub fn received(&self) -> u64 {
        self.received
    }

    fn cut(&self, cause: String) -> io::Error {
        DownloadError::Cut {
            received: self.received,
            expected: self.content_length,
            cause,
        }
        .into_io()
    }
}

impl Read for KeysDownload {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.reader.read(buf) {
            Ok(0) if !buf.is_empty() => match self.content_length {
                Some(len) if self.received < len => {
                    Err(self.cut("the connection ended before the body did".into()))
                }
                _ => Ok(0),
            },
            Ok(n) => {
                self.received += n as u64;
                Ok(n)
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Err(e),
            Err(e) => match ureq::Error::from(e) {
                ureq::Error::Timeout(_) => Err(DownloadError::Stalled {
                    received: self.received,
                    idle: self.idle,
                }
                .into_io()),
                other => Err(self.cut(other.to_string())),
            },
        }
    }
}

/// Is this `Content-Type` JSON (`application/json`, `…+json`, any parameters)?
pub(crate) fn is_json_type(content_type: &str) -> bool {
    let media = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    media == "application/json" || (media.starts_with("application/") && media.ends_with("+json"))
}

impl Client {
    /// Streams the whole keys download ([`flows::requests::room_keys`]), for
    /// `backup_cipher::restore_reader`; nothing is buffered beyond the reader. A body that
    /// is cut, shorter than its `Content-Length`, or silent for the idle timeout is a read
    /// error carrying a [`DownloadError`](crate::DownloadError), never a quiet end; an
    /// answer whose `Content-Type` is not JSON is refused ([`ClientError::NotJson`]).
    pub fn room_keys_reader(&self, version: &str) -> Result<KeysDownload, ClientError> {
        self.download(&flows::requests::room_keys(version))
    }

    /// Streams the keys of one room ([`flows::requests::room_keys_for_room`], a
    /// `{"sessions": {…}}` body), as [`room_keys_reader`](Self::room_keys_reader) does the
    /// whole download: e.g. to fetch again the rooms a cut download did not bring.
    pub fn room_keys_reader_for_room(
        &self,
        version: &str,
        room_id: &str,
    ) -> Result<KeysDownload, ClientError> {
        self.download(&flows::requests::room_keys_for_room(version, room_id))
    }

    /// Sends a GET of `flows::requests` and returns its body as a stream.
    fn download(&self, request: &flows::Request) -> Result<KeysDownload, ClientError> {
        let response = self.exchange(&Call::of(request), Ok)?;
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let content_type = header("content-type");
        if let Some(t) = &content_type
            && !is_json_type(t)
        {
            return Err(ClientError::NotJson {
                content_type: t.clone(),
            });
        }
        let content_length = header("content-length").and_then(|v| v.trim().parse().ok());
        Ok(KeysDownload::new(
            response.into_body().into_reader(),
            content_length,
            content_type,
            self.options.idle_timeout,
        ))
    }
}

/// What is wrong with a saved keys body (see [`save_keys_body`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BodyProblem {
    /// The download ended early or went silent.
    #[error(transparent)]
    Download(DownloadError),
    /// The body ends before it closes.
    #[error("the body ends at byte {at} in the middle of its JSON: an interrupted download?")]
    EndsEarly {
        /// Its length.
        at: u64,
    },
    /// The body is not a keys body (`{"rooms": {…}}`) at all: nothing in it can be
    /// restored.
    #[error("the body is not a keys body: {0}")]
    NotKeysBody(String),
    /// The body is whole but damaged: a restore steps over the damage (and says so), but
    /// it is not the backup as the server holds it.
    #[error(
        "the body is damaged in {stretches} place{}: {first}",
        if *stretches == 1 { "" } else { "s" }
    )]
    Damaged {
        /// Damaged stretches.
        stretches: u64,
        /// What the first one is.
        first: String,
    },
}

impl BodyProblem {
    /// The body arrived only in part (cut, silent, or ending before it closes): what did
    /// arrive may still be worth restoring.
    pub fn is_incomplete(&self) -> bool {
        matches!(self, Self::Download(_) | Self::EndsEarly { .. })
    }
}

/// What [`save_keys_body`] saved.
#[derive(Debug)]
#[non_exhaustive]
pub struct SavedBody {
    /// Bytes written.
    pub bytes: u64,
    /// `None` when the body is a complete keys body.
    pub problem: Option<BodyProblem>,
}

/// Copies a keys body from `reader` (e.g. a [`KeysDownload`]) to `out`, checking on the
/// way, in bounded memory whatever the body holds, that it is a complete keys body: read
/// with the restore's own grammar ([`backup_cipher::check_body`]), it closes, nothing
/// in it is damaged, and the reader ended without an error (a [`KeysDownload`] fails a
/// body shorter than its `Content-Length`).
///
/// One grammar, one verdict: what a restore reads is what is called complete here.
/// - A second `"rooms"` member, or a room listed twice, is part of the body: every
///   restore reads each one (each entry is authenticated on its own), so nothing is
///   lost whatever the server meant. Such a body is complete.
/// - Bytes after the body's closing brace are damage: a restore steps over them (keeping
///   any whole entry found there) and records one `damaged` stretch. A damaged body is
///   saved but reported ([`BodyProblem::Damaged`]), never called complete.
/// - An entry that is not a `KeyBackupData` is the server's data, not damage of the
///   download: a restore reports it as `malformed`; the body is complete.
///
/// Everything that arrives is written, also after a problem is found (so that what
/// arrived can still be restored). An error is a failure to write `out`.
pub fn save_keys_body(reader: impl Read, out: impl Write) -> io::Result<SavedBody> {
    let mut tee = Tee {
        reader,
        out,
        bytes: 0,
        first_byte: None,
        read_error: None,
        write_error: None,
    };
    let check = backup_cipher::check_body(&mut tee, u64::MAX);
    if let Some(e) = tee.write_error.take() {
        return Err(e);
    }
    // Whatever the check did not read (after a body it refused) is saved too.
    if tee.read_error.is_none() {
        let rest = io::copy(&mut tee, &mut io::sink());
        if let Some(e) = tee.write_error.take() {
            return Err(e);
        }
        if let Err(e) = rest
            && tee.read_error.is_none()
        {
            tee.read_error = Some(download_error(&e, tee.bytes));
        }
    }
    tee.out.flush()?;
    let problem = match (tee.read_error.take(), check) {
        (Some(e), _) => Some(BodyProblem::Download(e)),
        (None, Err(e)) => Some(BodyProblem::NotKeysBody(match tee.first_byte {
            Some(b'<') => "it looks like an HTML or XML page, not JSON".into(),
            _ => not_a_body(&e),
        })),
        (None, Ok(c)) if !c.complete => Some(BodyProblem::EndsEarly {
            at: c.truncated_at.unwrap_or(c.bytes),
        }),
        (None, Ok(c)) if c.damaged > 0 => Some(BodyProblem::Damaged {
            stretches: c.damaged,
            first: c
                .sample
                .iter()
                .find(|f| f.error == backup_cipher::RestoreErrorClass::Damaged)
                .map(|f| f.message.clone())
                .unwrap_or_default(),
        }),
        (None, Ok(_)) => None,
    };
    Ok(SavedBody {
        bytes: tee.bytes,
        problem,
    })
}

/// Why the restore's grammar refuses a body, in its words.
fn not_a_body(e: &backup_cipher::RestoreError) -> String {
    match e {
        backup_cipher::RestoreError::Body(why) => why.to_string(),
        other => other.to_string(),
    }
}

fn download_error(e: &io::Error, received: u64) -> DownloadError {
    DownloadError::from_io(e)
        .cloned()
        .unwrap_or_else(|| DownloadError::Cut {
            received,
            expected: None,
            cause: e.to_string(),
        })
}

/// Writes everything it reads, and remembers the first failure of either side.
struct Tee<R, W> {
    reader: R,
    out: W,
    bytes: u64,
    /// The first byte that is not whitespace (to tell an HTML page).
    first_byte: Option<u8>,
    read_error: Option<DownloadError>,
    write_error: Option<io::Error>,
}

impl<R: Read, W: Write> Read for Tee<R, W> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.write_error.is_some() {
            return Err(io::Error::other("the output could not be written"));
        }
        let n = match self.reader.read(buf) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Err(e),
            Err(e) => {
                if self.read_error.is_none() {
                    self.read_error = Some(download_error(&e, self.bytes));
                }
                return Err(e);
            }
        };
        if let Err(e) = self.out.write_all(&buf[..n]) {
            let said = io::Error::new(e.kind(), e.to_string());
            self.write_error = Some(e);
            return Err(said);
        }
        if self.first_byte.is_none() {
            self.first_byte = buf[..n].iter().copied().find(|b| !b.is_ascii_whitespace());
        }
        self.bytes += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(body: &[u8]) -> SavedBody {
        let mut out = Vec::new();
        let saved = save_keys_body(body, &mut out).unwrap();
        assert_eq!(out, body, "everything that arrived is saved");
        saved
    }

    #[test]
    fn complete_keys_bodies_pass() {
        for body in [
            &br#"{"rooms": {}}"#[..],
            br#" {"rooms":{"!a:x":{"sessions":{"s":{"first_message_index":0,"forwarded_count":-1.5e3,"is_verified":true,"session_data":{"k":"\"\\u00e9"}}}}},"other":[null,false,[]]}
"#,
        ] {
            let saved = check(body);
            assert!(saved.problem.is_none(), "{:?}", saved.problem);
        }
    }

    #[test]
    fn cut_or_wrong_bodies_are_told_apart() {
        let full = br#"{"rooms": {"!a:x": {"sessions": {"s": {"session_data": {"k": "abc"}}}}}}"#;
        for cut in [1, 10, 30, 45, full.len() - 1] {
            match check(&full[..cut]).problem {
                Some(BodyProblem::EndsEarly { at }) => assert_eq!(at, cut as u64),
                other => panic!("cut at {cut}: {other:?}"),
            }
        }
        match check(b"<html><body>Login</body></html>").problem {
            Some(BodyProblem::NotKeysBody(why)) => assert!(why.contains("HTML"), "{why}"),
            other => panic!("{other:?}"),
        }
        for (body, why) in [
            (&br#"{"versions": []}"#[..], "no \"rooms\""),
            (br#"{"rooms": []}"#, "\"rooms\" is not an object"),
            (b"", "empty"),
        ] {
            match check(body).problem {
                Some(BodyProblem::NotKeysBody(r)) => assert!(r.contains(why), "{r}"),
                other => panic!("{other:?}"),
            }
        }
    }

    /// The verdict is the restore's grammar's: a body listing `"rooms"` twice, or a room
    /// twice, is complete (every restore reads each one); bytes after the closing brace
    /// are damage.
    #[test]
    fn the_verdict_is_the_restore_grammars() {
        for body in [
            &br#"{"rooms": {}, "rooms": {}}"#[..],
            br#"{"rooms": {"!a:x": {"sessions": {}}}, "rooms": {"!a:x": {"sessions": {}}}}"#,
            br#"{"rooms": {"!a:x": {"sessions": {}}, "!a:x": {"sessions": {}}}}"#,
        ] {
            let saved = check(body);
            assert!(
                saved.problem.is_none(),
                "{}: {:?}",
                String::from_utf8_lossy(body),
                saved.problem
            );
        }
        match check(br#"{"rooms": {}} {}"#).problem {
            Some(p @ BodyProblem::Damaged { stretches: 1, .. }) => assert!(!p.is_incomplete()),
            other => panic!("{other:?}"),
        }
    }

    /// A reader that fails is a cut download, whatever the bytes before it look like.
    #[test]
    fn a_failing_reader_is_a_cut_download() {
        struct Failing(bool);
        impl Read for Failing {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                if std::mem::replace(&mut self.0, true) {
                    return Err(io::Error::new(io::ErrorKind::ConnectionReset, "reset"));
                }
                let head = br#"{"rooms": {}}"#;
                buf[..head.len()].copy_from_slice(head);
                Ok(head.len())
            }
        }
        let mut out = Vec::new();
        let saved = save_keys_body(Failing(false), &mut out).unwrap();
        assert_eq!(out, br#"{"rooms": {}}"#);
        match saved.problem {
            Some(p @ BodyProblem::Download(DownloadError::Cut { received: 13, .. })) => {
                assert!(p.is_incomplete())
            }
            other => panic!("{other:?}"),
        }
    }

    /// A huge unterminated string is followed to its end without being held.
    #[test]
    fn an_unterminated_string_is_an_early_end() {
        struct Endless(u64);
        impl Read for Endless {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                if self.0 == 0 {
                    let head = br#"{"rooms": {"!a:x": ""#;
                    buf[..head.len()].copy_from_slice(head);
                    self.0 = head.len() as u64;
                    return Ok(head.len());
                }
                if self.0 >= 64 * 1024 * 1024 {
                    return Ok(0);
                }
                buf.fill(b'a');
                self.0 += buf.len() as u64;
                Ok(buf.len())
            }
        }
        let saved = save_keys_body(Endless(0), io::sink()).unwrap();
        assert!(
            matches!(saved.problem, Some(BodyProblem::EndsEarly { at }) if at == saved.bytes),
            "{:?}",
            saved.problem
        );
        assert!(saved.bytes >= 64 * 1024 * 1024);
    }

    #[test]
    fn json_content_types() {
        for t in [
            "application/json",
            "Application/JSON; charset=utf-8",
            "application/vnd.x+json",
        ] {
            assert!(is_json_type(t), "{t}");
        }
        for t in [
            "text/html",
            "text/html; charset=utf-8",
            "text/plain",
            "json",
        ] {
            assert!(!is_json_type(t), "{t}");
        }
    }
}
