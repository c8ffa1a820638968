//! Reaching the homeserver, shared by the commands that talk to one: the connection
//! options, and the library's flows run over the blocking client.

mod login_session;

use std::{path::PathBuf, time::Duration};

use backup_cipher::BackupVersion;
use clap::Args;
use homeserver::{Client, ClientError};

pub(crate) use login_session::Session;
// For the SIGINT/SIGTERM handler (secret_file.rs) to call before it exits.
#[allow(unused_imports)]
pub(crate) use login_session::logout_on_interrupt;

use crate::{
    fatal::{Fatal, client_error as fail},
    input::{secret_from_file, secret_from_stdin},
};

/// How to reach and authenticate to the homeserver. The access token and password are
/// never taken from the command line.
#[derive(Debug, Args, Clone)]
pub(crate) struct ServerArgs {
    /// The homeserver's URL, e.g. `https://matrix.example.org`
    #[arg(long, value_name = "URL", help_heading = crate::help::SERVER)]
    pub(crate) homeserver: Option<String>,
    /// File holding the access token (otherwise the MATRIX_ACCESS_TOKEN variable).
    #[arg(long, value_name = "FILE", requires = "homeserver", help_heading = crate::help::SERVER)]
    access_token_file: Option<PathBuf>,
    /// Log in as this user with a password instead of a token.
    #[arg(long, value_name = "USER", requires = "homeserver", help_heading = crate::help::SERVER)]
    user: Option<String>,
    /// File holding the account password: to log in with --user (otherwise read from
    /// stdin), and for the server's confirmation when cross-signing keys are replaced.
    #[arg(long, value_name = "FILE", requires = "homeserver", help_heading = crate::help::SERVER)]
    password_file: Option<PathBuf>,
    /// Trust only the certificate authorities in this PEM file (a homeserver behind a
    /// private CA) instead of the system trust store.
    #[arg(long, value_name = "PEM", requires = "homeserver", help_heading = crate::help::SERVER)]
    ca_file: Option<PathBuf>,
    /// Allow plain http:// to a host other than this machine (the token or password then
    /// crosses the network in the clear).
    #[arg(long, requires = "homeserver", help_heading = crate::help::SERVER)]
    allow_insecure_http: bool,
    /// With --user: keep the login when the command ends (its device id is printed)
    /// instead of logging it out.
    #[arg(long, requires = "user", help_heading = crate::help::SERVER)]
    keep_login: bool,
    /// Give up on a homeserver that sends nothing for this many seconds (while an answer
    /// is awaited, or in the middle of a download). A download that keeps receiving is
    /// never cut, however long it takes.
    #[arg(
        long,
        value_name = "SECONDS",
        default_value_t = 60,
        value_parser = clap::value_parser!(u64).range(1..),
        help_heading = crate::help::TUNING
    )]
    idle_timeout: u64,
}

impl ServerArgs {
    /// The files these options read, for `outputs::check_files`.
    pub(crate) fn input_files(&self) -> Vec<(&'static str, Option<&std::path::Path>)> {
        vec![
            ("the access token file", self.access_token_file.as_deref()),
            ("the password file", self.password_file.as_deref()),
            ("the CA file", self.ca_file.as_deref()),
        ]
    }

    /// Connects; `stdin_busy` says stdin carries something else (a key), so a password
    /// must come from a file. A login made here with --user is logged out when the
    /// returned session is dropped (unless --keep-login).
    pub(crate) fn connect(&self, stdin_busy: bool) -> Result<Session, Fatal> {
        Ok(self.connect_with_password(stdin_busy)?.0)
    }

    /// Connects, also returning the account password when it was used to log in.
    pub(crate) fn connect_with_password(
        &self,
        stdin_busy: bool,
    ) -> Result<(Session, Option<zeroize::Zeroizing<String>>), Fatal> {
        let url = self
            .homeserver
            .as_deref()
            .ok_or_else(|| Fatal::new("give the homeserver with --homeserver URL"))?;
        // Each wait before a retry is shown: a rate limit or a failing server can hold
        // the command for a while.
        let mut options = homeserver::ConnectOptions::new().on_retry(|w| eprintln!("{w}"));
        options.allow_insecure_http = self.allow_insecure_http;
        options.idle_timeout = Duration::from_secs(self.idle_timeout);
        if let Some(path) = &self.ca_file {
            options.ca_pem = Some(std::fs::read(path).map_err(|e| {
                Fatal::new(format!("cannot read the CA file {}: {e}", path.display()))
            })?);
        }
        if let Some(user) = &self.user {
            let password = match &self.password_file {
                Some(f) => secret_from_file(f, "--password-file")?,
                None if stdin_busy => {
                    return Err(Fatal::new(
                        "stdin carries the key here: give the password with --password-file",
                    ));
                }
                None => secret_from_stdin()?,
            };
            let (client, login) =
                Client::login_password_with(url, user, &password, &options).map_err(fail)?;
            let session = if self.keep_login {
                eprintln!(
                    "the login stays: device {} of {} keeps its access token until you log it \
                     out (Settings → Sessions in your Matrix client)",
                    login.device_id.as_deref().unwrap_or("?"),
                    login.user_id
                );
                Session::borrowed(client)
            } else {
                Session::owned(client, login.device_id, &options).map_err(fail)?
            };
            return Ok((session, Some(password)));
        }
        let password = self
            .password_file
            .as_deref()
            .map(|f| secret_from_file(f, "--password-file"))
            .transpose()?;
        let (token, source) = match &self.access_token_file {
            Some(f) => (
                secret_from_file(f, "--access-token-file")?,
                format!("the access token file {}", f.display()),
            ),
            None => (
                zeroize::Zeroizing::new(std::env::var("MATRIX_ACCESS_TOKEN").map_err(|_| {
                    Fatal::new(
                        "no access token: give --access-token-file FILE, set MATRIX_ACCESS_TOKEN, or use --user",
                    )
                })?),
                "MATRIX_ACCESS_TOKEN".to_owned(),
            ),
        };
        let client = Client::with_options(url, &token, &options).map_err(|e| match e {
            ClientError::InvalidAccessToken(problem) => {
                Fatal::new(format!("{source} does not hold an access token: {problem}"))
            }
            e => fail(e),
        })?;
        Ok((Session::borrowed(client), password))
    }
}

/// The backup version to use: the given one or the current one.
pub(crate) fn version_info(client: &Client, version: Option<&str>) -> Result<BackupVersion, Fatal> {
    client.backup_version(version).map_err(fail)
}

pub(crate) fn signing_key(path: &std::path::Path) -> Result<ed25519_dalek::SigningKey, Fatal> {
    let text = secret_from_file(path, "--signing-key-file")?;
    let bytes = zeroize::Zeroizing::new(
        recovery_key::decode_base64(text.trim())
            .map_err(|e| Fatal::new(format!("the signing key file is not base64: {e}")))?,
    );
    let seed: [u8; 32] = bytes.as_slice().try_into().map_err(|_| {
        Fatal::new("the signing key file must hold a 32-byte Ed25519 seed in base64")
    })?;
    Ok(ed25519_dalek::SigningKey::from_bytes(&seed))
}

/// The current backup version (`None`: no backup) and the account data secret storage
/// needs (default key, its description, the backup key and cross-signing secrets), read
/// from the server by the library's flow in one pass.
fn server_state(client: &Client) -> Result<(Option<BackupVersion>, ssss::SecretStore), Fatal> {
    let user = client.whoami().map_err(fail)?.user_id;
    client
        .run(flows::SecretStorageFlow::new(&user))
        .map_err(fail)
}

/// The account's secret storage alone (see [`server_state`]).
pub(crate) fn server_secret_store(client: &Client) -> Result<ssss::SecretStore, Fatal> {
    Ok(server_state(client)?.1)
}

/// What the user typed, turned into the backup key by the library's recovery flow over
/// this client (the backup version, `version` or the current one, is `None` when the
/// account has no backup). Says in one line what the input was.
pub(crate) fn recover_from_server(
    client: &Client,
    input: &str,
    version: Option<&str>,
) -> Result<flows::RecoveredBackup, Fatal> {
    let user = client.whoami().map_err(fail)?.user_id;
    let mut flow = flows::RecoveryFlow::new(&user, input);
    if let Some(v) = version {
        flow = flow.for_version(v);
    }
    let found = client.run(flow).map_err(fail)?;
    eprintln!("{}", found.key.describe());
    Ok(found)
}
