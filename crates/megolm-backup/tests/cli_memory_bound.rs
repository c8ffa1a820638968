//! Failure records do not grow memory: a body of over 100 MB of small broken entries
//! (1.1 million failures) restores in a bounded peak RSS, with and without `--failures`.
//! The peak is the tool's own (`getrusage(RUSAGE_CHILDREN)`: this file runs no other
//! child).
#![cfg(target_os = "linux")]

mod common;
use std::io::{BufWriter, Write};

use common::{p, repo, run, stderr, tmp};
use nix::sys::resource::{UsageWho, getrusage};

/// The peak RSS the tool may reach on this body, whatever the number of failures. It
/// spends at most 64 MiB (`--sort-memory`, whose default the test lowers to 8 MiB) plus
/// 16 MiB on sorting failure records; the rest is the streaming restore's working set.
const PEAK_RSS_BOUND: u64 = 100 << 20;

/// Broken entries in the body.
const ROOMS: usize = 100;
const ENTRIES_PER_ROOM: usize = 11_000;

/// The largest peak RSS of any child reaped so far, in bytes.
fn children_peak_rss() -> u64 {
    let usage = getrusage(UsageWho::RUSAGE_CHILDREN).unwrap();
    // Linux reports ru_maxrss in KiB.
    u64::try_from(usage.max_rss()).unwrap() * 1024
}

/// Writes a body of `ROOMS` × `ENTRIES_PER_ROOM` broken entries (a `session_data` that
/// is a string) and one good session from the demo backup; returns its size.
fn write_body(path: &std::path::Path) -> u64 {
    let demo: serde_json::Value =
        serde_json::from_slice(&std::fs::read(repo().join("demo/backup.json")).unwrap()).unwrap();
    let (room, sessions) = demo["rooms"].as_object().unwrap().iter().next().unwrap();
    let (session_id, good) = sessions["sessions"]
        .as_object()
        .unwrap()
        .iter()
        .next()
        .unwrap();
    let mut w = BufWriter::new(std::fs::File::create(path).unwrap());
    let padding = "x".repeat(64);
    w.write_all(b"{\"rooms\":{").unwrap();
    for r in 0..ROOMS {
        if r > 0 {
            w.write_all(b",").unwrap();
        }
        write!(w, "\"!broken{r:03}:example.org\":{{\"sessions\":{{").unwrap();
        for i in 0..ENTRIES_PER_ROOM {
            if i > 0 {
                w.write_all(b",").unwrap();
            }
            write!(w, "\"s{i:07}\":{{\"session_data\":\"{padding}\"}}").unwrap();
        }
        w.write_all(b"}}").unwrap();
    }
    write!(
        w,
        ",{}:{{\"sessions\":{{{}:{}}}}}}}}}",
        serde_json::to_string(room).unwrap(),
        serde_json::to_string(session_id).unwrap(),
        good
    )
    .unwrap();
    w.flush().unwrap();
    drop(w);
    std::fs::metadata(path).unwrap().len()
}

#[test]
fn a_million_failures_restore_in_bounded_memory() {
    let dir = tmp("memory");
    let body = dir.join("body.json");
    let size = write_body(&body);
    assert!(size >= 100_000_000, "{size}");
    let failures_expected = (ROOMS * ENTRIES_PER_ROOM) as u64;
    let out = dir.join("out.json");
    let common_args = [
        "restore",
        "--key-file",
        "demo/recovery-key.txt",
        "--sort-memory",
        "8388608",
        "--out",
        p(&out),
    ];

    // Without --failures: counted, a sample kept.
    let mut args = common_args.to_vec();
    args.push(p(&body));
    let o = run(&args, "");
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!(
            "{failures_expected} failed (malformed: {failures_expected})"
        )),
        "{err}"
    );
    let without = children_peak_rss();
    println!(
        "body {:.1} MB, {failures_expected} failures: peak RSS {:.1} MiB without --failures \
         (bound {} MiB)",
        size as f64 / 1e6,
        without as f64 / 1048576.0,
        PEAK_RSS_BOUND >> 20
    );
    assert!(
        without < PEAK_RSS_BOUND,
        "{without} bytes without --failures"
    );

    // With --failures: every record streamed to the file, sorted.
    let failures = dir.join("failures.json");
    let mut args = common_args.to_vec();
    args.extend_from_slice(&["--failures", p(&failures), p(&body)]);
    let o = run(&args, "");
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let both = children_peak_rss();
    println!(
        "peak RSS {:.1} MiB for the larger of both runs, with --failures the second",
        both as f64 / 1048576.0,
    );
    assert!(both < PEAK_RSS_BOUND, "{both} bytes with --failures");
    let text = std::fs::read(&failures).unwrap();
    let records = text
        .split(|b| *b == b'\n')
        .filter(|l| l.starts_with(b"{"))
        .count() as u64;
    assert_eq!(records, failures_expected);
    let first = text.split(|b| *b == b'\n').nth(1).unwrap();
    let first: serde_json::Value =
        serde_json::from_slice(first.strip_suffix(b",").unwrap()).unwrap();
    assert_eq!(first["room_id"], "!broken000:example.org");
    assert_eq!(first["session_id"], "s0000000");
    assert_eq!(first["error"], "malformed");
    let restored: Vec<serde_json::Value> =
        serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(restored.len(), 1);

    std::fs::remove_dir_all(&dir).unwrap();
}
