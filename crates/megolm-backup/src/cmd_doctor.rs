//! `megolm-backup doctor`: what is wrong with the account's backup and recovery, in the
//! user's words, and (`--fix`) the safe repairs. The library's `flows::doctor` decides;
//! this prints, asks and sends.

use std::{
    io::{BufRead, IsTerminal, Write},
    path::PathBuf,
    process::ExitCode,
};

use clap::Args;
use flows::{DEFAULT_ENTRY_SAMPLE, Diagnosis, EntryCheck, FindingCode, Severity};

use crate::{
    fatal::{Fatal, Status, client_error as fail},
    input::secret_from_file,
    keys::KeyArgs,
    server::ServerArgs,
};

/// `doctor --help`: its exit statuses.
pub(crate) const EXIT_STATUSES: &str = "\
Exit status:
  0    healthy: no problem found (advice may be printed)
  1    an error stopped it (with --fix: the repairs made before it stay; run it again)
  6    a problem was found (with --fix: still there after the repairs)";

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
    /// Make the safe repairs: store the backup key in secret storage, sign the backup
    /// version with the master key, write m.key_backup, log out this tool's logins left
    /// behind (with the account password). The plan is shown first.
    #[arg(long)]
    fix: bool,
    /// With --fix: apply the plan without asking.
    #[arg(long, requires = "fix")]
    yes: bool,
    /// With --fix: a file holding the current backup's own key (recovery key or base64),
    /// when secret storage does not hold it.
    #[arg(long, value_name = "FILE", requires = "fix")]
    backup_key_file: Option<PathBuf>,
}

/// What to run with this tool, where it can repair what `--fix` does not.
fn cli_fix(code: FindingCode) -> Option<&'static str> {
    match code {
        FindingCode::SecretStorageNotSetUp
        | FindingCode::DefaultKeyDescriptionMissing
        | FindingCode::NoBackup => Some("`megolm-backup setup` (or `setup --reset`)"),
        FindingCode::BackupKeyNotStored
        | FindingCode::BackupKeyStale
        | FindingCode::BackupNotSignedByMasterKey
        | FindingCode::BackupSignedByOldMasterKey
        | FindingCode::KeyBackupEventMissing
        | FindingCode::KeyBackupDisabled => {
            Some("`doctor --fix` (with --backup-key-file when secret storage lacks the key)")
        }
        FindingCode::EntriesForAnotherKey => {
            Some("`restore` with the older key, then `upload` the sessions with the current one")
        }
        _ => None,
    }
}

fn print(diagnosis: &Diagnosis) {
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
    } else {
        let n = diagnosis
            .findings
            .iter()
            .filter(|f| f.code.severity() == Severity::Problem)
            .count();
        println!("{n} problem(s) found");
    }
}

fn status(diagnosis: &Diagnosis) -> ExitCode {
    if diagnosis.is_healthy() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(Status::Unhealthy)
    }
}

/// Asks on the terminal; anything but "y" or "yes" is no.
fn confirm() -> Result<bool, Fatal> {
    if !std::io::stdin().is_terminal() {
        return Ok(false);
    }
    eprint!("apply these repairs? [y/N] ");
    std::io::stderr().flush().ok();
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| Fatal::new(format!("cannot read the answer: {e}")))?;
    Ok(matches!(line.trim(), "y" | "Y" | "yes"))
}

pub(crate) fn run(args: DoctorArgs) -> Result<ExitCode, Fatal> {
    let backup_key = args
        .backup_key_file
        .as_deref()
        .map(secret_from_file)
        .transpose()?;
    let (client, password) = args.server.connect_with_password(args.key.uses_stdin())?;
    let input = args.key.read()?;
    let entries = if args.no_entries {
        EntryCheck::Skip
    } else if args.all_entries {
        EntryCheck::All
    } else {
        EntryCheck::Sample(args.sample)
    };
    let diagnose = |entries| {
        let options = flows::DoctorOptions::default().entries(entries);
        client
            .diagnose(Some(&input), options, |done, all| {
                if all >= 1000 {
                    eprintln!("checked {done} of {all} entries");
                }
            })
            .map_err(fail)
    };
    let diagnosis = diagnose(entries)?;
    print(&diagnosis);
    if !args.fix {
        return Ok(status(&diagnosis));
    }

    let plan = flows::plan_repairs(
        &diagnosis,
        &input,
        backup_key.as_deref().map(|k| k.as_str()),
    );
    println!();
    if plan.repairs.is_empty() {
        println!("nothing that --fix can repair");
        return Ok(status(&diagnosis));
    }
    println!("repair plan:");
    for (i, r) in plan.repairs.iter().enumerate() {
        println!("  {}. {} [{}]", i + 1, r.description, r.fixes);
    }
    for (code, why) in &plan.not_repaired {
        println!("  not repaired: [{code}] {why}");
    }
    if !args.yes && !confirm()? {
        println!("nothing was changed (give --yes to apply without asking)");
        return Ok(status(&diagnosis));
    }
    for (i, r) in plan.repairs.iter().enumerate() {
        let mut response = client.send_request(&r.request).map_err(fail)?;
        if let Some(with_auth) = password.as_ref().and_then(|p| {
            flows::with_password(&r.request, &response, &diagnosis.account.user_id, p)
        }) {
            response = client.send_request(&with_auth).map_err(fail)?;
        }
        if response.status == 401 && password.is_none() {
            return Err(Fatal::new(format!(
                "repair {} ({}) needs the account password: give it with --password-file \
                 FILE, or log in with --user. The repairs before it were made",
                i + 1,
                r.description
            )));
        }
        if !(200..300).contains(&response.status) {
            return Err(Fatal::new(format!(
                "repair {} ({}) was refused: the homeserver answered {} {}. The repairs \
                 before it were made; run doctor --fix again to go on",
                i + 1,
                r.description,
                response.status,
                response.body
            )));
        }
        eprintln!("done: {}", r.description);
    }
    println!();
    println!("after the repairs:");
    let after = diagnose(EntryCheck::Skip)?;
    print(&after);
    Ok(status(&after))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn help_lists_the_unhealthy_status() {
        assert!(EXIT_STATUSES.contains(&format!("\n  {:<5}", Status::Unhealthy as u8)));
    }
}
