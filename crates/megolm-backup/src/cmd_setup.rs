//! `megolm-backup setup` and `status`: secure backup from scratch, as Element's "Set up
//! Secure Backup" dialog does it.

use std::{
    io::{IsTerminal, Write},
    path::PathBuf,
    process::ExitCode,
};

use backup_cipher::{BackupDecryptionKey, RestoreOptions, RestoreResult, restore_reader};
use clap::Args;
use homeserver::{Client, ClientError};
use ssss::{
    CROSS_SIGNING_SECRETS, SecretStore,
    setup::{SecureBackupSetup, SetupSecret, Signer, check_passphrase},
};
use zeroize::Zeroizing;

use crate::{
    Fatal,
    cmd_server::{ServerArgs, server_secret_store},
    input::{prompt_secret, secret_from_file, secret_from_stdin},
    keys::backup_key_from_text,
    sorted_output::create_private,
};

#[derive(Debug, Args)]
pub(crate) struct SetupArgs {
    #[command(flatten)]
    server: ServerArgs,
    /// Use a Security Phrase instead of a generated Security Key: asked twice on the
    /// terminal, or read once from stdin when it is not a terminal.
    #[arg(long)]
    passphrase: bool,
    /// Also write the Security Key (recovery key) to this file, created with mode 0600.
    #[arg(long, value_name = "FILE")]
    key_out: Option<PathBuf>,
    /// Replace an existing setup: new key, new backup version; the old backup's sessions
    /// are copied into the new one before the old version is deleted.
    #[arg(long)]
    reset: bool,
    /// With --reset: the old Security Key or Phrase (or the old backup's recovery key),
    /// to carry the old sessions and cross-signing keys over.
    #[arg(long, value_name = "FILE", requires = "reset")]
    old_key_file: Option<PathBuf>,
    /// Sign the new backup version with this Ed25519 key (base64 seed in a file).
    #[arg(long, value_name = "FILE", requires = "signing_key_id")]
    signing_key_file: Option<PathBuf>,
    /// The signing key's id, e.g. ed25519:DEVICEID.
    #[arg(long, value_name = "KEY_ID")]
    signing_key_id: Option<String>,
}

/// What a reset carries from the old setup.
struct OldSetup {
    version: Option<String>,
    backup_key: Option<BackupDecryptionKey>,
    secrets: Vec<(&'static str, Zeroizing<String>)>,
}

fn read_old(
    client: &Client,
    old_key: Option<&str>,
    current: Option<&backup_cipher::BackupVersion>,
) -> Result<OldSetup, Fatal> {
    let version = current.and_then(|v| v.version.clone());
    let Some(text) = old_key else {
        return Ok(OldSetup {
            version,
            backup_key: None,
            secrets: Vec::new(),
        });
    };
    let store = server_secret_store(client)?;
    if let Ok(u) = store.unlock(text) {
        eprintln!("old secret storage unlocked with the {}", u.method);
        let backup_key = store.backup_key(&u.key).ok().map(|s| s.key);
        let secrets = CROSS_SIGNING_SECRETS
            .iter()
            .filter_map(|n| store.get_secret(&u.key, n).ok().map(|v| (*n, v)))
            .collect();
        return Ok(OldSetup {
            version,
            backup_key,
            secrets,
        });
    }
    let key = backup_key_from_text(text).map_err(|_| {
        Fatal::new("the old key file unlocks neither the old secret storage nor is it a backup key")
    })?;
    Ok(OldSetup {
        version,
        backup_key: Some(key),
        secrets: Vec::new(),
    })
}

fn read_phrase(stdin_is_phrase: bool) -> Result<Zeroizing<String>, Fatal> {
    if stdin_is_phrase {
        return secret_from_stdin();
    }
    let first = prompt_secret("Security Phrase: ", "stdin")?;
    let again = prompt_secret("Enter it again: ", "stdin")?;
    if *first != *again {
        return Err(Fatal::new("the two phrases differ; nothing was changed"));
    }
    Ok(first)
}

pub(crate) fn setup(args: SetupArgs) -> Result<ExitCode, Fatal> {
    let stdin_is_phrase = args.passphrase && !std::io::stdin().is_terminal();
    let (client, account_password) = args.server.connect_with_password(stdin_is_phrase)?;
    let user = client.whoami().map_err(Fatal::new)?.user_id;

    // Never overwrite an existing setup without --reset.
    let default_key = client
        .account_data(&user, ssss::DEFAULT_KEY_EVENT)
        .map_err(Fatal::new)?;
    let default_key_id = default_key
        .as_ref()
        .and_then(|d| d.get("key"))
        .and_then(|k| k.as_str())
        .map(str::to_owned);
    let current = match client.backup_version(None) {
        Ok(v) => Some(v),
        Err(ClientError::NoBackup) => None,
        Err(e) => return Err(Fatal::new(e)),
    };
    if (default_key_id.is_some() || current.is_some()) && !args.reset {
        return Err(Fatal::new(format!(
            "secure backup is already set up on {user} (secret-storage key {}, backup version {}); nothing \
             was changed. Use --reset to replace it, with --old-key-file to carry the old sessions over",
            default_key_id.as_deref().unwrap_or("none"),
            current
                .as_ref()
                .and_then(|v| v.version.as_deref())
                .unwrap_or("none"),
        )));
    }

    let phrase = if args.passphrase {
        let p = read_phrase(stdin_is_phrase)?;
        let local = user
            .trim_start_matches('@')
            .split(':')
            .next()
            .unwrap_or_default();
        check_passphrase(
            &p,
            account_password.as_deref().map(|s| s.as_str()),
            &[local, &user],
        )
        .map_err(Fatal::new)?;
        Some(p)
    } else {
        None
    };
    let old_text = args
        .old_key_file
        .as_deref()
        .map(secret_from_file)
        .transpose()?;
    let old = if args.reset {
        Some(read_old(
            &client,
            old_text.as_deref().map(|s| s.as_str()),
            current.as_ref(),
        )?)
    } else {
        None
    };

    let signing_key = match &args.signing_key_file {
        Some(f) => Some(crate::cmd_server::signing_key(f)?),
        None => None,
    };
    let key_id = args.signing_key_id.clone().unwrap_or_default();
    let signer = signing_key.as_ref().map(|key| Signer {
        key,
        user_id: &user,
        key_id: &key_id,
    });
    let (secret, name) = match &phrase {
        Some(p) => (SetupSecret::Passphrase(p), "Security Phrase"),
        None => (SetupSecret::GenerateKey, "Security Key"),
    };
    let mut setup = SecureBackupSetup::create(secret, Some(name), signer).map_err(Fatal::new)?;
    if let Some(old) = &old {
        for (n, v) in &old.secrets {
            setup.add_secret(n, v).map_err(Fatal::new)?;
        }
    }

    // 1. The new backup version (the old one stays readable until step 4).
    let version = client
        .create_backup_version(&setup.backup_version)
        .map_err(Fatal::new)?;
    eprintln!("created backup version {version}");
    // 2. Carry the old sessions over.
    if let Some(OldSetup {
        version: Some(old_version),
        backup_key,
        ..
    }) = &old
    {
        match backup_key {
            Some(old_key) => {
                carry_over(&client, old_version, old_key, &version, &setup.backup_key)?
            }
            None => eprintln!(
                "warning: without --old-key-file the sessions of backup version {old_version} cannot be \
                 read, so they are not copied; version {old_version} is kept"
            ),
        }
    }
    // 3. Secret storage: description, secrets, and the default pointer last.
    for (t, c) in &setup.account_data {
        client.set_account_data(&user, t, c).map_err(Fatal::new)?;
    }
    // 4. Only now retire the old version, when its sessions are safe in the new one.
    if let Some(OldSetup {
        version: Some(old_version),
        backup_key: Some(_),
        ..
    }) = &old
    {
        client
            .delete_backup_version(old_version)
            .map_err(Fatal::new)?;
        eprintln!("deleted the old backup version {old_version}");
    }

    let shown = setup
        .secret_storage_key
        .to_recovery_key()
        .to_base58_grouped();
    if let Some(path) = &args.key_out {
        let mut f = create_private(path)
            .map_err(|e| Fatal::new(format!("cannot create {}: {e}", path.display())))?;
        writeln!(f, "{shown}")
            .map_err(|e| Fatal::new(format!("cannot write {}: {e}", path.display())))?;
    }
    if phrase.is_some() {
        println!(
            "Secure backup is set up with your Security Phrase. Its Security Key equivalent (keep it safe too):"
        );
    } else {
        println!(
            "Secure backup is set up. Your Security Key — store it somewhere safe, it is shown only once:"
        );
    }
    println!("{shown}");

    // Read everything back, as a fresh client would, and unlock it with what the user has.
    let store = server_secret_store(&client)?;
    let given = phrase
        .clone()
        .unwrap_or_else(|| Zeroizing::new(shown.clone()));
    verify(&client, &store, &given, &version)?;
    eprintln!(
        "verified: a fresh read of the account unlocks secret storage with your {} and finds the key of backup version {version}",
        if phrase.is_some() {
            "Security Phrase"
        } else {
            "Security Key"
        }
    );
    Ok(ExitCode::SUCCESS)
}

fn verify(client: &Client, store: &SecretStore, given: &str, version: &str) -> Result<(), Fatal> {
    let u = store
        .unlock(given)
        .map_err(|e| Fatal::new(format!("setup could not be verified: {e}")))?;
    let backup = store.backup_key(&u.key).map_err(Fatal::new)?;
    let info = client.backup_version(Some(version)).map_err(Fatal::new)?;
    backup.check_version(&info).map_err(Fatal::new)
}

fn carry_over(
    client: &Client,
    old_version: &str,
    old_key: &BackupDecryptionKey,
    new_version: &str,
    new_key: &BackupDecryptionKey,
) -> Result<(), Fatal> {
    let mut restored = RestoreResult::default();
    let reader = client.room_keys_reader(old_version).map_err(Fatal::new)?;
    restore_reader(old_key, reader, &RestoreOptions::default(), &mut restored)
        .map_err(Fatal::new)?;
    let sessions: Vec<_> = restored
        .sessions
        .into_iter()
        .map(|s| s.into_json())
        .collect();
    let (body, errors) = backup_cipher::encrypt_sessions(new_key.public_key(), &sessions);
    if !errors.is_empty() || !restored.failures.is_empty() {
        eprintln!(
            "warning: {} entries of the old backup could not be restored and are not copied",
            restored.failures.len() + errors.len()
        );
    }
    let report = client
        .upload_room_keys(new_version, &body, 1000, |_| true)
        .map_err(Fatal::new)?;
    let count = client
        .backup_version(Some(new_version))
        .map_err(Fatal::new)?
        .count
        .unwrap_or(0);
    if count < body.session_count() as u64 {
        return Err(Fatal::new(format!(
            "the new backup holds {count} of {} sessions; the old version {old_version} is kept",
            body.session_count()
        )));
    }
    eprintln!(
        "copied {} sessions from backup version {old_version} into version {new_version}",
        report.uploaded + report.skipped
    );
    Ok(())
}

#[derive(Debug, Args)]
pub(crate) struct StatusArgs {
    #[command(flatten)]
    server: ServerArgs,
    /// Read the Security Key or Phrase from stdin and check that the backup key in secret
    /// storage belongs to the current backup version.
    #[arg(long)]
    check: bool,
}

pub(crate) fn status(args: StatusArgs) -> Result<ExitCode, Fatal> {
    let client = args.server.connect(args.check)?;
    let store = server_secret_store(&client)?;
    let current = match client.backup_version(None) {
        Ok(v) => Some(v),
        Err(ClientError::NoBackup) => None,
        Err(e) => return Err(Fatal::new(e)),
    };
    let key_id = store.default_key_id().map(str::to_owned);
    let set_up = key_id.is_some() && current.is_some();
    println!(
        "secure backup:      {}",
        if set_up { "set up" } else { "not set up" }
    );
    match &key_id {
        Some(id) => {
            let desc = store.key_description(id).ok();
            let kind = match desc.as_ref().map(|d| d.passphrase.is_some()) {
                Some(true) => "Security Phrase (or its Security Key)",
                Some(false) => "Security Key",
                None => "unreadable description",
            };
            let name = desc
                .and_then(|d| d.name)
                .map(|n| format!(" \"{n}\""))
                .unwrap_or_default();
            println!("default key:        {id}{name}, unlocked by a {kind}");
            let has = !store
                .secret_names(id)
                .iter()
                .all(|n| n != ssss::MEGOLM_BACKUP_SECRET);
            println!("backup key stored:  {}", if has { "yes" } else { "no" });
        }
        None => println!("default key:        none"),
    }
    match &current {
        Some(v) => println!(
            "backup version:     {} ({} keys on the server)",
            v.version.as_deref().unwrap_or("?"),
            v.count.map_or("?".into(), |c| c.to_string())
        ),
        None => println!("backup version:     none"),
    }
    if args.check {
        let u = crate::cmd_ssss::unlock_with_stdin(&store)?;
        let backup = store.backup_key(&u.key).map_err(Fatal::new)?;
        match &current {
            Some(v) if backup.check_version(v).is_ok() => {
                println!("stored backup key:  matches the current backup version")
            }
            Some(_) => {
                println!(
                    "stored backup key:  STALE — it belongs to an older backup; run `setup --reset`"
                );
                return Ok(ExitCode::from(2));
            }
            None => println!("stored backup key:  present, but there is no backup version"),
        }
    }
    Ok(if set_up {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(3)
    })
}
