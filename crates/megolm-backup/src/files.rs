//! Reading and writing the files the commands share: backup bodies, account data,
//! exported room keys (JSON or an Element export file), and outputs that hold secrets.
//! Commands depend on this module, never on each other.

use std::{
    fs::File,
    io::{self, Read, Write},
    path::Path,
};

use backup_cipher::RoomKey;
use key_export::{ExportWriter, decrypt_export};
use ssss::SecretStore;

use crate::{
    fatal::Fatal,
    input::passphrase,
    outputs::OutputFile,
    wiped::{WRITE_CHUNK, WipedWriter},
};

/// Writes an output (see `outputs`): a secret file replaced atomically with mode 0600, an
/// existing FIFO or device written in place, or stdout (`None` or `-`). What `f` writes
/// (decrypted session keys, mostly) is gathered in a buffer wiped once written.
pub(crate) fn write_output(
    path: Option<&Path>,
    f: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> Result<(), Fatal> {
    let name = match path {
        Some(p) if p != Path::new("-") => p.display().to_string(),
        _ => "the output".to_owned(),
    };
    let mut file =
        OutputFile::create(path).map_err(|e| Fatal::new(format!("cannot create {name}: {e}")))?;
    let mut w = WipedWriter::new(&mut file, WRITE_CHUNK);
    f(&mut w)
        .and_then(|()| w.flush())
        .map_err(|e| Fatal::new(format!("cannot write {name}: {e}")))?;
    drop(w);
    file.commit()
        .map_err(|e| Fatal::new(format!("cannot write {name}: {e}")))
}

pub(crate) fn open_input(path: &Path) -> Result<(Box<dyn Read>, Option<u64>), Fatal> {
    if path == Path::new("-") {
        return Ok((Box::new(io::stdin().lock()), None));
    }
    let file =
        File::open(path).map_err(|e| Fatal::new(format!("cannot open {}: {e}", path.display())))?;
    let len = file.metadata().ok().map(|m| m.len());
    Ok((Box::new(file), len))
}

/// What a file given to a command holds, told from its first bytes: what the user may
/// have given in place of another (an export file where a backup body is asked, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A `GET /room_keys/keys` body (`{"rooms": …`).
    BackupBody,
    /// A `GET /room_keys/version` body (`{"algorithm": …`, `"auth_data"`, …).
    BackupVersion,
    /// An Element key-export file (`-----BEGIN MEGOLM SESSION DATA-----`).
    ExportFile,
    /// A JSON array: room keys, as `restore` and `export decrypt` write them.
    RoomKeys,
}

impl Kind {
    /// The kind, in the user's words.
    pub(crate) fn described(self) -> &'static str {
        match self {
            Kind::BackupBody => {
                "a server-side backup body (what `fetch --out` writes, GET /room_keys/keys)"
            }
            Kind::BackupVersion => {
                "a backup version (what `fetch --info-out` writes, GET /room_keys/version)"
            }
            Kind::ExportFile => "an Element key-export file (MEGOLM SESSION DATA)",
            Kind::RoomKeys => "a list of room keys (what `restore` and `export decrypt` write)",
        }
    }

    /// Tells the kind from a file's first bytes; `None` when they say nothing sure. Works
    /// on the bytes in place (no copy): the file may be a key file, a secret.
    pub(crate) fn of_prefix(prefix: &[u8]) -> Option<Self> {
        fn skip_space(b: &[u8]) -> &[u8] {
            let start = b
                .iter()
                .position(|c| !c.is_ascii_whitespace())
                .unwrap_or(b.len());
            &b[start..]
        }
        let text = skip_space(prefix.strip_prefix(b"\xef\xbb\xbf").unwrap_or(prefix));
        if text.starts_with(b"-----BEGIN MEGOLM SESSION DATA-----") {
            return Some(Kind::ExportFile);
        }
        if text.starts_with(b"[") {
            return Some(Kind::RoomKeys);
        }
        let first_key = skip_space(text.strip_prefix(b"{")?);
        const VERSION_KEYS: [&[u8]; 5] = [
            b"\"algorithm\"",
            b"\"auth_data\"",
            b"\"version\"",
            b"\"count\"",
            b"\"etag\"",
        ];
        if first_key.starts_with(b"\"rooms\"") {
            Some(Kind::BackupBody)
        } else if VERSION_KEYS.iter().any(|k| first_key.starts_with(k)) {
            Some(Kind::BackupVersion)
        } else {
            None
        }
    }

    /// The kind of a regular file, from its first bytes; `None` for stdin, a FIFO or a
    /// device (peeking would take bytes from them), a file that cannot be read (the
    /// command says why when it opens it), or one whose start says nothing sure. The
    /// bytes read are wiped (a key file is a secret).
    pub(crate) fn of_file(path: &Path) -> Option<Self> {
        if path == Path::new("-") {
            return None;
        }
        let file = File::open(path).ok()?;
        if !file.metadata().ok()?.is_file() {
            return None;
        }
        let mut prefix = zeroize::Zeroizing::new(Vec::with_capacity(PEEK));
        file.take(PEEK as u64).read_to_end(&mut prefix).ok()?;
        Self::of_prefix(&prefix)
    }
}

/// How many bytes [`Kind::of_file`] reads: enough for an export file's header line or a
/// JSON document's first key after some whitespace.
const PEEK: usize = 256;

/// Refuses a file that is sure to be another `kind` than `wanted` (given as `what`, e.g.
/// "the backup body"), saying what it is and what to do with it.
pub(crate) fn refuse_other_kind(
    path: &Path,
    wanted: &[Kind],
    what: &str,
    hint: impl FnOnce(Kind) -> Option<&'static str>,
) -> Result<(), Fatal> {
    match Kind::of_file(path) {
        Some(kind) if !wanted.contains(&kind) => Err(Fatal::hinted(
            format!(
                "{} is not {what}: it is {}",
                path.display(),
                kind.described()
            ),
            hint(kind),
        )),
        _ => Ok(()),
    }
}

pub(crate) fn read_account_data(path: &Path) -> Result<SecretStore, Fatal> {
    // Account data is none of the kinds told apart: any of them is a mix-up.
    refuse_other_kind(path, &[], "account data", |_| {
        Some("--account-data takes the account data (`fetch --account-data-out FILE` writes it)")
    })?;
    let text = std::fs::read_to_string(path)
        .map_err(|e| Fatal::new(format!("cannot read {}: {e}", path.display())))?;
    let value: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| Fatal::new(format!("{} is not JSON: {e}", path.display())))?;
    SecretStore::from_json(&value).map_err(Fatal::new)
}

pub(crate) fn read_sessions(path: &std::path::Path) -> Result<Vec<RoomKey>, Fatal> {
    read_sessions_or_export(path, None)
}

/// Reads a JSON array of sessions, or an Element key-export file (decrypted with the
/// passphrase from `pass_file`, or a prompt).
pub(crate) fn read_sessions_or_export(
    path: &std::path::Path,
    pass_file: Option<&std::path::Path>,
) -> Result<Vec<RoomKey>, Fatal> {
    refuse_other_kind(
        path,
        &[Kind::RoomKeys, Kind::ExportFile],
        "room keys (a JSON array, or an Element key-export file)",
        |kind| {
            (kind == Kind::BackupBody).then_some(
                "restore the backup first: `restore --key-file KEY FILE --out KEYS.json`, then \
                 give KEYS.json here",
            )
        },
    )?;
    let (mut input, _) = open_input(path)?;
    let mut text = zeroize::Zeroizing::new(Vec::new());
    input
        .read_to_end(&mut text)
        .map_err(|e| Fatal::new(format!("cannot read {}: {e}", path.display())))?;
    if let Ok(s) = std::str::from_utf8(&text)
        && key_export::looks_like_export(s)
    {
        return decrypt_sessions(s, pass_file, "--export-passphrase-file");
    }
    serde_json::from_slice(&text).map_err(|e| {
        Fatal::new(format!(
            "{} is not a JSON array of exported room keys: {e}",
            path.display()
        ))
    })
}

/// Decrypts an export file into its sessions.
pub(crate) fn read_export(path: &Path, pass_file: Option<&Path>) -> Result<Vec<RoomKey>, Fatal> {
    refuse_other_kind(
        path,
        &[Kind::ExportFile],
        "an Element key-export file",
        |kind| match kind {
            Kind::BackupBody => Some(
                "a backup body is decrypted with `restore --key-file KEY FILE` (the Security \
                 Key or Phrase), not with an export passphrase",
            ),
            Kind::RoomKeys => Some("its keys are readable already: no decryption is needed"),
            _ => None,
        },
    )?;
    let text = zeroize::Zeroizing::new(
        std::fs::read_to_string(path)
            .map_err(|e| Fatal::new(format!("cannot read {}: {e}", path.display())))?,
    );
    decrypt_sessions(&text, pass_file, "--passphrase-file")
}

/// Decrypts an export's text with the passphrase from `pass_file` (else a prompt that
/// names `file_flag`) and parses its room keys.
pub(crate) fn decrypt_sessions(
    text: &str,
    pass_file: Option<&Path>,
    file_flag: &str,
) -> Result<Vec<RoomKey>, Fatal> {
    let phrase = passphrase(pass_file, "Export passphrase: ", file_flag, false)?;
    let plain = decrypt_export(text, &phrase).map_err(Fatal::new)?;
    serde_json::from_slice(&plain).map_err(|e| {
        Fatal::new(format!(
            "the key export decrypted, but is not a list of room keys: {e}"
        ))
    })
}

/// Streams sessions (JSON text of each object) into an export file: a new file with
/// mode 0600, or an existing FIFO or device written in place (see `outputs`). Returns the
/// sessions written, how many were given an empty forwarding chain
/// ([`ExportWriter::completed`]) and how many have no `sender_claimed_keys`
/// ([`ExportWriter::without_claimed_keys`]).
pub(crate) fn write_export_file(
    out: &Path,
    phrase: &str,
    options: impl Into<key_export::ExportOptions>,
    feed: impl FnOnce(&mut dyn FnMut(&str) -> std::io::Result<()>) -> std::io::Result<()>,
) -> Result<(u64, u64, u64), Fatal> {
    let mut file = OutputFile::create(Some(out))
        .map_err(|e| Fatal::new(format!("cannot create {}: {e}", out.display())))?;
    let io = |e: std::io::Error| Fatal::new(format!("cannot write {}: {e}", out.display()));
    let mut w = ExportWriter::new(std::io::BufWriter::new(&mut file), phrase, options)
        .map_err(Fatal::new)?;
    feed(&mut |json: &str| w.write_session_json(json.as_bytes())).map_err(io)?;
    let n = (w.sessions(), w.completed(), w.without_claimed_keys());
    w.finish()
        .and_then(|mut inner| std::io::Write::flush(&mut inner))
        .map_err(io)?;
    file.commit().map_err(io)?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::Kind;

    #[test]
    fn kinds_are_told_from_the_first_bytes() {
        let cases: [(&[u8], Option<Kind>); 12] = [
            (b"{\"rooms\": {}}", Some(Kind::BackupBody)),
            (
                b"\xef\xbb\xbf\r\n  {\n  \"rooms\" : {",
                Some(Kind::BackupBody),
            ),
            (
                b"{\"algorithm\": \"m.megolm_backup.v1\"",
                Some(Kind::BackupVersion),
            ),
            (
                b"{ \"version\": \"3\", \"auth_data\": {}}",
                Some(Kind::BackupVersion),
            ),
            (
                b"-----BEGIN MEGOLM SESSION DATA-----\nAQ",
                Some(Kind::ExportFile),
            ),
            (b"\n[\n  {\"room_id\"", Some(Kind::RoomKeys)),
            // What says nothing sure is left to the command that reads it.
            (b"EsTh Ui8g Fmsu ayK9", None),
            (b"correct horse battery staple", None),
            (b"{\"account_data\": {\"events\": []}}", None),
            (b"{\"m.secret_storage.default_key\": {}}", None),
            (b"{\"backup\": {\"rooms\": {}}}", None),
            (b"", None),
        ];
        for (prefix, kind) in cases {
            assert_eq!(
                Kind::of_prefix(prefix),
                kind,
                "{}",
                String::from_utf8_lossy(prefix)
            );
        }
    }
}
