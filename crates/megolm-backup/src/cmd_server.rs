//! Commands that talk to a homeserver: `fetch`, `upload`, `info`.

use std::{
    io::IsTerminal,
    path::{Path, PathBuf},
    process::ExitCode,
};

use backup_cipher::{BackupVersion, sign_auth_data};
use clap::Args;
use homeserver::{ClientError, UploadProgress, save_keys_body};

use crate::{
    fatal::{Fatal, Status, client_error as fail},
    files::write_output,
    keys::KeyArgs,
    secret_file::SecretFile,
    server::{ServerArgs, recover_from_server, server_secret_store, signing_key, version_info},
};

#[derive(Debug, Args)]
pub(crate) struct FetchArgs {
    /// Where to write the keys (the GET /room_keys/keys body, streamed). Written only when
    /// the whole body arrived and is a complete keys body; a cut or damaged download is
    /// kept as OUT.partial instead (exit status 5), and an earlier OUT stays.
    #[arg(long, value_name = "FILE", help_heading = crate::help::OUTPUT)]
    out: PathBuf,
    /// Where to write the backup version (GET /room_keys/version).
    #[arg(long, value_name = "FILE", help_heading = crate::help::OUTPUT)]
    info_out: Option<PathBuf>,
    /// Where to write the account's secret storage (its account data), for an offline
    /// `restore --account-data` with the Security Key or Phrase.
    #[arg(long, value_name = "FILE", help_heading = crate::help::OUTPUT)]
    account_data_out: Option<PathBuf>,
    /// Which backup version (default: the current one). Not the tool's own `--version`.
    #[arg(
        long = "backup-version",
        alias = "version",
        value_name = "VERSION",
        help_heading = crate::help::SERVER
    )]
    version: Option<String>,
    #[command(flatten)]
    server: ServerArgs,
}

pub(crate) fn fetch(args: FetchArgs) -> Result<ExitCode, Fatal> {
    let partial = partial_path(&args.out);
    crate::outputs::check_files(
        &args.server.input_files(),
        &[
            ("--out", Some(&args.out)),
            (
                "--out's partial file",
                (args.out != Path::new("-")).then_some(partial.as_path()),
            ),
            ("--info-out", args.info_out.as_deref()),
            ("--account-data-out", args.account_data_out.as_deref()),
        ],
    )?;
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
    let reader = client.room_keys_reader(&version).map_err(fail)?;
    let count = info.count.map_or("?".into(), |c| c.to_string());
    // Stdout, or an existing output that is not a regular file (a FIFO, a terminal,
    // /dev/stdout): written in place as it arrives, never replaced.
    let in_place = args.out == Path::new("-")
        || std::fs::metadata(&args.out).is_ok_and(|m| !m.file_type().is_file());
    if in_place {
        let (saved, shown) = if args.out == Path::new("-") {
            let saved = save_keys_body(reader, std::io::stdout().lock());
            (saved, "stdout".to_owned())
        } else {
            let target = std::fs::OpenOptions::new()
                .write(true)
                .open(&args.out)
                .map_err(|e| Fatal::new(format!("cannot open {}: {e}", args.out.display())))?;
            let saved = save_keys_body(reader, std::io::BufWriter::new(target));
            (saved, args.out.display().to_string())
        };
        let saved = saved.map_err(|e| Fatal::new(format!("cannot write {shown}: {e}")))?;
        return Ok(match saved.problem {
            None => {
                eprintln!(
                    "fetched backup version {version} ({count} keys, {} bytes, complete) to {shown}",
                    saved.bytes
                );
                ExitCode::SUCCESS
            }
            Some(problem) => {
                eprintln!(
                    "error: {problem}. The {} bytes written to {shown} are not the whole backup",
                    saved.bytes
                );
                ExitCode::from(Status::FetchIncomplete)
            }
        });
    }
    // Everything that arrives goes to OUT.partial (mode 0600); only a complete keys body
    // of the announced length is then renamed over OUT, so an earlier OUT is never
    // replaced by a cut or damaged download.
    let mut file = SecretFile::create(&partial)
        .map_err(|e| Fatal::new(format!("cannot create {}: {e}", partial.display())))?;
    let saved = save_keys_body(reader, std::io::BufWriter::new(&mut file))
        .map_err(|e| Fatal::new(format!("cannot write {}: {e}", partial.display())))?;
    file.commit()
        .map_err(|e| Fatal::new(format!("cannot write {}: {e}", partial.display())))?;
    if let Some(problem) = saved.problem {
        let what = if problem.is_incomplete() {
            "What arrived"
        } else {
            "What the homeserver sent"
        };
        eprintln!(
            "error: {problem}. {what} ({} bytes) is kept in {}: `restore` can take every \
             complete session in it. {} was not replaced; run `fetch` again for the whole backup",
            saved.bytes,
            partial.display(),
            args.out.display()
        );
        return Ok(ExitCode::from(Status::FetchIncomplete));
    }
    std::fs::rename(&partial, &args.out).map_err(|e| {
        Fatal::new(format!(
            "cannot move {} to {}: {e}",
            partial.display(),
            args.out.display()
        ))
    })?;
    eprintln!(
        "fetched backup version {version} ({count} keys, {} bytes, complete) to {}",
        saved.bytes,
        args.out.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// `OUT.partial`, next to OUT.
fn partial_path(out: &Path) -> PathBuf {
    let mut name = out.as_os_str().to_owned();
    name.push(".partial");
    PathBuf::from(name)
}

#[derive(Debug, Args)]
pub(crate) struct InfoArgs {
    /// A file with the Security Key or Phrase (or the backup's recovery key): say what it
    /// is and whether it opens this backup (`-` = stdin).
    #[arg(long, value_name = "FILE", help_heading = crate::help::HAVE)]
    key_file: Option<PathBuf>,
    /// Read that key or phrase from stdin.
    #[arg(long, visible_alias = "passphrase-stdin", help_heading = crate::help::HAVE)]
    key_stdin: bool,
    /// Which backup version (default: the current one). Not the tool's own `--version`.
    #[arg(
        long = "backup-version",
        alias = "version",
        value_name = "VERSION",
        help_heading = crate::help::SERVER
    )]
    version: Option<String>,
    #[command(flatten)]
    server: ServerArgs,
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
        other => other.map_err(fail)?,
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
        let user = client.whoami().map_err(fail)?.user_id;
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
            Err(e) => return Err(fail(e)),
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, Args)]
pub(crate) struct UploadArgs {
    /// The key: sessions are encrypted to the backup's public key, and a new backup
    /// version is created for it when there is none (signed with the cross-signing master
    /// key when secret storage holds it).
    #[command(flatten)]
    key: KeyArgs,
    /// Upload to this backup version (default: the current one, created when there is
    /// none). Not the tool's own `--version`.
    #[arg(
        long = "backup-version",
        alias = "version",
        value_name = "VERSION",
        help_heading = crate::help::SERVER
    )]
    version: Option<String>,
    /// Sign a newly created version's auth_data with this Ed25519 key (base64 seed in a
    /// file), e.g. the device key.
    #[arg(long, value_name = "FILE", requires = "signing_key_id", help_heading = crate::help::HAVE)]
    signing_key_file: Option<PathBuf>,
    /// The signing key's id, e.g. ed25519:DEVICEID.
    #[arg(long, value_name = "KEY_ID", help_heading = crate::help::HAVE)]
    signing_key_id: Option<String>,
    /// The user id to sign as (default: the token's owner).
    #[arg(long, help_heading = crate::help::HAVE)]
    signing_user: Option<String>,
    /// Sessions per request.
    #[arg(long, default_value_t = 1000, help_heading = crate::help::TUNING)]
    chunk_size: usize,
    /// Passphrase file when the input is an Element key-export file.
    #[arg(long, value_name = "FILE", help_heading = crate::help::HAVE)]
    export_passphrase_file: Option<PathBuf>,
    #[command(flatten)]
    server: ServerArgs,
    /// Exported room keys: a JSON array (restore output) or an Element key-export file.
    sessions: PathBuf,
}

pub(crate) fn upload(args: UploadArgs) -> Result<ExitCode, Fatal> {
    let client = args.server.connect(args.key.uses_stdin())?;
    let input = args.key.read()?;
    let sessions = crate::files::read_sessions_or_export(
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
        return Err(fail(ClientError::NoBackup));
    }
    let (current, store) = (found.version, found.secret_storage);
    let found = found.key;
    let key = found.backup_key.clone();
    let version = match current {
        Some(info) => info
            .version
            .ok_or_else(|| Fatal::new("the server's backup version has no id"))?,
        None => {
            let user = client.whoami().map_err(fail)?.user_id;
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
            let v = client.create_backup_version(&version).map_err(fail)?;
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
        .map_err(fail)?;
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    let (etag, count) = match report.last_update {
        Some(u) => (u.etag, u.count.to_string()),
        // Nothing was sent (a rerun): ask the server what it holds.
        None => {
            let now = client.backup_version(Some(&version)).map_err(fail)?;
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
