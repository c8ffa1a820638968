//! Commands that talk to a homeserver: `fetch`, `upload`, `info`, and the remote part of
//! `restore`.

use std::{io::IsTerminal, path::PathBuf, process::ExitCode};

use backup_cipher::{BackupVersion, signatures::sign_auth_data};
use clap::Args;
use homeserver::{Client, ClientError, UploadProgress};

use crate::{
    Fatal,
    cmd_restore::write_output,
    input::{secret_from_file, secret_from_stdin},
    keys::KeyArgs,
};

/// How to reach and authenticate to the homeserver. The access token and password are
/// never taken from the command line.
#[derive(Debug, Args, Clone)]
pub(crate) struct ServerArgs {
    /// The homeserver's URL, e.g. https://matrix.example.org
    #[arg(long, value_name = "URL")]
    pub(crate) homeserver: Option<String>,
    /// File holding the access token (otherwise the MATRIX_ACCESS_TOKEN variable).
    #[arg(long, value_name = "FILE")]
    access_token_file: Option<PathBuf>,
    /// Log in as this user with a password instead of a token.
    #[arg(long, value_name = "USER")]
    user: Option<String>,
    /// File holding the account password: to log in with --user (otherwise read from
    /// stdin), and for the server's confirmation when cross-signing keys are replaced.
    #[arg(long, value_name = "FILE")]
    password_file: Option<PathBuf>,
    /// Trust only the certificate authorities in this PEM file (a homeserver behind a
    /// private CA) instead of the system trust store.
    #[arg(long, value_name = "PEM")]
    ca_file: Option<PathBuf>,
    /// Allow plain http:// to a host other than this machine (the token or password then
    /// crosses the network in the clear).
    #[arg(long)]
    allow_insecure_http: bool,
}

impl ServerArgs {
    /// Connects; `stdin_busy` says stdin carries something else (a key), so a password
    /// must come from a file.
    pub(crate) fn connect(&self, stdin_busy: bool) -> Result<Client, Fatal> {
        Ok(self.connect_with_password(stdin_busy)?.0)
    }

    /// Connects, also returning the account password when it was used to log in.
    pub(crate) fn connect_with_password(
        &self,
        stdin_busy: bool,
    ) -> Result<(Client, Option<zeroize::Zeroizing<String>>), Fatal> {
        let url = self
            .homeserver
            .as_deref()
            .ok_or_else(|| Fatal::new("give the homeserver with --homeserver URL"))?;
        let mut options = homeserver::ConnectOptions::new();
        options.allow_insecure_http = self.allow_insecure_http;
        if let Some(path) = &self.ca_file {
            options.ca_pem = Some(std::fs::read(path).map_err(|e| {
                Fatal::new(format!("cannot read the CA file {}: {e}", path.display()))
            })?);
        }
        if let Some(user) = &self.user {
            let password = match &self.password_file {
                Some(f) => secret_from_file(f)?,
                None if stdin_busy => {
                    return Err(Fatal::new(
                        "stdin carries the key here: give the password with --password-file",
                    ));
                }
                None => secret_from_stdin()?,
            };
            let (client, _) =
                Client::login_password_with(url, user, &password, &options).map_err(Fatal::new)?;
            return Ok((client, Some(password)));
        }
        let password = self
            .password_file
            .as_deref()
            .map(secret_from_file)
            .transpose()?;
        let token = match &self.access_token_file {
            Some(f) => secret_from_file(f)?,
            None => zeroize::Zeroizing::new(std::env::var("MATRIX_ACCESS_TOKEN").map_err(|_| {
                Fatal::new("no access token: give --access-token-file FILE, set MATRIX_ACCESS_TOKEN, or use --user")
            })?),
        };
        Ok((
            Client::with_options(url, &token, &options).map_err(Fatal::new)?,
            password,
        ))
    }
}

/// The backup version to use: the given one or the current one.
pub(crate) fn version_info(client: &Client, version: Option<&str>) -> Result<BackupVersion, Fatal> {
    client.backup_version(version).map_err(Fatal::new)
}

#[derive(Debug, Args)]
pub(crate) struct FetchArgs {
    #[command(flatten)]
    server: ServerArgs,
    /// Where to write the keys (the GET /room_keys/keys body, streamed).
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// Where to write the backup version (GET /room_keys/version).
    #[arg(long, value_name = "FILE")]
    info_out: Option<PathBuf>,
    /// Where to write the account's secret storage (its account data), for an offline
    /// `restore --account-data` with the Security Key or Phrase.
    #[arg(long, value_name = "FILE")]
    account_data_out: Option<PathBuf>,
    /// The backup version (default: the current one).
    #[arg(long)]
    version: Option<String>,
}

pub(crate) fn fetch(args: FetchArgs) -> Result<ExitCode, Fatal> {
    let client = args.server.connect(false)?;
    let info = version_info(&client, args.version.as_deref())?;
    let version = info
        .version
        .clone()
        .ok_or_else(|| Fatal::new("the server's backup version has no id"))?;
    if let Some(path) = &args.info_out {
        write_output(Some(path), |w| {
            serde_json::to_writer_pretty(&mut *w, &info).map_err(std::io::Error::other)?;
            w.write_all(b"\n")
        })?;
    }
    if let Some(path) = &args.account_data_out {
        let store = server_secret_store(&client)?;
        write_output(Some(path), |w| {
            serde_json::to_writer_pretty(&mut *w, &store.to_json())
                .map_err(std::io::Error::other)?;
            w.write_all(b"\n")
        })?;
    }
    let mut reader = client.room_keys_reader(&version).map_err(Fatal::new)?;
    let mut bytes = 0u64;
    write_output(Some(&args.out), |w| {
        bytes = std::io::copy(&mut reader, w)?;
        Ok(())
    })?;
    eprintln!(
        "fetched backup version {version} ({} keys, {bytes} bytes) to {}",
        info.count.map_or("?".into(), |c| c.to_string()),
        args.out.display()
    );
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, Args)]
pub(crate) struct InfoArgs {
    #[command(flatten)]
    server: ServerArgs,
    /// A file with the Security Key or Phrase (or the backup's recovery key): say what it
    /// is and whether it opens this backup (`-` = stdin).
    #[arg(long, value_name = "FILE")]
    key_file: Option<PathBuf>,
    /// Read that key or phrase from stdin.
    #[arg(long, visible_alias = "passphrase-stdin")]
    key_stdin: bool,
    /// The backup version (default: the current one).
    #[arg(long)]
    version: Option<String>,
}

pub(crate) fn info(args: InfoArgs) -> Result<ExitCode, Fatal> {
    let key = (args.key_file.is_some() || args.key_stdin).then(|| KeyArgs {
        key_file: args.key_file.clone(),
        key_stdin: args.key_stdin,
    });
    let client = args
        .server
        .connect(key.as_ref().is_some_and(KeyArgs::uses_stdin))?;
    let info = match client.backup_version(args.version.as_deref()) {
        Err(ClientError::NoBackup) => {
            println!("no key backup on this account");
            return Ok(ExitCode::from(3));
        }
        other => other.map_err(Fatal::new)?,
    };
    println!("version:    {}", info.version.as_deref().unwrap_or("?"));
    println!("algorithm:  {}", info.algorithm);
    println!(
        "keys:       {}",
        info.count.map_or("?".into(), |c| c.to_string())
    );
    println!("etag:       {}", info.etag.as_deref().unwrap_or("?"));
    println!("public key: {}", info.auth_data.public_key);
    for (user, sigs) in &info.auth_data.signatures {
        for key_id in sigs.keys() {
            println!("signed by:  {user} {key_id}");
        }
    }
    if let Some(key) = &key {
        let input = key.read()?;
        let user = client.whoami().map_err(Fatal::new)?.user_id;
        let mut flow = flows::RecoveryFlow::new(&user, &input);
        if let Some(v) = &info.version {
            flow = flow.for_version(v);
        }
        match client.run(flow) {
            Ok(found) => println!("key:        {}", found.key.describe()),
            Err(ClientError::Flow(flows::FlowError::Recover(e))) => {
                println!("key:        does NOT open this backup: {e}");
                return Ok(ExitCode::from(2));
            }
            Err(e) => return Err(Fatal::new(e)),
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, Args)]
pub(crate) struct UploadArgs {
    #[command(flatten)]
    server: ServerArgs,
    /// The key: sessions are encrypted to the backup's public key, and a new backup
    /// version is created for it when there is none (signed with the cross-signing master
    /// key when secret storage holds it).
    #[command(flatten)]
    key: KeyArgs,
    /// Upload to this version (default: the current one, created when there is none).
    #[arg(long)]
    version: Option<String>,
    /// Sign a newly created version's auth_data with this Ed25519 key (base64 seed in a
    /// file), e.g. the device key.
    #[arg(long, value_name = "FILE", requires = "signing_key_id")]
    signing_key_file: Option<PathBuf>,
    /// The signing key's id, e.g. ed25519:DEVICEID.
    #[arg(long, value_name = "KEY_ID")]
    signing_key_id: Option<String>,
    /// The user id to sign as (default: the token's owner).
    #[arg(long)]
    signing_user: Option<String>,
    /// Sessions per request.
    #[arg(long, default_value_t = 1000)]
    chunk_size: usize,
    /// Passphrase file when the input is an Element key-export file.
    #[arg(long, value_name = "FILE")]
    export_passphrase_file: Option<PathBuf>,
    /// Exported room keys: a JSON array (restore output) or an Element key-export file.
    sessions: PathBuf,
}

pub(crate) fn signing_key(path: &std::path::Path) -> Result<ed25519_dalek::SigningKey, Fatal> {
    let text = secret_from_file(path)?;
    let bytes = zeroize::Zeroizing::new(
        recovery_key::decode_base64(text.trim())
            .map_err(|e| Fatal::new(format!("the signing key file is not base64: {e}")))?,
    );
    let seed: [u8; 32] = bytes.as_slice().try_into().map_err(|_| {
        Fatal::new("the signing key file must hold a 32-byte Ed25519 seed in base64")
    })?;
    Ok(ed25519_dalek::SigningKey::from_bytes(&seed))
}

pub(crate) fn upload(args: UploadArgs) -> Result<ExitCode, Fatal> {
    let client = args.server.connect(args.key.uses_stdin())?;
    let input = args.key.read()?;
    let sessions = crate::cmd_encrypt::read_sessions_or_export(
        &args.sessions,
        args.export_passphrase_file.as_deref(),
    )?;
    let found = match recover_from_server(&client, &input, args.version.as_deref()) {
        Err(e) => {
            return Err(Fatal::new(format!(
                "{e}. To upload to a new backup of this key instead, set up recovery again \
                 (`setup --reset`)"
            )));
        }
        Ok(found) => found,
    };
    if found.version.is_none() && args.version.is_some() {
        return Err(Fatal::new(ClientError::NoBackup));
    }
    let (current, store) = (found.version, found.secret_storage);
    let found = found.key;
    let key = found.backup_key.clone();
    let version = match current {
        Some(info) => info
            .version
            .ok_or_else(|| Fatal::new("the server's backup version has no id"))?,
        None => {
            let user = client.whoami().map_err(Fatal::new)?.user_id;
            let mut version = BackupVersion::new(key.public_key());
            // Sign as Element does: with the master key from secret storage, so Element
            // devices trust the new backup.
            if let Some(unlocked) = &found.secret_storage
                && let Ok(cs) = ssss::CrossSigningKeys::from_secret_store(&store, &unlocked.key)
            {
                cs.sign_backup(&mut version.auth_data, &user)
                    .map_err(Fatal::new)?;
            }
            if let Some(f) = &args.signing_key_file {
                let sk = signing_key(f)?;
                let signer = args.signing_user.clone().unwrap_or_else(|| user.clone());
                let key_id = args.signing_key_id.clone().unwrap_or_default();
                sign_auth_data(&mut version.auth_data, &signer, &key_id, &sk)
                    .map_err(Fatal::new)?;
            }
            let v = client.create_backup_version(&version).map_err(Fatal::new)?;
            eprintln!("created backup version {v}");
            v
        }
    };
    let (body, errors) = backup_cipher::encrypt_sessions(key.public_key(), &sessions);
    for e in &errors {
        eprintln!("skipped: {e}");
    }
    let bar = std::io::stderr()
        .is_terminal()
        .then(|| indicatif::ProgressBar::new(body.session_count() as u64));
    struct Bar<'a>(&'a Option<indicatif::ProgressBar>);
    impl homeserver::UploadSink for Bar<'_> {
        fn progress(&mut self, p: UploadProgress) {
            if let Some(b) = self.0 {
                b.set_length(p.to_send);
                b.set_position(p.sent);
            }
        }
    }
    let report = client
        .upload_room_keys(&version, &body, args.chunk_size, &mut Bar(&bar))
        .map_err(Fatal::new)?;
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    let (etag, count) = match report.last_update {
        Some(u) => (u.etag, u.count.to_string()),
        // Nothing was sent (a rerun): ask the server what it holds.
        None => {
            let now = client.backup_version(Some(&version)).map_err(Fatal::new)?;
            (
                now.etag.unwrap_or_else(|| "?".into()),
                now.count.map_or("?".into(), |c| c.to_string()),
            )
        }
    };
    eprintln!(
        "uploaded {} sessions to backup version {version} ({} already there); the backup now holds {count} keys, etag {etag}",
        report.uploaded, report.skipped
    );
    Ok(if errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}

/// The account data secret storage needs (default key, its description, the backup key
/// and cross-signing secrets), read from the server by the library's flow.
pub(crate) fn server_secret_store(client: &Client) -> Result<ssss::SecretStore, Fatal> {
    let user = client.whoami().map_err(Fatal::new)?.user_id;
    Ok(client
        .run(flows::SecretStorageFlow::new(&user))
        .map_err(Fatal::new)?
        .1)
}

/// What the user typed, turned into the backup key by the library's recovery flow over
/// this client (the backup version, `version` or the current one, is `None` when the
/// account has no backup). Says in one line what the input was.
pub(crate) fn recover_from_server(
    client: &Client,
    input: &str,
    version: Option<&str>,
) -> Result<flows::RecoveredBackup, Fatal> {
    let user = client.whoami().map_err(Fatal::new)?.user_id;
    let mut flow = flows::RecoveryFlow::new(&user, input);
    if let Some(v) = version {
        flow = flow.for_version(v);
    }
    let found = client.run(flow).map_err(Fatal::new)?;
    eprintln!("{}", found.key.describe());
    Ok(found)
}
