//! `megolm-backup export …`: Element key-export files.

use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
    process::ExitCode,
};

use backup_cipher::RoomKey;
use clap::{Args, Subcommand};
use key_export::{DEFAULT_ROUNDS, ExportOptions};

use crate::files::{read_export, write_export_file};
use crate::{
    fatal::{Fatal, export_params_error},
    files::write_output,
    input::passphrase,
};

#[derive(Debug, Subcommand)]
pub(crate) enum ExportCommand {
    /// Read an Element export file: its room keys as JSON.
    Decrypt {
        /// The export file (`-----BEGIN MEGOLM SESSION DATA-----`).
        file: PathBuf,
        #[command(flatten)]
        common: ExportArgs,
        /// Where to write the sessions; stdout when absent.
        #[arg(long, value_name = "FILE", help_heading = crate::help::OUTPUT)]
        out: Option<PathBuf>,
    },
    /// Make an export file Element imports from room keys (e.g. what `restore` wrote).
    Encrypt {
        /// The sessions (JSON array), `-` for stdin.
        sessions_json: PathBuf,
        #[command(flatten)]
        common: ExportArgs,
        /// The export file to write (mode 0600).
        #[arg(long, value_name = "FILE", help_heading = crate::help::OUTPUT)]
        out: PathBuf,
        /// PBKDF2 rounds (Element uses 500,000; at least 100,000 unless
        /// --allow-low-rounds).
        #[arg(long, value_name = "N", default_value_t = DEFAULT_ROUNDS, help_heading = crate::help::OUTPUT)]
        rounds: u32,
        /// Allow fewer than 100,000 rounds (the spec's minimum): a weaker file, for
        /// tests or a device too slow for more.
        #[arg(long, help_heading = crate::help::OUTPUT)]
        allow_low_rounds: bool,
    },
}

#[derive(Debug, Args)]
pub(crate) struct ExportArgs {
    /// Read the export passphrase from this file (one trailing newline removed) instead
    /// of asking on the terminal.
    #[arg(long, value_name = "FILE", help_heading = crate::help::HAVE)]
    passphrase_file: Option<PathBuf>,
    /// Only sessions of this room (repeatable).
    #[arg(long = "room", value_name = "ROOM_ID", help_heading = crate::help::HAVE)]
    rooms: Vec<String>,
}

/// Keeps the sessions of the given rooms (all when none are given).
pub(crate) fn room_filter(rooms: &[String]) -> impl Fn(&RoomKey) -> bool + '_ {
    let set: BTreeSet<&str> = rooms.iter().map(String::as_str).collect();
    move |s| set.is_empty() || set.contains(s.room_id.as_str())
}

pub(crate) fn run(cmd: ExportCommand) -> Result<ExitCode, Fatal> {
    match cmd {
        ExportCommand::Decrypt { file, common, out } => {
            crate::outputs::refuse_keys_on_terminal(out.as_deref(), "--out FILE")?;
            crate::outputs::check_files(
                &[
                    ("the key export", Some(&file)),
                    ("the passphrase file", common.passphrase_file.as_deref()),
                ],
                &[("--out", Some(out.as_deref().unwrap_or(Path::new("-"))))],
            )?;
            let sessions = read_export(&file, common.passphrase_file.as_deref())?;
            let keep = room_filter(&common.rooms);
            let kept: Vec<&RoomKey> = sessions.iter().filter(|s| keep(s)).collect();
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
            allow_low_rounds,
        } => {
            crate::outputs::check_files(
                &[
                    ("the sessions", Some(&sessions_json)),
                    ("the passphrase file", common.passphrase_file.as_deref()),
                ],
                &[("--out", Some(&out))],
            )?;
            let mut options = ExportOptions::new(rounds);
            if allow_low_rounds {
                options = options.allow_low_rounds();
            }
            // Before any work: the rounds, then the passphrase as soon as it is known.
            options
                .check_rounds()
                .map_err(|e| export_params_error(e, "--allow-low-rounds"))?;
            let sessions = crate::files::read_sessions(&sessions_json)?;
            let phrase = passphrase(
                common.passphrase_file.as_deref(),
                "New export passphrase: ",
                "--passphrase-file",
                true,
            )?;
            options
                .check(&phrase)
                .map_err(|e| export_params_error(e, "--allow-low-rounds"))?;
            let keep = room_filter(&common.rooms);
            let (n, completed, unclaimed) = write_export_file(&out, &phrase, options, |emit| {
                for s in sessions.iter().filter(|s| keep(s)) {
                    let json = zeroize::Zeroizing::new(
                        serde_json::to_string(s).map_err(std::io::Error::other)?,
                    );
                    emit(&json)?;
                }
                Ok(())
            })?;
            eprintln!(
                "wrote {n} sessions to {}{}",
                out.display(),
                completed_note(completed, unclaimed)
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The summary's note on sessions written with an empty forwarding chain, or without
/// `sender_claimed_keys`.
pub(crate) fn completed_note(completed: u64, unclaimed: u64) -> String {
    let mut note = String::new();
    if completed > 0 {
        note.push_str(&format!(
            "; {completed} lacked forwarding_curve25519_key_chain and were written with an \
             empty one (the spec requires it)"
        ));
    }
    if unclaimed > 0 {
        note.push_str(&format!(
            "; {unclaimed} have no sender_claimed_keys (the backup held none): Element imports \
             them, matrix-nio skips them"
        ));
    }
    note
}
