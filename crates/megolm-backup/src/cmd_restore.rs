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
    Fatal,
    keys::{KeyArgs, read_backup_info, recover},
    sorted_output::SortedJsonArray,
};

#[derive(Debug, Args)]
pub(crate) struct RestoreArgs {
    #[command(flatten)]
    key: KeyArgs,
    /// Secret storage from this account-data file (a /sync response, a list of events, or
    /// an object of type → content), so the Security Key or Phrase can be used offline.
    #[arg(long, value_name = "FILE")]
    account_data: Option<PathBuf>,
    /// The backup version (body of GET /room_keys/version): the key is checked against its
    /// public key before any work.
    #[arg(long, value_name = "FILE")]
    backup_info: Option<PathBuf>,
    /// Where to write the restored sessions (JSON array); stdout when absent.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Write the restored sessions as an Element key-export file instead of JSON; Element
    /// imports it (Settings → Security & Privacy → Import E2E room keys).
    #[arg(long, value_name = "FILE", conflicts_with = "out")]
    export_file: Option<PathBuf>,
    /// The export passphrase, from this file (else asked on the terminal).
    #[arg(long, value_name = "FILE", requires = "export_file")]
    export_passphrase_file: Option<PathBuf>,
    /// PBKDF2 rounds of the export file.
    #[arg(long, default_value_t = key_export::DEFAULT_ROUNDS, requires = "export_file")]
    export_rounds: u32,
    /// Where to write the list of entries that failed (JSON array).
    #[arg(long, value_name = "FILE")]
    failures: Option<PathBuf>,
    /// Worker threads (default: every core).
    #[arg(long, value_name = "N")]
    jobs: Option<usize>,
    /// Refuse backup bodies larger than this many bytes.
    #[arg(long, value_name = "BYTES", default_value_t = RestoreOptions::default().max_body_bytes)]
    max_body_bytes: u64,
    /// Memory budget for sorting the output before spilling to temporary files.
    #[arg(long, value_name = "BYTES", default_value_t = 64 << 20)]
    sort_memory: usize,
    /// Fetch the backup from this homeserver instead of a file (see `fetch` for the
    /// authentication options); secret storage is read from the account too.
    #[cfg(feature = "homeserver")]
    #[command(flatten)]
    server: crate::server::ServerArgs,
    /// With --homeserver: the backup version (default: the current one).
    #[arg(long, value_name = "V")]
    version: Option<String>,
    /// The backup body (GET /room_keys/keys), `-` for stdin; omit with --homeserver.
    backup_json: Option<PathBuf>,
}

/// The key, the body, and how much of it there is: bytes of a file, or sessions of a
/// server's backup (its version's `count`).
type Source = (BackupDecryptionKey, Box<dyn Read>, Amount);

/// What a restore's progress is measured against.
#[derive(Clone, Copy)]
#[cfg_attr(not(feature = "homeserver"), allow(dead_code))]
enum Amount {
    Bytes(Option<u64>),
    Sessions(u64),
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
        let (info, key) = match &args.account_data {
            // Secret storage from a file, the backup from the server.
            Some(path) => {
                let info = crate::server::version_info(&client, args.version.as_deref())?;
                let store = crate::files::read_account_data(path)?;
                let key = recover(&input, Some(&store), Some(&info))?.backup_key;
                (info, key)
            }
            None => {
                let found =
                    crate::server::recover_from_server(&client, &input, args.version.as_deref())?;
                let info = found
                    .version
                    .ok_or_else(|| Fatal::new(homeserver::ClientError::NoBackup))?;
                (info, found.key.backup_key)
            }
        };
        let version = info.version.clone().unwrap_or_default();
        let reader = client.room_keys_reader(&version).map_err(Fatal::new)?;
        let amount = info.count.map_or(Amount::Bytes(None), Amount::Sessions);
        return Ok((key, Box::new(reader), amount));
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
    let key = recover(&input, store.as_ref(), info.as_ref())?.backup_key;
    let (input, total) = open_input(path)?;
    Ok((key, input, Amount::Bytes(total)))
}

/// Collects results: sessions into the sorted writer, failures in memory (they are few
/// and small), and drives the progress bar.
struct CliSink {
    sessions: SortedJsonArray,
    failures: Vec<RestoreFailure>,
    bar: Option<indicatif::ProgressBar>,
    error: Option<io::Error>,
}

impl RestoreSink for CliSink {
    fn restored(&mut self, s: RestoredSession) {
        if self.error.is_none() {
            let (room_id, session_id, json) = s.into_parts();
            if let Err(e) = self.sessions.push(room_id, session_id, json) {
                self.error = Some(e);
            }
        }
    }
    fn failed(&mut self, f: RestoreFailure) {
        self.failures.push(f);
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
    let (key, input, amount) = open_source(&args)?;
    // Ask for the export passphrase before the work, not after it.
    let export_phrase = match &args.export_file {
        Some(_) => Some(crate::input::passphrase(
            args.export_passphrase_file.as_deref(),
            "Passphrase for the export file: ",
            "--export-passphrase-file",
            true,
        )?),
        None => None,
    };
    let spill_dir = args
        .out
        .as_deref()
        .and_then(Path::parent)
        .map(|p| {
            if p.as_os_str().is_empty() {
                Path::new(".")
            } else {
                p
            }
        })
        .unwrap_or(Path::new("."))
        .to_owned();
    let mut sink = CliSink {
        sessions: SortedJsonArray::new(&spill_dir, args.sort_memory),
        failures: Vec::new(),
        bar: progress_bar(amount),
        error: None,
    };
    let opts = RestoreOptions::default()
        .with_jobs(args.jobs)
        .with_max_body_bytes(args.max_body_bytes)
        .with_expected_total(match amount {
            Amount::Sessions(n) => Some(n),
            Amount::Bytes(_) => None,
        });
    let started = Instant::now();
    let result = restore_reader(&key, input, &opts, &mut sink);
    let elapsed = started.elapsed();
    if let Some(bar) = &sink.bar {
        bar.finish_and_clear();
    }
    let progress = result.map_err(Fatal::new)?;
    if let Some(e) = sink.error.take() {
        return Err(Fatal::new(format!(
            "cannot write temporary sort files: {e}"
        )));
    }
    let restored = sink.sessions.len();
    match (&args.export_file, &export_phrase) {
        (Some(path), Some(phrase)) => {
            crate::files::write_export_file(path, phrase, args.export_rounds, |emit| {
                sink.sessions.finish_each(emit)
            })?;
        }
        _ => write_output(args.out.as_deref(), |w| sink.sessions.finish(w))?,
    }
    sink.failures
        .sort_by(|a, b| (&a.room_id, &a.session_id).cmp(&(&b.room_id, &b.session_id)));
    if let Some(path) = &args.failures {
        write_output(Some(path), |w| {
            serde_json::to_writer_pretty(&mut *w, &sink.failures).map_err(io::Error::other)?;
            w.write_all(b"\n")
        })?;
    }
    eprintln!("{}", summary(restored, &sink.failures, progress, elapsed));
    Ok(if sink.failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}

fn summary(
    restored: u64,
    failures: &[RestoreFailure],
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
    if !failures.is_empty() {
        let mut by_class = BTreeMap::new();
        for f in failures {
            *by_class.entry(f.error.as_str()).or_insert(0u64) += 1;
        }
        let classes: Vec<String> = by_class.iter().map(|(c, n)| format!("{c}: {n}")).collect();
        line.push_str(&format!(
            "; {} failed ({}) — the good sessions were still restored",
            failures.len(),
            classes.join(", ")
        ));
    }
    line
}
