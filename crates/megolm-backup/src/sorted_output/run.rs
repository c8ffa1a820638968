//! Spill files: sorted runs of items, one line each (the ids, escaped, then the item's
//! JSON), made when the items in memory reach the budget and merged at the end. They
//! hold decrypted session keys, like the output itself: they are created without a name
//! (`tempfile::tempfile_in`: `O_TMPFILE`, or created and unlinked at once) beside the
//! output, and read back through their handles. No kill, however abrupt, leaves one
//! behind. (How runs are made and merged is the sorter's: `super`.)

use std::{
    fs::File,
    io::{self, Write},
    path::Path,
};

use zeroize::Zeroizing;

use crate::wiped::{SPILL_CHUNK, WipedWriter};

/// A sorted spill file and how many merges made it (0: one spill).
pub(super) struct Run {
    pub(super) file: File,
    pub(super) level: u32,
}

/// Writes the items `fill` hands on as a new run of `level`.
pub(super) fn write_run(
    dir: &Path,
    level: u32,
    fill: impl FnOnce(&mut RunWriter<'_>) -> io::Result<()>,
) -> io::Result<Run> {
    let mut file = tempfile::tempfile_in(dir)?;
    let mut w = RunWriter(WipedWriter::new(&mut file, SPILL_CHUNK));
    fill(&mut w)?;
    w.0.flush()?;
    drop(w);
    Ok(Run { file, level })
}

/// Writes merged items as a run's lines.
pub(super) struct RunWriter<'a>(WipedWriter<&'a mut File>);

impl RunWriter<'_> {
    /// Writes one item's line.
    pub(super) fn item(&mut self, room_id: &str, session_id: &str, json: &str) -> io::Result<()> {
        write_line(&mut self.0, room_id, session_id, json)
    }
}

/// One spill line: the room id and the session id (escaped: see [`write_escaped`]), the
/// item's JSON, separated by tabs (none holds a raw line break).
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

/// A spill file's line, read back.
pub(super) struct Head {
    pub(super) room_id: String,
    pub(super) session_id: String,
    pub(super) json: Zeroizing<String>,
}

pub(super) fn parse_line(line: &str) -> io::Result<Head> {
    let mut fields = line.splitn(3, '\t');
    let (Some(room_id), Some(session_id), Some(json)) =
        (fields.next(), fields.next(), fields.next())
    else {
        return Err(io::Error::other("corrupt spill file"));
    };
    Ok(Head {
        room_id: unescape(room_id)?,
        session_id: unescape(session_id)?,
        json: Zeroizing::new(json.to_owned()),
    })
}
