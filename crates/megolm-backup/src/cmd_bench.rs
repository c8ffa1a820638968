//! `megolm-backup bench`: restore throughput on this machine.

use std::{process::ExitCode, time::Instant};

use backup_cipher::{BackupDecryptionKey, RestoreOptions, fixtures, restore_slice};
use clap::Args;

use crate::Fatal;

#[derive(Debug, Args)]
pub(crate) struct BenchArgs {
    /// Sessions in the synthetic backup.
    #[arg(long, default_value_t = 10_000)]
    sessions: usize,
    /// Worker threads for the parallel run (default: every core).
    #[arg(long)]
    jobs: Option<usize>,
    /// Timed runs per configuration; the best is reported (after one warm-up run).
    #[arg(long, default_value_t = 3)]
    runs: usize,
}

pub(crate) fn run(args: BenchArgs) -> Result<ExitCode, Fatal> {
    let key = BackupDecryptionKey::generate().map_err(Fatal::new)?;
    let t = Instant::now();
    let body = fixtures::synthetic_backup(key.public_key(), args.sessions, 42);
    let text = serde_json::to_vec(&body).map_err(Fatal::new)?;
    drop(body);
    println!(
        "built a backup of {} sessions ({:.1} MB of JSON) in {:.2} s",
        args.sessions,
        text.len() as f64 / 1e6,
        t.elapsed().as_secs_f64()
    );
    println!(
        "X25519: {} (one operation: {})",
        backup_cipher::x25519::Scalar::new(key.as_bytes()).many_backend(args.sessions),
        backup_cipher::x25519::BACKEND
    );
    let cores = args
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let mut rates = Vec::new();
    for jobs in [1, cores] {
        let opts = RestoreOptions::default().with_jobs(Some(jobs));
        let mut secs = f64::INFINITY;
        for run in 0..=args.runs.max(1) {
            let t = Instant::now();
            let result = restore_slice(&key, &text, &opts).map_err(Fatal::new)?;
            let took = t.elapsed().as_secs_f64();
            if !result.failures.is_empty() || result.sessions.len() != args.sessions {
                return Err(Fatal::new(
                    "the synthetic backup did not restore completely",
                ));
            }
            // Run 0 warms up caches and the allocator.
            if run > 0 {
                secs = secs.min(took);
            }
        }
        let rate = args.sessions as f64 / secs;
        rates.push(rate);
        println!(
            "restore (JSON text in, sorted sessions out), {jobs} thread{}: {secs:.3} s (best of {}), {rate:.0} sessions/s",
            if jobs == 1 { "" } else { "s" },
            args.runs.max(1)
        );
    }
    if let [one, all] = rates[..] {
        println!("speed-up on {cores} threads: {:.2}x", all / one);
    }
    Ok(ExitCode::SUCCESS)
}
