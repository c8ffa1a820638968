//! Writing restored sessions (or failure records) as one JSON array sorted by (room id,
//! session id) in bounded memory. Items with equal ids keep the order they came in.
//!
//! The sorting is done while the items arrive, not after the last: a backup body lists
//! its sessions room by room, so each room's items are sorted into a block (the output's
//! text for that room) as soon as the next room starts ([`block`]). At the end the
//! blocks are put in order by room and written out whole; only blocks that overlap (a
//! room listed twice) are merged item by item ([`merge`]). When the items in memory
//! reach the budget they are spilled to a sorted run in a temporary file ([`run`]),
//! merged at the end.

/// How many runs of one level are merged into one run of the next level.
const FAN_IN: usize = 64;

mod block;
mod merge;
mod run;

use std::{
    io::{self, Write},
    path::{Path, PathBuf},
};

use zeroize::Zeroizing;

use crate::wiped::{OUTPUT_CHUNK, WipedWriter};
use block::{Block, Group};
use merge::{Cursor, Emit};
use run::{Run, RunWriter};

/// Sorts serialized items by (room id, session id) within a memory budget.
pub(crate) struct SortedJsonArray {
    dir: PathBuf,
    budget_bytes: usize,
    /// The items of the room arriving now.
    group: Group,
    /// Rooms' items sorted while the rest arrived, in the order they were made.
    blocks: Vec<Block>,
    /// Memory the blocks hold.
    block_bytes: usize,
    /// How many blocks were made.
    blocks_made: usize,
    /// Spilled runs, in the order their items came in.
    runs: Vec<Run>,
    count: u64,
}

impl SortedJsonArray {
    /// Spill files go in `dir`.
    pub(crate) fn new(dir: &Path, budget_bytes: usize) -> Self {
        Self {
            dir: dir.to_owned(),
            budget_bytes: budget_bytes.max(1),
            group: Group::default(),
            blocks: Vec::new(),
            block_bytes: 0,
            blocks_made: 0,
            runs: Vec::new(),
            count: 0,
        }
    }

    /// Adds one item: `json` is one valid JSON value's text on one line (as
    /// `RestoredSession::into_parts` gives it from a restore run with
    /// `RestoreOptions::with_single_line`, or `serde_json::to_string` makes it): the
    /// output and the spill files hold one item per line. Text with a line break is
    /// refused (an error, never misplaced items).
    pub(crate) fn push(
        &mut self,
        room_id: String,
        session_id: String,
        json: Zeroizing<String>,
    ) -> io::Result<()> {
        if has_line_break(&json) {
            return Err(io::Error::other(
                "an item to sort holds a line break (its JSON must be on one line)",
            ));
        }
        if self.group.starts_new(&room_id) {
            self.close_group();
        }
        self.group.push(room_id, session_id, json);
        self.count += 1;
        // The arriving room counts twice: when it closes, its items are copied into its
        // block before they are freed.
        if self.block_bytes + 2 * self.group.bytes() >= self.budget_bytes {
            self.spill()?;
        }
        Ok(())
    }

    /// How many items were added.
    pub(crate) fn len(&self) -> u64 {
        self.count
    }

    /// The arriving room's items become a block.
    fn close_group(&mut self) {
        if let Some(block) = self.group.close(self.blocks_made) {
            self.blocks_made += 1;
            self.block_bytes += block.bytes;
            self.blocks.push(block);
        }
    }

    /// Every item in memory goes to one sorted run in a spill file.
    fn spill(&mut self) -> io::Result<()> {
        self.close_group();
        let blocks = std::mem::take(&mut self.blocks);
        self.block_bytes = 0;
        let cursors = blocks.into_iter().map(|b| Cursor::block(b, 0)).collect();
        self.runs.push(run::write_run(&self.dir, 0, |w| {
            merge::merge(cursors, w, &mut drop)
        })?);
        self.compact()
    }

    /// While the last [`FAN_IN`] runs are of one level, merges them into one run of the
    /// next level (in place: the order of runs is the order items came in). However many
    /// spills a large input makes, few files are open at once.
    fn compact(&mut self) -> io::Result<()> {
        while self.runs.len() >= FAN_IN {
            let tail = &self.runs[self.runs.len() - FAN_IN..];
            let level = tail[0].level;
            if tail.iter().any(|r| r.level != level) {
                return Ok(());
            }
            let group = self.runs.split_off(self.runs.len() - FAN_IN);
            let mut cursors = Vec::with_capacity(group.len());
            for (rank, run) in group.into_iter().enumerate() {
                cursors.push(Cursor::run(run, rank)?);
            }
            self.runs.push(run::write_run(&self.dir, level + 1, |w| {
                merge::merge(cursors, w, &mut drop)
            })?);
        }
        Ok(())
    }

    /// Writes the whole sorted array to `out`: `[`, one item per line, `]`.
    pub(crate) fn finish(self, out: &mut dyn Write) -> io::Result<()> {
        let mut array = ArrayOut {
            out: WipedWriter::new(out, OUTPUT_CHUNK),
            first: true,
        };
        self.finish_into(&mut array)?;
        let end: &[u8] = if array.first { b"[]\n" } else { b"\n]\n" };
        array.out.write_all(end)?;
        array.out.flush()
    }

    /// Hands every item's JSON to `emit`, in sorted order.
    pub(crate) fn finish_each(self, emit: impl FnMut(&str) -> io::Result<()>) -> io::Result<()> {
        self.finish_into(&mut EachOut(emit))
    }

    fn finish_into(mut self, out: &mut dyn Emit) -> io::Result<()> {
        self.close_group();
        let runs = self.runs.len();
        let mut cursors = Vec::with_capacity(runs + self.blocks.len());
        for (rank, run) in self.runs.into_iter().enumerate() {
            cursors.push(Cursor::run(run, rank)?);
        }
        cursors.extend(self.blocks.into_iter().map(|b| Cursor::block(b, runs)));
        // Blocks written out are wiped and freed on another thread meanwhile (the other
        // cores have nothing else to do now).
        std::thread::scope(|scope| {
            let (written, to_wipe) = std::sync::mpsc::channel::<Block>();
            // Without the thread (it could not start), sending fails and the block is
            // wiped here.
            let _wiper = std::thread::Builder::new()
                .name("wipe".into())
                .spawn_scoped(scope, move || to_wipe.into_iter().for_each(drop));
            merge::merge(cursors, out, &mut |block| {
                let _ = written.send(block);
            })
        })
    }
}

/// Does `text` hold `\n` or `\r`? One SIMD pass for both.
fn has_line_break(text: &str) -> bool {
    memchr::memchr2(b'\n', b'\r', text.as_bytes()).is_some()
}

/// Writes the JSON array through a wiped buffer.
struct ArrayOut<'a> {
    out: WipedWriter<&'a mut dyn Write>,
    /// Nothing written yet (not even `[`).
    first: bool,
}

impl Emit for ArrayOut<'_> {
    fn item(&mut self, _room_id: &str, _session_id: &str, json: &str) -> io::Result<()> {
        self.write_items(json)
    }

    fn rest_of_block(&mut self, block: &Block, first: usize) -> io::Result<()> {
        // The items' texts as they are: each ends in the separator, but for the last,
        // whose separator is the next item's (or the end's) to write.
        let text = block.text_from(first);
        self.write_items(text.strip_suffix(",\n").unwrap_or(text))
    }
}

impl ArrayOut<'_> {
    /// One item or several (separated already) after `[` or the separator.
    fn write_items(&mut self, items: &str) -> io::Result<()> {
        let sep: &[u8] = if self.first { b"[\n" } else { b",\n" };
        self.first = false;
        self.out.write_all(sep)?;
        self.out.write_all(items.as_bytes())
    }
}

impl Emit for RunWriter<'_> {
    fn item(&mut self, room_id: &str, session_id: &str, json: &str) -> io::Result<()> {
        RunWriter::item(self, room_id, session_id, json)
    }
}

/// Hands each item's JSON to a function.
struct EachOut<F>(F);

impl<F: FnMut(&str) -> io::Result<()>> Emit for EachOut<F> {
    fn item(&mut self, _room_id: &str, _session_id: &str, json: &str) -> io::Result<()> {
        (self.0)(json)
    }
}

#[cfg(test)]
mod tests;
