//! `megolm-backup`: the command-line tool over this workspace's crates.
//!
//! Secrets (keys, passphrases) are never taken from the command line: they come from
//! standard input or a file, and lose exactly one trailing newline (`\n` or `\r\n`).

#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod cmd_bench;
#[cfg(feature = "homeserver")]
mod cmd_doctor;
mod cmd_encrypt;
mod cmd_export;
mod cmd_recovery_key;
mod cmd_restore;
#[cfg(feature = "homeserver")]
mod cmd_server;
#[cfg(feature = "homeserver")]
mod cmd_setup;
mod cmd_ssss;
mod cmd_vectors;
mod files;
mod input;
mod keys;
mod outputs;
mod secret_file;
#[cfg(feature = "homeserver")]
mod server;
mod sorted_output;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Matrix server-side key backup: recovery keys, backups, secret storage, key exports.
#[derive(Debug, Parser)]
#[command(name = "megolm-backup", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// The fastest multi-lane X25519 path bulk restores may use: `any` (whatever this CPU
    /// has), `avx2` (nothing that needs AVX-512: how a CPU without it runs), `none` (one
    /// X25519 at a time). Every path computes the same results.
    #[arg(long, global = true, value_enum, default_value_t = Lanes::Any)]
    lanes: Lanes,
}

/// `--lanes`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Lanes {
    Any,
    Avx2,
    None,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Generate, decode and encode recovery keys ("Security Keys").
    #[command(subcommand)]
    RecoveryKey(cmd_recovery_key::RecoveryKeyCommand),
    /// Restore a whole server-side backup (GET /room_keys/keys body) into exported room keys.
    #[command(after_help = RESTORE_EXIT_STATUSES)]
    Restore(cmd_restore::RestoreArgs),
    /// Download a backup from the homeserver to a file (streamed).
    #[cfg(feature = "homeserver")]
    Fetch(cmd_server::FetchArgs),
    /// Upload exported room keys (JSON or an Element export) to the server-side backup.
    #[cfg(feature = "homeserver")]
    Upload(cmd_server::UploadArgs),
    /// Show the homeserver's backup: version, algorithm, key count, etag, key match.
    #[cfg(feature = "homeserver")]
    Info(cmd_server::InfoArgs),
    /// Set up secure backup from scratch (secret storage + a new backup), as Element does.
    #[cfg(feature = "homeserver")]
    Setup(cmd_setup::SetupArgs),
    /// Is secure backup set up, and does the stored backup key match the current backup?
    #[cfg(feature = "homeserver")]
    Status(cmd_setup::StatusArgs),
    /// What is wrong with the account's key storage, recovery and cross-signing, in the
    /// words Element shows, with causes and fixes (exit 6 when something is).
    #[cfg(feature = "homeserver")]
    #[command(after_help = cmd_doctor::EXIT_STATUSES)]
    Doctor(cmd_doctor::DoctorArgs),
    /// Encrypt exported room keys into a backup body for PUT /room_keys/keys.
    Encrypt(cmd_encrypt::EncryptArgs),
    /// Measure restore throughput on this machine.
    Bench(cmd_bench::BenchArgs),
    /// Element key-export files: decrypt and encrypt, optionally only some rooms.
    #[command(subcommand)]
    Export(cmd_export::ExportCommand),
    /// Secret storage (SSSS): unlock it and read secrets from a file of account data.
    #[command(subcommand)]
    Ssss(cmd_ssss::SsssCommand),
    /// Run known-answer vector files (schema mkb-vectors/1).
    Vectors(cmd_vectors::VectorsArgs),
}

/// Every exit status of the tool, in one place (`restore --help` lists them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    /// Everything was done: every session restored, every file written.
    Success = 0,
    /// An error stopped the command; nothing was written.
    Error = 1,
    /// Partly done: the output holds every good session, and the failures are listed.
    Partial = 2,
    /// The key does not open this backup; nothing was written.
    WrongKey = 3,
    /// Entries failed and none could be restored; nothing was written.
    NothingRestored = 4,
    /// SIGINT or SIGTERM: nothing was written, no temporary file is left.
    Interrupted = 130,
}

/// `restore --help`: its exit statuses (the numbers of [`Status`]).
const RESTORE_EXIT_STATUSES: &str = "\
Exit status:
  0    every session restored and written
  1    an error; nothing was written
  2    partly restored: the output holds every good session, the failures are listed
  3    the key does not open this backup; nothing was written
  4    entries failed and none could be restored; nothing was written
  130  interrupted (SIGINT, SIGTERM); nothing was written, no temporary file is left";

impl From<Status> for ExitCode {
    fn from(status: Status) -> Self {
        ExitCode::from(status as u8)
    }
}

/// A failure that ends the program: its message goes to stderr, and the process exits
/// with its status (1 unless said otherwise).
#[derive(Debug, thiserror::Error)]
#[error("{msg}")]
pub(crate) struct Fatal {
    msg: String,
    status: Status,
}

impl Fatal {
    /// An error: exit status 1.
    pub(crate) fn new(msg: impl std::fmt::Display) -> Self {
        Self::with_status(Status::Error, msg)
    }

    /// An error that ends the program with `status`.
    pub(crate) fn with_status(status: Status, msg: impl std::fmt::Display) -> Self {
        Self {
            msg: msg.to_string(),
            status,
        }
    }
}

/// Keeps secrets inside this process: no core dump (core size limit 0) and not dumpable
/// (no core, and no ptrace or `/proc/<pid>/mem` by other processes of the same user).
/// Every command touches a secret or may, so this runs first. Best effort: a system that
/// refuses is not a reason to refuse to run (the calls cannot fail on Linux for these
/// arguments).
fn keep_secrets_in_process() {
    #[cfg(unix)]
    {
        let zero = rustix::process::Rlimit {
            current: Some(0),
            maximum: Some(0),
        };
        let _ = rustix::process::setrlimit(rustix::process::Resource::Core, zero);
    }
    #[cfg(any(target_os = "linux", target_os = "android"))]
    let _ = rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable);
}

fn main() -> ExitCode {
    keep_secrets_in_process();
    let cli = Cli::parse();
    secret_file::remove_on_interrupt();
    backup_cipher::x25519::set_lane_limit(match cli.lanes {
        Lanes::Any => backup_cipher::x25519::LaneLimit::Any,
        Lanes::Avx2 => backup_cipher::x25519::LaneLimit::Avx2,
        Lanes::None => backup_cipher::x25519::LaneLimit::None,
    });
    let result = match cli.command {
        Command::RecoveryKey(cmd) => cmd_recovery_key::run(cmd),
        Command::Restore(args) => cmd_restore::run(args),
        Command::Encrypt(args) => cmd_encrypt::run(args),
        #[cfg(feature = "homeserver")]
        Command::Fetch(args) => cmd_server::fetch(args),
        #[cfg(feature = "homeserver")]
        Command::Upload(args) => cmd_server::upload(args),
        #[cfg(feature = "homeserver")]
        Command::Info(args) => cmd_server::info(args),
        #[cfg(feature = "homeserver")]
        Command::Setup(args) => cmd_setup::setup(args),
        #[cfg(feature = "homeserver")]
        Command::Status(args) => cmd_setup::status(args),
        #[cfg(feature = "homeserver")]
        Command::Doctor(args) => cmd_doctor::run(args),
        Command::Bench(args) => cmd_bench::run(args),
        Command::Export(cmd) => cmd_export::run(cmd),
        Command::Ssss(cmd) => cmd_ssss::run(cmd),
        Command::Vectors(args) => cmd_vectors::run(args),
    };
    match result {
        Ok(code) => code,
        Err(Fatal { msg, status }) => {
            eprintln!("error: {msg}");
            status.into()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(target_os = "linux")]
    #[test]
    fn secrets_stay_in_the_process() {
        keep_secrets_in_process();
        assert_eq!(
            rustix::process::dumpable_behavior().unwrap(),
            rustix::process::DumpableBehavior::NotDumpable
        );
        let core = rustix::process::getrlimit(rustix::process::Resource::Core);
        assert_eq!((core.current, core.maximum), (Some(0), Some(0)));
    }

    #[test]
    fn restore_help_lists_every_exit_status() {
        for status in [
            Status::Success,
            Status::Error,
            Status::Partial,
            Status::WrongKey,
            Status::NothingRestored,
            Status::Interrupted,
        ] {
            let line = format!("\n  {:<5}", status as u8);
            assert!(RESTORE_EXIT_STATUSES.contains(&line), "{status:?}");
        }
    }
}
