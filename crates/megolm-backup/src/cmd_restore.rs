//! `megolm-backup restore`: a whole backup body in, exported room keys out.

use std::{
    collections::BTreeMap,
    io::{self, IsTerminal, Read},
    path::{Path, PathBuf},
    process::ExitCode,
    time::Instant,
};

use backup_cipher::{
    BackupDecryptionKey, Progress, RestoreFailure, RestoreOptions, RestoreSink, RestoredSession,
    restore_reader,
};
use clap::Args;

use crate::files::{open_input, write_output};
use crate::{
    fatal::{Fatal, Status, export_params_error, nothing_restored, restore_failed, wrong_key},
    help,
    keys::{KeyArgs, read_backup_info, recover},
    secret_file::folder_of,
    sorted_output::SortedJsonArray,
};

#[derive(Debug, Args)]
pub(crate) struct RestoreArgs {
    #[command(flatten)]
    key: KeyArgs,
    /// Secret storage from this account-data file (`fetch --account-data-out`, a /sync
    /// response, a list of events, or an object of type → content), so the Security Key
    /// or Phrase can be used offline.
    #[arg(long, value_name = "FILE", help_heading = help::HAVE)]
    account_data: Option<PathBuf>,
    /// The backup version (`fetch --info-out`, the body of GET /room_keys/version): the
    /// key is checked against its public key before any work.
    #[arg(long, value_name = "FILE", help_heading = help::HAVE)]
    backup_info: Option<PathBuf>,
    /// Where to write the restored sessions (JSON array); stdout when absent or `-` (when
    /// absent, never a terminal). A regular file is replaced atomically (mode 0600); an
    /// existing FIFO, terminal or device is written in place. Never one of the input files.
    #[arg(long, value_name = "FILE", help_heading = help::OUTPUT)]
    out: Option<PathBuf>,
    /// Write the restored sessions as an Element key-export file instead of JSON; Element
    /// imports it (Settings → Security & Privacy → Import E2E room keys).
    #[arg(
        long,
        value_name = "FILE",
        conflicts_with = "out",
        help_heading = help::OUTPUT
    )]
    export_file: Option<PathBuf>,
    /// The export passphrase, from this file (else asked on the terminal).
    #[arg(
        long,
        value_name = "FILE",
        requires = "export_file",
        help_heading = help::OUTPUT
    )]
    export_passphrase_file: Option<PathBuf>,
    /// PBKDF2 rounds of the export file.
    #[arg(
        long,
        value_name = "N",
        default_value_t = key_export::DEFAULT_ROUNDS,
        requires = "export_file",
        help_heading = help::OUTPUT
    )]
    export_rounds: u32,
    /// Write the export file with fewer than 100,000 rounds (weak against guessing the
    /// passphrase; for tests).
    #[arg(long, requires = "export_file", help_heading = help::OUTPUT)]
    export_allow_low_rounds: bool,
    /// Where to write the list of entries that failed: a JSON array, one record per
    /// line, sorted by room and session. Without it the failures are counted by class
    /// and the first few shown.
    #[arg(long, value_name = "FILE", help_heading = help::OUTPUT)]
    failures: Option<PathBuf>,
    /// Fetch the backup from this homeserver instead of a file (see `fetch` for the
    /// authentication options); secret storage is read from the account too.
    #[cfg(feature = "homeserver")]
    #[command(flatten)]
    server: crate::server::ServerArgs,
    /// With --homeserver: which backup version to restore (default: the current one).
    /// Not the tool's own `--version`.
    #[arg(
        long = "backup-version",
        alias = "version",
        value_name = "VERSION",
        requires = "homeserver",
        help_heading = help::SERVER
    )]
    version: Option<String>,
    /// Worker threads (default: every core).
    #[arg(long, value_name = "N", help_heading = help::TUNING)]
    jobs: Option<usize>,
    /// Refuse backup bodies larger than this many bytes.
    #[arg(
        long,
        value_name = "BYTES",
        default_value_t = RestoreOptions::default().max_body_bytes,
        help_heading = help::TUNING
    )]
    max_body_bytes: u64,
    /// Memory budget for sorting the output before spilling to temporary files.
    #[arg(
        long,
        value_name = "BYTES",
        default_value_t = 64 << 20,
        help_heading = help::TUNING
    )]
    sort_memory: usize,
    /// The backup body (`fetch --out`, GET /room_keys/keys), `-` for stdin; omit with
    /// --homeserver.
    backup_json: Option<PathBuf>,
}

/// What a restore reads, once its key is found.
struct Source {
    /// The backup key.
    key: BackupDecryptionKey,
    /// What the key was taken for, in the user's words (`describe()`).
    described: String,
    /// Was the key checked against the backup version's public key?
    version_known: bool,
    /// The body.
    body: Body,
    /// How much of it there is.
    amount: Amount,
}

/// Where the body comes from.
enum Body {
    /// A file or stdin.
    Reader(Box<dyn Read>),
    /// The homeserver: downloaded while it is restored, and fetched again where a
    /// download breaks off (`homeserver::BackupDownloads`). The session keeps a login
    /// made for this command until the restore ends.
    #[cfg(feature = "homeserver")]
    Server {
        session: Box<crate::server::Session>,
        version: String,
    },
}

/// What a restore's progress is measured against: bytes of a file, or sessions of a
/// server's backup (its version's `count`).
#[derive(Clone, Copy)]
#[cfg_attr(not(feature = "homeserver"), allow(dead_code))]
enum Amount {
    Bytes(Option<u64>),
    Sessions(u64),
}

/// Memory for sorting the failure records before they spill (they are small; a hostile
/// body can make millions).
const FAILURE_SORT_MEMORY: usize = 16 << 20;

/// How many failure records the summary shows when they are not all written out.
const FAILURE_SAMPLE: usize = 5;

/// How many entries are tried first, when the key could not be checked against the
/// backup version, to tell a wrong key at once.
const KEY_PROBE_ENTRIES: usize = 32;

/// Every file the restore reads or writes, checked before any work (see `outputs`).
fn check_files(args: &RestoreArgs) -> Result<(), Fatal> {
    if args.export_file.is_none() {
        crate::outputs::refuse_keys_on_terminal(
            args.out.as_deref(),
            "--out FILE (or --export-file FILE, an Element key-export file)",
        )?;
    }
    let stdout = Path::new("-");
    let out = match (&args.out, &args.export_file) {
        (Some(out), _) => Some(out.as_path()),
        (None, None) => Some(stdout),
        (None, Some(_)) => None,
    };
    #[allow(unused_mut)]
    let mut inputs = vec![
        ("the backup body", args.backup_json.as_deref()),
        ("the key file", args.key.key_file.as_deref()),
        ("the account data", args.account_data.as_deref()),
        ("the backup info", args.backup_info.as_deref()),
        (
            "the export passphrase file",
            args.export_passphrase_file.as_deref(),
        ),
    ];
    #[cfg(feature = "homeserver")]
    inputs.extend(args.server.input_files());
    crate::outputs::check_files(
        &inputs,
        &[
            ("--out", out),
            ("--export-file", args.export_file.as_deref()),
            ("--failures", args.failures.as_deref()),
        ],
    )
}

/// The key and the body to restore, from files or from the homeserver.
fn open_source(args: &RestoreArgs) -> Result<Source, Fatal> {
    #[cfg(feature = "homeserver")]
    if args.server.homeserver.is_some() {
        if args.backup_json.is_some() {
            return Err(Fatal::new(
                "give either --homeserver or a BACKUP_JSON file, not both",
            ));
        }
        let client = args.server.connect(args.key.uses_stdin())?;
        let input = args.key.read()?;
        let (info, found) = match &args.account_data {
            // Secret storage from a file, the backup from the server.
            Some(path) => {
                let info = crate::server::version_info(&client, args.version.as_deref())?;
                let store = crate::files::read_account_data(path)?;
                let found = recover(&input, Some(&store), Some(&info))?;
                (info, found)
            }
            None => {
                let found =
                    crate::server::recover_from_server(&client, &input, args.version.as_deref())?;
                let info = found
                    .version
                    .ok_or_else(|| crate::fatal::client_error(homeserver::ClientError::NoBackup))?;
                (info, found.key)
            }
        };
        let version = info
            .version
            .clone()
            .ok_or_else(|| Fatal::new("the server's backup version has no id"))?;
        let amount = info.count.map_or(Amount::Bytes(None), Amount::Sessions);
        return Ok(Source {
            described: found.describe(),
            key: found.backup_key,
            version_known: true,
            body: Body::Server {
                session: Box::new(client),
                version,
            },
            amount,
        });
    }
    let path = args
        .backup_json
        .as_deref()
        .ok_or_else(|| Fatal::new("give the backup body file (BACKUP_JSON), or --homeserver"))?;
    if path == Path::new("-") && args.key.uses_stdin() {
        return Err(Fatal::new(
            "stdin cannot carry both the key and the backup body: give the key with --key-file",
        ));
    }
    check_kinds(path, args.backup_info.as_deref())?;
    let info = args
        .backup_info
        .as_deref()
        .map(read_backup_info)
        .transpose()?;
    let store = args
        .account_data
        .as_deref()
        .map(crate::files::read_account_data)
        .transpose()?;
    let input = args.key.read()?;
    let found = recover(&input, store.as_ref(), info.as_ref())?;
    let (body, total) = open_input(path)?;
    Ok(Source {
        described: found.describe(),
        key: found.backup_key,
        version_known: info.is_some(),
        body: Body::Reader(body),
        amount: Amount::Bytes(total),
    })
}

/// Refuses, before the key is read, a body file or a backup-info file that is sure to be
/// something else (an export file, a list of room keys, the two swapped).
fn check_kinds(body: &Path, backup_info: Option<&Path>) -> Result<(), Fatal> {
    use crate::files::{Kind, refuse_other_kind};
    if let Some(info) = backup_info
        && Kind::of_file(body) == Some(Kind::BackupVersion)
        && Kind::of_file(info) == Some(Kind::BackupBody)
    {
        return Err(Fatal::new(format!(
            "the backup body and the backup version are swapped: {} is the backup version and \
             {} the backup body. Give `--backup-info {}` and {} as the last argument",
            body.display(),
            info.display(),
            body.display(),
            info.display()
        )));
    }
    refuse_other_kind(
        body,
        &[Kind::BackupBody],
        "a backup body",
        |kind| match kind {
            Kind::ExportFile => Some(
                "an export file is read with `export decrypt FILE`; `restore` takes the body of the \
             server-side backup (`fetch --out FILE`, or `restore --homeserver` to fetch it)",
            ),
            Kind::BackupVersion => Some(
                "give this file with --backup-info FILE, and the backup body (`fetch --out FILE`) \
             as the last argument",
            ),
            Kind::RoomKeys => Some(
                "these keys are restored already: `export encrypt` makes an export file Element \
             imports, `upload` puts them into the server-side backup",
            ),
            Kind::BackupBody => None,
        },
    )?;
    if let Some(info) = backup_info {
        refuse_other_kind(info, &[Kind::BackupVersion], "a backup version", |kind| {
            (kind == Kind::BackupBody).then_some(
                "give the backup body as the last argument, and the backup version \
                 (`fetch --info-out FILE`) with --backup-info",
            )
        })?;
    }
    Ok(())
}

/// The failures of a restore, in bounded memory: counted by class, the first few kept
/// for the summary, and with `--failures` every record streamed into a sorted spill.
struct FailureLog {
    by_class: BTreeMap<&'static str, u64>,
    total: u64,
    sample: Vec<RestoreFailure>,
    all: Option<SortedJsonArray>,
}

impl FailureLog {
    fn new(failures: Option<&Path>) -> Self {
        Self {
            by_class: BTreeMap::new(),
            total: 0,
            sample: Vec::new(),
            all: failures.map(|p| SortedJsonArray::new(folder_of(p), FAILURE_SORT_MEMORY)),
        }
    }

    fn add(&mut self, f: RestoreFailure) -> io::Result<()> {
        *self.by_class.entry(f.error.as_str()).or_insert(0) += 1;
        self.total += 1;
        if let Some(all) = &mut self.all {
            let json = serde_json::to_string(&f).map_err(io::Error::other)?;
            all.push(f.room_id.clone(), f.session_id.clone(), json.into())?;
        }
        if self.sample.len() < FAILURE_SAMPLE {
            self.sample.push(f);
        }
        Ok(())
    }

    /// "mac: 3, padding: 1".
    fn classes(&self) -> String {
        let classes: Vec<String> = self
            .by_class
            .iter()
            .map(|(c, n)| format!("{c}: {n}"))
            .collect();
        classes.join(", ")
    }

    /// The first few failures, one per line.
    fn sample_lines(&self) -> String {
        let mut lines = String::new();
        for f in &self.sample {
            // Records about the body itself (a cut before any room) have no ids.
            let place = [f.room_id.as_str(), f.session_id.as_str()]
                .iter()
                .filter(|id| !id.is_empty())
                .copied()
                .collect::<Vec<_>>()
                .join(" ");
            let place = if place.is_empty() {
                String::new()
            } else {
                format!("{place}: ")
            };
            lines.push_str(&format!("\n  {place}{} ({})", f.message, f.error));
        }
        if self.total > self.sample.len() as u64 {
            lines.push_str(&format!(
                "\n  … and {} more",
                self.total - self.sample.len() as u64
            ));
        }
        lines
    }
}

/// Collects results: sessions into the sorted writer, failures into the log, and drives
/// the progress bar.
struct CliSink {
    sessions: SortedJsonArray,
    failures: FailureLog,
    bar: Option<indicatif::ProgressBar>,
    error: Option<io::Error>,
}

impl RestoreSink for CliSink {
    fn restored(&mut self, s: RestoredSession) {
        if self.error.is_none() {
            // On one line already: the restore's workers did it (`with_single_line`).
            let (room_id, session_id, json) = s.into_parts();
            if let Err(e) = self.sessions.push(room_id, session_id, json) {
                self.error = Some(e);
            }
        }
    }
    fn failed(&mut self, f: RestoreFailure) {
        if let Err(e) = self.failures.add(f)
            && self.error.is_none()
        {
            self.error = Some(e);
        }
    }
    fn progress(&mut self, p: Progress) {
        if let Some(bar) = &self.bar {
            bar.set_position(if p.total.is_some() {
                p.done
            } else {
                p.bytes_read
            });
            bar.set_message(format!(
                "{} sessions, {} failed",
                p.done - p.failed,
                p.failed
            ));
        }
    }
}

fn progress_bar(amount: Amount) -> Option<indicatif::ProgressBar> {
    if !io::stderr().is_terminal() {
        return None;
    }
    let (bar, template) = match amount {
        Amount::Sessions(n) => (
            indicatif::ProgressBar::new(n),
            "{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} sessions {msg}",
        ),
        Amount::Bytes(Some(n)) => (
            indicatif::ProgressBar::new(n),
            "{spinner} [{elapsed_precise}] {bar:40} {bytes}/{total_bytes} {msg}",
        ),
        Amount::Bytes(None) => (
            indicatif::ProgressBar::new_spinner(),
            "{spinner} [{elapsed_precise}] {bytes} {msg}",
        ),
    };
    let style = indicatif::ProgressStyle::with_template(template)
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
    bar.set_style(style);
    Some(bar)
}

pub(crate) fn run(args: RestoreArgs) -> Result<ExitCode, Fatal> {
    check_files(&args)?;
    let source = open_source(&args)?;
    // Ask for the export passphrase before the work, not after it.
    let export_phrase = match &args.export_file {
        Some(_) => {
            let phrase = crate::input::passphrase(
                args.export_passphrase_file.as_deref(),
                "Passphrase for the export file: ",
                "--export-passphrase-file",
                true,
            )?;
            key_export::check_export_params(
                &phrase,
                args.export_rounds,
                args.export_allow_low_rounds,
            )
            .map_err(|e| export_params_error(e, "--export-allow-low-rounds"))?;
            Some(phrase)
        }
        None => None,
    };
    // Spill files go beside the output (same disk, same protection).
    let spill_dir = match (&args.export_file, &args.out) {
        (Some(p), _) | (None, Some(p)) if p != Path::new("-") => folder_of(p),
        _ => Path::new("."),
    };
    let mut sink = CliSink {
        sessions: SortedJsonArray::new(spill_dir, args.sort_memory),
        failures: FailureLog::new(args.failures.as_deref()),
        bar: progress_bar(source.amount),
        error: None,
    };
    let mut opts = RestoreOptions::default()
        // The sorted writer keeps one session per line: the workers put each on one.
        .with_single_line(true)
        .with_jobs(args.jobs)
        .with_max_body_bytes(args.max_body_bytes)
        .with_expected_total(match source.amount {
            Amount::Sessions(n) => Some(n),
            Amount::Bytes(_) => None,
        });
    if !source.version_known {
        // The key could not be checked against the backup's public key: try the first
        // entries before the rest, so a wrong key is said at once.
        opts = opts.with_key_probe(KEY_PROBE_ENTRIES);
    }
    let started = Instant::now();
    let result = match source.body {
        Body::Reader(body) => restore_reader(&source.key, body, &opts, &mut sink),
        #[cfg(feature = "homeserver")]
        Body::Server { session, version } => {
            let bar = sink.bar.clone();
            homeserver::BackupDownloads::start(&session, &version)
                .map_err(crate::fatal::client_error)?
                .on_resume(|n| say_resuming(bar.as_ref(), n))
                .restore(&source.key, &opts, &mut sink)
        }
    };
    let elapsed = started.elapsed();
    if let Some(bar) = &sink.bar {
        bar.finish_and_clear();
    }
    let progress = result.map_err(|e| restore_failed(e, &source.described))?;
    if let Some(e) = sink.error.take() {
        return Err(Fatal::new(format!(
            "cannot sort the output (in memory and temporary files): {e}"
        )));
    }
    let restored = sink.sessions.len();
    let failures = &sink.failures;
    // A run that restored nothing replaces nothing.
    if restored == 0 && failures.total > 0 {
        return Err(if failures.by_class.keys().all(|c| *c == "mac") {
            wrong_key(failures.total, &source.described)
        } else {
            nothing_restored(
                failures.total,
                &failures.classes(),
                &failures.sample_lines(),
            )
        });
    }
    let mut completed_note = String::new();
    match (&args.export_file, &export_phrase) {
        (Some(path), Some(phrase)) => {
            let mut options = key_export::ExportOptions::new(args.export_rounds);
            if args.export_allow_low_rounds {
                options = options.allow_low_rounds();
            }
            let (_, completed, unclaimed) =
                crate::files::write_export_file(path, phrase, options, |emit| {
                    sink.sessions.finish_each(emit)
                })?;
            completed_note = crate::cmd_export::completed_note(completed, unclaimed);
        }
        _ => write_output(args.out.as_deref(), |w| sink.sessions.finish(w))?,
    }
    let mut failures = sink.failures;
    if let (Some(path), Some(all)) = (&args.failures, failures.all.take()) {
        write_output(Some(path), |w| all.finish(w))?;
    }
    eprintln!(
        "{}{completed_note}",
        summary(
            restored,
            &failures,
            args.failures.is_some(),
            progress,
            elapsed
        )
    );
    Ok(if failures.total == 0 {
        Status::Success
    } else {
        Status::Partial
    }
    .into())
}

/// A download broke off and is fetched again: say so (above the progress bar).
#[cfg(feature = "homeserver")]
fn say_resuming(bar: Option<&indicatif::ProgressBar>, n: &backup_cipher::ResumeNotice) {
    let line = format!(
        "the download broke off after {} bytes ({}); fetching {} (resumption {} of {}, {} \
         rooms done)",
        n.cut_at, n.reason, n.fetching, n.attempt, n.max_attempts, n.rooms_done
    );
    match bar {
        Some(bar) => bar.println(line),
        None => eprintln!("{line}"),
    }
}

fn summary(
    restored: u64,
    failures: &FailureLog,
    listed: bool,
    progress: Progress,
    elapsed: std::time::Duration,
) -> String {
    // The restore alone: an export file's key derivation (a deliberate half second) is
    // not part of the rate.
    let secs = elapsed.as_secs_f64();
    let mut line = format!(
        "restored {restored} of {} sessions in {secs:.2} s ({:.0} sessions/s)",
        progress.done,
        progress.done as f64 / secs.max(1e-9)
    );
    if failures.total > 0 {
        line.push_str(&format!(
            "; {} failed ({}) — the good sessions were still restored",
            failures.total,
            failures.classes(),
        ));
        if !listed {
            line.push_str(&failures.sample_lines());
            line.push_str("\n(--failures FILE lists every one)");
        }
    }
    line
}
