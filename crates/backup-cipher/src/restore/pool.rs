//! The pipeline of a streaming restore: the walk (on the calling thread) hands entries
//! on; they are gathered into batches, each batch is decrypted in the worker pool in
//! groups of [`GROUP`] while the next is read, and the results are handed to the sink in
//! body order — held back first when a key probe is asked for.

use std::{io::Read, sync::Arc};

use crate::{
    BackupDecryptionKey, Progress, RestoreError, RestoreErrorClass, RestoreFailure, RestoreOptions,
    RestoreSink, RestoredSession, RoomFilter,
    cipher::entry::{GROUP, restore_entry_texts},
    par::{self, *},
    split::{CountingReader, Events, Outcome, Shape, WalkError},
};

pub(super) fn restore_shape<R: Read, S: RestoreSink + ?Sized>(
    key: &BackupDecryptionKey,
    reader: R,
    shape: Shape,
    opts: &RestoreOptions,
    sink: &mut S,
) -> Result<Progress, RestoreError> {
    let pool = pool(opts)?;
    let counter = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let reader = CountingReader {
        inner: reader,
        count: counter.clone(),
        limit: opts.max_body_bytes,
    };
    let parse = |ctx: &mut dyn Events| crate::split::walk(reader, shape, ctx);
    match &pool {
        Some(p) => p.in_place_scope(|s| restore_in_scope(key, parse, counter, opts, sink, s)),
        None => par::in_place_scope(|s| restore_in_scope(key, parse, counter, opts, sink, s)),
    }
}

/// Batches decrypting at once while the next is parsed.
pub(super) const IN_FLIGHT: usize = 2;

/// A batch is handed to the workers once its entries' text reaches this many bytes,
/// whatever [`RestoreOptions::batch_size`] says: with entries of up to
/// [`MAX_ENTRY_BYTES`](crate::MAX_ENTRY_BYTES) the batches in memory stay a few MiB.
pub(super) const BATCH_BYTES: usize = 4 << 20;

fn restore_in_scope<'scope, S: RestoreSink + ?Sized>(
    key: &'scope BackupDecryptionKey,
    parse: impl FnOnce(&mut dyn Events) -> Result<Outcome, WalkError>,
    counter: Arc<std::sync::atomic::AtomicU64>,
    opts: &RestoreOptions,
    sink: &mut S,
    scope: &par::Scope<'scope>,
) -> Result<Progress, RestoreError> {
    let mut ctx = Ctx {
        key,
        scope,
        // Start small so the workers are busy while the parser is still near the start of
        // the body; the size doubles up to `opts.batch_size`. With a key probe, the
        // first batch is the probe.
        batch_size: if opts.key_probe > 0 {
            opts.key_probe
        } else {
            opts.batch_size.clamp(1, 256)
        },
        max_batch_size: opts.batch_size.max(1),
        batch: Vec::new(),
        batch_bytes: 0,
        batch_entries: 0,
        in_flight: std::collections::VecDeque::new(),
        inline: opts.jobs == Some(1),
        sink,
        progress: Progress {
            total: opts.expected_total,
            ..Progress::default()
        },
        bytes: counter,
        cancelled: false,
        probe: (opts.key_probe > 0).then(|| Probe {
            want: opts.key_probe as u64,
            held: Vec::new(),
            tried: 0,
            restored: 0,
            mac_failed: 0,
            mac_passed: 0,
            wrong_key: false,
        }),
        skip_rooms: opts.skip_rooms.clone(),
        single_line: opts.single_line,
    };
    let parsed = parse(&mut ctx);
    ctx.finish();
    if ctx.probe.as_ref().is_some_and(|p| p.wrong_key) {
        let tried = ctx.probe.as_ref().map_or(0, |p| p.tried);
        return Err(RestoreError::WrongKey { tried });
    }
    if ctx.cancelled {
        return Err(RestoreError::Cancelled);
    }
    let outcome = match parsed {
        Ok(o) => o,
        Err(WalkError::Stopped) => return Err(RestoreError::Cancelled),
        Err(WalkError::TooLarge(limit)) => return Err(RestoreError::TooLarge(limit)),
        Err(WalkError::Body(msg)) => {
            return Err(RestoreError::Body(serde::de::Error::custom(msg)));
        }
    };
    ctx.progress.truncated_at = outcome.cut_at;
    ctx.progress.damaged = outcome.damaged;
    Ok(ctx.progress)
}

#[cfg(feature = "parallel")]
pub(super) fn pool(opts: &RestoreOptions) -> Result<Option<par::ThreadPool>, RestoreError> {
    // One job runs inline on the calling thread: no pool to build.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    opts.jobs
        .map(|n| worker_count(n, cores))
        .filter(|&n| n > 1)
        .map(|n| {
            par::ThreadPoolBuilder::new()
                .num_threads(n)
                .build()
                .map_err(|e| RestoreError::Threads(Box::new(e)))
        })
        .transpose()
}

/// The worker threads a restore asked for `requested` starts on a machine of `cores`: at
/// least one, at most [`MAX_JOBS_PER_CORE`] per core, so a caller's (or a script's) huge
/// number cannot make the process try to start a million threads.
#[cfg_attr(not(feature = "parallel"), allow(dead_code))]
fn worker_count(requested: usize, cores: usize) -> usize {
    requested.clamp(1, cores.max(1).saturating_mul(MAX_JOBS_PER_CORE))
}

/// How many worker threads per core a restore starts at the most.
const MAX_JOBS_PER_CORE: usize = 4;

/// Without the `parallel` feature everything runs on the calling thread.
#[cfg(not(feature = "parallel"))]
pub(super) fn pool(_: &RestoreOptions) -> Result<Option<par::ThreadPool>, RestoreError> {
    Ok(None)
}

/// One item of a batch, in body order.
enum Item {
    /// An entry to decrypt: room, session id, its JSON text.
    Entry(Arc<str>, String, Box<[u8]>),
    /// A record the walk made (a room, damage, the cut).
    Failed(RestoreFailure),
    /// A room's object closed.
    RoomDone(Arc<str>),
}

/// One result of a batch, in body order.
enum Delivered {
    Restored(RestoredSession),
    /// A failure, and whether it is an entry's (decrypted or tried).
    Failed(RestoreFailure, bool),
    RoomDone(Arc<str>),
}

type BatchResult = Vec<Delivered>;

/// The key probe's state ([`RestoreOptions::with_key_probe`]).
struct Probe {
    want: u64,
    /// Results held back until the probe decides.
    held: Vec<Delivered>,
    tried: u64,
    restored: u64,
    mac_failed: u64,
    mac_passed: u64,
    wrong_key: bool,
}

struct Ctx<'k, 's, 'c, S: ?Sized> {
    key: &'k BackupDecryptionKey,
    scope: &'c par::Scope<'k>,
    batch_size: usize,
    max_batch_size: usize,
    batch: Vec<Item>,
    batch_bytes: usize,
    /// Entries in `batch` (items that are not entries do not count).
    batch_entries: usize,
    in_flight: std::collections::VecDeque<std::sync::mpsc::Receiver<BatchResult>>,
    inline: bool,
    sink: &'s mut S,
    progress: Progress,
    bytes: Arc<std::sync::atomic::AtomicU64>,
    /// The sink asked to stop: no more entries are taken.
    cancelled: bool,
    probe: Option<Probe>,
    skip_rooms: Option<RoomFilter>,
    /// [`RestoreOptions::with_single_line`].
    single_line: bool,
}

impl<S: RestoreSink + ?Sized> Events for Ctx<'_, '_, '_, S> {
    fn entry(&mut self, room: &Arc<str>, session_id: String, raw: &[u8]) {
        self.batch_bytes += raw.len();
        self.batch_entries += 1;
        self.batch
            .push(Item::Entry(room.clone(), session_id, raw.into()));
        if self
            .probe
            .as_ref()
            .is_some_and(|p| p.tried == 0 && !p.wrong_key)
            && self.batch_entries >= self.batch_size
        {
            // The probe: decrypt the first entries and decide before reading on.
            self.submit();
            while !self.in_flight.is_empty() {
                self.deliver_oldest();
            }
            self.decide_probe();
            self.batch_size = self.max_batch_size.clamp(1, 256);
        } else if self.batch_entries >= self.batch_size || self.batch_bytes >= BATCH_BYTES {
            self.submit();
            self.batch_size = (self.batch_size * 2).min(self.max_batch_size);
        }
    }
    fn failure(&mut self, failure: RestoreFailure) {
        self.batch.push(Item::Failed(failure));
    }
    fn room_done(&mut self, room: &Arc<str>) {
        self.batch.push(Item::RoomDone(room.clone()));
    }
    fn stop(&self) -> bool {
        self.cancelled || self.probe.as_ref().is_some_and(|p| p.wrong_key)
    }
    fn skip_room(&self, room: &str) -> bool {
        self.skip_rooms.as_ref().is_some_and(|f| (f.0)(room))
    }
}

impl<S: RestoreSink + ?Sized> Ctx<'_, '_, '_, S> {
    /// Hands the current batch to the pool; delivers the oldest batch first when
    /// [`IN_FLIGHT`] are already running.
    fn submit(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        while self.in_flight.len() >= IN_FLIGHT {
            self.deliver_oldest();
        }
        let batch = std::mem::take(&mut self.batch);
        self.batch_bytes = 0;
        self.batch_entries = 0;
        let key = self.key;
        let single_line = self.single_line;
        if self.inline {
            // One job means one thread: no pool, no pipelining.
            let mut results = BatchResult::with_capacity(batch.len());
            for chunk in batch.chunks(GROUP) {
                restore_items(key, chunk, single_line, &mut results);
            }
            self.deliver(results);
            return;
        }
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.scope.spawn(move |_| {
            let results: BatchResult = batch
                .par_chunks(GROUP)
                .flat_map_iter(|chunk| {
                    let mut out = Vec::with_capacity(chunk.len());
                    restore_items(key, chunk, single_line, &mut out);
                    out
                })
                .collect();
            // The receiver lives until every batch is delivered.
            let _ = tx.send(results);
        });
        self.in_flight.push_back(rx);
    }

    fn deliver_oldest(&mut self) {
        let Some(rx) = self.in_flight.pop_front() else {
            return;
        };
        // A worker that panicked drops its sender; its entries are then missing from
        // the counts rather than taking the whole restore down.
        self.deliver(rx.recv().unwrap_or_default());
    }

    fn deliver(&mut self, results: BatchResult) {
        if let Some(p) = self
            .probe
            .as_mut()
            .filter(|p| p.tried < p.want && !p.wrong_key)
        {
            // Held back until the probe decides.
            for r in &results {
                match r {
                    Delivered::Restored(_) => {
                        p.tried += 1;
                        p.restored += 1;
                    }
                    Delivered::Failed(f, true) => {
                        p.tried += 1;
                        match f.error {
                            RestoreErrorClass::Mac => p.mac_failed += 1,
                            RestoreErrorClass::Padding
                            | RestoreErrorClass::Json
                            | RestoreErrorClass::Algorithm
                            | RestoreErrorClass::SessionId => p.mac_passed += 1,
                            _ => {}
                        }
                    }
                    _ => {}
                }
            }
            p.held.extend(results);
            return;
        }
        self.hand_over(results);
    }

    fn hand_over(&mut self, results: Vec<Delivered>) {
        for r in results {
            match r {
                Delivered::Restored(s) => {
                    self.progress.done += 1;
                    self.sink.restored(s);
                }
                Delivered::Failed(f, _) => {
                    self.progress.done += 1;
                    self.progress.failed += 1;
                    self.sink.failed(f);
                }
                Delivered::RoomDone(room) => self.sink.room_done(&room),
            }
        }
        self.progress.bytes_read = self.bytes.load(std::sync::atomic::Ordering::Relaxed);
        self.sink.progress(self.progress);
        self.cancelled = self.cancelled || self.sink.cancelled();
    }

    /// Decides the key probe on what it holds: the wrong key when nothing restored, at
    /// least one entry reached the MAC check and every one that did failed it. Otherwise
    /// the held results are delivered in order.
    fn decide_probe(&mut self) {
        let Some(p) = self.probe.as_mut() else {
            return;
        };
        if p.wrong_key {
            return;
        }
        if p.restored == 0 && p.mac_failed > 0 && p.mac_passed == 0 {
            p.wrong_key = true;
            p.held.clear();
            return;
        }
        let held = std::mem::take(&mut p.held);
        // Decided: later results go straight to the sink.
        p.want = 0;
        if !held.is_empty() {
            self.hand_over(held);
        }
    }

    fn finish(&mut self) {
        if self.probe.as_ref().is_some_and(|p| p.wrong_key) {
            // Nothing more is decrypted or delivered.
            self.batch.clear();
            while let Some(rx) = self.in_flight.pop_front() {
                let _ = rx.recv();
            }
            return;
        }
        self.submit();
        while !self.in_flight.is_empty() {
            self.deliver_oldest();
        }
        if self.probe.as_ref().is_some_and(|p| p.want > 0) {
            self.decide_probe();
        }
        self.progress.bytes_read = self.bytes.load(std::sync::atomic::Ordering::Relaxed);
    }
}

/// Restores a group of items: entries are parsed as a `KeyBackupData` and decrypted
/// together; the walk's records and room ends pass through in order.
fn restore_items(
    key: &BackupDecryptionKey,
    chunk: &[Item],
    single_line: bool,
    out: &mut BatchResult,
) {
    let entries: Vec<(&str, &str, &[u8])> = chunk
        .iter()
        .filter_map(|item| match item {
            Item::Entry(room, sid, raw) => Some((&**room, sid.as_str(), &**raw)),
            _ => None,
        })
        .collect();
    let mut results = Vec::with_capacity(entries.len());
    restore_entry_texts(key, &entries, &mut results);
    let mut results = results.into_iter();
    for item in chunk {
        out.push(match item {
            Item::Entry(..) => match results.next() {
                Some(Ok(mut s)) => {
                    if single_line {
                        // Output work for the sink, done here in the worker.
                        s.make_single_line();
                    }
                    Delivered::Restored(s)
                }
                Some(Err(f)) => Delivered::Failed(f, true),
                None => continue,
            },
            Item::Failed(f) => Delivered::Failed(f.clone(), false),
            Item::RoomDone(r) => Delivered::RoomDone(r.clone()),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::worker_count;

    #[test]
    fn the_worker_count_is_bounded_by_the_cores() {
        assert_eq!(worker_count(0, 2), 1);
        assert_eq!(worker_count(3, 2), 3);
        assert_eq!(worker_count(1_000_000, 2), 8);
        assert_eq!(worker_count(usize::MAX, usize::MAX), usize::MAX);
        assert_eq!(worker_count(5, 0), 4);
    }
}
