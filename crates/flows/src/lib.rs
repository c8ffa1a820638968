#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod doctor;
mod recovery;
pub mod requests;
mod setup;
mod step;
mod upload;

pub use doctor::{
    AccountSnapshot, DEFAULT_ENTRY_SAMPLE, DEFAULT_OLD_VERSION_PROBES, Device, Diagnosis,
    DoctorFlow, DoctorOptions, EntryCheck, EntryProgress, EntryReport, Finding, FindingCode,
    MIGRATION_CHUNK, MigrateError, MigrateFlow, MigrationOutcome, MigrationPlan, OldVersionFate,
    Repair, RepairPlan, Severity, current_backup_key, diagnose, plan_migration, plan_repairs,
};
pub use recovery::{RecoveredBackup, RecoveryFlow, SecretStorageFlow};
pub use setup::{
    AccountSituation, AccountState, AccountStateFlow, CarryOver, KEY_BACKUP_EVENT, NewSecurityKey,
    PlanError, RolledBack, SetupChoices, SetupEvent, SetupFlow, SetupFlowError, SetupOptions,
    SetupOutcome, SetupPlan, SetupStep, VersionUnknown, master_key_in_query, plan_setup,
    with_password,
};
pub use upload::{UploadFlow, UploadOutcome};

use serde_json::Value;

/// An HTTP method: the four the requests of [`requests`] use. Exhaustive on purpose: a
/// client that sends a [`Request`] matches on each, and no other can come.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// GET
    Get,
    /// POST
    Post,
    /// PUT
    Put,
    /// DELETE
    Delete,
}

/// A request for the caller to send, authenticated with the user's access token.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Request {
    /// The method.
    pub method: Method,
    /// The path from the homeserver's base URL, percent-encoded, with its query string:
    /// `/_matrix/client/v3/room_keys/version`.
    pub path: String,
    /// The JSON body, for POST and PUT.
    pub body: Option<Value>,
    /// Whether sending it twice does no harm, so that a client may retry it after a 5xx
    /// answer or a failed connection: GET, PUT and DELETE are, and the POSTs that change
    /// nothing (a key query, a logout); a POST that creates something is not.
    pub repeatable: bool,
    /// Whether the answer's body is wanted as bytes: send the request and feed its status
    /// and unparsed body to [`Flow::receive_bytes`]. Set on `GET /room_keys/keys`
    /// ([`requests::room_keys`]), whose body a flow reads with the backup body's grammar,
    /// which reads every listing of a room listed twice; a JSON parser keeps only the
    /// last, so a flow fed [`Flow::receive`] with the parsed body sees less of it.
    pub wants_bytes: bool,
}

impl Request {
    /// A request with `method`, `path` (from the homeserver's base URL, with its query) and
    /// `body`; repeatable unless it is a POST.
    pub fn new(method: Method, path: String, body: Option<Value>) -> Self {
        Self {
            method,
            path,
            body,
            repeatable: method != Method::Post,
            wants_bytes: false,
        }
    }
}

/// What the server answered: the HTTP status and the JSON body (`{}` when it had none).
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    /// The HTTP status.
    pub status: u16,
    /// The JSON body.
    pub body: Value,
}

impl Response {
    /// A response with this status and body.
    pub fn new(status: u16, body: Value) -> Self {
        Self { status, body }
    }
    /// A 200 response.
    pub fn ok(body: Value) -> Self {
        Self::new(200, body)
    }
    /// A response from its status and the bytes of its body: an empty body is `{}`, one
    /// that is not JSON is `null` (the status still says what happened).
    pub fn from_bytes(status: u16, body: &[u8]) -> Self {
        let body = if body.trim_ascii().is_empty() {
            Value::Object(serde_json::Map::new())
        } else {
            serde_json::from_slice(body).unwrap_or(Value::Null)
        };
        Self::new(status, body)
    }
    /// The Matrix `errcode` of an error answer (empty when there is none).
    pub fn errcode(&self) -> &str {
        self.body
            .get("errcode")
            .and_then(Value::as_str)
            .unwrap_or_default()
    }
    fn is_not_found(&self) -> bool {
        self.status == 404 && self.errcode() == "M_NOT_FOUND"
    }
    pub(crate) fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
    pub(crate) fn error(&self) -> FlowError {
        FlowError::Server {
            status: self.status,
            errcode: self.errcode().to_owned(),
            error: self
                .body
                .get("error")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
        }
    }
}

/// A flow: ask it for requests, send them, feed the responses back, then finish.
///
/// ```text
/// while let Some(request) = flow.next_request() {
///     if request.wants_bytes {
///         let (status, bytes) = send_for_bytes(request)?;   // the body unparsed
///         flow.receive_bytes(status, &bytes)?;
///     } else {
///         let response = send(request)?;   // your HTTP stack, blocking or async
///         flow.receive(response)?;
///     }
/// }
/// let output = flow.finish()?;
/// ```
pub trait Flow {
    /// What the flow produces.
    type Output;
    /// The next request to send, or `None` when the flow has what it needs.
    fn next_request(&mut self) -> Option<Request>;
    /// The answer to the request last returned by [`next_request`](Self::next_request).
    fn receive(&mut self, response: Response) -> Result<(), FlowError>;
    /// The answer to the request last returned by [`next_request`](Self::next_request),
    /// as its status and the bytes of its body: how to answer a request that
    /// [`wants_bytes`](Request::wants_bytes) (any other request may be answered so too).
    /// By default the body is parsed ([`Response::from_bytes`]) and fed to
    /// [`receive`](Self::receive); a flow that reads a keys body with the backup body's
    /// grammar reads the bytes themselves.
    fn receive_bytes(&mut self, status: u16, body: &[u8]) -> Result<(), FlowError> {
        self.receive(Response::from_bytes(status, body))
    }
    /// The result, once [`next_request`](Self::next_request) returned `None`.
    fn finish(self) -> Result<Self::Output, FlowError>;
}

/// Why a flow failed. Each message says what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FlowError {
    /// The server answered with an error the flow cannot go on from.
    #[error("the homeserver answered {status} {errcode}: {error}")]
    Server {
        /// HTTP status.
        status: u16,
        /// The Matrix `errcode`.
        errcode: String,
        /// The `error` text.
        error: String,
    },
    /// The server's answer is not what the specification says it is.
    #[error("unexpected answer from the homeserver to {request}: {reason}")]
    Unexpected {
        /// Which request.
        request: String,
        /// What was wrong.
        reason: String,
    },
    /// A request body could not be written as JSON, so the flow stopped before sending it
    /// (nothing after it was sent). A bug, not something the caller can fix by retrying:
    /// report it with the reason.
    #[error("cannot write the body of {request} as JSON ({reason}); nothing more was sent")]
    Encode {
        /// Which request.
        request: String,
        /// What serialisation said.
        reason: String,
    },
    /// No answer the flow can read came to a request: the connection failed, was cut or
    /// timed out (after the caller's own retries), or the answer could not be read. The
    /// request may or may not have been carried out.
    #[error("no answer came from the homeserver to {request}: {reason}")]
    NoAnswer {
        /// Which request (method and path, without the query).
        request: String,
        /// What the caller saw instead.
        reason: String,
    },
    /// A response was fed in when no request was pending, or `finish` came too early.
    #[error("the flow was driven out of order: {0}")]
    OutOfOrder(&'static str),
    /// What the user typed did not lead to the backup key.
    #[error(transparent)]
    Recover(#[from] ssss::RecoverError),
    /// The account data is not secret storage as the specification describes it.
    #[error(transparent)]
    AccountData(#[from] ssss::AccountDataError),
}
