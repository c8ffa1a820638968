//! Turning what the user has — Element's Security Key or Security Phrase, or a backup key —
//! into the backup key, the same way on every command.

use std::{
    io::IsTerminal,
    path::{Path, PathBuf},
};

use backup_cipher::BackupVersion;
use clap::Args;
use ssss::{RecoveredBackupKey, SecretStore, recover_backup_key};
use zeroize::Zeroizing;

use crate::{
    fatal::{Fatal, recover_error},
    input::{prompt_secret, secret_from_file, secret_from_stdin},
};

/// Where the user's key comes from. The same flags on every command that takes a key.
#[derive(Debug, Args, Clone, Default)]
pub(crate) struct KeyArgs {
    /// What Element gave you — the Security Key (newer Element: "Recovery key") or the
    /// Security Phrase — or the backup's own recovery key, or the backup key in base64, in
    /// a file (`-` = stdin). Without it the key is read from stdin, or asked for on a
    /// terminal.
    #[arg(long, value_name = "FILE", help_heading = crate::help::HAVE)]
    pub(crate) key_file: Option<PathBuf>,
    /// Read the key or phrase from stdin (the default when stdin is not a terminal).
    #[arg(
        long,
        visible_alias = "passphrase-stdin",
        alias = "secret-storage",
        help_heading = crate::help::HAVE
    )]
    pub(crate) key_stdin: bool,
}

impl KeyArgs {
    /// Does the key come from stdin?
    pub(crate) fn uses_stdin(&self) -> bool {
        self.key_stdin
            || match &self.key_file {
                Some(path) => path == Path::new("-"),
                None => true,
            }
    }

    /// Reads what the user has: from the file, from stdin, or (on a terminal) from a
    /// prompt without echo. A leading byte-order mark is dropped (as a browser's
    /// FileReader drops it for Element); empty input is "no key given".
    pub(crate) fn read(&self) -> Result<Zeroizing<String>, Fatal> {
        let (mut text, from) = if let Some(path) = &self.key_file
            && !self.key_stdin
        {
            if path != Path::new("-") && !path.exists() && looks_like_a_key(path) {
                // The key itself was given where a file name goes; never echo it.
                return Err(Fatal::new(
                    "the --key-file argument is not a file, and it looks like the key itself: \
                     put the key in a file and give that file's name, or pipe it to stdin \
                     (`--key-stdin`)",
                ));
            }
            if let Some(kind) = crate::files::Kind::of_file(path) {
                return Err(Fatal::hinted(
                    format!(
                        "the --key-file {} is not a key: it is {}",
                        path.display(),
                        kind.described()
                    ),
                    Some(
                        "--key-file takes a file holding just the Security Key or Security \
                         Phrase (or the backup's own key); the backup body is the last argument",
                    ),
                ));
            }
            let from = if path == Path::new("-") {
                "standard input".to_owned()
            } else {
                path.display().to_string()
            };
            (secret_from_file(path, "--key-file")?, from)
        } else if !self.key_stdin && std::io::stdin().is_terminal() {
            let typed = prompt_secret(
                "Security Key or Security Phrase (or the backup's recovery key): ",
                "--key-file",
            )?;
            (typed, "the prompt".to_owned())
        } else {
            (secret_from_stdin()?, "standard input".to_owned())
        };
        drop_bom(&mut text);
        if text.is_empty() {
            return Err(Fatal::new(format!(
                "no key given: {from} was empty. Give the Security Key, the Security Phrase or \
                 the backup's recovery key"
            )));
        }
        Ok(text)
    }
}

/// Drops a leading UTF-8 byte-order mark in place (the bytes after it move down inside
/// the same buffer, which is wiped whole on drop).
fn drop_bom(text: &mut Zeroizing<String>) {
    if text.starts_with('\u{feff}') {
        text.drain(..'\u{feff}'.len_utf8());
    }
}

/// Is a `--key-file` argument the key itself ("EsTh Ui8g …")? Only for a path that does
/// not exist: base58 characters and spaces, starting "Es", or in groups of four.
fn looks_like_a_key(path: &Path) -> bool {
    let Some(text) = path.to_str() else {
        return false;
    };
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    let base58 = compact.len() >= 8
        && compact
            .chars()
            .all(|c| c.is_ascii_alphanumeric() && !matches!(c, '0' | 'O' | 'I' | 'l'));
    let grouped = text.split_whitespace().count() >= 2
        && text
            .split_whitespace()
            .rev()
            .skip(1)
            .all(|w| w.chars().count() == 4);
    base58 && (compact.starts_with("Es") || grouped)
}

/// Finds the backup key from what the user typed and tells them, in one line on stderr,
/// what it was.
pub(crate) fn recover(
    input: &str,
    store: Option<&SecretStore>,
    backup: Option<&BackupVersion>,
) -> Result<RecoveredBackupKey, Fatal> {
    let found = recover_backup_key(input, store, backup).map_err(recover_error)?;
    eprintln!("{}", found.describe());
    Ok(found)
}

/// Reads a backup version (`GET /room_keys/version` body) from a file.
pub(crate) fn read_backup_info(path: &std::path::Path) -> Result<BackupVersion, Fatal> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Fatal::new(format!("cannot read {}: {e}", path.display())))?;
    serde_json::from_str(&text).map_err(|e| {
        Fatal::new(format!(
            "{} is not a backup version (the body of GET /room_keys/version): {e}",
            path.display()
        ))
    })
}
