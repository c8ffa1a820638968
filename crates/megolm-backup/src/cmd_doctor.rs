//! `megolm-backup doctor`: what is wrong with the account's backup and recovery, in the
//! user's words, and (`--fix`) the safe repairs. The library's `flows::doctor` decides;
//! this prints, asks and sends.

use std::{
    io::{BufRead, IsTerminal, Write},
    path::PathBuf,
    process::ExitCode,
};

use clap::Args;
use flows::{
    DEFAULT_ENTRY_SAMPLE, Diagnosis, EntryCheck, FindingCode, MigrationOutcome, MigrationPlan,
    OldVersionFate, Severity,
};

use crate::{
    fatal::{Fatal, Status, client_error as fail},
    help,
    input::secret_from_file,
    keys::KeyArgs,
    server::{ServerArgs, Session},
};
use zeroize::Zeroizing;

/// `doctor --help`: its exit statuses.
pub(crate) const EXIT_STATUSES: &str = "\
Exit status:
  0    healthy: no problem found (advice may be printed)
  1    an error stopped it (with --fix: the repairs made before it stay; run it again)
  6    a problem was found (with --fix: still there after the repairs)";

/// The heading of `--fix` and `--yes` in `doctor --help`, after the shared ones'
/// "What you have".
const REPAIRS: &str = "Repairs";

// The fields go in the order of the headings in `--help`: what you have, the repairs,
// the homeserver, tuning (clap lists each heading where its first option is).
#[derive(Debug, Args)]
pub(crate) struct DoctorArgs {
    #[command(flatten)]
    key: KeyArgs,
    /// With --fix: a file holding the current backup's own key (recovery key or base64),
    /// when secret storage does not hold it.
    #[arg(long, value_name = "FILE", requires = "fix", help_heading = help::HAVE)]
    backup_key_file: Option<PathBuf>,
    /// With --fix: a file holding a key of an older backup (its recovery key or base64
    /// key, or the Security Key or Phrase from before a reset), to move the sessions it
    /// opens into the current version. May be given more than once.
    #[arg(long, value_name = "FILE", requires = "fix", help_heading = help::HAVE)]
    old_key_file: Vec<PathBuf>,
    /// Make the safe repairs: store the backup key in secret storage, sign the backup
    /// version with the master key, log out this tool's logins left behind (with the
    /// account password), write m.key_backup, move into the current version
    /// (re-encrypted) every session your keys open in older versions or in entries
    /// encrypted to an older key and then delete the older versions whose every session
    /// is in it. The plan is shown first.
    #[arg(long, help_heading = REPAIRS)]
    fix: bool,
    /// With --fix: apply the plan without asking.
    #[arg(long, requires = "fix", help_heading = REPAIRS)]
    yes: bool,
    #[command(flatten)]
    server: ServerArgs,
    /// Decrypt every entry of the backup instead of a sample.
    #[arg(long, conflicts_with_all = ["sample", "no_entries"], help_heading = help::TUNING)]
    all_entries: bool,
    /// How many entries of the backup to decrypt.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_ENTRY_SAMPLE, help_heading = help::TUNING)]
    sample: usize,
    /// Do not download the backup's entries.
    #[arg(long, help_heading = help::TUNING)]
    no_entries: bool,
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
        FindingCode::EntriesForAnotherKey | FindingCode::OldBackupVersions => {
            Some("`doctor --fix --old-key-file FILE` with the older key")
        }
        _ => None,
    }
}

fn print(diagnosis: &Diagnosis) {
    match &diagnosis.version {
        Some(v) => println!("backup version {}", shown(v)),
        None => println!("no backup version"),
    }
    if let Some(k) = &diagnosis.key_description {
        println!("your key: {}", shown(k));
    }
    if let Some(e) = &diagnosis.entries {
        let failed: usize = e.failed.values().sum();
        println!(
            "entries: {} checked of {}, {failed} failed",
            e.checked, e.total
        );
        for (room, session, class) in &e.sample {
            println!(
                "  failed: room {} session {}: {class}",
                shown(room),
                shown(session)
            );
        }
    }
    for f in &diagnosis.findings {
        let level = match f.code.severity() {
            Severity::Problem => "PROBLEM",
            _ => "advice",
        };
        let says = f
            .code
            .element_says()
            .map(|s| format!("\"{s}\""))
            .unwrap_or_else(|| "(Element shows nothing)".to_owned());
        println!();
        println!("{level}: {says} [{}]", f.code);
        println!("  found: {}", shown(&f.detail));
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

/// What the repairs and the migration leave unrepaired: the plan's list without what the
/// migration covers, with why the migration cannot run in place of "no safe repair".
fn plan_left(
    plan: &flows::RepairPlan,
    covered: &[FindingCode],
    blocked: Option<(FindingCode, &String)>,
) -> Vec<(FindingCode, String)> {
    plan.not_repaired
        .iter()
        .filter(|(code, _)| !covered.contains(code))
        .map(|(code, why)| match blocked {
            Some((b, reason)) if b == *code => (*code, reason.clone()),
            _ => (*code, why.clone()),
        })
        .collect()
}

/// What the migration did, one line per older version.
fn print_migration(outcome: &MigrationOutcome) {
    let current = shown(&outcome.current_version);
    if let Some(replaced) = &outcome.replaced_version {
        let replaced = shown(replaced);
        println!(
            "{} entries of version {replaced} were encrypted to an older key: version {} (same \
             key, same signatures) replaces it",
            outcome.entries_for_older_key, current
        );
    }
    println!(
        "re-encrypted {} sessions to backup version {} and uploaded {}",
        outcome.reencrypted, current, outcome.uploaded
    );
    if outcome.not_reencrypted > 0 {
        println!(
            "{} sessions could not be re-encrypted (not valid sessions once decrypted)",
            outcome.not_reencrypted
        );
    }
    for (id, fate) in &outcome.old_versions {
        let id = shown(id);
        match fate {
            OldVersionFate::Deleted => println!(
                "version {id}: every session is in version {}: deleted",
                current
            ),
            OldVersionFate::Gone => println!("version {id}: already gone"),
            OldVersionFate::KeptUnreadable { unreadable } => println!(
                "version {id}: kept: {unreadable} entries open with none of your keys (give \
                 its key with --old-key-file)"
            ),
            OldVersionFate::KeptNoKey => println!(
                "version {id}: kept: it is empty but none of your keys is its key (give its \
                 key with --old-key-file to delete it)"
            ),
            OldVersionFate::KeptNotVerified { missing } => println!(
                "version {id}: kept: {missing} of its sessions were not found in version {} \
                 when read back (run doctor --fix again)",
                current
            ),
            OldVersionFate::KeptDeleteRefused { status } => println!(
                "version {id}: kept: the homeserver refused to delete it ({status}); every \
                 session of it is in version {}: run doctor --fix again",
                current
            ),
            other => println!("version {id}: {other:?}"),
        }
    }
}

/// What the repairs `made` (those before the one that stopped) changed, in one sentence:
/// none, or which by their number in the plan.
fn made_before(made: &[flows::Repair]) -> String {
    match made {
        [] => "No repair was made: the account is as it was.".to_owned(),
        [only] => format!("Repair 1 ({}) was made.", only.description),
        _ => format!(
            "Repairs 1 to {} were made ({}).",
            made.len(),
            made.iter()
                .map(|r| r.description.as_str())
                .collect::<Vec<_>>()
                .join("; ")
        ),
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

/// Why the current backup key is not stored over a stale one.
const STALE_KEY_KEPT: &str = "the backup key in secret storage is an older key and may be \
     the only copy of it: it is replaced only after a migration that moved everything it \
     opens and kept nothing. Run doctor --fix again (give the key of any version kept with \
     --old-key-file)";

/// Text from the server or the account, made safe to print: each control character
/// (a terminal escape, a line break that would forge a line of our output) is shown
/// escaped, as `\u{1b}` or `\n`.
fn shown(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_debug());
        } else {
            out.push(c);
        }
    }
    out
}

/// Sends `r`, repair `number` of the plan (with the password where the server asks for
/// it); an error names the repairs `made` before it.
fn send_repair(
    client: &Session,
    password: Option<&Zeroizing<String>>,
    diagnosis: &Diagnosis,
    r: &flows::Repair,
    number: usize,
    made: &[flows::Repair],
) -> Result<(), Fatal> {
    let mut response = client.send_request(&r.request).map_err(fail)?;
    if let Some(with_auth) = password
        .and_then(|p| flows::with_password(&r.request, &response, &diagnosis.account.user_id, p))
    {
        response = client.send_request(&with_auth).map_err(fail)?;
    }
    if response.status == 401 && password.is_none() {
        return Err(Fatal::new(format!(
            "repair {} ({}) needs the account password: give it with --password-file \
             FILE, or log in with --user. {}",
            number,
            shown(&r.description),
            made_before(made)
        )));
    }
    if !(200..300).contains(&response.status) {
        return Err(Fatal::new(format!(
            "repair {} ({}) was refused: the homeserver answered {} {}. {} Run doctor \
             --fix again to go on",
            number,
            shown(&r.description),
            response.status,
            shown(&response.body.to_string()),
            made_before(made)
        )));
    }
    eprintln!("done: {}", shown(&r.description));
    Ok(())
}

pub(crate) fn run(args: DoctorArgs) -> Result<ExitCode, Fatal> {
    let backup_key = args
        .backup_key_file
        .as_deref()
        .map(|f| secret_from_file(f, "--backup-key-file"))
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

    let old_keys = args
        .old_key_file
        .iter()
        .map(|p| secret_from_file(p, "--old-key-file"))
        .collect::<Result<Vec<_>, _>>()?;
    let old_keys: Vec<&str> = old_keys.iter().map(|k| k.as_str()).collect();
    let backup_key = backup_key.as_deref().map(|k| k.as_str());
    let plan = flows::plan_repairs(&diagnosis, &input, backup_key);
    let migration = flows::plan_migration(&diagnosis, &input, backup_key, &old_keys);
    let (migrates, mut not_repaired) = match &migration {
        MigrationPlan::Ready { fixes, .. } => (true, plan_left(&plan, fixes, None)),
        MigrationPlan::Blocked { fixes, why } => {
            (false, plan_left(&plan, &[], Some((*fixes, why))))
        }
        _ => (false, plan_left(&plan, &[], None)),
    };
    // Storing the current key over a stale one waits for a migration that keeps nothing:
    // the stale key may be the only copy of an older key.
    if !migrates {
        for r in &plan.after_migration {
            not_repaired.push((r.fixes, STALE_KEY_KEPT.to_owned()));
        }
    }
    not_repaired.dedup();
    println!();
    let after: &[flows::Repair] = if migrates { &plan.after_migration } else { &[] };
    if plan.repairs.is_empty() && !migrates {
        for (code, why) in &not_repaired {
            println!("not repaired: [{code}] {}", shown(why));
        }
        println!("nothing that --fix can repair");
        return Ok(status(&diagnosis));
    }
    println!("repair plan:");
    for (i, r) in plan.repairs.iter().enumerate() {
        println!("  {}. {} [{}]", i + 1, shown(&r.description), r.fixes);
    }
    if let MigrationPlan::Ready {
        description, fixes, ..
    } = &migration
    {
        let codes: Vec<&str> = fixes.iter().map(|c| c.as_str()).collect();
        println!(
            "  {}. {} [{}]",
            plan.repairs.len() + 1,
            shown(description),
            codes.join(", ")
        );
    }
    for (i, r) in after.iter().enumerate() {
        println!(
            "  {}. only if the migration keeps nothing: {} [{}]",
            plan.repairs.len() + 2 + i,
            shown(&r.description),
            r.fixes
        );
    }
    for (code, why) in &not_repaired {
        println!("  not repaired: [{code}] {}", shown(why));
    }
    if !args.yes && !confirm()? {
        println!("nothing was changed (give --yes to apply without asking)");
        return Ok(status(&diagnosis));
    }
    for (i, r) in plan.repairs.iter().enumerate() {
        send_repair(
            &client,
            password.as_ref(),
            &diagnosis,
            r,
            i + 1,
            &plan.repairs[..i],
        )?;
    }
    if let MigrationPlan::Ready { mut flow, .. } = migration {
        // The repairs may have signed the version: a version made in its place copies its
        // auth_data, so it is read again. The keys stay those found before the repairs
        // (a stale backup key in secret storage, replaced by the repairs, is one of them).
        if !plan.repairs.is_empty() {
            let now = client.backup_version(None).map_err(fail)?;
            flow.set_current_version(&now)
                .map_err(|e| Fatal::new(format!("{e}; run doctor --fix again")))?;
        }
        eprintln!("moving sessions into the current backup version …");
        let outcome = client.run(*flow).map_err(fail)?;
        print_migration(&outcome);
        if outcome.kept_nothing() {
            let mut made = plan.repairs.clone();
            for (i, r) in after.iter().enumerate() {
                send_repair(
                    &client,
                    password.as_ref(),
                    &diagnosis,
                    r,
                    plan.repairs.len() + 2 + i,
                    &made,
                )?;
                made.push(r.clone());
            }
        } else {
            for r in after {
                println!("not repaired: [{}] {STALE_KEY_KEPT}", r.fixes);
            }
        }
    }
    println!();
    println!("after the repairs:");
    let after = diagnose(if migrates { entries } else { EntryCheck::Skip })?;
    print(&after);
    Ok(status(&after))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Server text with a terminal escape, a line break and a DEL is printed escaped;
    /// other text (non-ASCII included) unchanged.
    #[test]
    fn server_text_is_shown_with_control_characters_escaped() {
        assert_eq!(
            shown("v1\u{1b}[2J\nPROBLEM: forged\u{7f} é"),
            "v1\\u{1b}[2J\\nPROBLEM: forged\\u{7f} é"
        );
        assert!(!shown("\u{9b}31m\r\t").chars().any(char::is_control));
    }

    #[test]
    fn help_lists_the_unhealthy_status() {
        assert!(EXIT_STATUSES.contains(&format!("\n  {:<5}", Status::Unhealthy as u8)));
    }
}
