//! `megolm-backup setup` and `status`: secure backup from scratch, as Element's "Set up
//! Secure Backup" dialog does it.

use std::{
    io::{IsTerminal, Write},
    path::PathBuf,
    process::ExitCode,
};

use backup_cipher::{BackupDecryptionKey, RestoreOptions, RestoreResult, restore_reader};
use clap::Args;
use homeserver::Client;
use ssss::{
    CrossSigningKeys,
    setup::{SetupSecret, Signer, check_passphrase},
};
use zeroize::Zeroizing;

use crate::{
    fatal::{Fatal, client_error as fail},
    input::{prompt_secret, secret_from_file, secret_from_stdin},
    keys::KeyArgs,
    server::{ServerArgs, server_state},
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
    /// Create new cross-signing keys even though the account has some whose private parts
    /// cannot be read: other people and your other devices then see a new identity and
    /// must verify you again. Needs the account password (--password-file or --user).
    #[arg(long)]
    replace_cross_signing: bool,
    /// Sign the new backup version with this Ed25519 key (base64 seed in a file).
    #[arg(long, value_name = "FILE", requires = "signing_key_id")]
    signing_key_file: Option<PathBuf>,
    /// The signing key's id, e.g. ed25519:DEVICEID.
    #[arg(long, value_name = "KEY_ID")]
    signing_key_id: Option<String>,
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
    // Before anything changes on the account: the Security Key's file must be writable.
    let mut inputs = args.server.input_files();
    inputs.push(("the old key file", args.old_key_file.as_deref()));
    inputs.push(("the signing key file", args.signing_key_file.as_deref()));
    crate::outputs::check_files(&inputs, &[("--key-out", args.key_out.as_deref())])?;
    let stdin_is_phrase = args.passphrase && !std::io::stdin().is_terminal();
    let (client, account_password) = args.server.connect_with_password(stdin_is_phrase)?;
    let user = client.whoami().map_err(fail)?.user_id;
    // What the account has; the library plans everything from it.
    let state = client
        .run(flows::AccountStateFlow::new(&user))
        .map_err(fail)?;
    if !args.reset && (state.secret_storage.default_key_id().is_some() || state.version.is_some()) {
        // Refuse before asking for a phrase.
        let refused = flows::plan_setup(&state, flows::SetupChoices::new(SetupSecret::GenerateKey));
        if let Err(e) = refused {
            return Err(plan_fail(e));
        }
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
    let signing_key = match &args.signing_key_file {
        Some(f) => Some(crate::server::signing_key(f)?),
        None => None,
    };
    let key_id = args.signing_key_id.clone().unwrap_or_default();
    let signer = signing_key.as_ref().map(|key| Signer {
        key,
        user_id: &user,
        key_id: &key_id,
    });
    let secret = match &phrase {
        Some(p) => SetupSecret::Passphrase(p),
        None => SetupSecret::GenerateKey,
    };
    let mut choices = flows::SetupChoices::new(secret)
        .replace_cross_signing(args.replace_cross_signing)
        .have_password(account_password.is_some())
        .signer(signer);
    if args.reset {
        choices = choices.reset(old_text.as_deref().map(|s| s.as_str()));
    }
    let plan = flows::plan_setup(&state, choices).map_err(plan_fail)?;
    for note in &plan.notes {
        eprintln!("{note}");
    }

    // 1. New cross-signing keys first: when the server refuses them, nothing has changed.
    if let Some(request) = &plan.upload_cross_signing {
        let mut response = client.send_request(request).map_err(fail)?;
        if let Some(password) = &account_password
            && let Some(with_auth) = flows::with_password(request, &response, &user, password)
        {
            response = client.send_request(&with_auth).map_err(fail)?;
        }
        if !(200..300).contains(&response.status) {
            return Err(Fatal::new(format!(
                "cannot upload the cross-signing keys: the homeserver answered {} {}. Nothing \
                 else was changed",
                response.status, response.body
            )));
        }
        eprintln!(
            "uploaded new cross-signing keys (master key {})",
            plan.cross_signing.master_public_key()
        );
    }
    let unfinished = |e: Fatal| {
        if plan.upload_cross_signing.is_some() {
            Fatal::new(format!(
                "{e}. Setup did not finish after the new cross-signing keys were uploaded: run it \
                 again with --reset --replace-cross-signing"
            ))
        } else {
            e
        }
    };
    let send = |request: &flows::Request| -> Result<serde_json::Value, Fatal> {
        let response = client.send_request(request).map_err(fail)?;
        if !(200..300).contains(&response.status) {
            return Err(unfinished(Fatal::new(format!(
                "the homeserver answered {} {}",
                response.status, response.body
            ))));
        }
        Ok(response.body)
    };
    // 2. The new backup version, signed by the master key.
    let version = send(&plan.create_version)?
        .get("version")
        .and_then(|v| v.as_str())
        .map(str::to_owned)
        .ok_or_else(|| unfinished(Fatal::new("the new backup version has no id")))?;
    eprintln!("created backup version {version}, signed by the cross-signing master key");
    // 3. Carry the old sessions over.
    if let Some(old) = &plan.carry_over {
        carry_over(
            &client,
            &old.old_version,
            &old.old_key,
            &version,
            &plan.setup.backup_key,
        )
        .map_err(unfinished)?;
    }
    if let Some(old_version) = &plan.old_version_kept {
        eprintln!(
            "warning: without the old backup's key the sessions of backup version {old_version} \
             cannot be read, so they are not copied; version {old_version} is kept"
        );
    }
    // 4. Secret storage: description, secrets, and the default pointer last.
    for request in &plan.account_data {
        send(request)?;
    }
    // 5. Only now retire the old version, when its sessions are safe in the new one.
    if let (Some(request), Some(old)) = (&plan.delete_old_version, &plan.carry_over) {
        send(request)?;
        eprintln!("deleted the old backup version {}", old.old_version);
    }

    let shown = plan
        .setup
        .secret_storage_key
        .to_recovery_key()
        .to_base58_grouped();
    if let Some(path) = &args.key_out {
        let mut f = crate::outputs::OutputFile::create(Some(path))
            .map_err(|e| Fatal::new(format!("cannot create {}: {e}", path.display())))?;
        writeln!(f, "{}", shown.as_str())
            .and_then(|()| f.commit())
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
    println!("{}", shown.as_str());

    // Read everything back, as a fresh client would, and unlock it with what the user has.
    let state = client
        .run(flows::AccountStateFlow::new(&user))
        .map_err(fail)?;
    let given = phrase.clone().unwrap_or_else(|| shown.clone());
    verify(&state, &given, &version)?;
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

/// A refused plan as the CLI says it: the library's reason, and the options that help.
fn plan_fail(e: flows::PlanError) -> Fatal {
    use flows::PlanError as E;
    match &e {
        E::AlreadySetUp { .. } => Fatal::new(format!(
            "{e}: use --reset, with --old-key-file FILE to carry the old sessions over"
        )),
        E::CrossSigningExists(_) => Fatal::new(format!(
            "{e}. To keep them: --reset --old-key-file FILE; to replace them: \
             --replace-cross-signing"
        )),
        E::NeedsPassword => Fatal::new(format!(
            "{e}: give it with --password-file FILE, or log in with --user"
        )),
        E::OldKey(_) => Fatal::new(format!("{e} (--old-key-file)")),
        _ => Fatal::new(e),
    }
}

fn verify(state: &flows::AccountState, given: &str, version: &str) -> Result<(), Fatal> {
    let fail = |what: String| Fatal::new(format!("setup could not be verified: {what}"));
    let info = state
        .version
        .as_ref()
        .filter(|v| v.version.as_deref() == Some(version))
        .ok_or_else(|| fail(format!("backup version {version} is not the current one")))?;
    let store = &state.secret_storage;
    let found = ssss::recover_backup_key(given, Some(store), Some(info))
        .map_err(|e| fail(e.to_string()))?;
    let unlocked = found
        .secret_storage
        .ok_or_else(|| fail("secret storage did not unlock".into()))?;
    let keys = CrossSigningKeys::from_secret_store(store, &unlocked.key)
        .map_err(|e| fail(format!("the cross-signing keys: {e}")))?;
    match &state.master_key {
        Some(m) if *m == keys.master_public_key() => Ok(()),
        other => Err(fail(format!(
            "the master key in secret storage ({}) is not the account's ({})",
            keys.master_public_key(),
            other.as_deref().unwrap_or("none")
        ))),
    }
}

fn carry_over(
    client: &Client,
    old_version: &str,
    old_key: &BackupDecryptionKey,
    new_version: &str,
    new_key: &BackupDecryptionKey,
) -> Result<(), Fatal> {
    let mut restored = RestoreResult::default();
    let reader = client.room_keys_reader(old_version).map_err(fail)?;
    restore_reader(old_key, reader, &RestoreOptions::default(), &mut restored)
        .map_err(Fatal::new)?;
    let restored_count = restored.sessions.len();
    let sessions: Vec<_> = restored
        .sessions
        .into_iter()
        .filter_map(|s| s.room_key().ok())
        .collect();
    let unreadable = restored_count - sessions.len();
    let (body, errors) = backup_cipher::encrypt_sessions(new_key.public_key(), &sessions);
    let lost = restored.failures.len() + errors.len() + unreadable;
    if lost > 0 {
        eprintln!(
            "warning: {lost} entries of the old backup could not be restored and are not copied"
        );
    }
    let report = client
        .upload_room_keys(new_version, &body, 1000, &mut ())
        .map_err(fail)?;
    let count = client
        .backup_version(Some(new_version))
        .map_err(fail)?
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
    /// Check the Security Key or Phrase (from --key-file, or stdin): say what it is and
    /// whether the backup key it opens belongs to the current backup version.
    #[arg(long)]
    check: bool,
    #[command(flatten)]
    key: KeyArgs,
}

pub(crate) fn status(args: StatusArgs) -> Result<ExitCode, Fatal> {
    let client = args.server.connect(args.check && args.key.uses_stdin())?;
    // The version and the secret storage in one read.
    let (current, store) = server_state(&client)?;
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
        let input = args.key.read()?;
        match ssss::recover_backup_key(&input, Some(&store), current.as_ref()) {
            Ok(found) => match &current {
                Some(_) => println!("your key:           {}", found.describe()),
                None => println!(
                    "your key:           {}; there is no backup version to check against",
                    found.describe()
                ),
            },
            Err(e) => {
                let verdict = if matches!(e.class(), "stale" | "before_reset") {
                    "STALE"
                } else {
                    "does NOT open this account's backup"
                };
                println!("your key:           {verdict}: {e}");
                return Ok(ExitCode::from(2));
            }
        }
    }
    Ok(if set_up {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(3)
    })
}
