//! `megolm-backup setup` and `status`: secure backup from scratch, as Element's "Set up
//! Secure Backup" dialog does it.

use std::{
    io::{IsTerminal, Write},
    path::PathBuf,
    process::ExitCode,
};

use clap::Args;
use homeserver::{SetupObserver, SetupRunError};
use ssss::setup::{Signer, check_passphrase};
use zeroize::Zeroizing;

use crate::{
    fatal::{Fatal, client_error as fail, setup_error as setup_fail},
    input::{prompt_secret, secret_from_file, secret_from_stdin},
    keys::KeyArgs,
    server::ServerArgs,
};

#[derive(Debug, Args)]
pub(crate) struct SetupArgs {
    /// With --reset: the old Security Key or Phrase (or the old backup's recovery key),
    /// to carry the old sessions and cross-signing keys over.
    #[arg(long, value_name = "FILE", requires = "reset", help_heading = crate::help::HAVE)]
    old_key_file: Option<PathBuf>,
    /// Sign the new backup version with this Ed25519 key (base64 seed in a file).
    #[arg(
        long,
        value_name = "FILE",
        requires = "signing_key_id",
        help_heading = crate::help::HAVE
    )]
    signing_key_file: Option<PathBuf>,
    /// The signing key's id, e.g. ed25519:DEVICEID.
    #[arg(long, value_name = "KEY_ID", help_heading = crate::help::HAVE)]
    signing_key_id: Option<String>,
    /// Use a Security Phrase instead of a generated Security Key: asked twice on the
    /// terminal, or read once from stdin when it is not a terminal.
    #[arg(long, help_heading = crate::help::CHOICES)]
    passphrase: bool,
    /// Replace an existing setup: new key, new backup version; the old backup's sessions
    /// are copied into the new one before the old version is deleted.
    #[arg(long, help_heading = crate::help::CHOICES)]
    reset: bool,
    /// Create new cross-signing keys even though the account has some whose private parts
    /// cannot be read: other people and your other devices then see a new identity and
    /// must verify you again. Needs the account password (--password-file or --user).
    #[arg(long, help_heading = crate::help::CHOICES)]
    replace_cross_signing: bool,
    /// Delete the old backup version when its key is not given (with --reset, or with
    /// --replace-cross-signing on an account Element X used without recovery): its
    /// sessions are then lost. Without this option that version is kept on the server.
    #[arg(long, help_heading = crate::help::CHOICES)]
    delete_old_version: bool,
    /// Write over a backup key of the old secret storage that opens no current backup
    /// version, or that the old key cannot read (either may be the only copy of an older
    /// version's key: save it first, or move its sessions with `doctor --fix`).
    #[arg(long, help_heading = crate::help::CHOICES)]
    discard_stale_backup_key: bool,
    /// Also write the Security Key (recovery key) to this file, created with mode 0600.
    #[arg(long, value_name = "FILE", help_heading = crate::help::OUTPUT)]
    key_out: Option<PathBuf>,
    #[command(flatten)]
    server: ServerArgs,
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

/// Prints what the library's setup does, and reads and checks the Security Phrase when
/// the library asks for it.
struct Printer<'a> {
    user: &'a str,
    stdin_is_phrase: bool,
    account_password: Option<&'a str>,
    /// Why no phrase was given, for the error the CLI shows.
    phrase_error: Option<Fatal>,
    /// `--key-out`, written as soon as the key exists.
    key_out: Option<&'a std::path::Path>,
    /// Whether the Security Key is from a Security Phrase.
    with_phrase: bool,
    /// Whether the Security Key was printed.
    key_shown: bool,
    /// Why `--key-out` could not be written (the key is on stdout all the same).
    key_out_error: Option<Fatal>,
}

impl Printer<'_> {
    /// Writes `--key-out` with `key`, then commits it (mode 0600).
    fn write_key_out(&self, key: &str) -> Result<(), Fatal> {
        let Some(path) = self.key_out else {
            return Ok(());
        };
        let mut f = crate::outputs::OutputFile::create(Some(path))
            .map_err(|e| Fatal::new(format!("cannot create {}: {e}", path.display())))?;
        writeln!(f, "{key}")
            .and_then(|()| f.commit())
            .map_err(|e| Fatal::new(format!("cannot write {}: {e}", path.display())))
    }
}

impl SetupObserver for Printer<'_> {
    fn event(&mut self, event: &flows::SetupEvent) {
        match event {
            // One line per chunk would flood the terminal; the total is printed at the end.
            flows::SetupEvent::Progress { .. } => {}
            flows::SetupEvent::Situation(s) => eprintln!("account: {s}"),
            e => eprintln!("{e}"),
        }
    }

    /// Before secret storage is written with it: `--key-out` and stdout get the key now,
    /// so a setup that stops later never leaves secrets that no one can open.
    fn save_key(&mut self, security_key: &str) {
        if let Err(e) = self.write_key_out(security_key) {
            self.key_out_error = Some(e);
        }
        if self.with_phrase {
            println!("The Security Key equivalent of your Security Phrase (keep it safe too):");
        } else {
            println!("Your new Security Key — store it somewhere safe, it is shown only once:");
        }
        println!("{security_key}");
        let _ = std::io::stdout().flush();
        self.key_shown = true;
    }

    fn phrase(&mut self) -> Option<Zeroizing<String>> {
        let checked = read_phrase(self.stdin_is_phrase).and_then(|p| {
            let local = self
                .user
                .trim_start_matches('@')
                .split(':')
                .next()
                .unwrap_or_default();
            check_passphrase(&p, self.account_password, &[local, self.user]).map_err(Fatal::new)?;
            Ok(p)
        });
        match checked {
            Ok(p) => Some(p),
            Err(e) => {
                self.phrase_error = Some(e);
                None
            }
        }
    }
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
    let old_text = args
        .old_key_file
        .as_deref()
        .map(|f| secret_from_file(f, "--old-key-file"))
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
    let mut options = flows::SetupOptions::new()
        .phrase(args.passphrase)
        .replace_cross_signing(args.replace_cross_signing)
        .delete_unreadable_old_version(args.delete_old_version)
        .discard_stale_backup_key(args.discard_stale_backup_key)
        .signer(signer);
    if args.reset {
        options = options.reset(old_text.as_deref().map(|s| s.as_str()));
    }
    let password = account_password.as_deref().map(|s| s.as_str());
    let mut printer = Printer {
        user: &user,
        stdin_is_phrase,
        account_password: password,
        phrase_error: None,
        key_out: args.key_out.as_deref(),
        with_phrase: args.passphrase,
        key_shown: false,
        key_out_error: None,
    };
    let outcome = match client.set_up_recovery(options, password, &mut printer) {
        Ok(o) => o,
        Err(SetupRunError::NoPhrase) => {
            return Err(printer.phrase_error.take().unwrap_or_else(|| {
                Fatal::new("no Security Phrase was given; nothing was changed")
            }));
        }
        Err(e) => {
            if let Some(k) = printer.key_out_error.take() {
                let _ = k.report();
            }
            return Err(setup_fail(e, printer.key_shown));
        }
    };

    if !printer.key_shown {
        // A flow that never offered the key for saving: show it now.
        printer.save_key(&outcome.security_key);
    }
    if let Some(e) = printer.key_out_error.take() {
        return Err(e);
    }
    if outcome.with_phrase {
        eprintln!("Secure backup is set up with your Security Phrase.");
    } else {
        eprintln!("Secure backup is set up with the Security Key printed on stdout.");
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, Args)]
pub(crate) struct StatusArgs {
    /// Check the Security Key or Phrase (from --key-file, or stdin): say what it is and
    /// whether the backup key it opens belongs to the current backup version.
    #[arg(long, help_heading = crate::help::HAVE)]
    check: bool,
    #[command(flatten)]
    key: KeyArgs,
    #[command(flatten)]
    server: ServerArgs,
}

pub(crate) fn status(args: StatusArgs) -> Result<ExitCode, Fatal> {
    let client = args.server.connect(args.check && args.key.uses_stdin())?;
    // The version, the secret storage, the cross-signing key and m.key_backup in one read.
    let user = client.whoami().map_err(fail)?.user_id;
    let state = client
        .run(flows::AccountStateFlow::new(&user))
        .map_err(fail)?;
    let situation = state.situation();
    let flows::AccountState {
        version: current,
        secret_storage: store,
        key_backup_enabled,
        ..
    } = state;
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
    println!(
        "m.key_backup:       {}",
        match key_backup_enabled {
            Some(true) => "enabled",
            Some(false) => "disabled",
            None => "not set (Element X reads it to know that backup is on)",
        }
    );
    println!("account:            {situation}");
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
