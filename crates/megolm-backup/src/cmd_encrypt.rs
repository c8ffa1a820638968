//! `megolm-backup encrypt`: exported room keys in, a `PUT /room_keys/keys` body out.

use std::{path::PathBuf, process::ExitCode};

use backup_cipher::{BackupPublicKey, encrypt_sessions};
use clap::Args;
use serde_json::{Map, Value};

use crate::{Fatal, cmd_restore::write_output};

#[derive(Debug, Args)]
pub(crate) struct EncryptArgs {
    /// The backup's public key (auth_data.public_key), base64.
    #[arg(long, value_name = "B64")]
    public_key: String,
    /// Where to write the body; stdout when absent.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Passphrase file when the input is an Element key-export file (else a prompt).
    #[arg(long, value_name = "FILE")]
    export_passphrase_file: Option<PathBuf>,
    /// Exported room keys: a JSON array (the output of `restore`), or an Element
    /// key-export file; `-` for stdin.
    sessions_json: PathBuf,
}

pub(crate) fn read_sessions(path: &std::path::Path) -> Result<Vec<Map<String, Value>>, Fatal> {
    read_sessions_or_export(path, None)
}

/// Reads a JSON array of sessions, or an Element key-export file (decrypted with the
/// passphrase from `pass_file`, or a prompt).
pub(crate) fn read_sessions_or_export(
    path: &std::path::Path,
    pass_file: Option<&std::path::Path>,
) -> Result<Vec<Map<String, Value>>, Fatal> {
    let (mut input, _) = crate::cmd_restore::open_input(path)?;
    let mut text = zeroize::Zeroizing::new(Vec::new());
    input
        .read_to_end(&mut text)
        .map_err(|e| Fatal::new(format!("cannot read {}: {e}", path.display())))?;
    if let Ok(s) = std::str::from_utf8(&text)
        && key_export::looks_like_export(s)
    {
        return crate::cmd_export::decrypt_sessions(s, pass_file, "--export-passphrase-file");
    }
    serde_json::from_slice(&text).map_err(|e| {
        Fatal::new(format!(
            "{} is not a JSON array of exported room keys: {e}",
            path.display()
        ))
    })
}

use std::io::Read as _;

pub(crate) fn run(args: EncryptArgs) -> Result<ExitCode, Fatal> {
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
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}
