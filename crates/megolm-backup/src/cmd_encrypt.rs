//! `megolm-backup encrypt`: exported room keys in, a `PUT /room_keys/keys` body out.

use std::{
    path::{Path, PathBuf},
    process::ExitCode,
};

use backup_cipher::{BackupPublicKey, encrypt_sessions};
use clap::Args;

use crate::files::read_sessions_or_export;
use crate::{
    fatal::{Fatal, Status},
    files::write_output,
};

#[derive(Debug, Args)]
pub(crate) struct EncryptArgs {
    /// The backup's public key (auth_data.public_key), base64.
    #[arg(long, value_name = "B64", help_heading = crate::help::HAVE)]
    public_key: String,
    /// Where to write the body; stdout when absent.
    #[arg(long, value_name = "FILE", help_heading = crate::help::OUTPUT)]
    out: Option<PathBuf>,
    /// Passphrase file when the input is an Element key-export file (else a prompt).
    #[arg(long, value_name = "FILE", help_heading = crate::help::HAVE)]
    export_passphrase_file: Option<PathBuf>,
    /// Exported room keys: a JSON array (the output of `restore`), or an Element
    /// key-export file; `-` for stdin.
    sessions_json: PathBuf,
}

pub(crate) fn run(args: EncryptArgs) -> Result<ExitCode, Fatal> {
    crate::outputs::check_files(
        &[
            ("the exported room keys", Some(&args.sessions_json)),
            (
                "the export passphrase file",
                args.export_passphrase_file.as_deref(),
            ),
        ],
        &[("--out", Some(args.out.as_deref().unwrap_or(Path::new("-"))))],
    )?;
    let public = BackupPublicKey::from_base64(&args.public_key).map_err(Fatal::new)?;
    let sessions =
        read_sessions_or_export(&args.sessions_json, args.export_passphrase_file.as_deref())?;
    let (body, errors) = encrypt_sessions(&public, &sessions);
    for e in &errors {
        eprintln!("skipped: {e}");
    }
    write_output(args.out.as_deref(), |w| {
        serde_json::to_writer(&mut *w, &body).map_err(std::io::Error::other)?;
        w.write_all(b"\n")
    })?;
    eprintln!(
        "encrypted {} sessions in {} rooms{}",
        body.session_count(),
        body.rooms.len(),
        if errors.is_empty() {
            String::new()
        } else {
            format!("; {} skipped", errors.len())
        }
    );
    Ok(if errors.is_empty() {
        Status::Success
    } else {
        Status::Partial
    }
    .into())
}
