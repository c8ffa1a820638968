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
    Fatal,
    input::{prompt_secret, secret_from_file, secret_from_stdin},
};

/// Where the user's key comes from. The same flags on every command that takes a key.
#[derive(Debug, Args, Clone, Default)]
pub(crate) struct KeyArgs {
    /// What Element gave you — the Security Key (newer Element: "Recovery key") or the
    /// Security Phrase — or the backup's own recovery key, or the backup key in base64, in
    /// a file (`-` = stdin). Without it the key is read from stdin, or asked for on a
    /// terminal.
    #[arg(long, value_name = "FILE")]
    pub(crate) key_file: Option<PathBuf>,
    /// Read the key or phrase from stdin (the default when stdin is not a terminal).
    #[arg(long, visible_alias = "passphrase-stdin", alias = "secret-storage")]
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
    /// prompt without echo.
    pub(crate) fn read(&self) -> Result<Zeroizing<String>, Fatal> {
        if let Some(path) = &self.key_file
            && !self.key_stdin
        {
            return secret_from_file(path);
        }
        if !self.key_stdin && std::io::stdin().is_terminal() {
            return prompt_secret(
                "Security Key or Security Phrase (or the backup's recovery key): ",
                "--key-file",
            );
        }
        secret_from_stdin()
    }
}

/// Finds the backup key from what the user typed and tells them, in one line on stderr,
/// what it was.
pub(crate) fn recover(
    input: &str,
    store: Option<&SecretStore>,
    backup: Option<&BackupVersion>,
) -> Result<RecoveredBackupKey, Fatal> {
    let found = recover_backup_key(input, store, backup).map_err(Fatal::new)?;
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
