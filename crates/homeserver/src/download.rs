//! Streaming a keys download: a reader that says when the body was cut or went silent
//! (never a silent end of file), and a check of what was saved (complete JSON of a keys
//! body, in bounded memory).

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
    /// The body ends in the middle of its JSON.
    #[error("the body ends at byte {at} in the middle of its JSON: an interrupted download?")]
    EndsEarly {
        /// Its length.
        at: u64,
    },
    /// The body is not JSON from some byte on.
    #[error("the body is not JSON at byte {at}: {reason}")]
    NotJson {
        /// Where (counting from 0).
        at: u64,
        /// What was found.
        reason: String,
    },
    /// The body is JSON but not a keys body (`{"rooms": {…}}`).
    #[error("the body is JSON but not a keys body ({0})")]
    NotKeysBody(String),
}

impl BodyProblem {
    /// The body arrived only in part (cut, silent, or ending mid-JSON): what did arrive
    /// may still be worth restoring.
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
/// way, in bounded memory whatever the body holds, that it is complete JSON of a keys
/// body: an object with one `"rooms"` member that is an object, and nothing after it.
/// Everything that arrives is written, also after a problem is found (so that what
/// arrived can still be restored). An error is a failure to write `out`.
pub fn save_keys_body(reader: impl Read, out: impl Write) -> io::Result<SavedBody> {
    let mut tee = Tee {
        reader,
        out,
        bytes: 0,
        write_error: None,
    };
    let mut scan = Scanner::new(&mut tee);
    let mut problem = scan.keys_body().err();
    // Whatever was not scanned yet (after a problem) is saved too.
    if problem.as_ref().is_none_or(|p| !p.is_incomplete()) {
        let rest = io::copy(&mut tee, &mut io::sink());
        if let Err(e) = rest
            && tee.write_error.is_none()
        {
            problem = Some(BodyProblem::Download(download_error(&e, tee.bytes)));
        }
    }
    if let Some(e) = tee.write_error.take() {
        return Err(e);
    }
    tee.out.flush()?;
    Ok(SavedBody {
        bytes: tee.bytes,
        problem,
    })
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

/// Writes everything it reads.
struct Tee<R, W> {
    reader: R,
    out: W,
    bytes: u64,
    write_error: Option<io::Error>,
}

impl<R: Read, W: Write> Read for Tee<R, W> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.reader.read(buf)?;
        if let Err(e) = self.out.write_all(&buf[..n]) {
            let said = io::Error::new(e.kind(), e.to_string());
            self.write_error = Some(e);
            return Err(said);
        }
        self.bytes += n as u64;
        Ok(n)
    }
}

/// Deepest nesting the check follows (serde_json's own limit is 128).
const MAX_DEPTH: usize = 128;

/// A JSON structure check over a reader, one byte at a time from a fixed buffer: no
/// string, key or number is ever held.
struct Scanner<'r, R> {
    reader: &'r mut R,
    buf: Box<[u8]>,
    start: usize,
    end: usize,
    /// Bytes consumed.
    at: u64,
}

impl<'r, R: Read> Scanner<'r, R> {
    fn new(reader: &'r mut R) -> Self {
        Self {
            reader,
            buf: vec![0; 64 * 1024].into_boxed_slice(),
            start: 0,
            end: 0,
            at: 0,
        }
    }

    fn peek(&mut self) -> Result<Option<u8>, BodyProblem> {
        if self.start == self.end {
            let n = loop {
                match self.reader.read(&mut self.buf) {
                    Ok(n) => break n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(BodyProblem::Download(download_error(&e, self.at))),
                }
            };
            self.start = 0;
            self.end = n;
            if n == 0 {
                return Ok(None);
            }
        }
        Ok(Some(self.buf[self.start]))
    }

    /// The next byte; the end of the body here is [`BodyProblem::EndsEarly`].
    fn next(&mut self) -> Result<u8, BodyProblem> {
        match self.peek()? {
            Some(b) => {
                self.start += 1;
                self.at += 1;
                Ok(b)
            }
            None => Err(BodyProblem::EndsEarly { at: self.at }),
        }
    }

    fn bad(&self, reason: impl Into<String>) -> BodyProblem {
        BodyProblem::NotJson {
            at: self.at.saturating_sub(1),
            reason: reason.into(),
        }
    }

    fn skip_ws(&mut self) -> Result<Option<u8>, BodyProblem> {
        while let Some(b) = self.peek()? {
            if !matches!(b, b' ' | b'\t' | b'\n' | b'\r') {
                return Ok(Some(b));
            }
            self.next()?;
        }
        Ok(None)
    }

    fn expect_value_start(&mut self) -> Result<u8, BodyProblem> {
        match self.skip_ws()? {
            Some(b) => Ok(b),
            None => Err(BodyProblem::EndsEarly { at: self.at }),
        }
    }

    /// `{"rooms": {…}, …}` and nothing but whitespace after it.
    fn keys_body(&mut self) -> Result<(), BodyProblem> {
        match self.skip_ws()? {
            None => return Err(BodyProblem::EndsEarly { at: self.at }),
            Some(b'{') => {
                self.next()?;
            }
            Some(b) => {
                self.next()?;
                return Err(BodyProblem::NotKeysBody(if b == b'<' {
                    "it looks like an HTML or XML page, not JSON".into()
                } else {
                    "it is not an object; a keys body is {\"rooms\": {…}}".into()
                }));
            }
        }
        let mut rooms = 0u32;
        let mut first = true;
        loop {
            match self.expect_value_start()? {
                b'}' if first => {
                    self.next()?;
                    break;
                }
                _ if first => {}
                b',' => {
                    self.next()?;
                    self.expect_value_start()?;
                }
                b'}' => {
                    self.next()?;
                    break;
                }
                _ => {
                    self.next()?;
                    return Err(self.bad("expected , or } after a member"));
                }
            }
            first = false;
            if self.next()? != b'"' {
                return Err(self.bad("expected a member name"));
            }
            let is_rooms = self.string(Some(b"rooms"))?;
            if self.expect_value_start()? != b':' {
                self.next()?;
                return Err(self.bad("expected : after a member name"));
            }
            self.next()?;
            let start = self.expect_value_start()?;
            if is_rooms {
                rooms += 1;
                if start != b'{' {
                    self.value(0)?;
                    return Err(BodyProblem::NotKeysBody(
                        "its \"rooms\" is not an object".into(),
                    ));
                }
            }
            self.value(0)?;
        }
        match self.skip_ws()? {
            None => {}
            Some(_) => {
                self.next()?;
                return Err(self.bad("more after the end of the body's JSON"));
            }
        }
        match rooms {
            0 => Err(BodyProblem::NotKeysBody("it has no \"rooms\"".into())),
            1 => Ok(()),
            _ => Err(BodyProblem::NotKeysBody(
                "it has \"rooms\" more than once".into(),
            )),
        }
    }

    /// One JSON value, whitespace before it skipped.
    fn value(&mut self, depth: usize) -> Result<(), BodyProblem> {
        if depth > MAX_DEPTH {
            return Err(self.bad(format!("nested more than {MAX_DEPTH} deep")));
        }
        let b = self.expect_value_start()?;
        self.next()?;
        match b {
            b'{' => self.container(depth, b'}', true),
            b'[' => self.container(depth, b']', false),
            b'"' => self.string(None).map(drop),
            b't' => self.literal(b"rue"),
            b'f' => self.literal(b"alse"),
            b'n' => self.literal(b"ull"),
            b'-' | b'0'..=b'9' => {
                while let Some(c) = self.peek()? {
                    if !matches!(c, b'0'..=b'9' | b'.' | b'e' | b'E' | b'+' | b'-') {
                        break;
                    }
                    self.next()?;
                }
                Ok(())
            }
            _ => Err(self.bad("expected a JSON value")),
        }
    }

    fn container(&mut self, depth: usize, close: u8, object: bool) -> Result<(), BodyProblem> {
        if self.expect_value_start()? == close {
            self.next()?;
            return Ok(());
        }
        loop {
            if object {
                if self.expect_value_start()? != b'"' {
                    self.next()?;
                    return Err(self.bad("expected a member name"));
                }
                self.next()?;
                self.string(None)?;
                if self.expect_value_start()? != b':' {
                    self.next()?;
                    return Err(self.bad("expected : after a member name"));
                }
                self.next()?;
            }
            self.value(depth + 1)?;
            let c = self.expect_value_start()?;
            self.next()?;
            match c {
                b',' => {}
                c if c == close => return Ok(()),
                _ => return Err(self.bad(format!("expected , or {}", close as char))),
            }
        }
    }

    /// The rest of a string after its opening quote; whether it equals `want` (compared
    /// as it goes: nothing is kept).
    fn string(&mut self, want: Option<&[u8]>) -> Result<bool, BodyProblem> {
        let mut same = want.is_some();
        let mut i = 0usize;
        loop {
            let b = self.next()?;
            match b {
                b'"' => return Ok(same && want.is_some_and(|w| w.len() == i)),
                b'\\' => {
                    same = false;
                    match self.next()? {
                        b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => {}
                        b'u' => {
                            for _ in 0..4 {
                                if !self.next()?.is_ascii_hexdigit() {
                                    return Err(self.bad("a \\u escape needs 4 hex digits"));
                                }
                            }
                        }
                        _ => return Err(self.bad("an unknown escape in a string")),
                    }
                }
                0..=0x1f => return Err(self.bad("a control character in a string")),
                _ => {
                    if same {
                        same = want.is_some_and(|w| w.get(i) == Some(&b));
                    }
                    i = i.saturating_add(1);
                }
            }
        }
    }

    fn literal(&mut self, rest: &[u8]) -> Result<(), BodyProblem> {
        for &want in rest {
            if self.next()? != want {
                return Err(self.bad("expected true, false or null"));
            }
        }
        Ok(())
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
            Some(BodyProblem::NotKeysBody(_)) => {}
            other => panic!("{other:?}"),
        }
        match check(br#"{"rooms": {"!a:x": {"sessions": {]}}}"#).problem {
            Some(BodyProblem::NotJson { at, .. }) => assert_eq!(at, 33),
            other => panic!("{other:?}"),
        }
        for (body, why) in [
            (&br#"{"versions": []}"#[..], "no \"rooms\""),
            (br#"{"rooms": []}"#, "not an object"),
            (br#"{"rooms": {}, "rooms": {}}"#, "more than once"),
        ] {
            match check(body).problem {
                Some(BodyProblem::NotKeysBody(r)) => assert!(r.contains(why), "{r}"),
                other => panic!("{other:?}"),
            }
        }
        match check(br#"{"rooms": {}} {}"#).problem {
            Some(BodyProblem::NotJson { at, .. }) => assert_eq!(at, 14),
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
