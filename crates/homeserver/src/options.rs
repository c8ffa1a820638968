//! How the client reaches the homeserver and retries: [`ConnectOptions`] and what its
//! retry callback hears ([`RetryWait`]).

use std::{fmt, sync::Arc, time::Duration};

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
pub struct RetryCallback(pub(crate) Arc<dyn Fn(&RetryWait) + Send + Sync>);

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
