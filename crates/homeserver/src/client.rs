//! The blocking client.

use std::{collections::BTreeSet, fmt, sync::Arc, time::Duration};

use backup_cipher::{BackupVersion, KeyBackupData, KeysBackup, RoomKeyBackup};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use serde_json::{Value, json};
use ureq::{
    Agent, Body, RequestBuilder,
    http::Response,
    tls::{Certificate, PemItem, RootCerts, TlsConfig, TlsProvider},
};
use url::{Host, Url};
use zeroize::{Zeroize, Zeroizing};

use flows::Flow as _;

use crate::{ClientError, KeysDownload, TokenProblem, download::is_json_type};

const API: &str = "/_matrix/client/v3";
/// Waits a rate-limited request gets, on top of its attempts.
const MAX_RATE_LIMIT_RETRIES: u32 = 8;
/// Error bodies are small; never read more than this of one.
const ERROR_BODY_LIMIT: u64 = 64 * 1024;

/// How to reach the homeserver: which certificates to trust, whether plain `http://` to
/// a host other than this machine is allowed, how long to wait, and how to retry.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ConnectOptions {
    /// Trust only the certificate authorities in this PEM text (a homeserver behind a
    /// private CA) instead of the system trust store.
    pub ca_pem: Option<Vec<u8>>,
    /// Send the access token or password over plain `http://` to a host that is not this
    /// machine. Anyone on the path can read them then.
    pub allow_insecure_http: bool,
    /// How long to wait for a name to resolve and a connection to open (30 s).
    pub connect_timeout: Duration,
    /// How long the homeserver may send nothing, while its answer's head or body is
    /// awaited, before the request fails (60 s). This is an idle timeout: a download that
    /// keeps receiving bytes is never cut, however long it takes.
    pub idle_timeout: Duration,
    /// Attempts of a request that may be repeated (GET, PUT, DELETE, and the POSTs that
    /// change nothing), when the answer is a 5xx or the connection fails (5; 1 = never
    /// retry).
    pub max_attempts: u32,
    /// The first wait before a retry (0.5 s); each next one doubles, up to
    /// [`max_retry_delay`](Self::max_retry_delay), with random jitter.
    pub retry_delay: Duration,
    /// The longest wait between retries (30 s); also the most a `429`'s `retry_after_ms`
    /// is honoured for.
    pub max_retry_delay: Duration,
    /// Hears of every wait before a retry, to show it (the library prints nothing).
    pub on_retry: Option<RetryCallback>,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        Self {
            ca_pem: None,
            allow_insecure_http: false,
            connect_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
            max_attempts: 5,
            retry_delay: Duration::from_millis(500),
            max_retry_delay: Duration::from_secs(30),
            on_retry: None,
        }
    }
}

impl ConnectOptions {
    /// The defaults: the system trust store, `http://` only to loopback, a 60 s idle
    /// timeout, 5 attempts.
    pub fn new() -> Self {
        Self::default()
    }

    /// Calls `f` with every wait before a retry.
    pub fn on_retry(mut self, f: impl Fn(&RetryWait) + Send + Sync + 'static) -> Self {
        self.on_retry = Some(RetryCallback(Arc::new(f)));
        self
    }
}

/// A function that hears of waits before retries ([`ConnectOptions::on_retry`]).
#[derive(Clone)]
pub struct RetryCallback(Arc<dyn Fn(&RetryWait) + Send + Sync>);

impl fmt::Debug for RetryCallback {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RetryCallback")
    }
}

/// Why a request is tried again.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RetryCause {
    /// The homeserver answered this 5xx status.
    Status(u16),
    /// The homeserver is rate-limiting (429, `M_LIMIT_EXCEEDED`).
    RateLimited,
    /// The connection failed, or was cut, or went silent: why.
    Network(String),
}

/// A wait before a retry, as [`ConnectOptions::on_retry`] hears of it. Its `Display` is
/// a line for a person: "the homeserver answered 503; retrying in 2 s (attempt 2 of 5)".
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RetryWait {
    /// Why.
    pub cause: RetryCause,
    /// How long the client waits now.
    pub wait: Duration,
    /// The attempt that follows the wait (2 for the first retry).
    pub attempt: u32,
    /// The most attempts this request gets.
    pub max_attempts: u32,
}

impl fmt::Display for RetryWait {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.cause {
            RetryCause::Status(s) => write!(f, "the homeserver answered {s}")?,
            RetryCause::RateLimited => {
                write!(f, "the homeserver is rate-limiting (429) and asks to wait")?
            }
            RetryCause::Network(why) => write!(f, "the connection failed ({why})")?,
        }
        write!(
            f,
            "; retrying in {} (attempt {} of {})",
            seconds(self.wait),
            self.attempt,
            self.max_attempts
        )
    }
}

/// A duration for a person: "2 s", "1.5 s", "200 ms".
pub(crate) fn seconds(d: Duration) -> String {
    if d.as_millis() < 1000 {
        format!("{} ms", d.as_millis())
    } else if d.subsec_millis() == 0 {
        format!("{} s", d.as_secs())
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

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

/// A logged-in client for one homeserver.
pub struct Client {
    agent: Agent,
    /// The homeserver URL, parsed and checked once (http(s), no user-info, plain http
    /// only to loopback unless allowed); request URLs are built from it.
    base: Url,
    /// The same, as text without a trailing slash (what [`Client::homeserver`] shows).
    base_text: String,
    /// `Bearer <access token>`, built once and wiped on drop; `None` before a login.
    authorization: Option<Zeroizing<String>>,
    /// Timeouts and retries.
    options: Policy,
}

/// What of [`ConnectOptions`] each request needs.
#[derive(Clone)]
struct Policy {
    idle_timeout: Duration,
    max_attempts: u32,
    retry_delay: Duration,
    max_retry_delay: Duration,
    on_retry: Option<RetryCallback>,
}

const BEARER: &str = "Bearer ";

/// Wipes the string values of `fields` in a JSON object (a request body that carried a
/// password) once it has been sent.
fn wipe_fields(body: &mut Value, fields: &[&str]) {
    if let Value::Object(map) = body {
        for (k, v) in map.iter_mut() {
            match v {
                Value::String(s) if fields.contains(&k.as_str()) => s.zeroize(),
                Value::Object(_) => wipe_fields(v, fields),
                _ => {}
            }
        }
    }
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("homeserver", &self.base_text)
            .finish_non_exhaustive()
    }
}

/// Who a login or token belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct LoginInfo {
    /// The full user id.
    pub user_id: String,
    /// The device the token belongs to, when the server says.
    #[serde(default)]
    pub device_id: Option<String>,
}

/// The answer to a keys upload: the backup's new `etag` and key `count`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomKeysUpdate {
    /// Changes whenever the stored keys change.
    pub etag: String,
    /// Keys stored in the backup.
    pub count: u64,
}

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

/// One request to send: a request of `flows::requests` (or of a flow), its path taken
/// below the API prefix.
struct Call<'a> {
    method: flows::Method,
    /// Below the API prefix, percent-encoded, with its query.
    path: &'a str,
    body: Option<&'a Value>,
    /// May be sent again after a 5xx or a failed connection (see
    /// [`flows::Request::repeatable`]).
    repeatable: bool,
    /// Return non-2xx answers (but 429) to the caller instead of typed errors.
    errors_are_answers: bool,
}

impl<'a> Call<'a> {
    fn of(request: &'a flows::Request) -> Result<Self, ClientError> {
        let path = request.path.strip_prefix(API).ok_or_else(|| {
            ClientError::Json(format!("a flow asked for {}", request.path).into())
        })?;
        Ok(Self {
            method: request.method,
            path,
            body: request.body.as_ref(),
            repeatable: request.repeatable,
            errors_are_answers: false,
        })
    }
}

/// Why an answer's body could not be read.
enum ReadFailure {
    /// The connection failed while reading (retried like a failed request).
    Network(ureq::Error),
    /// The body is not what was expected.
    Final(ClientError),
}

/// Reads a (small) answer body whole; a failure of the connection is a network failure.
fn read_body(response: &mut Response<Body>) -> Result<Vec<u8>, ReadFailure> {
    response
        .body_mut()
        .with_config()
        .limit(256 * 1024 * 1024)
        .read_to_vec()
        .map_err(|e| match e {
            ureq::Error::BodyExceedsLimit(_) => ReadFailure::Final(ClientError::Json(e.into())),
            e => ReadFailure::Network(e),
        })
}

/// A failure of the connection that another attempt may not meet: refused, reset, cut,
/// timed out, unreachable. Not TLS (an untrusted certificate stays untrusted), not a
/// malformed answer.
fn transient(e: &ureq::Error) -> bool {
    use std::io::ErrorKind as K;
    match e {
        ureq::Error::Timeout(_) | ureq::Error::ConnectionFailed => true,
        ureq::Error::Io(io) => {
            let tls = io
                .get_ref()
                .is_some_and(|inner| inner.is::<rustls::Error>());
            !tls && matches!(
                io.kind(),
                K::ConnectionRefused
                    | K::ConnectionReset
                    | K::ConnectionAborted
                    | K::NotConnected
                    | K::BrokenPipe
                    | K::TimedOut
                    | K::UnexpectedEof
                    | K::HostUnreachable
                    | K::NetworkUnreachable
                    | K::NetworkDown
            )
        }
        _ => false,
    }
}

/// A number in [0, 1) that differs from call to call (for backoff jitter; not a secret).
fn jitter() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
    if let Ok(t) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        h.write_u128(t.as_nanos());
    }
    (h.finish() >> 11) as f64 / (1u64 << 53) as f64
}

impl Client {
    /// A client for `homeserver` (e.g. `https://matrix.example.org`) with an access token,
    /// trusting the system's certificate authorities. The URL and the token are checked
    /// here, before anything is sent (see [`with_options`](Self::with_options)).
    pub fn new(homeserver: &str, access_token: &str) -> Result<Self, ClientError> {
        Self::with_options(homeserver, access_token, &ConnectOptions::default())
    }

    /// A client with [`ConnectOptions`] (a private CA, plain `http://`).
    ///
    /// The homeserver URL is parsed once, here: it must be `http://` or `https://`, carry
    /// no user-info (`user:password@`), and be `http://` only to this machine (127.0.0.0/8,
    /// `::1`, `localhost`) unless [`ConnectOptions::allow_insecure_http`] is set. The
    /// access token must be one line of visible ASCII. Errors never show the user-info or
    /// the token.
    pub fn with_options(
        homeserver: &str,
        access_token: &str,
        options: &ConnectOptions,
    ) -> Result<Self, ClientError> {
        check_access_token(access_token)?;
        Self::build(homeserver, Some(access_token.trim()), options)
    }

    fn build(
        homeserver: &str,
        access_token: Option<&str>,
        options: &ConnectOptions,
    ) -> Result<Self, ClientError> {
        let base = homeserver_url(homeserver, options.allow_insecure_http)?;
        let roots = match &options.ca_pem {
            None => RootCerts::PlatformVerifier,
            Some(pem) => {
                let certs: Vec<Certificate<'static>> = ureq::tls::parse_pem(pem)
                    .filter_map(|item| match item {
                        Ok(PemItem::Certificate(c)) => Some(Ok(c)),
                        Ok(_) => None,
                        Err(e) => Some(Err(e)),
                    })
                    .collect::<Result<_, _>>()
                    .map_err(|e| ClientError::CaFile(e.to_string()))?;
                if certs.is_empty() {
                    return Err(ClientError::CaFile(
                        "it holds no PEM certificate (-----BEGIN CERTIFICATE-----)".into(),
                    ));
                }
                RootCerts::new_with_certs(&certs)
            }
        };
        let tls = TlsConfig::builder()
            .provider(TlsProvider::Rustls)
            .root_certs(roots)
            .unversioned_rustls_crypto_provider(std::sync::Arc::new(
                rustls::crypto::aws_lc_rs::default_provider(),
            ))
            .build();
        // Idle timeouts, not a cap on the whole exchange: ureq's per-read and per-write
        // timeouts restart at every transport read or write (down to the socket, under
        // TLS too), so a slow download that keeps receiving is never cut, and a silent
        // one fails after `idle_timeout`. Zero would mean "none" to ureq: at least 1 ms.
        let idle = options.idle_timeout.max(Duration::from_millis(1));
        let connect = options.connect_timeout.max(Duration::from_millis(1));
        let config = Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(None)
            .timeout_resolve(Some(connect))
            .timeout_connect(Some(connect))
            .timeout_per_read(Some(idle))
            .timeout_per_write(Some(idle))
            .tls_config(tls)
            .build();
        let base_text = base.as_str().trim_end_matches('/').to_owned();
        Ok(Self {
            agent: Agent::new_with_config(config),
            base,
            base_text,
            authorization: access_token.map(|token| {
                let mut header = Zeroizing::new(String::with_capacity(BEARER.len() + token.len()));
                header.push_str(BEARER);
                header.push_str(token);
                header
            }),
            options: Policy {
                idle_timeout: idle,
                max_attempts: options.max_attempts.max(1),
                retry_delay: options.retry_delay,
                max_retry_delay: options.max_retry_delay,
                on_retry: options.on_retry.clone(),
            },
        })
    }

    /// Logs in with `m.login.password` and returns a client holding the new token.
    pub fn login_password(
        homeserver: &str,
        user: &str,
        password: &str,
    ) -> Result<(Self, LoginInfo), ClientError> {
        Self::login_password_with(homeserver, user, password, &ConnectOptions::default())
    }

    /// [`login_password`](Self::login_password) with [`ConnectOptions`].
    pub fn login_password_with(
        homeserver: &str,
        user: &str,
        password: &str,
        options: &ConnectOptions,
    ) -> Result<(Self, LoginInfo), ClientError> {
        let anon = Self::build(homeserver, None, options)?;
        #[derive(Deserialize)]
        struct Login {
            access_token: String,
            user_id: String,
            #[serde(default)]
            device_id: Option<String>,
        }
        let mut request = flows::requests::login_password(user, password);
        let result: Result<Login, _> = anon.call_json(&request);
        if let Some(body) = &mut request.body {
            wipe_fields(body, &["password"]);
        }
        let mut login = result?;
        let client = Self::with_options(homeserver, &login.access_token, options)?;
        login.access_token.zeroize();
        let info = LoginInfo {
            user_id: login.user_id,
            device_id: login.device_id,
        };
        Ok((client, info))
    }

    /// The homeserver URL.
    pub fn homeserver(&self) -> &str {
        &self.base_text
    }

    /// The access token (empty before a login). This exposes the secret.
    pub fn access_token(&self) -> &str {
        self.authorization
            .as_ref()
            .and_then(|a| a.get(BEARER.len()..))
            .unwrap_or_default()
    }

    /// The URL of `path` (below the client-server API prefix, percent-encoded, with an
    /// optional `?query`), built from the parsed homeserver URL.
    fn url_for(&self, path: &str) -> Url {
        let (path, given_query) = match path.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (path, None),
        };
        let mut url = self.base.clone();
        let prefix = self.base.path().trim_end_matches('/');
        url.set_path(&format!("{prefix}{API}{path}"));
        url.set_query(given_query);
        url
    }

    /// Ends the session of this client's access token (`POST /logout`): the device the
    /// login made disappears from the account, and the token stops working. A token that
    /// is already logged out counts as done.
    pub fn logout(&self) -> Result<(), ClientError> {
        let response = self.send_request(&flows::requests::logout())?;
        flows::requests::logout_done(&response).map_err(ClientError::Flow)
    }

    /// Who the token belongs to (`GET /account/whoami`).
    pub fn whoami(&self) -> Result<LoginInfo, ClientError> {
        self.call_json(&flows::requests::whoami())
    }

    /// Adds the access token, when there is one (none before a login: an empty
    /// `Authorization` header is not sent).
    fn authorize<B>(&self, request: RequestBuilder<B>) -> RequestBuilder<B> {
        match &self.authorization {
            Some(a) => request.header("Authorization", a.as_str()),
            None => request,
        }
    }

    /// Runs a flow of the `flows` crate to its end over this client: each request it asks
    /// for is sent, and each answer (errors included) fed back.
    pub fn run<F: flows::Flow>(&self, mut flow: F) -> Result<F::Output, ClientError> {
        while let Some(request) = flow.next_request() {
            let response = self.send_request(&request)?;
            flow.receive(response).map_err(ClientError::Flow)?;
        }
        flow.finish().map_err(ClientError::Flow)
    }

    /// Sends one request a flow or a plan of the `flows` crate made, and returns the
    /// server's answer whatever its status. Rate limits are waited out; a 5xx answer or a
    /// failed connection is retried with backoff when the request may be repeated
    /// ([`flows::Request::repeatable`]), and the last answer returned; a connection that
    /// cannot be made is an error.
    pub fn send_request(&self, request: &flows::Request) -> Result<flows::Response, ClientError> {
        let mut call = Call::of(request)?;
        call.errors_are_answers = true;
        self.exchange(&call, |mut response| {
            let status = response.status().as_u16();
            let bytes = read_body(&mut response)?;
            let body = if bytes.trim_ascii().is_empty() {
                json!({})
            } else {
                serde_json::from_slice(&bytes)
                    .map_err(|e| ReadFailure::Final(ClientError::Json(e.into())))?
            };
            Ok(flows::Response::new(status, body))
        })
    }

    /// Sends `call`, retrying as [`ConnectOptions`] says, and hands a successful answer
    /// (or, with `errors_are_answers`, any answer but a 429) to `read`. A network failure
    /// while `read` reads the body is retried like one before the answer.
    fn exchange<T>(
        &self,
        call: &Call<'_>,
        mut read: impl FnMut(Response<Body>) -> Result<T, ReadFailure>,
    ) -> Result<T, ClientError> {
        let url = self.url_for(call.path);
        let max = if call.repeatable {
            self.options.max_attempts
        } else {
            1
        };
        let mut attempt = 1;
        let mut rate_limited = 0;
        loop {
            let failure = match self.once(call, &url) {
                Err(e) => e,
                Ok(response) => {
                    let status = response.status().as_u16();
                    if status == 429 {
                        let err = error_from(status, response, &url);
                        let ClientError::RateLimited { retry_after_ms } = &err else {
                            return Err(err);
                        };
                        rate_limited += 1;
                        if rate_limited > MAX_RATE_LIMIT_RETRIES {
                            return Err(err);
                        }
                        let wait = Duration::from_millis(retry_after_ms.unwrap_or(1000))
                            .clamp(Duration::from_millis(50), self.options.max_retry_delay);
                        self.wait(
                            RetryCause::RateLimited,
                            wait,
                            rate_limited + 1,
                            MAX_RATE_LIMIT_RETRIES + 1,
                        );
                        continue;
                    }
                    if status >= 500 && attempt < max {
                        drop(response);
                        attempt += 1;
                        self.wait(
                            RetryCause::Status(status),
                            self.backoff(attempt - 1),
                            attempt,
                            max,
                        );
                        continue;
                    }
                    if !(200..300).contains(&status) && !call.errors_are_answers {
                        return Err(self.typed_error(status, response, &url));
                    }
                    match read(response) {
                        Ok(v) => return Ok(v),
                        Err(ReadFailure::Final(e)) => return Err(e),
                        Err(ReadFailure::Network(e)) => self.network_error(&url, e),
                    }
                }
            };
            let retry = match &failure {
                ClientError::Stalled { .. } => true,
                ClientError::Transport { reason, .. } => transient(reason),
                _ => false,
            };
            if !retry || attempt >= max {
                return Err(failure);
            }
            attempt += 1;
            let why = match &failure {
                ClientError::Transport { reason, .. } => reason.to_string(),
                ClientError::Stalled { idle, .. } => format!("no data came for {}", seconds(*idle)),
                other => other.to_string(),
            };
            self.wait(
                RetryCause::Network(why),
                self.backoff(attempt - 1),
                attempt,
                max,
            );
        }
    }

    /// Sends `call` once.
    fn once(&self, call: &Call<'_>, url: &Url) -> Result<Response<Body>, ClientError> {
        let empty = json!({});
        let body = call.body.unwrap_or(&empty);
        let result = match call.method {
            flows::Method::Get => self.authorize(self.agent.get(url.as_str())).call(),
            flows::Method::Post => self
                .authorize(self.agent.post(url.as_str()))
                .send_json(body),
            flows::Method::Put => self.authorize(self.agent.put(url.as_str())).send_json(body),
            _ => self.authorize(self.agent.delete(url.as_str())).call(),
        };
        result.map_err(|e| self.network_error(url, e))
    }

    /// A failure of the connection: a silent server is [`ClientError::Stalled`].
    fn network_error(&self, url: &Url, e: ureq::Error) -> ClientError {
        match e {
            ureq::Error::Timeout(ureq::Timeout::PerRead | ureq::Timeout::PerWrite) => {
                ClientError::Stalled {
                    url: url.to_string(),
                    idle: self.options.idle_timeout,
                }
            }
            reason => ClientError::Transport {
                url: url.to_string(),
                reason,
            },
        }
    }

    /// The typed error of a non-2xx answer.
    fn typed_error(&self, status: u16, response: Response<Body>, url: &Url) -> ClientError {
        let mut err = error_from(status, response, url);
        // Synapse (seen with 1.163.2) answers M_WRONG_ROOM_KEYS_VERSION with the
        // *requested* version as `current_version`; ask for the real one.
        if let ClientError::WrongVersion {
            given,
            current_version,
        } = &mut err
            && (current_version.is_empty() || current_version == given)
            && let Ok(current) = self.backup_version(None)
            && let Some(v) = current.version
        {
            *current_version = v;
        }
        err
    }

    /// The wait before retry `n` (1 for the first): the first delay doubled `n - 1`
    /// times, capped, then scaled by a random factor in [0.5, 1] so that many clients do
    /// not retry in step.
    fn backoff(&self, n: u32) -> Duration {
        let full = self
            .options
            .retry_delay
            .saturating_mul(1u32 << (n.saturating_sub(1)).min(16))
            .min(self.options.max_retry_delay);
        full.mul_f64(0.5 + jitter() / 2.0)
    }

    /// Reports a wait through the callback, then sleeps it.
    fn wait(&self, cause: RetryCause, wait: Duration, attempt: u32, max_attempts: u32) {
        if let Some(RetryCallback(f)) = &self.options.on_retry {
            f(&RetryWait {
                cause,
                wait,
                attempt,
                max_attempts,
            });
        }
        std::thread::sleep(wait);
    }

    /// Sends a request of `flows::requests` and parses its JSON answer; a non-2xx answer
    /// is a typed error.
    fn call_json<T: DeserializeOwned>(&self, request: &flows::Request) -> Result<T, ClientError> {
        self.exchange(&Call::of(request)?, |mut response| {
            let bytes = read_body(&mut response)?;
            serde_json::from_slice(&bytes)
                .map_err(|e| ReadFailure::Final(ClientError::Json(e.into())))
        })
    }

    /// The current backup version, or a given one (`GET /room_keys/version[/{v}]`).
    pub fn backup_version(&self, version: Option<&str>) -> Result<BackupVersion, ClientError> {
        // Here, and only here, M_NOT_FOUND means "this account has no backup".
        self.call_json(&flows::requests::backup_version(version))
            .map_err(|e| match e {
                ClientError::Matrix { errcode, .. } if errcode == "M_NOT_FOUND" => {
                    ClientError::NoBackup
                }
                e => e,
            })
    }

    /// Creates a backup version (`POST /room_keys/version`); returns its id.
    pub fn create_backup_version(&self, version: &BackupVersion) -> Result<String, ClientError> {
        #[derive(Deserialize)]
        struct Created {
            version: String,
        }
        let c: Created = self.call_json(&flows::requests::create_backup_version(version))?;
        Ok(c.version)
    }

    /// Replaces a version's `auth_data` (`PUT /room_keys/version/{v}`).
    pub fn update_backup_version(
        &self,
        version_id: &str,
        version: &BackupVersion,
    ) -> Result<(), ClientError> {
        let _: Value =
            self.call_json(&flows::requests::update_backup_version(version_id, version))?;
        Ok(())
    }

    /// Deletes a backup version and its keys (`DELETE /room_keys/version/{v}`).
    pub fn delete_backup_version(&self, version_id: &str) -> Result<(), ClientError> {
        let _: Value = self.call_json(&flows::requests::delete_backup_version(version_id))?;
        Ok(())
    }

    /// Streams the whole keys download (`GET /room_keys/keys?version=V`), for
    /// `backup_cipher::restore_reader`; nothing is buffered beyond the reader. A body that
    /// is cut, shorter than its `Content-Length`, or silent for the idle timeout is a read
    /// error carrying a [`DownloadError`](crate::DownloadError), never a quiet end; an
    /// answer whose `Content-Type` is not JSON is refused ([`ClientError::NotJson`]).
    pub fn room_keys_reader(&self, version: &str) -> Result<KeysDownload, ClientError> {
        self.download(&flows::requests::room_keys(version))
    }

    /// Streams the keys of one room (`GET /room_keys/keys/{roomId}?version=V`, a
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
        let response = self.exchange(&Call::of(request)?, Ok)?;
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

    /// All keys of a version, parsed.
    pub fn room_keys(&self, version: &str) -> Result<KeysBackup, ClientError> {
        self.call_json(&flows::requests::room_keys(version))
    }

    /// The keys of one room.
    pub fn room_keys_for_room(
        &self,
        version: &str,
        room_id: &str,
    ) -> Result<RoomKeyBackup, ClientError> {
        self.call_json(&flows::requests::room_keys_for_room(version, room_id))
    }

    /// One session's backup entry.
    pub fn room_key(
        &self,
        version: &str,
        room_id: &str,
        session_id: &str,
    ) -> Result<KeyBackupData, ClientError> {
        self.call_json(&flows::requests::room_key(version, room_id, session_id))
    }

    /// Uploads keys (`PUT /room_keys/keys?version=V`) in one request.
    pub fn put_room_keys(
        &self,
        version: &str,
        body: &KeysBackup,
    ) -> Result<RoomKeysUpdate, ClientError> {
        let request = flows::requests::put_room_keys(version, body)
            .map_err(|e| ClientError::Json(e.into()))?;
        self.call_json(&request)
    }

    /// Uploads keys of one room (`PUT /room_keys/keys/{roomId}`).
    pub fn put_room_keys_for_room(
        &self,
        version: &str,
        room_id: &str,
        body: &RoomKeyBackup,
    ) -> Result<RoomKeysUpdate, ClientError> {
        let request = flows::requests::put_room_keys_for_room(version, room_id, body)
            .map_err(|e| ClientError::Json(e.into()))?;
        self.call_json(&request)
    }

    /// Uploads one session (`PUT /room_keys/keys/{roomId}/{sessionId}`).
    pub fn put_room_key(
        &self,
        version: &str,
        room_id: &str,
        session_id: &str,
        data: &KeyBackupData,
    ) -> Result<RoomKeysUpdate, ClientError> {
        let request = flows::requests::put_room_key(version, room_id, session_id, data)
            .map_err(|e| ClientError::Json(e.into()))?;
        self.call_json(&request)
    }

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
            let update: RoomKeysUpdate = self.call_json(&request)?;
            flow.receive(flows::Response::ok(
                serde_json::json!({"etag": update.etag, "count": update.count}),
            ))
            .map_err(ClientError::Flow)?;
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

    /// One account-data event of the user (`GET /user/{userId}/account_data/{type}`);
    /// `None` when it is not set.
    pub fn account_data(
        &self,
        user_id: &str,
        event_type: &str,
    ) -> Result<Option<Value>, ClientError> {
        match self.call_json(&flows::requests::account_data(user_id, event_type)) {
            Ok(v) => Ok(Some(v)),
            Err(ClientError::Matrix { errcode, .. }) if errcode == "M_NOT_FOUND" => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The user's cross-signing master public key (`POST /keys/query`), or `None` when
    /// the account has no cross-signing keys.
    pub fn master_key(&self, user_id: &str) -> Result<Option<String>, ClientError> {
        let response: Value = self.call_json(&flows::requests::keys_query(user_id))?;
        Ok(flows::master_key_in_query(&response, user_id))
    }

    /// Sets one account-data event (`PUT /user/{userId}/account_data/{type}`).
    pub fn set_account_data(
        &self,
        user_id: &str,
        event_type: &str,
        content: &Value,
    ) -> Result<(), ClientError> {
        let request = flows::requests::set_account_data(user_id, event_type, content.clone());
        let _: Value = self.call_json(&request)?;
        Ok(())
    }
}

fn error_from(status: u16, mut response: Response<Body>, url: &Url) -> ClientError {
    #[derive(Deserialize, Default)]
    struct MatrixError {
        #[serde(default)]
        errcode: String,
        #[serde(default)]
        error: String,
        #[serde(default)]
        retry_after_ms: Option<u64>,
        #[serde(default)]
        current_version: Option<String>,
        #[serde(default)]
        session: Option<String>,
        #[serde(default)]
        flows: Option<Vec<Flow>>,
    }
    #[derive(Deserialize, Default)]
    struct Flow {
        #[serde(default)]
        stages: Vec<String>,
    }
    let e: MatrixError = response
        .body_mut()
        .with_config()
        .limit(ERROR_BODY_LIMIT)
        .read_json()
        .unwrap_or_default();
    if status == 401
        && let Some(flows) = &e.flows
        && e.errcode != "M_FORBIDDEN"
    {
        let flows = flows
            .iter()
            .map(|f| f.stages.join(" then "))
            .collect::<Vec<_>>()
            .join(", or ");
        return ClientError::AuthRequired {
            session: e.session,
            flows,
        };
    }
    match e.errcode.as_str() {
        "M_WRONG_ROOM_KEYS_VERSION" => ClientError::WrongVersion {
            given: url
                .query_pairs()
                .find(|(k, _)| k == "version")
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default(),
            current_version: e.current_version.unwrap_or_default(),
        },
        "M_UNKNOWN_TOKEN" | "M_MISSING_TOKEN" => ClientError::Unauthorized { errcode: e.errcode },
        "M_FORBIDDEN" => ClientError::Forbidden(e.error),
        "M_LIMIT_EXCEEDED" => ClientError::RateLimited {
            retry_after_ms: e.retry_after_ms,
        },
        _ if status == 429 => ClientError::RateLimited {
            retry_after_ms: e.retry_after_ms,
        },
        _ => ClientError::Matrix {
            status,
            errcode: e.errcode,
            error: e.error,
        },
    }
}

/// Parses and checks the homeserver URL: `http(s)://` only, no user-info, and plain
/// `http://` only to this machine unless `allow_insecure_http`. Nothing is resolved or
/// contacted here, so a refused URL never reaches DNS.
fn homeserver_url(text: &str, allow_insecure_http: bool) -> Result<Url, ClientError> {
    let url = Url::parse(text.trim()).map_err(|e| ClientError::InvalidUrl {
        url: redact_user_info(text.trim()),
        reason: e.to_string(),
    })?;
    let shown = || {
        let mut bare = url.clone();
        // Both succeed on http(s) URLs, which have a host.
        let _ = bare.set_username("");
        let _ = bare.set_password(None);
        bare.to_string()
    };
    match url.scheme() {
        "http" | "https" => {}
        other => {
            return Err(ClientError::UnsupportedScheme {
                url: redact_user_info(text.trim()),
                scheme: other.to_owned(),
            });
        }
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(ClientError::UrlUserInfo(shown()));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(ClientError::InvalidUrl {
            url: shown(),
            reason: "a homeserver URL has no query (?…) or fragment (#…)".into(),
        });
    }
    if url.scheme() == "http" && !allow_insecure_http && !is_loopback(&url) {
        return Err(ClientError::InsecureHttp(shown()));
    }
    Ok(url)
}

/// The host is this machine: 127.0.0.0/8, `::1` or `localhost` (the URL parser has
/// already lower-cased a domain and decoded numeric forms such as `127.1`).
fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        Some(Host::Domain(d)) => d == "localhost",
        None => false,
    }
}

/// A URL that could not be parsed, for an error message: whatever stands before the
/// last `@` of its authority (user-info, maybe a password) is replaced by `…`.
fn redact_user_info(text: &str) -> String {
    let (scheme, rest) = match text.split_once("://") {
        Some((s, r)) => (Some(s), r),
        None => (None, text),
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let authority = match authority.rsplit_once('@') {
        Some((_, host)) => format!("…@{host}"),
        None => authority.to_owned(),
    };
    match scheme {
        Some(s) => format!("{s}://{authority}{tail}"),
        None => format!("{authority}{tail}"),
    }
}

/// An access token is one line of visible ASCII (it goes into an HTTP header).
fn check_access_token(token: &str) -> Result<(), ClientError> {
    let token = token.trim();
    let problem = if token.is_empty() {
        TokenProblem::Empty
    } else if token.contains(['\n', '\r']) {
        TokenProblem::MultiLine
    } else if let Some(position) = token.bytes().position(|b| !b.is_ascii_graphic()) {
        TokenProblem::BadCharacter {
            position: position + 1,
        }
    } else {
        return Ok(());
    };
    Err(ClientError::InvalidAccessToken(problem))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Errors keep their cause: an answer that is not JSON carries serde_json's error.
    #[test]
    fn a_bad_answer_keeps_its_cause() {
        let e = super::ClientError::Json(serde_json::from_str::<u8>("x").unwrap_err().into());
        let source = std::error::Error::source(&e).expect("a source");
        assert!(source.is::<serde_json::Error>());
    }

    #[test]
    fn only_loopback_may_be_plain_http_whatever_the_case() {
        for ok in [
            "https://matrix.example.org",
            "HTTPS://Matrix.Example.org/",
            "http://127.0.0.1:8008",
            "HTTP://127.0.0.1:8008",
            "http://127.5.6.7",
            "http://127.1",
            "http://localhost:8008/",
            "http://LOCALHOST",
            "Http://LocalHost:1/prefix",
            "http://[::1]:8008",
        ] {
            assert!(homeserver_url(ok, false).is_ok(), "{ok}");
        }
        for refused in [
            "http://matrix.example.org",
            "HTTP://matrix.example.org",
            "hTtP://name",
            "http://192.168.1.10:8008",
            "http://[2001:db8::1]:80",
            "http://[::ffff:127.0.0.1]",
            "http://0.0.0.0:9",
            "http://localhost.example.org",
            "http://localhost.",
            "http://127.0.0.1.example.org",
        ] {
            assert!(
                matches!(
                    homeserver_url(refused, false),
                    Err(ClientError::InsecureHttp(_))
                ),
                "{refused}"
            );
            assert!(homeserver_url(refused, true).is_ok(), "{refused}");
        }
    }

    #[test]
    fn user_info_is_refused_and_never_shown() {
        for url in [
            "http://localhost:1@name",
            "http://[::1]@name",
            "https://alice:PASSWORD@matrix.example.org",
            "HTTP://alice:PASSWORD@127.0.0.1:8008",
            "https://PASSWORD@matrix.example.org",
        ] {
            let e = homeserver_url(url, true).unwrap_err();
            assert!(matches!(e, ClientError::UrlUserInfo(_)), "{url}: {e}");
            let text = e.to_string();
            for secret in ["PASSWORD", "alice", "localhost:1", "[::1]"] {
                assert!(!text.contains(secret), "{url}: {text}");
            }
        }
        // Unparsable or of another scheme: still not shown.
        for url in [
            "https://alice:PASSWORD@exa mple.org",
            "ftp://alice:PASSWORD@example.org",
            "https://alice:PASSWORD@[::1",
        ] {
            let e = homeserver_url(url, true).unwrap_err();
            assert!(!e.to_string().contains("PASSWORD"), "{url}: {e}");
        }
        assert!(matches!(
            homeserver_url("ftp://example.org", true),
            Err(ClientError::UnsupportedScheme { .. })
        ));
        assert!(matches!(
            homeserver_url("matrix.example.org", true),
            Err(ClientError::InvalidUrl { .. })
        ));
    }

    /// Library errors say what is needed, never a CLI option or subcommand.
    #[test]
    fn errors_name_no_command_line_option() {
        for e in [
            ClientError::NoBackup,
            ClientError::AuthRequired {
                session: None,
                flows: "m.login.password".into(),
            },
            ClientError::InsecureHttp("http://matrix.example.org/".into()),
            ClientError::CaFile("it holds no PEM certificate".into()),
        ] {
            let text = e.to_string();
            assert!(!text.contains("--"), "{text}");
            assert!(!text.contains('`'), "{text}");
        }
    }

    #[test]
    fn a_token_is_one_line_of_visible_ascii() {
        assert!(check_access_token("syt_abc_123\n").is_ok());
        for (bad, want) in [
            ("", TokenProblem::Empty),
            (" \n", TokenProblem::Empty),
            ("syt_a\nsyt_b", TokenProblem::MultiLine),
            ("syt a", TokenProblem::BadCharacter { position: 4 }),
            ("syt_é", TokenProblem::BadCharacter { position: 5 }),
        ] {
            match check_access_token(bad) {
                Err(ClientError::InvalidAccessToken(p)) => assert_eq!(p, want, "{bad:?}"),
                other => panic!("{bad:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn request_urls_are_built_from_the_parsed_base() {
        let c = Client::new("HTTP://LocalHost:8008/prefix/", "t").unwrap();
        assert_eq!(c.homeserver(), "http://localhost:8008/prefix");
        assert_eq!(
            c.url_for("/room_keys/keys/%21r%3Ax?version=1").as_str(),
            "http://localhost:8008/prefix/_matrix/client/v3/room_keys/keys/%21r%3Ax?version=1"
        );
    }
}
