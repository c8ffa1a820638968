//! `megolm-backup export …`: Element key-export files.

use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
    process::ExitCode,
};

use clap::{Args, Subcommand};
use key_export::{DEFAULT_ROUNDS, ExportWriter, decrypt_export};
use serde_json::{Map, Value};

use crate::{Fatal, cmd_restore::write_output, input::passphrase, secret_file::SecretFile};

#[derive(Debug, Subcommand)]
pub(crate) enum ExportCommand {
    /// Decrypt an export file into a JSON array of room keys.
    Decrypt {
        /// The export file (`-----BEGIN MEGOLM SESSION DATA-----`).
        file: PathBuf,
        #[command(flatten)]
        common: ExportArgs,
        /// Where to write the sessions; stdout when absent.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Encrypt a JSON array of room keys (e.g. `restore` output) into an export file.
    Encrypt {
        /// The sessions (JSON array), `-` for stdin.
        sessions_json: PathBuf,
        #[command(flatten)]
        common: ExportArgs,
        /// The export file to write (mode 0600).
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// PBKDF2 rounds (Element uses 500,000).
        #[arg(long, default_value_t = DEFAULT_ROUNDS)]
        rounds: u32,
    },
}

#[derive(Debug, Args)]
pub(crate) struct ExportArgs {
    /// Read the export passphrase from this file (one trailing newline removed) instead
    /// of asking on the terminal.
    #[arg(long, value_name = "FILE")]
    passphrase_file: Option<PathBuf>,
    /// Only sessions of this room (repeatable).
    #[arg(long = "room", value_name = "ROOM_ID")]
    rooms: Vec<String>,
}

/// Keeps the sessions of the given rooms (all when none are given).
pub(crate) fn room_filter(rooms: &[String]) -> impl Fn(&Map<String, Value>) -> bool + '_ {
    let set: BTreeSet<&str> = rooms.iter().map(String::as_str).collect();
    move |s| {
        set.is_empty()
            || s.get("room_id")
                .and_then(Value::as_str)
                .is_some_and(|r| set.contains(r))
    }
}

/// Decrypts an export file into its sessions.
pub(crate) fn read_export(
    path: &Path,
    pass_file: Option<&Path>,
) -> Result<Vec<Map<String, Value>>, Fatal> {
    let text = zeroize::Zeroizing::new(
        std::fs::read_to_string(path)
            .map_err(|e| Fatal::new(format!("cannot read {}: {e}", path.display())))?,
    );
    decrypt_sessions(&text, pass_file, "--passphrase-file")
}

/// Decrypts an export's text with the passphrase from `pass_file` (else a prompt that
/// names `file_flag`) and parses its room keys.
pub(crate) fn decrypt_sessions(
    text: &str,
    pass_file: Option<&Path>,
    file_flag: &str,
) -> Result<Vec<Map<String, Value>>, Fatal> {
    let phrase = passphrase(pass_file, "Export passphrase: ", file_flag, false)?;
    let plain = decrypt_export(text, &phrase).map_err(Fatal::new)?;
    serde_json::from_slice(&plain).map_err(|e| {
        Fatal::new(format!(
            "the key export decrypted, but is not a list of room keys: {e}"
        ))
    })
}

/// Streams sessions (JSON text of each object) into an export file created with mode 0600.
pub(crate) fn write_export_file(
    out: &Path,
    phrase: &str,
    rounds: u32,
    feed: impl FnOnce(&mut dyn FnMut(&str) -> std::io::Result<()>) -> std::io::Result<()>,
) -> Result<u64, Fatal> {
    let mut file = SecretFile::create(out)
        .map_err(|e| Fatal::new(format!("cannot create {}: {e}", out.display())))?;
    let io = |e: std::io::Error| Fatal::new(format!("cannot write {}: {e}", out.display()));
    let mut w = ExportWriter::new(std::io::BufWriter::new(&mut file), phrase, rounds)
        .map_err(Fatal::new)?;
    feed(&mut |json: &str| w.write_session_json(json.as_bytes())).map_err(io)?;
    let n = w.sessions();
    w.finish()
        .and_then(|mut inner| std::io::Write::flush(&mut inner))
        .map_err(io)?;
    file.commit().map_err(io)?;
    Ok(n)
}

pub(crate) fn run(cmd: ExportCommand) -> Result<ExitCode, Fatal> {
    match cmd {
        ExportCommand::Decrypt { file, common, out } => {
            let sessions = read_export(&file, common.passphrase_file.as_deref())?;
            let keep = room_filter(&common.rooms);
            let kept: Vec<&Map<String, Value>> = sessions.iter().filter(|s| keep(s)).collect();
            write_output(out.as_deref(), |w| {
                serde_json::to_writer_pretty(&mut *w, &kept).map_err(std::io::Error::other)?;
                w.write_all(b"\n")
            })?;
            eprintln!(
                "decrypted {} sessions ({} in the file)",
                kept.len(),
                sessions.len()
            );
        }
        ExportCommand::Encrypt {
            sessions_json,
            common,
            out,
            rounds,
        } => {
            let sessions = crate::cmd_encrypt::read_sessions(&sessions_json)?;
            let phrase = passphrase(
                common.passphrase_file.as_deref(),
                "New export passphrase: ",
                "--passphrase-file",
                true,
            )?;
            let keep = room_filter(&common.rooms);
            let n = write_export_file(&out, &phrase, rounds, |emit| {
                for s in sessions.iter().filter(|s| keep(s)) {
                    emit(&serde_json::to_string(s).map_err(std::io::Error::other)?)?;
                }
                Ok(())
            })?;
            eprintln!("wrote {n} sessions to {}", out.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}
