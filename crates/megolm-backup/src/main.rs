//! `megolm-backup`: the command-line tool over this workspace's crates.
//!
//! Secrets (keys, passphrases) are never taken from the command line: they come from
//! standard input or a file, and lose exactly one trailing newline (`\n` or `\r\n`).

#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

#[cfg(feature = "bench")]
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
#[cfg(feature = "vectors")]
mod cmd_vectors;
mod fatal;
mod files;
mod help;
mod input;
mod keys;
mod outputs;
mod secret_file;
#[cfg(feature = "homeserver")]
mod server;
mod sorted_output;
mod wiped;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use fatal::RESTORE_EXIT_STATUSES;

/// Matrix server-side key backup: recovery keys, backups, secret storage, key exports.
#[derive(Debug, Parser)]
#[command(name = "megolm-backup", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// (Measuring, feature `bench`.) The fastest multi-lane X25519 path bulk restores may use: `any` (whatever this CPU
    /// has), `avx2` (nothing that needs AVX-512: how a CPU without it runs), `none` (one
    /// X25519 at a time). Every path computes the same results.
    #[cfg(feature = "bench")]
    #[arg(long, global = true, value_enum, default_value_t = Lanes::Any, help_heading = help::TUNING)]
    lanes: Lanes,
}

/// `--lanes`.
#[cfg(feature = "bench")]
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Lanes {
    Any,
    Avx2,
    None,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Make a new Security Key (recovery key), or turn one into base64 and back.
    #[command(subcommand)]
    RecoveryKey(cmd_recovery_key::RecoveryKeyCommand),
    /// Get your message keys back from the server-side backup, with the Security Key or
    /// Security Phrase Element gave you.
    #[command(after_help = RESTORE_EXIT_STATUSES)]
    Restore(cmd_restore::RestoreArgs),
    /// Download the encrypted backup (and what unlocks it) from the homeserver to files.
    #[cfg(feature = "homeserver")]
    Fetch(cmd_server::FetchArgs),
    /// Put room keys (restored ones, or an Element export file) into the server-side backup.
    #[cfg(feature = "homeserver")]
    Upload(cmd_server::UploadArgs),
    /// Show the account's server-side backup, and whether your key opens it.
    #[cfg(feature = "homeserver")]
    Info(cmd_server::InfoArgs),
    /// Set up recovery on an account (a Security Key or Phrase and a new backup), as
    /// Element does.
    #[cfg(feature = "homeserver")]
    Setup(cmd_setup::SetupArgs),
    /// Check that recovery is set up and that the key it keeps opens the current backup.
    #[cfg(feature = "homeserver")]
    Status(cmd_setup::StatusArgs),
    /// Find what is wrong with your key storage, recovery and cross-signing, in the words
    /// Element shows, and repair what can be repaired safely.
    #[cfg(feature = "homeserver")]
    #[command(after_help = cmd_doctor::EXIT_STATUSES)]
    Doctor(cmd_doctor::DoctorArgs),
    /// Encrypt room keys into a backup body, for a backup you manage yourself.
    Encrypt(cmd_encrypt::EncryptArgs),
    /// Measure how fast this machine restores (a synthetic backup).
    #[cfg(feature = "bench")]
    Bench(cmd_bench::BenchArgs),
    /// Read or write Element key-export files ("Export E2E room keys"), or some rooms of
    /// them.
    #[command(subcommand)]
    Export(cmd_export::ExportCommand),
    /// Unlock secret storage with your Security Key or Phrase, and read what it keeps.
    #[command(subcommand)]
    Ssss(cmd_ssss::SsssCommand),
    /// Check this build against known-answer vector files (schema mkb-vectors/1).
    #[cfg(feature = "vectors")]
    Vectors(cmd_vectors::VectorsArgs),
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
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            // A mistyped command line is an error before anything ran: status 1, never
            // clap's own 2, which here means "partly restored".
            return if e.use_stderr() {
                fatal::Status::Error.into()
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    secret_file::remove_on_interrupt();
    #[cfg(feature = "bench")]
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
        #[cfg(feature = "bench")]
        Command::Bench(args) => cmd_bench::run(args),
        Command::Export(cmd) => cmd_export::run(cmd),
        Command::Ssss(cmd) => cmd_ssss::run(cmd),
        #[cfg(feature = "vectors")]
        Command::Vectors(args) => cmd_vectors::run(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => e.report(),
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
}
