//! A hostile body cannot steer memory through its ids: a 300 MB room id and a 300 MB
//! session id each cost their room or entry (one failure record) and a bounded peak RSS,
//! and the good session beside them is restored. The peak is the tool's own
//! (`getrusage(RUSAGE_CHILDREN)`; this file runs no other child).
#![cfg(target_os = "linux")]

mod common;
use std::io::{BufWriter, Write};

use common::{p, repo, restore_with_demo_key, stderr, tmp};
use nix::sys::resource::{UsageWho, getrusage};

/// The peak RSS the tool may reach, whatever the size of an id (the old code held the
/// whole id: 302 MB for a 300 MB room id).
const PEAK_RSS_BOUND: u64 = 100 << 20;

const HUGE: usize = 300_000_000;

fn children_peak_rss() -> u64 {
    let usage = getrusage(UsageWho::RUSAGE_CHILDREN).unwrap();
    u64::try_from(usage.max_rss()).unwrap() * 1024
}

/// One good room of the demo backup (its id and its JSON text).
fn good_room() -> (String, String) {
    let demo: serde_json::Value =
        serde_json::from_slice(&std::fs::read(repo().join("demo/backup.json")).unwrap()).unwrap();
    let (room, value) = demo["rooms"].as_object().unwrap().iter().next().unwrap();
    (serde_json::to_string(room).unwrap(), value.to_string())
}

fn write_body(path: &std::path::Path, huge_room: bool) {
    let (room, value) = good_room();
    let mut w = BufWriter::with_capacity(1 << 20, std::fs::File::create(path).unwrap());
    let chunk = vec![b'A'; 1 << 20];
    let huge = |w: &mut BufWriter<std::fs::File>| {
        w.write_all(b"\"").unwrap();
        for _ in 0..HUGE / chunk.len() {
            w.write_all(&chunk).unwrap();
        }
        w.write_all(b"\"").unwrap();
    };
    w.write_all(b"{\"rooms\":{").unwrap();
    if huge_room {
        huge(&mut w);
        w.write_all(b":{\"sessions\":{}}").unwrap();
    } else {
        w.write_all(b"\"!hostile:example.org\":{\"sessions\":{")
            .unwrap();
        huge(&mut w);
        w.write_all(b":{\"session_data\":{}}}}").unwrap();
    }
    write!(w, ",{room}:{value}}}}}").unwrap();
    w.flush().unwrap();
}

#[test]
fn huge_ids_cost_their_room_or_entry_and_bounded_memory() {
    let dir = tmp("hostile-ids");
    let body = dir.join("body.json");
    let out = dir.join("out.json");
    for huge_room in [true, false] {
        write_body(&body, huge_room);
        let o = restore_with_demo_key(p(&body), &out, &[]);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{err}");
        assert!(err.contains("1 failed"), "{err}");
        let restored: Vec<serde_json::Value> =
            serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
        assert!(!restored.is_empty());
        let peak = children_peak_rss();
        println!(
            "a {} MB {} id: peak RSS {:.1} MiB (bound {} MiB)",
            HUGE / 1_000_000,
            if huge_room { "room" } else { "session" },
            peak as f64 / 1048576.0,
            PEAK_RSS_BOUND >> 20
        );
        assert!(peak < PEAK_RSS_BOUND, "{peak} bytes");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
