//! A command's outputs, checked before any work and opened without destroying anything.
//!
//! [`check_files`] is the one call every command makes once it knows its files, before
//! it reads a key or a body:
//! - every output is compared with every input and every other output: the same file by
//!   device and inode when it exists (so through symlinks and hard links), else by its
//!   canonical folder and name. A match is refused, naming both.
//! - an output whose target (after following symlinks) exists and is not a regular file
//!   — a FIFO, a terminal, a character device such as `/dev/null` — is written in place:
//!   never replaced, never turned into a regular file. So is this process's standard
//!   output or error, whatever it is (`/dev/stdout`, even a socket or a redirected
//!   file: through the process's own handle), and a regular file named in /dev or /proc
//!   (appended to). A folder, a block device or another socket is refused.
//! - any other output is replaced atomically ([`SecretFile`]): its folder must exist and
//!   take a new file, which is tried before the work. Leftovers of a killed run of this
//!   tool in that folder (`.megolm-backup-*.tmp`, ours, mode 0600, not locked by a live
//!   run) are removed, and the user is told.
//!
//! `-` is stdin as an input and stdout as an output.

use std::{
    fs::{File, Metadata},
    io::{self, IsTerminal, Write},
    path::{Path, PathBuf},
};

use crate::{
    fatal::Fatal,
    secret_file::{SecretFile, TEMP_PREFIX, TEMP_SUFFIX, folder_of},
};

/// Which file a path is, for comparing inputs and outputs.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Identity {
    /// An existing file: its device and inode.
    Inode(u64, u64),
    /// A file that does not exist yet: its canonical folder and its name.
    Name(PathBuf),
}

/// How an output is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    /// To this process's standard output.
    Stdout,
    /// To this process's standard error (`--out /dev/stderr`).
    Stderr,
    /// Opened and written in place (a FIFO, a terminal, a character device).
    InPlace,
    /// Written to a new file that replaces the path atomically.
    Replace,
}

#[cfg(unix)]
fn identity_of(m: &Metadata) -> Option<Identity> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    // A terminal or /dev/null may well be both read and written (a prompt, then output):
    // nothing is lost by it.
    (!m.file_type().is_char_device()).then(|| Identity::Inode(m.dev(), m.ino()))
}

#[cfg(not(unix))]
fn identity_of(_m: &Metadata) -> Option<Identity> {
    None
}

/// One of this process's standard streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stream {
    Stdin,
    Stdout,
    Stderr,
}

/// The metadata of what a standard stream is, when it can be had.
fn std_stream_metadata(stream: Stream) -> Option<Metadata> {
    #[cfg(unix)]
    {
        use std::os::fd::AsFd;
        let owned = match stream {
            Stream::Stdin => io::stdin().as_fd().try_clone_to_owned(),
            Stream::Stdout => io::stdout().as_fd().try_clone_to_owned(),
            Stream::Stderr => io::stderr().as_fd().try_clone_to_owned(),
        };
        owned.ok().and_then(|fd| File::from(fd).metadata().ok())
    }
    #[cfg(not(unix))]
    {
        let _ = stream;
        None
    }
}

/// Is `m` the file behind this process's `stream`?
fn same_as(m: &Metadata, stream: Stream) -> bool {
    match (std_stream_metadata(stream), identity_of(m)) {
        (Some(s), Some(id)) => identity_of(&s) == Some(id),
        _ => false,
    }
}

/// Which file `path` is (`-`: the standard stream). `None` when it cannot matter: a
/// character device, or a stream that cannot be inspected.
fn identity(path: &Path, input: bool) -> Option<Identity> {
    if path == Path::new("-") {
        let stream = if input { Stream::Stdin } else { Stream::Stdout };
        return std_stream_metadata(stream).and_then(|m| identity_of(&m));
    }
    match std::fs::metadata(path) {
        Ok(m) => identity_of(&m),
        // Not there yet (or a dangling symlink, which is replaced): where it will be.
        Err(_) => {
            let folder = std::fs::canonicalize(folder_of(path)).ok()?;
            Some(Identity::Name(folder.join(path.file_name()?)))
        }
    }
}

/// How `path` is written, or why it cannot be.
fn target(path: &Path) -> Result<Target, String> {
    if path == Path::new("-") {
        return Ok(Target::Stdout);
    }
    let m = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Target::Replace),
        Err(e) if e.kind() == io::ErrorKind::NotADirectory => {
            return Err(format!("{} is not a folder", folder_of(path).display()));
        }
        Err(e) => return Err(e.to_string()),
    };
    if m.is_dir() {
        return Err("it is a folder: give a file name in it".into());
    }
    // Written through the process's own handle, so that its other writes (the
    // summary on stderr) and the output follow each other instead of overwriting.
    if same_as(&m, Stream::Stdout) {
        return Ok(Target::Stdout);
    }
    if same_as(&m, Stream::Stderr) {
        return Ok(Target::Stderr);
    }
    if m.is_file() {
        return Ok(if names_an_open_file(path) {
            Target::InPlace
        } else {
            Target::Replace
        });
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        let t = m.file_type();
        if t.is_block_device() {
            return Err("it is a block device (a disk): refusing to write keys onto it".into());
        }
        if t.is_socket() {
            return Err(
                "it is a socket, which cannot be opened: give `-` and redirect \
                        standard output to it"
                    .into(),
            );
        }
    }
    Ok(Target::InPlace)
}

/// Is `path` in /dev or /proc (`/dev/stderr`, `/proc/self/fd/2`)? Such a name stands
/// for a file some process has open: it is written in place (appended to), never
/// replaced (as root, replacing it would replace the system's `/dev/stderr`).
fn names_an_open_file(path: &Path) -> bool {
    std::fs::canonicalize(folder_of(path))
        .is_ok_and(|folder| folder == Path::new("/dev") || folder.starts_with("/proc"))
}

/// One file of a command, as the user is told about it.
struct Named<'a> {
    what: &'a str,
    path: &'a Path,
    input: bool,
}

impl std::fmt::Display for Named<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.path == Path::new("-") {
            let stream = if self.input { "input" } else { "output" };
            write!(f, "{} (standard {stream})", self.what)
        } else {
            write!(f, "{} {}", self.what, self.path.display())
        }
    }
}

/// Checks a command's files before any work (see the module docs). `inputs` are what
/// the command reads, `outputs` what it writes, each as (what it is in the user's words
/// — an option like `--out`, or "the backup body" —, its path); `None` paths are
/// skipped, and `-` is stdin or stdout. Refuses, naming both, an output that is the same
/// file as an input or as another output; refuses an output that cannot be written
/// (a folder, a missing or read-only folder, a block device).
pub(crate) fn check_files(
    inputs: &[(&str, Option<&Path>)],
    outputs: &[(&str, Option<&Path>)],
) -> Result<(), Fatal> {
    let outs = named(outputs, false);
    for out in &outs {
        check_writable(out)?;
    }
    let mut all = outs;
    all.extend(named(inputs, true));
    let ids: Vec<Option<Identity>> = all
        .iter()
        .map(|file| identity(file.path, file.input))
        .collect();
    // Each output against every file after it (outputs come first).
    for (i, out) in all.iter().enumerate() {
        if out.input {
            break;
        }
        let Some(id) = &ids[i] else { continue };
        for (j, other) in all.iter().enumerate().skip(i + 1) {
            if ids[j].as_ref() == Some(id) {
                return Err(Fatal::new(format!(
                    "{out} is the same file as {other}: writing it would destroy what is \
                     there; give another file"
                )));
            }
        }
    }
    Ok(())
}

/// The files of `list` that are given.
fn named<'a>(list: &[(&'a str, Option<&'a Path>)], input: bool) -> Vec<Named<'a>> {
    list.iter()
        .filter_map(|&(what, path)| {
            Some(Named {
                what,
                path: path?,
                input,
            })
        })
        .collect()
}

/// Can `out` be written? Tried now, before the work.
fn check_writable(out: &Named<'_>) -> Result<(), Fatal> {
    let target =
        target(out.path).map_err(|why| Fatal::new(format!("cannot write {out}: {why}")))?;
    match target {
        Target::Stdout | Target::Stderr => Ok(()),
        Target::InPlace => {
            #[cfg(unix)]
            rustix::fs::access(out.path, rustix::fs::Access::WRITE_OK)
                .map_err(|e| Fatal::new(format!("cannot write {out}: {e}")))?;
            Ok(())
        }
        Target::Replace => {
            let folder = folder_of(out.path);
            match std::fs::metadata(folder) {
                Ok(m) if m.is_dir() => {}
                Ok(_) => {
                    return Err(Fatal::new(format!(
                        "cannot write {out}: {} is not a folder",
                        folder.display()
                    )));
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    return Err(Fatal::new(format!(
                        "cannot write {out}: the folder {} does not exist: create it, or \
                         choose a path in a folder that exists",
                        folder.display()
                    )));
                }
                Err(e) => {
                    return Err(Fatal::new(format!(
                        "cannot write {out}: its folder {}: {e}",
                        folder.display()
                    )));
                }
            }
            // A file without a name (or removed at once): nothing is left by the probe.
            tempfile::tempfile_in(folder).map_err(|e| {
                Fatal::new(format!(
                    "cannot write {out}: cannot create a file in {}: {e}",
                    folder.display()
                ))
            })?;
            remove_leftovers(folder);
            Ok(())
        }
    }
}

/// Removes what a killed run of this tool left in `folder`: a `.megolm-backup-*.tmp`
/// regular file owned by this user, mode 0600, that no live run holds locked. Says so
/// on stderr for each.
fn remove_leftovers(folder: &Path) {
    let Ok(entries) = std::fs::read_dir(folder) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if !(name.starts_with(TEMP_PREFIX) && name.ends_with(TEMP_SUFFIX)) {
            continue;
        }
        let path = entry.path();
        if is_our_leftover(&path) && std::fs::remove_file(&path).is_ok() {
            eprintln!(
                "removed {}: a temporary file (decrypted keys) that an interrupted run of \
                 this tool left behind",
                path.display()
            );
        }
    }
}

#[cfg(unix)]
fn is_our_leftover(path: &Path) -> bool {
    use rustix::fs::{FileType, FlockOperation, Mode, OFlags};
    let Ok(fd) = rustix::fs::open(
        path,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
        Mode::empty(),
    ) else {
        return false;
    };
    let Ok(stat) = rustix::fs::fstat(&fd) else {
        return false;
    };
    FileType::from_raw_mode(stat.st_mode) == FileType::RegularFile
        && Mode::from_raw_mode(stat.st_mode) == Mode::RUSR | Mode::WUSR
        && stat.st_uid == rustix::process::geteuid().as_raw()
        // A live run holds its file locked; the lock goes when this `fd` is closed.
        && rustix::fs::flock(&fd, FlockOperation::NonBlockingLockExclusive).is_ok()
}

#[cfg(not(unix))]
fn is_our_leftover(_path: &Path) -> bool {
    false
}

/// An output being written: see [`check_files`] for where it goes. Nothing appears at a
/// replaced path until [`commit`](Self::commit).
pub(crate) enum OutputFile {
    /// Standard output.
    Stdout(io::Stdout),
    /// Standard error.
    Stderr(io::Stderr),
    /// An existing FIFO, terminal or character device, written in place.
    InPlace(File),
    /// A new file that replaces the path on commit.
    Replace(SecretFile),
}

impl OutputFile {
    /// Opens `path` (`-` or `None`: stdout) for writing.
    pub(crate) fn create(path: Option<&Path>) -> io::Result<Self> {
        let Some(path) = path else {
            return Ok(Self::Stdout(io::stdout()));
        };
        Ok(match target(path).map_err(io::Error::other)? {
            Target::Stdout => Self::Stdout(io::stdout()),
            Target::Stderr => Self::Stderr(io::stderr()),
            // Appending: a regular file behind /dev/stderr keeps what was written to it.
            Target::InPlace => Self::InPlace(std::fs::OpenOptions::new().append(true).open(path)?),
            Target::Replace => Self::Replace(SecretFile::create(path)?),
        })
    }

    /// Finishes the output: flushed, and a replaced file put in place.
    pub(crate) fn commit(mut self) -> io::Result<()> {
        self.flush()?;
        match self {
            Self::Replace(file) => file.commit(),
            Self::Stdout(_) | Self::Stderr(_) | Self::InPlace(_) => Ok(()),
        }
    }
}

impl Write for OutputFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Self::Stdout(w) => w.write(buf),
            Self::Stderr(w) => w.write(buf),
            Self::InPlace(w) => w.write(buf),
            Self::Replace(w) => w.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Self::Stdout(w) => w.flush(),
            Self::Stderr(w) => w.flush(),
            Self::InPlace(w) => w.flush(),
            Self::Replace(w) => w.flush(),
        }
    }
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    /// A temporary file that a live run holds locked is left alone; once the lock is
    /// gone (the run was killed), it is removed.
    #[test]
    fn a_locked_temporary_file_is_not_a_leftover() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(format!("{TEMP_PREFIX}live{TEMP_SUFFIX}"));
        let file = File::create(&path).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        rustix::fs::flock(&file, rustix::fs::FlockOperation::LockExclusive).unwrap();
        remove_leftovers(dir.path());
        assert!(path.exists());
        drop(file);
        remove_leftovers(dir.path());
        assert!(!path.exists());
    }

    /// A regular file reached through /proc (as `/dev/stderr` is) is written in place,
    /// after what it holds; one elsewhere is replaced.
    #[cfg(target_os = "linux")]
    #[test]
    fn an_open_file_named_through_proc_is_appended_to_not_replaced() {
        use std::os::fd::AsRawFd;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.txt");
        std::fs::write(&path, "earlier\n").unwrap();
        let log = File::open(&path).unwrap();
        let by_fd = PathBuf::from(format!("/proc/self/fd/{}", log.as_raw_fd()));
        assert_eq!(target(&by_fd), Ok(Target::InPlace));
        assert_eq!(target(&path), Ok(Target::Replace));
        let mut out = OutputFile::create(Some(&by_fd)).unwrap();
        out.write_all(b"keys\n").unwrap();
        out.commit().unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "earlier\nkeys\n");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    /// Another run never removes a secret file this run is writing: unnamed, or named
    /// and locked.
    #[test]
    fn a_secret_file_being_written_is_never_removed() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("out.json");
        let mut f = SecretFile::create(&dest).unwrap();
        f.write_all(b"secret").unwrap();
        remove_leftovers(dir.path());
        f.commit().unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), b"secret");
        let mut f = SecretFile::create_named(&dest).unwrap();
        f.write_all(b"other").unwrap();
        remove_leftovers(dir.path());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
        f.commit().unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), b"other");
    }
}

/// Refuses to print decrypted session keys on a terminal when no output was named
/// (`out` is `None`: `--out` forgotten): they would stay in its scrollback, and on screen.
/// A named `-` writes them there all the same. `instead` says where they could go.
pub(crate) fn refuse_keys_on_terminal(out: Option<&Path>, instead: &str) -> Result<(), Fatal> {
    if out.is_none() && std::io::stdout().is_terminal() {
        return Err(Fatal::new(format!(
            "not writing decrypted session keys to the terminal (they would stay on screen \
             and in its scrollback): give {instead}, or --out - to write them here all the \
             same"
        )));
    }
    Ok(())
}
