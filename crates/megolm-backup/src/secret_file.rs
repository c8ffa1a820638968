//! Files that hold secrets (restored sessions, exports, Security Keys, sort spills).
//!
//! Each is written as a new file with a random name in the destination's folder, created
//! exclusively with mode 0600 (`tempfile`), then flushed to disk and renamed over the
//! destination. So an existing destination never keeps a looser mode, a symlink at the
//! destination is replaced rather than followed, and a crash or Ctrl-C never leaves a
//! half-written file at the destination. Every temporary file is registered while it
//! exists; on SIGINT or SIGTERM the handler installed by [`remove_on_interrupt`] removes
//! them and the process exits with status 130.

use std::{
    collections::BTreeSet,
    fs::File,
    io::{self, Write},
    path::{Path, PathBuf},
    sync::{Mutex, PoisonError},
};

use tempfile::NamedTempFile;

/// The temporary files that exist now.
static LIVE: Mutex<BTreeSet<PathBuf>> = Mutex::new(BTreeSet::new());

fn register(path: &Path) {
    LIVE.lock()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(path.to_owned());
}

fn unregister(path: &Path) {
    LIVE.lock()
        .unwrap_or_else(PoisonError::into_inner)
        .remove(path);
}

/// Installs the SIGINT/SIGTERM handler: remove every temporary file, exit 130.
pub(crate) fn remove_on_interrupt() {
    // If a handler cannot be installed, an interrupt kills the process as before (the
    // destination is still never half-written); not worth refusing to run over.
    let _ = ctrlc::set_handler(|| {
        let live = std::mem::take(&mut *LIVE.lock().unwrap_or_else(PoisonError::into_inner));
        for path in &live {
            let _ = std::fs::remove_file(path);
        }
        eprintln!("\ninterrupted: nothing was written, and no temporary file is left");
        std::process::exit(130);
    });
}

fn folder_of(dest: &Path) -> &Path {
    match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

fn new_temp_in(dir: &Path) -> io::Result<NamedTempFile> {
    let tmp = tempfile::Builder::new()
        .prefix(".megolm-backup-")
        .suffix(".tmp")
        .tempfile_in(dir)?;
    register(tmp.path());
    Ok(tmp)
}

/// A secret file being written. Nothing appears at the destination until
/// [`commit`](Self::commit); dropped without it, the temporary file is removed.
pub(crate) struct SecretFile {
    tmp: Option<NamedTempFile>,
    dest: PathBuf,
}

impl SecretFile {
    /// Starts writing `dest`.
    pub(crate) fn create(dest: &Path) -> io::Result<Self> {
        Ok(Self {
            tmp: Some(new_temp_in(folder_of(dest))?),
            dest: dest.to_owned(),
        })
    }

    fn file(&mut self) -> io::Result<&mut File> {
        self.tmp
            .as_mut()
            .map(NamedTempFile::as_file_mut)
            .ok_or_else(|| io::Error::other("the file was already committed"))
    }

    /// Flushes the file to disk and renames it over the destination.
    pub(crate) fn commit(mut self) -> io::Result<()> {
        let tmp = self
            .tmp
            .take()
            .ok_or_else(|| io::Error::other("the file was already committed"))?;
        tmp.as_file().sync_all()?;
        let path = tmp.path().to_owned();
        let result = tmp.persist(&self.dest).map(drop).map_err(|e| e.error);
        unregister(&path);
        result
    }
}

impl Write for SecretFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file()?.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.file()?.flush()
    }
}

impl Drop for SecretFile {
    fn drop(&mut self) {
        if let Some(tmp) = self.tmp.take() {
            unregister(tmp.path());
            // NamedTempFile removes the file when dropped.
        }
    }
}

/// A scratch file (mode 0600, random name, in `dir`), removed when dropped or on
/// interrupt.
pub(crate) struct ScratchFile(NamedTempFile);

impl ScratchFile {
    /// A new scratch file in `dir`.
    pub(crate) fn new_in(dir: &Path) -> io::Result<Self> {
        new_temp_in(dir).map(Self)
    }
    /// Its path (to read it back).
    pub(crate) fn path(&self) -> &Path {
        self.0.path()
    }
    /// The open file.
    pub(crate) fn file(&mut self) -> &mut File {
        self.0.as_file_mut()
    }
}

impl Drop for ScratchFile {
    fn drop(&mut self) {
        unregister(self.0.path());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_at_the_destination_until_commit_and_no_leftovers() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("out.json");
        let mut f = SecretFile::create(&dest).unwrap();
        f.write_all(b"secret").unwrap();
        assert!(!dest.exists());
        drop(f);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        let mut f = SecretFile::create(&dest).unwrap();
        f.write_all(b"secret").unwrap();
        f.commit().unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), b"secret");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
