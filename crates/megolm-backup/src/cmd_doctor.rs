//! `megolm-backup doctor`: what is wrong with the account's backup and recovery, in the
//! user's words (the library's `flows::doctor` decides; this prints).

use std::process::ExitCode;

use clap::Args;
use flows::{EntryCheck, FindingCode, Severity, doctor::DEFAULT_ENTRY_SAMPLE};

use crate::{
    Fatal,
    keys::KeyArgs,
    server::{ServerArgs, fail},
};

/// The exit status when the doctor found a problem (0: healthy; 1: an error stopped it).
pub(crate) const UNHEALTHY: u8 = 6;

#[derive(Debug, Args)]
pub(crate) struct DoctorArgs {
    #[command(flatten)]
    server: ServerArgs,
    #[command(flatten)]
    key: KeyArgs,
    /// Decrypt every entry of the backup instead of a sample.
    #[arg(long, conflicts_with_all = ["sample", "no_entries"])]
    all_entries: bool,
    /// How many entries of the backup to decrypt.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_ENTRY_SAMPLE)]
    sample: usize,
    /// Do not download the backup's entries.
    #[arg(long)]
    no_entries: bool,
}

/// A finding's code as the user reads it, with what to run where this tool can do it.
fn cli_fix(code: FindingCode) -> Option<&'static str> {
    match code {
        FindingCode::SecretStorageNotSetUp
        | FindingCode::DefaultKeyDescriptionMissing
        | FindingCode::NoBackup => Some("`megolm-backup setup` (or `setup --reset`)"),
        FindingCode::EntriesForAnotherKey => Some(
            "`megolm-backup restore --homeserver … --key-file OLD` with the older key, then \
             `upload` the sessions",
        ),
        _ => None,
    }
}

pub(crate) fn run(args: DoctorArgs) -> Result<ExitCode, Fatal> {
    let client = args.server.connect(args.key.uses_stdin())?;
    let input = args.key.read()?;
    let entries = if args.no_entries {
        EntryCheck::Skip
    } else if args.all_entries {
        EntryCheck::All
    } else {
        EntryCheck::Sample(args.sample)
    };
    let options = flows::DoctorOptions::default().entries(entries);
    let diagnosis = homeserver::doctor::diagnose(&client, Some(&input), options, |done, all| {
        if all >= 1000 {
            eprintln!("checked {done} of {all} entries");
        }
    })
    .map_err(fail)?;
    drop(input);

    match &diagnosis.version {
        Some(v) => println!("backup version {v}"),
        None => println!("no backup version"),
    }
    if let Some(k) = &diagnosis.key_description {
        println!("your key: {k}");
    }
    if let Some(e) = &diagnosis.entries {
        let failed: usize = e.failed.values().sum();
        println!(
            "entries: {} checked of {}, {failed} failed",
            e.checked, e.total
        );
        for (room, session, class) in &e.sample {
            println!("  failed: room {room} session {session}: {class}");
        }
    }
    for f in &diagnosis.findings {
        let level = match f.code.severity() {
            Severity::Problem => "PROBLEM",
            _ => "advice",
        };
        let shown = f
            .code
            .element_says()
            .map(|s| format!("\"{s}\""))
            .unwrap_or_else(|| "(Element shows nothing)".to_owned());
        println!();
        println!("{level}: {shown} [{}]", f.code);
        println!("  found: {}", f.detail);
        println!("  cause: {}", f.code.cause());
        println!("  fix:   {}", f.code.fix());
        if let Some(cmd) = cli_fix(f.code) {
            println!("  with this tool: {cmd}");
        }
    }
    println!();
    if diagnosis.is_healthy() {
        println!("healthy: key storage, recovery and cross-signing are in order");
        Ok(ExitCode::SUCCESS)
    } else {
        let n = diagnosis
            .findings
            .iter()
            .filter(|f| f.code.severity() == Severity::Problem)
            .count();
        println!("{n} problem(s) found");
        Ok(ExitCode::from(UNHEALTHY))
    }
}
