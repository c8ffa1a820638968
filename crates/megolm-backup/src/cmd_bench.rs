//! `megolm-backup bench`: restore throughput on this machine.

use std::{
    io::{Seek, SeekFrom, Write},
    process::ExitCode,
    time::Instant,
};

use backup_cipher::{
    BackupDecryptionKey, RestoreFailure, RestoreOptions, RestoreSink, RestoredSession, fixtures,
    restore_reader, restore_slice, x25519::Scalar,
};
use clap::Args;

use crate::fatal::Fatal;

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

/// Counts what a streaming restore delivers, and keeps nothing.
#[derive(Default)]
struct Count {
    restored: usize,
    failed: usize,
}

impl RestoreSink for Count {
    fn restored(&mut self, _: RestoredSession) {
        self.restored += 1;
    }
    fn failed(&mut self, _: RestoreFailure) {
        self.failed += 1;
    }
}

/// One-core X25519 operations per second with one scalar: through the backend one at a
/// time, and through the lanes (groups of 64, as a restore computes them) when this
/// CPU and `--lanes` allow.
fn x25519_rates(key: &BackupDecryptionKey) -> (f64, Option<(&'static str, f64)>) {
    let scalar = Scalar::new(key.as_bytes());
    let points: Vec<[u8; 32]> = (0..2048u32)
        .map(|i| {
            let mut k = [7u8; 32];
            k[..4].copy_from_slice(&i.to_le_bytes());
            Scalar::new(&k).public_key()
        })
        .collect();
    let best = |f: &dyn Fn()| {
        (0..3)
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed().as_secs_f64()
            })
            .fold(f64::INFINITY, f64::min)
    };
    let one = best(&|| {
        for p in &points[..512] {
            std::hint::black_box(scalar.diffie_hellman(std::hint::black_box(p)));
        }
    });
    let path = scalar.many_backend(64);
    let lanes = (path != backup_cipher::x25519::BACKEND).then(|| {
        let secs = best(&|| {
            for c in points.chunks(64) {
                std::hint::black_box(scalar.diffie_hellman_many(std::hint::black_box(c)));
            }
        });
        (path, points.len() as f64 / secs)
    });
    (512.0 / one, lanes)
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

    // From a file, streaming, as `restore` reads it (results counted, not written).
    // Unnamed: a killed bench leaves no file behind.
    let mut file = tempfile::tempfile().map_err(Fatal::new)?;
    file.write_all(&text).map_err(Fatal::new)?;
    drop(text);
    let opts = RestoreOptions::default().with_jobs(Some(cores));
    let mut secs = f64::INFINITY;
    for run in 0..=args.runs.max(1) {
        file.seek(SeekFrom::Start(0)).map_err(Fatal::new)?;
        let reader = file.try_clone().map_err(Fatal::new)?;
        let mut count = Count::default();
        let t = Instant::now();
        restore_reader(&key, reader, &opts, &mut count).map_err(Fatal::new)?;
        let took = t.elapsed().as_secs_f64();
        if count.failed != 0 || count.restored != args.sessions {
            return Err(Fatal::new(
                "the synthetic backup did not restore completely",
            ));
        }
        if run > 0 {
            secs = secs.min(took);
        }
    }
    let from_file = args.sessions as f64 / secs;
    println!(
        "restore from a file (streaming, as `restore` reads it), {cores} threads: {secs:.3} s (best of {}), {from_file:.0} sessions/s",
        args.runs.max(1)
    );

    // The bound: every core doing nothing but the fastest one-core X25519.
    let (one_by_one, lanes) = x25519_rates(&key);
    println!(
        "X25519 on one core: {one_by_one:.0}/s one at a time ({})",
        backup_cipher::x25519::BACKEND
    );
    let mut fastest = one_by_one;
    if let Some((path, rate)) = lanes {
        println!("X25519 on one core: {rate:.0}/s through the lanes ({path})");
        fastest = fastest.max(rate);
    }
    println!(
        "restore from a file vs {cores} cores x the fastest one-core X25519 ({:.0}/s): {:.2} (goal 0.75)",
        cores as f64 * fastest,
        from_file / (cores as f64 * fastest)
    );
    Ok(ExitCode::SUCCESS)
}
