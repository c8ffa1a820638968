//! Buffered writing and line reading whose buffers are wiped: the text passing through
//! holds decrypted session keys, and `BufWriter`'s, `BufReader`'s and `lines()`'s
//! buffers are freed unwiped. A buffer here never grows in place (a grown vector leaves
//! its old copy behind): it is replaced by a larger one and the old one wiped.

use std::io::{self, Read, Write};

use zeroize::Zeroizing;

/// How much the sorted output gathers before it is written.
pub(crate) const OUTPUT_CHUNK: usize = 1 << 20;
/// How much a spill file gathers before it is written.
pub(crate) const SPILL_CHUNK: usize = 64 << 10;
/// How much an output ([`crate::files::write_output`]) gathers before it is written:
/// small writes (a JSON encoder's) are gathered, larger ones (the sorted output's
/// [`OUTPUT_CHUNK`]s) go straight through.
pub(crate) const WRITE_CHUNK: usize = 64 << 10;
/// How much of a spill file is read at once: as many as the sorted output's merge
/// takes at once, and more, are read side by side.
pub(crate) const READ_CHUNK: usize = 16 << 10;

/// Appends `bytes` to `buf`, moving to a larger buffer (and wiping the old one) when it
/// is full.
fn append(buf: &mut Zeroizing<Vec<u8>>, bytes: &[u8]) {
    let needed = buf.len() + bytes.len();
    if needed > buf.capacity() {
        let mut larger = Zeroizing::new(Vec::with_capacity(needed.max(2 * buf.capacity())));
        larger.extend_from_slice(buf);
        *buf = larger;
    }
    buf.extend_from_slice(bytes);
}

/// A buffered writer whose buffer is wiped.
pub(crate) struct WipedWriter<W: Write> {
    inner: W,
    buf: Zeroizing<Vec<u8>>,
}

impl<W: Write> WipedWriter<W> {
    /// Gathers up to `chunk` bytes before it writes.
    pub(crate) fn new(inner: W, chunk: usize) -> Self {
        Self {
            inner,
            buf: Zeroizing::new(Vec::with_capacity(chunk.max(1))),
        }
    }

    /// Writes what was gathered.
    fn write_buf(&mut self) -> io::Result<()> {
        self.inner.write_all(&self.buf)?;
        self.buf.clear();
        Ok(())
    }
}

impl<W: Write> Write for WipedWriter<W> {
    /// Gathers `bytes`, writing what was gathered first when they do not fit, and writing
    /// them directly when they are larger than the buffer.
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        let chunk = self.buf.capacity();
        if self.buf.len() + bytes.len() > chunk {
            self.write_buf()?;
        }
        if bytes.len() > chunk {
            self.inner.write_all(bytes)?;
        } else {
            self.buf.extend_from_slice(bytes);
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.write_buf()?;
        self.inner.flush()
    }
}

/// Reads lines (ending in `\n`) through wiped buffers.
pub(crate) struct WipedLines<R: Read> {
    inner: R,
    /// Made at its full size once; `buf[pos..end]` is read and not yet handed on.
    buf: Zeroizing<Vec<u8>>,
    pos: usize,
    end: usize,
    line: Zeroizing<Vec<u8>>,
}

impl<R: Read> WipedLines<R> {
    pub(crate) fn new(inner: R) -> Self {
        Self {
            inner,
            buf: Zeroizing::new(vec![0; READ_CHUNK]),
            pos: 0,
            end: 0,
            line: Zeroizing::new(Vec::new()),
        }
    }

    /// The next line, without its `\n` (the last may lack one); none at the end.
    pub(crate) fn next_line(&mut self) -> io::Result<Option<&str>> {
        self.line.clear();
        loop {
            if self.pos == self.end {
                self.pos = 0;
                self.end = loop {
                    match self.inner.read(&mut self.buf) {
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        r => break r?,
                    }
                };
                if self.end == 0 {
                    if self.line.is_empty() {
                        return Ok(None);
                    }
                    break;
                }
            }
            let rest = &self.buf[self.pos..self.end];
            match memchr::memchr(b'\n', rest) {
                Some(i) => {
                    append(&mut self.line, &rest[..i]);
                    self.pos += i + 1;
                    break;
                }
                None => {
                    append(&mut self.line, rest);
                    self.pos = self.end;
                }
            }
        }
        std::str::from_utf8(&self.line)
            .map(Some)
            .map_err(|_| io::Error::other("corrupt spill file"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads `data` in pieces of `piece` bytes (a reader that gives little at a time).
    struct Trickle<'a>(&'a [u8], usize);
    impl Read for Trickle<'_> {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            let n = self.1.min(self.0.len()).min(out.len());
            out[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    #[test]
    fn lines_of_every_length_across_reads() {
        let lines: Vec<String> = (0..40)
            .map(|i| "é".repeat(i * 7919 % 3000))
            .chain(["".to_owned(), "x".repeat(READ_CHUNK * 3 + 3)])
            .collect();
        let data = lines.join("\n");
        for piece in [1, 7, 4096, usize::MAX] {
            let mut r = WipedLines::new(Trickle(data.as_bytes(), piece));
            let mut got = Vec::new();
            while let Some(line) = r.next_line().unwrap() {
                got.push(line.to_owned());
            }
            // The empty line before the last is read; an empty input has no line.
            assert_eq!(got, lines, "piece {piece}");
        }
        assert!(
            WipedLines::new(&b""[..]).next_line().unwrap().is_none(),
            "no line in nothing"
        );
        assert!(WipedLines::new(&b"\xff\n"[..]).next_line().is_err());
    }

    #[test]
    fn writes_of_every_size_arrive_in_order() {
        let mut out = Vec::new();
        let mut want = Vec::new();
        {
            let mut w = WipedWriter::new(&mut out, SPILL_CHUNK);
            for i in 0..50usize {
                let piece = vec![b'a' + (i % 26) as u8; i * 104_729 % (SPILL_CHUNK + 10)];
                w.write_all(&piece).unwrap();
                want.extend_from_slice(&piece);
                // Never grown: the buffer is the one made at the start.
                assert_eq!(w.buf.capacity(), SPILL_CHUNK);
            }
            w.flush().unwrap();
        }
        assert_eq!(out, want);
    }
}
