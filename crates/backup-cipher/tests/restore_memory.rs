//! The streaming restore's memory is bounded whatever the body: a counting global
//! allocator (this binary only) measures the peak heap while `restore_reader` reads
//! hostile bodies of 100–300 MB generated on the fly, with a sink that only counts.
//! One test function: the allocator's counters are global state.

use std::io::Read;

use backup_cipher::{
    BackupDecryptionKey, Progress, RestoreErrorClass, RestoreFailure, RestoreOptions, RestoreSink,
    RestoredSession, restore_reader,
};
use peak_alloc::PeakAlloc;

#[global_allocator]
static HEAP: PeakAlloc = PeakAlloc;

/// The bound asserted on the peak heap above what was in use before each restore.
const BOUND: usize = 64 << 20;

const MB: u64 = 1 << 20;

/// A body made on the fly: `head`, then `unit` repeated to at least `at_least` bytes,
/// then `tail`. Nothing of it is held but the three pieces.
struct Generated {
    head: Vec<u8>,
    unit: Vec<u8>,
    middle: u64,
    tail: Vec<u8>,
    at: u64,
}

impl Generated {
    fn new(head: &str, unit: &str, at_least: u64, tail: &str) -> Self {
        let n = at_least.div_ceil(unit.len() as u64);
        Self {
            head: head.into(),
            unit: unit.into(),
            middle: n * unit.len() as u64,
            tail: tail.into(),
            at: 0,
        }
    }
    fn len(&self) -> u64 {
        self.head.len() as u64 + self.middle + self.tail.len() as u64
    }
}

impl Read for Generated {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let head = self.head.len() as u64;
        let mut n = 0;
        while n < buf.len() && self.at < self.len() {
            let b = if self.at < head {
                self.head[self.at as usize]
            } else if self.at < head + self.middle {
                self.unit[((self.at - head) % self.unit.len() as u64) as usize]
            } else {
                self.tail[(self.at - head - self.middle) as usize]
            };
            buf[n] = b;
            n += 1;
            self.at += 1;
        }
        Ok(n)
    }
}

/// Counts, and keeps the first few failures.
#[derive(Default)]
struct Count {
    restored: u64,
    failed: u64,
    classes: Vec<RestoreErrorClass>,
    messages: Vec<String>,
    longest_message: usize,
}

impl RestoreSink for Count {
    fn restored(&mut self, _: RestoredSession) {
        self.restored += 1;
    }
    fn failed(&mut self, f: RestoreFailure) {
        self.failed += 1;
        self.longest_message = self.longest_message.max(f.message.len());
        if self.classes.len() < 4 {
            self.classes.push(f.error);
            self.messages.push(f.message);
        }
    }
}

fn measure(what: &str, body: Generated) -> (Count, Progress, usize) {
    let key = BackupDecryptionKey::from_bytes(&[7; 32]);
    let len = body.len();
    let opts = RestoreOptions::default().with_jobs(Some(2));
    let mut sink = Count::default();
    let before = HEAP.current_usage();
    HEAP.reset_peak_usage();
    let p = restore_reader(&key, body, &opts, &mut sink).unwrap_or_else(|e| panic!("{what}: {e}"));
    let peak = HEAP.peak_usage().saturating_sub(before);
    eprintln!(
        "{what}: {} MB body, peak heap {:.1} MiB, {} failures",
        len / MB,
        peak as f64 / MB as f64,
        sink.failed
    );
    assert!(peak < BOUND, "{what}: peak heap {peak} bytes");
    assert!(sink.longest_message < 600, "{what}: {:?}", sink.messages);
    (sink, p, peak)
}

#[test]
fn hostile_bodies_restore_in_bounded_memory() {
    // (a) 100 MB of tiny broken entries: each one a failure record, delivered and
    // dropped batch by batch.
    let unit = r#""s":{},"t":5,"#;
    let (count, p, _) = measure(
        "tiny broken entries",
        Generated::new(
            r#"{"rooms":{"!r:x":{"sessions":{"#,
            unit,
            100 * MB,
            r#""end":{}}}}}"#,
        ),
    );
    let entries = 100 * MB / unit.len() as u64 * 2;
    eprintln!("{entries} tiny entries");
    assert!(count.failed >= entries, "{}", count.failed);
    assert_eq!(count.restored, 0);
    assert_eq!(p.truncated_at, None);
    assert!(
        count
            .classes
            .iter()
            .all(|c| *c == RestoreErrorClass::Malformed)
    );

    // (b) A 300 MB room id: one record for that room, its text never held.
    let (count, p, _) = measure(
        "300 MB room id",
        Generated::new(r#"{"rooms":{"!"#, "a", 300 * MB, r#"":{"sessions":{}}}}"#),
    );
    assert_eq!((count.failed, p.truncated_at), (1, None));
    assert!(
        count.messages[0].contains("room id of"),
        "{:?}",
        count.messages
    );

    // (c) A 300 MB session id.
    let (count, p, _) = measure(
        "300 MB session id",
        Generated::new(
            r#"{"rooms":{"!r:x":{"sessions":{""#,
            "b",
            300 * MB,
            r#"":{}}}}}"#,
        ),
    );
    assert_eq!((count.failed, p.truncated_at), (1, None));
    assert!(
        count.messages[0].contains("session id of"),
        "{:?}",
        count.messages
    );

    // (d) A 300 MB unknown member (nested, with strings), stepped over.
    let (count, p, _) = measure(
        "300 MB unknown member",
        Generated::new(
            r#"{"rooms":{"!r:x":{"x":["#,
            r#"{"k":["v",1,{"w":"brackets ]} in a string"}]},"#,
            300 * MB,
            r#"0],"sessions":{}}}}"#,
        ),
    );
    assert_eq!((count.failed, p.truncated_at), (0, None));

    // (e) A 300 MB entry (a huge ciphertext): over the cap on one entry, one record, and
    // the entry after it still found.
    let (count, p, _) = measure(
        "300 MB entry",
        Generated::new(
            r#"{"rooms":{"!r:x":{"sessions":{"big":{"session_data":{"ephemeral":"x","mac":"y","ciphertext":""#,
            "QUJD",
            300 * MB,
            r#""}},"next":{"session_data":{"ephemeral":"x","mac":"y","ciphertext":"z"}}}}}}"#,
        ),
    );
    assert_eq!((count.failed, p.truncated_at), (2, None));
    assert_eq!(
        count.classes,
        [RestoreErrorClass::Malformed, RestoreErrorClass::Key]
    );
    assert!(
        count.messages[0].contains("longer than"),
        "{:?}",
        count.messages
    );
}
