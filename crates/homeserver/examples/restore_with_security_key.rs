//! Restores a key backup with what Element gave the user — the Security Key (Recovery
//! key) or the Security Phrase, told apart automatically — into an Element key-export
//! file ("Import E2E room keys" reads it), protected by an export passphrase.
//!
//!     MATRIX_HOMESERVER=https://matrix.example.org MATRIX_USER=alice MATRIX_PASSWORD=… \
//!     SECURITY_KEY='EsTc LW2K …' EXPORT_PASSPHRASE=… EXPORT_FILE=element-keys.txt \
//!     cargo run -p megolm-backup-homeserver --example restore_with_security_key

use backup_cipher::{RestoreOptions, RestoreResult};
use homeserver::{BackupDownloads, Client};
use key_export::ExportWriter;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let var = |name: &str| std::env::var(name).map_err(|_| format!("set {name}"));
    let (homeserver, user, password) = (
        var("MATRIX_HOMESERVER")?,
        var("MATRIX_USER")?,
        var("MATRIX_PASSWORD")?,
    );
    let (typed, export_passphrase, export_file) = (
        var("SECURITY_KEY")?,
        var("EXPORT_PASSPHRASE")?,
        var("EXPORT_FILE")?,
    );
    let (client, login) = Client::login_password(&homeserver, &user, &password)?;
    let restored = restore(&client, &login.user_id, &typed);
    client.logout()?;
    let sessions = restored?;

    let file = std::fs::File::create(&export_file)?;
    let mut export = ExportWriter::new(file, &export_passphrase, key_export::DEFAULT_ROUNDS)?;
    for session in &sessions.sessions {
        export.write_session_json(session.json_text().as_bytes())?;
    }
    let written = export.sessions();
    export.finish()?;
    println!("restored {written} sessions into {export_file}");
    if !sessions.failures.is_empty() {
        eprintln!("{} entries could not be restored", sessions.failures.len());
    }
    Ok(())
}

/// Finds the backup key with what the user typed (secret storage unlocked with the
/// Security Key or Phrase, or the backup's own key), then restores the current backup.
fn restore(
    client: &Client,
    user: &str,
    typed: &str,
) -> Result<RestoreResult, Box<dyn std::error::Error>> {
    let found = client.run(flows::RecoveryFlow::new(user, typed))?;
    eprintln!("{}", found.key.describe());
    let version = found.version.and_then(|v| v.version).ok_or("no backup")?;
    let mut sessions = RestoreResult::default();
    BackupDownloads::start(client, &version)?.restore(
        &found.key.backup_key,
        &RestoreOptions::default(),
        &mut sessions,
    )?;
    Ok(sessions)
}
