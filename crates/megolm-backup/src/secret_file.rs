//! Files that hold secrets (restored sessions, exports, Security Keys).
//!
//! A secret file is written as a new file in the destination's folder, then flushed to
//! disk and renamed over the destination. So an existing destination never keeps a
//! looser mode, a symlink at the destination is replaced rather than followed, and a
//! crash or Ctrl-C never leaves a half-written file at the destination.
//!
//! Where the OS allows it (Linux: `O_TMPFILE` and `/proc/self/fd`), the new file has no
//! name while it is written: it is linked into the folder under a random temporary name
//! only once complete, and at once renamed over the destination. A SIGKILL, a SIGXFSZ or
//! a power cut while writing leaves nothing behind. Elsewhere the new file has a random
//! name (`.megolm-backup-*.tmp`, mode 0600, created exclusively) from the start.
//!
//! Every named temporary file is registered while it exists; on SIGINT or SIGTERM the
//! handler installed by [`remove_on_interrupt`] removes them and the process exits with
//! status 130. Every one is also locked (`flock`) by its writer while it exists, so that a
//! later run can tell a leftover of a killed run (unlocked, see
//! [`crate::outputs`]) from a file another run is writing now.

use std::{
    collections::BTreeSet,
    fs::File,
    io::{self, Write},
    path::{Path, PathBuf},
    sync::{Mutex, PoisonError},
};

use tempfile::TempPath;

use crate::fatal::Status;

/// The prefix of every temporary file this tool names.
pub(crate) const TEMP_PREFIX: &str = ".megolm-backup-";
/// The suffix of every temporary file this tool names.
pub(crate) const TEMP_SUFFIX: &str = ".tmp";

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
        // A login this command made must not outlive it.
        #[cfg(feature = "homeserver")]
        crate::server::logout_on_interrupt();
        eprintln!("\ninterrupted: nothing was written, and no temporary file is left");
        std::process::exit(Status::Interrupted as i32);
    });
}

/// The folder a destination is written in (where its temporary file goes).
pub(crate) fn folder_of(dest: &Path) -> &Path {
    match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

fn temp_names() -> tempfile::Builder<'static, 'static> {
    let mut b = tempfile::Builder::new();
    b.prefix(TEMP_PREFIX).suffix(TEMP_SUFFIX);
    b
}

/// Locks a file this run writes, for as long as it is open (see the module docs).
fn lock(file: &File) -> io::Result<()> {
    #[cfg(unix)]
    rustix::fs::flock(file, rustix::fs::FlockOperation::LockExclusive)?;
    #[cfg(not(unix))]
    let _ = file;
    Ok(())
}

/// A new file without a name in `folder`, mode 0600, when the OS can later link it into
/// place through `/proc/self/fd`; `None` when it cannot (the caller names the file).
#[cfg(any(target_os = "linux", target_os = "android"))]
fn unnamed_in(folder: &Path) -> Option<File> {
    use rustix::fs::{Mode, OFlags};
    if !Path::new("/proc/self/fd").is_dir() {
        return None;
    }
    rustix::fs::open(
        folder,
        OFlags::TMPFILE | OFlags::RDWR | OFlags::CLOEXEC,
        Mode::RUSR | Mode::WUSR,
    )
    .ok()
    .map(File::from)
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn unnamed_in(_folder: &Path) -> Option<File> {
    None
}

/// Gives the unnamed `file` a random temporary name in `dest`'s folder, then renames it
/// over `dest`.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn link_into_place(file: &File, dest: &Path) -> io::Result<()> {
    use std::os::fd::AsRawFd;

    use rustix::fs::{AtFlags, CWD};
    let by_fd = format!("/proc/self/fd/{}", file.as_raw_fd());
    let named = temp_names().make_in(folder_of(dest), |candidate| {
        rustix::fs::linkat(CWD, by_fd.as_str(), CWD, candidate, AtFlags::SYMLINK_FOLLOW)?;
        register(candidate);
        Ok(())
    })?;
    let path = named.path().to_owned();
    let result = named.persist(dest).map_err(|e| e.error);
    unregister(&path);
    result
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn link_into_place(_file: &File, _dest: &Path) -> io::Result<()> {
    Err(io::Error::other("unnamed files are not supported here"))
}

/// A secret file being written. Nothing appears at the destination until
/// [`commit`](Self::commit); dropped without it, nothing is left.
pub(crate) struct SecretFile {
    file: File,
    dest: PathBuf,
    /// The file's temporary name, when the OS could not give an unnamed file.
    named: Option<TempPath>,
}

impl SecretFile {
    /// Starts writing `dest`.
    pub(crate) fn create(dest: &Path) -> io::Result<Self> {
        match unnamed_in(folder_of(dest)) {
            Some(file) => {
                lock(&file)?;
                Ok(Self {
                    file,
                    dest: dest.to_owned(),
                    named: None,
                })
            }
            None => Self::create_named(dest),
        }
    }

    /// Starts writing `dest` through a named temporary file (where there are no
    /// unnamed files).
    pub(crate) fn create_named(dest: &Path) -> io::Result<Self> {
        let tmp = temp_names().tempfile_in(folder_of(dest))?;
        register(tmp.path());
        let (file, path) = tmp.into_parts();
        lock(&file)?;
        Ok(Self {
            file,
            dest: dest.to_owned(),
            named: Some(path),
        })
    }

    /// Flushes the file to disk and puts it in place of the destination.
    pub(crate) fn commit(mut self) -> io::Result<()> {
        self.file.sync_all()?;
        match self.named.take() {
            Some(path) => {
                let name = path.to_path_buf();
                let result = path.persist(&self.dest).map_err(|e| e.error);
                unregister(&name);
                result
            }
            None => link_into_place(&self.file, &self.dest),
        }
    }
}

impl Write for SecretFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

impl Drop for SecretFile {
    fn drop(&mut self) {
        if let Some(path) = self.named.take() {
            unregister(&path);
            // TempPath removes the file when dropped.
        }
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
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        drop(f);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        let mut f = SecretFile::create(&dest).unwrap();
        f.write_all(b"secret").unwrap();
        f.commit().unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), b"secret");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        // Again over the existing file: replaced, nothing else left.
        let mut f = SecretFile::create(&dest).unwrap();
        f.write_all(b"other").unwrap();
        f.commit().unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), b"other");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    /// Where the OS has no unnamed files: the temporary file has a name, is removed if
    /// dropped, and is renamed over the destination on commit.
    #[test]
    fn the_named_fallback_leaves_nothing_either() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("out.json");
        let mut f = SecretFile::create_named(&dest).unwrap();
        f.write_all(b"secret").unwrap();
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        drop(f);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        let mut f = SecretFile::create_named(&dest).unwrap();
        let temp = f.named.as_ref().unwrap().to_path_buf();
        assert!(LIVE.lock().unwrap().contains(&temp));
        f.write_all(b"secret").unwrap();
        f.commit().unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), b"secret");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        assert!(!LIVE.lock().unwrap().contains(&temp));
    }

    #[cfg(unix)]
    #[test]
    fn a_symlink_at_the_destination_is_replaced_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("target");
        std::fs::write(&target, b"keep").unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let mut f = SecretFile::create(&link).unwrap();
        f.write_all(b"new").unwrap();
        f.commit().unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"keep");
        assert!(!std::fs::symlink_metadata(&link).unwrap().is_symlink());
        assert_eq!(std::fs::read(&link).unwrap(), b"new");
    }
}
