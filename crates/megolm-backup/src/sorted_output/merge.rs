//! Merging sorted sources (blocks in memory, runs in spill files) into one order by
//! (room id, session id, source), with the source's rank breaking ties: items with equal
//! ids come out in the order they came in. A block that comes whole before every other
//! source's next item is handed on in one piece.

use std::{
    fs::File,
    io::{self, Seek, SeekFrom},
};

use super::block::Block;
use super::run::{Head, Run, parse_line};
use crate::wiped::WipedLines;

/// Where merged items go.
pub(super) trait Emit {
    /// One item.
    fn item(&mut self, room_id: &str, session_id: &str, json: &str) -> io::Result<()>;

    /// The items of `block` from item `first` to its end.
    fn rest_of_block(&mut self, block: &Block, first: usize) -> io::Result<()> {
        for i in first..block.len() {
            self.item(&block.room_id, block.session_id(i), block.json(i))?;
        }
        Ok(())
    }
}

/// A sorted source, read from its front.
pub(super) enum Cursor {
    /// A block in memory: its next item is `item`.
    Block {
        block: Block,
        item: usize,
        rank: usize,
    },
    /// A spill file's lines.
    Run {
        lines: WipedLines<File>,
        head: Head,
        rank: usize,
    },
    /// Read to the end (and its memory given back).
    Done,
}

impl Cursor {
    /// A block, ranked by its number after every run.
    pub(super) fn block(block: Block, runs: usize) -> Self {
        let rank = runs + block.seq;
        Cursor::Block {
            block,
            item: 0,
            rank,
        }
    }

    /// A spill file from its start (none when it is empty).
    pub(super) fn run(run: Run, rank: usize) -> io::Result<Self> {
        let mut file = run.file;
        file.seek(SeekFrom::Start(0))?;
        let mut lines = WipedLines::new(file);
        let head = match lines.next_line()? {
            Some(line) => parse_line(line)?,
            None => return Ok(Cursor::Done),
        };
        Ok(Cursor::Run { lines, head, rank })
    }

    /// The next item's (room id, session id, rank); none when read to the end.
    fn key(&self) -> Option<(&str, &str, usize)> {
        Some(match self {
            Cursor::Block {
                block, item, rank, ..
            } => (&block.room_id, block.session_id(*item), *rank),
            Cursor::Run { head, rank, .. } => (&head.room_id, &head.session_id, *rank),
            Cursor::Done => return None,
        })
    }

    /// A block's last item's key: every item left comes before it or is it.
    fn last_key(&self) -> Option<(&str, &str, usize)> {
        match self {
            Cursor::Block { block, rank, .. } => {
                Some((&block.room_id, block.session_id(block.len() - 1), *rank))
            }
            _ => None,
        }
    }

    /// Hands the next item on and moves past it; false when nothing is left.
    fn emit_one(&mut self, out: &mut dyn Emit, retire: &mut dyn FnMut(Block)) -> io::Result<bool> {
        match self {
            Cursor::Block { block, item, .. } => {
                out.item(&block.room_id, block.session_id(*item), block.json(*item))?;
                *item += 1;
                if *item < block.len() {
                    return Ok(true);
                }
            }
            Cursor::Run { lines, head, .. } => {
                out.item(&head.room_id, &head.session_id, &head.json)?;
                if let Some(line) = lines.next_line()? {
                    *head = parse_line(line)?;
                    return Ok(true);
                }
            }
            Cursor::Done => return Ok(false),
        }
        self.end(retire);
        Ok(false)
    }

    /// Hands on everything a block has left.
    fn emit_rest(&mut self, out: &mut dyn Emit, retire: &mut dyn FnMut(Block)) -> io::Result<()> {
        if let Cursor::Block { block, item, .. } = self {
            out.rest_of_block(block, *item)?;
        }
        self.end(retire);
        Ok(())
    }

    /// Read to the end: a block goes to `retire`.
    fn end(&mut self, retire: &mut dyn FnMut(Block)) {
        if let Cursor::Block { block, .. } = std::mem::replace(self, Cursor::Done) {
            retire(block);
        }
    }
}

/// Does `a`'s next item come before `b`'s? (A cursor read to the end comes last.)
fn before(cursors: &[Cursor], a: usize, b: usize) -> bool {
    match (cursors[a].key(), cursors[b].key()) {
        (Some(a), Some(b)) => a < b,
        (Some(_), None) => true,
        (None, _) => false,
    }
}

/// Merges every source into `out`. Each block, once read to its end, goes to `retire`
/// (which may wipe it on another thread).
pub(super) fn merge(
    mut cursors: Vec<Cursor>,
    out: &mut dyn Emit,
    retire: &mut dyn FnMut(Block),
) -> io::Result<()> {
    cursors.retain(|c| !matches!(c, Cursor::Done));
    // A binary min-heap of cursor indices.
    let mut heap: Vec<usize> = (0..cursors.len()).collect();
    for i in (0..heap.len() / 2).rev() {
        sift_down(&mut heap, i, &cursors);
    }
    while let Some(&top) = heap.first() {
        // Take the least cursor off the heap; `next` is then the least of the others.
        let last = heap.len() - 1;
        heap.swap(0, last);
        heap.pop();
        sift_down(&mut heap, 0, &cursors);
        let next = heap.first().copied();
        loop {
            // A block whose last item comes before every other source's next one: the
            // rest of it, in one piece.
            let whole = match (cursors[top].last_key(), next) {
                (Some(_), None) => true,
                (Some(last), Some(n)) => cursors[n].key().is_none_or(|next| last < next),
                (None, _) => false,
            };
            if whole {
                cursors[top].emit_rest(out, retire)?;
                break;
            }
            if !cursors[top].emit_one(out, retire)? {
                break;
            }
            if next.is_some_and(|n| !before(&cursors, top, n)) {
                heap.push(top);
                sift_up(&mut heap, last, &cursors);
                break;
            }
        }
    }
    Ok(())
}

fn sift_down(heap: &mut [usize], mut i: usize, cursors: &[Cursor]) {
    loop {
        let (l, r) = (2 * i + 1, 2 * i + 2);
        let mut least = i;
        if l < heap.len() && before(cursors, heap[l], heap[least]) {
            least = l;
        }
        if r < heap.len() && before(cursors, heap[r], heap[least]) {
            least = r;
        }
        if least == i {
            return;
        }
        heap.swap(i, least);
        i = least;
    }
}

fn sift_up(heap: &mut [usize], mut i: usize, cursors: &[Cursor]) {
    while i > 0 {
        let parent = (i - 1) / 2;
        if !before(cursors, heap[i], heap[parent]) {
            return;
        }
        heap.swap(i, parent);
        i = parent;
    }
}
