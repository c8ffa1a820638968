//! `megolm-backup ssss …`: secret storage over a file of account data.

use std::{path::Path, process::ExitCode};

use clap::Subcommand;
use ssss::{KeyCheck, MEGOLM_BACKUP_SECRET, SecretStore, Unlocked};

use crate::files::read_account_data;
use crate::{fatal::Fatal, keys::KeyArgs};

#[derive(Debug, Subcommand)]
pub(crate) enum SsssCommand {
    /// Unlock secret storage with the Security Key or Phrase; list its secrets.
    Unlock {
        #[command(flatten)]
        key: KeyArgs,
        /// Account data: an object of type → content, a list of events, or a /sync response.
        #[arg(long, value_name = "FILE", help_heading = crate::help::HAVE)]
        account_data: std::path::PathBuf,
        /// Print the secret values too.
        #[arg(long, help_heading = crate::help::OUTPUT)]
        show: bool,
    },
    /// Print one secret (unlocked with the Security Key or Phrase).
    Get {
        #[command(flatten)]
        key: KeyArgs,
        /// The secret's name, e.g. m.megolm_backup.v1.
        name: String,
        /// Account data file.
        #[arg(long, value_name = "FILE", help_heading = crate::help::HAVE)]
        account_data: std::path::PathBuf,
    },
}

/// Reads account data and unlocks its default key with what the user has.
fn unlock(path: &Path, key: &KeyArgs) -> Result<(SecretStore, Unlocked), Fatal> {
    let store = read_account_data(path)?;
    let input = key.read()?;
    let unlocked = store.unlock(&input).map_err(crate::fatal::unlock_error)?;
    Ok((store, unlocked))
}

pub(crate) fn run(cmd: SsssCommand) -> Result<ExitCode, Fatal> {
    match cmd {
        SsssCommand::Unlock {
            key,
            account_data,
            show,
        } => {
            let (store, u) = unlock(&account_data, &key)?;
            let id = u.key.key_id().to_owned();
            let name = store
                .key_description(&id)
                .ok()
                .and_then(|d| d.name)
                .map(|n| format!(" ({n:?})"))
                .unwrap_or_default();
            println!(
                "unlocked secret-storage key {id}{name} with your {} ({})",
                ssss::element_name(u.method),
                u.method
            );
            if u.check == KeyCheck::Unverifiable {
                println!("note: this key has no key check and no secret could confirm it");
            }
            let mut failed = 0;
            for secret in store.secret_names(&id) {
                match store.get_secret(&u.key, &secret) {
                    Ok(value) => {
                        let mut line = format!("  {secret}");
                        if secret == MEGOLM_BACKUP_SECRET {
                            if let Ok(b) = store.backup_key(&u.key) {
                                line.push_str(&format!(
                                    " — backup key, public key {} ({:?} form)",
                                    b.key.public_key(),
                                    b.format
                                ));
                            }
                        } else if let Some((_, Ok(seed))) = store
                            .cross_signing_seeds(&u.key)
                            .into_iter()
                            .find(|(n, _)| *n == secret)
                        {
                            line.push_str(&format!(" — Ed25519 public key {}", seed.public_key));
                        }
                        if show {
                            line.push_str(&format!("\n    {}", value.as_str()));
                        }
                        println!("{line}");
                    }
                    Err(e) => {
                        failed += 1;
                        println!("  {secret} — cannot decrypt: {e}");
                    }
                }
            }
            Ok(if failed == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(2)
            })
        }
        SsssCommand::Get {
            key,
            name,
            account_data,
        } => {
            let (store, u) = unlock(&account_data, &key)?;
            let value = store.get_secret(&u.key, &name).map_err(Fatal::new)?;
            println!("{}", value.as_str());
            Ok(ExitCode::SUCCESS)
        }
    }
}
