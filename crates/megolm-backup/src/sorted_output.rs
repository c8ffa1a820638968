//! Writing restored sessions (or failure records) as one JSON array sorted by (room id,
//! session id) in bounded memory: items are buffered up to a budget, each full buffer is
//! sorted and spilled to a temporary file as one JSON line per item, and the runs are
//! merged at the end. Items with equal ids keep the order they came in.
//!
//! The spill files hold decrypted session keys, like the output itself: they are created
//! without a name (`tempfile::tempfile_in`: `O_TMPFILE`, or created and unlinked at once)
//! beside the output, and read back through their handles. No kill, however abrupt, leaves
//! one behind. Runs are merged [`FAN_IN`] at a time as they pile up, so however many
//! spills a large input makes, few files are open at once.

use std::{
    cmp::Reverse,
    collections::BinaryHeap,
    fs::File,
    io::{self, BufRead, BufReader, BufWriter, Seek, SeekFrom, Write},
    path::{Path, PathBuf},
};

use zeroize::Zeroizing;

/// How many runs of one level are merged into one run of the next level.
const FAN_IN: usize = 64;

/// One item to sort: its key and its JSON text (which holds a session key: wiped on
/// drop).
struct Item {
    room_id: String,
    session_id: String,
    json: Zeroizing<String>,
}

/// A sorted spill file and how many merges made it (0: one buffer).
struct Run {
    file: File,
    level: u32,
}

/// Sorts serialized items by (room id, session id) within a memory budget.
pub(crate) struct SortedJsonArray {
    dir: PathBuf,
    buffer: Vec<Item>,
    buffered_bytes: usize,
    budget_bytes: usize,
    runs: Vec<Run>,
    count: u64,
}

impl SortedJsonArray {
    /// Spill files go in `dir`.
    pub(crate) fn new(dir: &Path, budget_bytes: usize) -> Self {
        Self {
            dir: dir.to_owned(),
            buffer: Vec::new(),
            buffered_bytes: 0,
            budget_bytes: budget_bytes.max(1),
            runs: Vec::new(),
            count: 0,
        }
    }

    /// Adds one item: `json` is one valid JSON value's text (as
    /// `RestoredSession::into_parts` gives it). A line break in it can only be whitespace
    /// (JSON strings cannot hold a raw one), so it becomes a space: spill files are one
    /// item per line, and the output is the same whether or not the buffer spilled.
    pub(crate) fn push(
        &mut self,
        room_id: String,
        session_id: String,
        mut json: Zeroizing<String>,
    ) -> io::Result<()> {
        // Two one-character searches (memchr) rather than one for either character.
        if json.contains('\n') || json.contains('\r') {
            json = Zeroizing::new(json.replace(['\n', '\r'], " "));
        }
        self.push_single_line(room_id, session_id, json)
    }

    /// [`push`](Self::push) for text already on one line (a restore run with
    /// `RestoreOptions::with_single_line`, which did that work in its workers): nothing
    /// is scanned here. Text with a line break would break a spill file's lines; reading
    /// it back then fails as a corrupt spill file, it is never misread.
    pub(crate) fn push_single_line(
        &mut self,
        room_id: String,
        session_id: String,
        json: Zeroizing<String>,
    ) -> io::Result<()> {
        self.buffered_bytes += json.len() + room_id.len() + session_id.len() + 64;
        self.buffer.push(Item {
            room_id,
            session_id,
            json,
        });
        self.count += 1;
        if self.buffered_bytes >= self.budget_bytes {
            self.spill()?;
        }
        Ok(())
    }

    /// How many items were added.
    pub(crate) fn len(&self) -> u64 {
        self.count
    }

    fn sort_buffer(&mut self) {
        // Stable: items with the same ids stay in the order they came in.
        self.buffer
            .sort_by(|a, b| (&a.room_id, &a.session_id).cmp(&(&b.room_id, &b.session_id)));
    }

    fn spill(&mut self) -> io::Result<()> {
        self.sort_buffer();
        let mut file = tempfile::tempfile_in(&self.dir)?;
        let mut w = BufWriter::new(&mut file);
        for item in self.buffer.drain(..) {
            write_line(&mut w, &item.room_id, &item.session_id, &item.json)?;
        }
        w.flush()?;
        drop(w);
        self.runs.push(Run { file, level: 0 });
        self.buffered_bytes = 0;
        self.compact()
    }

    /// While the last [`FAN_IN`] runs are of one level, merges them into one run of the
    /// next level (in place: the order of runs is the order items came in).
    fn compact(&mut self) -> io::Result<()> {
        while self.runs.len() >= FAN_IN {
            let tail = &self.runs[self.runs.len() - FAN_IN..];
            let level = tail[0].level;
            if tail.iter().any(|r| r.level != level) {
                return Ok(());
            }
            let group: Vec<Run> = self.runs.split_off(self.runs.len() - FAN_IN);
            let mut file = tempfile::tempfile_in(&self.dir)?;
            let mut w = BufWriter::new(&mut file);
            merge(group, |head| {
                write_line(&mut w, &head.room_id, &head.session_id, &head.json)
            })?;
            w.flush()?;
            drop(w);
            self.runs.push(Run {
                file,
                level: level + 1,
            });
        }
        Ok(())
    }

    /// Writes the whole sorted array to `out`.
    pub(crate) fn finish(self, out: &mut dyn Write) -> io::Result<()> {
        out.write_all(b"[")?;
        let mut first = true;
        self.finish_each(|json| {
            out.write_all(if first { b"\n" } else { b",\n" })?;
            first = false;
            out.write_all(json.as_bytes())
        })?;
        out.write_all(if first { b"]\n" } else { b"\n]\n" })?;
        out.flush()
    }

    /// Hands every item's JSON to `emit`, in sorted order.
    pub(crate) fn finish_each(
        mut self,
        mut emit: impl FnMut(&str) -> io::Result<()>,
    ) -> io::Result<()> {
        if self.runs.is_empty() {
            self.sort_buffer();
            for item in &self.buffer {
                emit(&item.json)?;
            }
            return Ok(());
        }
        if !self.buffer.is_empty() {
            self.spill()?;
        }
        merge(std::mem::take(&mut self.runs), |head| emit(&head.json))
    }
}

/// One spill line: the ids as a JSON array, a tab, the item's JSON (none holds a raw
/// line break).
fn write_line(w: &mut impl Write, room_id: &str, session_id: &str, json: &str) -> io::Result<()> {
    write_escaped(w, room_id)?;
    w.write_all(b"\t")?;
    write_escaped(w, session_id)?;
    w.write_all(b"\t")?;
    w.write_all(json.as_bytes())?;
    w.write_all(b"\n")
}

/// An id on a spill line: `\`, tab, line feed and carriage return escaped (`\\`, `\t`,
/// `\n`, `\r`), so the line splits at its tabs. Cheaper than JSON both ways, which
/// matters when a hostile body makes millions of failure records.
fn write_escaped(w: &mut impl Write, id: &str) -> io::Result<()> {
    let bytes = id.as_bytes();
    let mut start = 0;
    for (i, b) in bytes.iter().enumerate() {
        let escaped: &[u8] = match b {
            b'\\' => b"\\\\",
            b'\t' => b"\\t",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            _ => continue,
        };
        w.write_all(&bytes[start..i])?;
        w.write_all(escaped)?;
        start = i + 1;
    }
    w.write_all(&bytes[start..])
}

/// The id [`write_escaped`] wrote.
fn unescape(field: &str) -> io::Result<String> {
    if !field.contains('\\') {
        return Ok(field.to_owned());
    }
    let mut id = String::with_capacity(field.len());
    let mut chars = field.chars();
    while let Some(c) = chars.next() {
        id.push(match c {
            '\\' => match chars.next() {
                Some('\\') => '\\',
                Some('t') => '\t',
                Some('n') => '\n',
                Some('r') => '\r',
                _ => return Err(io::Error::other("corrupt spill file")),
            },
            c => c,
        });
    }
    Ok(id)
}

/// Merges sorted runs (read back from the start of each file), handing each item to
/// `emit` in order; equal ids come in the order of the runs.
fn merge(runs: Vec<Run>, mut emit: impl FnMut(&Head) -> io::Result<()>) -> io::Result<()> {
    let mut readers = Vec::with_capacity(runs.len());
    for mut run in runs {
        run.file.seek(SeekFrom::Start(0))?;
        readers.push(BufReader::new(run.file).lines());
    }
    let mut heap = BinaryHeap::new();
    for (i, r) in readers.iter_mut().enumerate() {
        if let Some(line) = r.next() {
            heap.push(Reverse(parse_line(Zeroizing::new(line?), i)?));
        }
    }
    while let Some(Reverse(head)) = heap.pop() {
        emit(&head)?;
        if let Some(line) = readers[head.run].next() {
            heap.push(Reverse(parse_line(Zeroizing::new(line?), head.run)?));
        }
    }
    Ok(())
}

/// The next line of a run, ordered by (room id, session id, run).
struct Head {
    room_id: String,
    session_id: String,
    run: usize,
    json: Zeroizing<String>,
}

impl Head {
    fn key(&self) -> (&str, &str, usize) {
        (&self.room_id, &self.session_id, self.run)
    }
}
impl PartialEq for Head {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}
impl Eq for Head {}
impl PartialOrd for Head {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Head {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.key().cmp(&other.key())
    }
}

fn parse_line(line: Zeroizing<String>, run: usize) -> io::Result<Head> {
    let mut fields = line.splitn(3, '\t');
    let (Some(room_id), Some(session_id), Some(json)) =
        (fields.next(), fields.next(), fields.next())
    else {
        return Err(io::Error::other("corrupt spill file"));
    };
    Ok(Head {
        room_id: unescape(room_id)?,
        session_id: unescape(session_id)?,
        run,
        json: Zeroizing::new(json.to_owned()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(budget: usize, items: &[(&str, &str)]) -> String {
        let dir = std::env::temp_dir();
        let mut s = SortedJsonArray::new(&dir, budget);
        for (i, (r, id)) in items.iter().enumerate() {
            // Some sessions' JSON spans lines, as a client's pretty-printed plaintext does.
            let value = serde_json::json!({"room_id": r, "session_id": id, "k": "a\nb"});
            let json = if i % 3 == 0 {
                serde_json::to_string_pretty(&value).unwrap()
            } else {
                value.to_string()
            };
            s.push(r.to_string(), id.to_string(), Zeroizing::new(json))
                .unwrap();
        }
        let mut out = Vec::new();
        s.finish(&mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn spilled_and_in_memory_agree() {
        let items: Vec<(String, String)> = (0..500)
            .map(|i| {
                (
                    format!("!r{}", (i * 7919) % 13),
                    format!("s{}", (i * 104729) % 1000),
                )
            })
            .collect();
        let refs: Vec<(&str, &str)> = items
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        let mem = run(usize::MAX, &refs);
        let spilled = run(2000, &refs);
        assert_eq!(mem, spilled);
        let v: Vec<serde_json::Value> = serde_json::from_str(&mem).unwrap();
        assert_eq!(v.len(), 500);
        let keys: Vec<_> = v
            .iter()
            .map(|x| (x["room_id"].to_string(), x["session_id"].to_string()))
            .collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted);
        assert_eq!(run(10, &[]), "[]\n");
    }

    /// Every item spills on its own (budget 1): hundreds of runs are merged FAN_IN at a
    /// time, ids holding the spill line's separators survive, and items with equal ids
    /// keep the order they came in.
    #[test]
    fn many_runs_awkward_ids_and_equal_ids() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = SortedJsonArray::new(dir.path(), 1);
        let mut expected = Vec::new();
        for i in 0..700u32 {
            let room = format!("!r{}\t\\n\n{}", i % 7, "\\".repeat((i % 3) as usize));
            let session = format!("s\r{}", i % 50);
            let json = serde_json::json!({"room_id": room, "session_id": session, "i": i});
            expected.push((room.clone(), session.clone(), i));
            s.push(room, session, Zeroizing::new(json.to_string()))
                .unwrap();
        }
        // At most FAN_IN - 1 runs of each level (two levels here).
        assert!(s.runs.len() < 2 * FAN_IN, "{} runs open", s.runs.len());
        // Stable: equal ids in the order pushed.
        expected.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
        let mut out = Vec::new();
        s.finish(&mut out).unwrap();
        let got: Vec<serde_json::Value> = serde_json::from_slice(&out).unwrap();
        let got: Vec<(String, String, u32)> = got
            .iter()
            .map(|v| {
                (
                    v["room_id"].as_str().unwrap().to_owned(),
                    v["session_id"].as_str().unwrap().to_owned(),
                    v["i"].as_u64().unwrap() as u32,
                )
            })
            .collect();
        assert_eq!(got, expected);
        // Spill files have no name.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
