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

/// A failure that ends the program: its message goes to stderr, exit status 1.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct Fatal(pub(crate) String);

impl Fatal {
    pub(crate) fn new(msg: impl std::fmt::Display) -> Self {
        Self(msg.to_string())
    }
}

fn main() -> ExitCode {
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
        Command::Bench(args) => cmd_bench::run(args),
        Command::Export(cmd) => cmd_export::run(cmd),
        Command::Ssss(cmd) => cmd_ssss::run(cmd),
        Command::Vectors(args) => cmd_vectors::run(args),
    };
    match result {
        Ok(code) => code,
        Err(Fatal(msg)) => {
            eprintln!("error: {msg}");
            ExitCode::from(1)
        }
    }
}
