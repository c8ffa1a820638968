//! Sending one request: building its URL below the homeserver's, the access token,
//! waiting out rate limits, retrying 5xx answers and failed connections with backoff, and
//! turning an error answer into a typed [`ClientError`].

use std::time::Duration;

use serde::{Deserialize, de::DeserializeOwned};
use serde_json::json;
use ureq::{Body, http::Response};
use url::Url;

use crate::{Client, ClientError, RetryCallback, RetryCause, RetryWait, options::seconds};

/// Waits a rate-limited request gets, on top of its attempts.
const MAX_RATE_LIMIT_RETRIES: u32 = 8;

/// Error bodies are small; never read more than this of one.
const ERROR_BODY_LIMIT: u64 = 64 * 1024;

/// One request to send: a request of `flows::requests` (or of a flow) as it was built,
/// and what to do with an error answer.
pub(crate) struct Call<'a> {
    /// Method, path (with the API prefix and the query), body, and whether it may be
    /// sent again after a 5xx or a failed connection.
    pub(crate) request: &'a flows::Request,
    /// Return non-2xx answers (but 429) to the caller instead of typed errors.
    pub(crate) errors_are_answers: bool,
}

impl<'a> Call<'a> {
    /// `request`, its error answers typed.
    pub(crate) fn of(request: &'a flows::Request) -> Self {
        Self {
            request,
            errors_are_answers: false,
        }
    }
}

/// Why an answer's body could not be read.
pub(crate) enum ReadFailure {
    /// The connection failed while reading (retried like a failed request).
    Network(ureq::Error),
    /// The body is not what was expected.
    Final(ClientError),
}

/// Reads a (small) answer body whole; a failure of the connection is a network failure.
pub(crate) fn read_body(response: &mut Response<Body>) -> Result<Vec<u8>, ReadFailure> {
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

/// Reads an answer as a `flows::Response`: its status and its JSON body (`{}` when it
/// has none).
pub(crate) fn read_response(mut response: Response<Body>) -> Result<flows::Response, ReadFailure> {
    let status = response.status().as_u16();
    let bytes = read_body(&mut response)?;
    let body = if bytes.trim_ascii().is_empty() {
        json!({})
    } else {
        serde_json::from_slice(&bytes)
            .map_err(|e| ReadFailure::Final(ClientError::Json(e.into())))?
    };
    Ok(flows::Response::new(status, body))
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
    /// The URL of `path` (a request's path from the homeserver's base URL, percent-encoded,
    /// with an optional `?query`), built from the parsed homeserver URL.
    pub(crate) fn url_for(&self, path: &str) -> Url {
        let (path, given_query) = match path.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (path, None),
        };
        let mut url = self.base.clone();
        let prefix = self.base.path().trim_end_matches('/');
        url.set_path(&format!("{prefix}{path}"));
        url.set_query(given_query);
        url
    }

    /// Sends `call`, retrying as [`ConnectOptions`] says, and hands a successful answer
    /// (or, with `errors_are_answers`, any answer but a 429) to `read`. A network failure
    /// while `read` reads the body is retried like one before the answer.
    pub(crate) fn exchange<T>(
        &self,
        call: &Call<'_>,
        mut read: impl FnMut(Response<Body>) -> Result<T, ReadFailure>,
    ) -> Result<T, ClientError> {
        let url = self.url_for(&call.request.path);
        let max = if call.request.repeatable {
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
        let body = call.request.body.as_ref().unwrap_or(&empty);
        let result = match call.request.method {
            flows::Method::Get => self.authorize(self.agent.get(url.as_str())).call(),
            flows::Method::Post => self
                .authorize(self.agent.post(url.as_str()))
                .send_json(body),
            flows::Method::Put => self.authorize(self.agent.put(url.as_str())).send_json(body),
            flows::Method::Delete => self.authorize(self.agent.delete(url.as_str())).call(),
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

    /// Sends a request of `flows::requests` (or of a flow) and returns its 2xx answer as
    /// the flow would read it; any other answer is a typed error.
    pub(crate) fn call(&self, request: &flows::Request) -> Result<flows::Response, ClientError> {
        self.exchange(&Call::of(request), read_response)
    }

    /// Sends a request of `flows::requests` and parses its JSON answer; a non-2xx answer
    /// is a typed error.
    pub(crate) fn call_json<T: DeserializeOwned>(
        &self,
        request: &flows::Request,
    ) -> Result<T, ClientError> {
        self.exchange(&Call::of(request), |mut response| {
            let bytes = read_body(&mut response)?;
            serde_json::from_slice(&bytes)
                .map_err(|e| ReadFailure::Final(ClientError::Json(e.into())))
        })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_urls_are_built_from_the_parsed_base() {
        let c = Client::new("HTTP://LocalHost:8008/prefix/", "t").unwrap();
        assert_eq!(c.homeserver(), "http://localhost:8008/prefix");
        assert_eq!(
            c.url_for("/_matrix/client/v3/room_keys/keys/%21r%3Ax?version=1")
                .as_str(),
            "http://localhost:8008/prefix/_matrix/client/v3/room_keys/keys/%21r%3Ax?version=1"
        );
    }
}
