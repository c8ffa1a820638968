//! Errors of the client-server API, typed.

/// What is wrong with an access token (the token itself is never shown).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenProblem {
    /// Nothing but whitespace.
    #[error("it is empty")]
    Empty,
    /// More than one line.
    #[error("it spans more than one line (a token is one line)")]
    MultiLine,
    /// A character a token cannot have (space, control, non-ASCII).
    #[error(
        "character {position} is not one a token can have (a space, a control or a non-ASCII \
         character; a token is visible ASCII)"
    )]
    BadCharacter {
        /// Its position, counting from 1, in bytes.
        position: usize,
    },
}

/// What went wrong talking to the homeserver.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The backup version request ([`flows::requests::backup_version`]) answered 404:
    /// there is no backup.
    #[error("this account has no key backup on the server (M_NOT_FOUND)")]
    NoBackup,
    /// The version written to is not the current one.
    #[error(
        "backup version {given} is not the current one; the current version is {current_version} \
         (M_WRONG_ROOM_KEYS_VERSION): another client replaced the backup"
    )]
    WrongVersion {
        /// The version the request named.
        given: String,
        /// The server's current version.
        current_version: String,
    },
    /// The access token is missing, unknown or expired.
    #[error("the homeserver refused the access token ({errcode}): log in again to get a new one")]
    Unauthorized {
        /// `M_UNKNOWN_TOKEN` or `M_MISSING_TOKEN`.
        errcode: String,
    },
    /// The server wants user-interactive authentication (401 with `flows`), e.g. the
    /// account password to replace cross-signing keys.
    #[error(
        "the homeserver asks you to confirm this with your account password (user-interactive \
         authentication; it offers {flows}): the account password is needed"
    )]
    AuthRequired {
        /// The UIA session to continue.
        session: Option<String>,
        /// The offered flows, each as its stage types joined by " then ".
        flows: String,
    },
    /// `M_FORBIDDEN`.
    #[error("the homeserver refused the request (M_FORBIDDEN): {0}")]
    Forbidden(String),
    /// Still rate limited after the retries.
    #[error("the homeserver keeps rate-limiting (M_LIMIT_EXCEEDED); try again later")]
    RateLimited {
        /// The last `retry_after_ms`.
        retry_after_ms: Option<u64>,
    },
    /// Any other Matrix error.
    #[error("the homeserver answered {status} {errcode}: {error}")]
    Matrix {
        /// HTTP status.
        status: u16,
        /// The `errcode`.
        errcode: String,
        /// The `error` text.
        error: String,
    },
    /// The connection failed.
    #[error("cannot reach the homeserver at {url}: {reason}")]
    Transport {
        /// The URL.
        url: String,
        /// Why.
        #[source]
        reason: ureq::Error,
    },
    /// The homeserver sent nothing for the idle timeout while an answer was awaited.
    #[error(
        "no data came from the homeserver at {url} for {}: it may be overloaded, or the \
         connection is dead; try again later", crate::options::seconds(*idle)
    )]
    Stalled {
        /// The URL.
        url: String,
        /// The idle timeout.
        idle: std::time::Duration,
    },
    /// A download answered with a `Content-Type` that is not JSON (an HTML page of a
    /// proxy or login portal in front of the homeserver, …).
    #[error(
        "the homeserver answered with {content_type}, not JSON{}: is a proxy, captive portal or \
         login page in front of it?",
        if content_type.to_ascii_lowercase().contains("html") { " (an HTML page)" } else { "" }
    )]
    NotJson {
        /// The `Content-Type` it gave.
        content_type: String,
    },
    /// Plain `http://` to another host, which would send the token or password in the
    /// clear (the URL is shown without user-info).
    #[error(
        "refusing to send your access token or password over plain http:// to {0}: anyone on \
         the way could read it. Use https://, or allow plain http explicitly if you must"
    )]
    InsecureHttp(String),
    /// The homeserver URL could not be parsed, or is not one (shown without user-info).
    #[error("{url} is not a homeserver URL ({reason}); give one like https://matrix.example.org")]
    InvalidUrl {
        /// The URL as given, user-info removed.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The homeserver URL's scheme is not `http` or `https`.
    #[error(
        "{url} is not a homeserver URL: its scheme is {scheme}, and a homeserver is reached \
         over https:// (or http:// on this machine)"
    )]
    UnsupportedScheme {
        /// The URL as given, user-info removed.
        url: String,
        /// The scheme it has.
        scheme: String,
    },
    /// The homeserver URL carries user-info (`user:password@`), which would be sent and
    /// printed; refused (the URL is shown without it).
    #[error(
        "the homeserver URL carries a user name or password before its host (user:password@); \
         refused, nothing was sent. Give the URL without it: {0}"
    )]
    UrlUserInfo(String),
    /// The access token is not one (it is never shown).
    #[error("the access token is not one: {0}")]
    InvalidAccessToken(TokenProblem),
    /// The CA certificates given in [`ConnectOptions::ca_pem`](crate::ConnectOptions::ca_pem) could not be used.
    #[error("cannot use the CA file: {0}")]
    CaFile(String),
    /// A flow run over this client failed.
    #[error(transparent)]
    Flow(flows::FlowError),
    /// The answer was not the JSON expected.
    #[error("unexpected answer from the homeserver: {0}")]
    Json(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl ClientError {
    /// The spec's error code, where there is one.
    pub fn errcode(&self) -> Option<&str> {
        match self {
            Self::NoBackup => Some("M_NOT_FOUND"),
            Self::WrongVersion { .. } => Some("M_WRONG_ROOM_KEYS_VERSION"),
            Self::Unauthorized { errcode } => Some(errcode),
            Self::Forbidden(_) => Some("M_FORBIDDEN"),
            Self::AuthRequired { .. } => None,
            Self::RateLimited { .. } => Some("M_LIMIT_EXCEEDED"),
            Self::Matrix { errcode, .. } => Some(errcode),
            _ => None,
        }
    }
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
}
