//! Element's "Set up recovery" for an account: cross-signing keys, secret storage with a
//! new Security Key, a key backup signed by the master key, `m.key_backup` enabled, then
//! everything read back and checked. Prints the Security Key.
//!
//!     MATRIX_HOMESERVER=https://matrix.example.org MATRIX_USER=alice \
//!     MATRIX_PASSWORD=… cargo run -p megolm-backup-homeserver --example setup_recovery

use flows::{SetupEvent, SetupOptions};
use homeserver::{Client, SetupObserver};

/// Prints each step of the setup on stderr, and the Security Key on stdout as soon as it
/// exists: before any secret is written with it, so a setup cut short never leaves
/// secrets that no one can open.
struct Print;

impl SetupObserver for Print {
    fn event(&mut self, event: &SetupEvent) {
        eprintln!("{event}");
    }
    fn save_key(&mut self, security_key: &str) {
        println!("Your Security Key (store it somewhere safe, it is shown only once):");
        println!("{security_key}");
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let var = |name: &str| std::env::var(name).map_err(|_| format!("set {name}"));
    let (homeserver, user, password) = (
        var("MATRIX_HOMESERVER")?,
        var("MATRIX_USER")?,
        var("MATRIX_PASSWORD")?,
    );
    let (client, _login) = Client::login_password(&homeserver, &user, &password)?;
    // The password also answers the server's confirmation of the new cross-signing keys.
    let outcome = client.set_up_recovery(SetupOptions::new(), Some(&password), &mut Print);
    client.logout()?;
    eprintln!("recovery is set up: backup version {}", outcome?.version);
    Ok(())
}
