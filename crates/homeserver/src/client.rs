//! The client itself: the homeserver URL and the access token, checked once when a
//! [`Client`] is made (or a login makes one), and the TLS agent built from
//! [`ConnectOptions`].

use std::{fmt, time::Duration};

use serde::Deserialize;
use serde_json::Value;
use ureq::{
    Agent, RequestBuilder,
    tls::{Certificate, PemItem, RootCerts, TlsConfig, TlsProvider},
};
use url::{Host, Url};
use zeroize::{Zeroize, Zeroizing};

use crate::{ClientError, ConnectOptions, LoginInfo, RetryCallback, TokenProblem};

/// A logged-in client for one homeserver.
pub struct Client {
    pub(crate) agent: Agent,
    /// The homeserver URL, parsed and checked once (http(s), no user-info, plain http
    /// only to loopback unless allowed); request URLs are built from it.
    pub(crate) base: Url,
    /// The same, as text without a trailing slash (what [`Client::homeserver`] shows).
    pub(crate) base_text: String,
    /// `Bearer <access token>`, built once and wiped on drop; `None` before a login.
    pub(crate) authorization: Option<Zeroizing<String>>,
    /// Timeouts and retries.
    pub(crate) options: Policy,
}

/// What of [`ConnectOptions`] each request needs.
#[derive(Clone)]
pub(crate) struct Policy {
    pub(crate) idle_timeout: Duration,
    pub(crate) max_attempts: u32,
    pub(crate) retry_delay: Duration,
    pub(crate) max_retry_delay: Duration,
    pub(crate) on_retry: Option<RetryCallback>,
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

    pub(crate) fn build(
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

    /// Adds the access token, when there is one (none before a login: an empty
    /// `Authorization` header is not sent).
    pub(crate) fn authorize<B>(&self, request: RequestBuilder<B>) -> RequestBuilder<B> {
        match &self.authorization {
            Some(a) => request.header("Authorization", a.as_str()),
            None => request,
        }
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
}
