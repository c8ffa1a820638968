//! A login made with `--user` for one command ends with the command: it is logged out
//! (`POST /logout`, so that no device named "megolm-backup" with a live access token is
//! left on the account) when the command returns — success or error — through
//! [`Session`]'s drop, and on SIGINT/SIGTERM through [`logout_on_interrupt`], which the
//! interrupt handler calls. `--keep-login` keeps it (and says which device it is).

use std::{
    ops::Deref,
    sync::{Mutex, PoisonError},
    time::Duration,
};

use homeserver::{Client, ConnectOptions};

/// The login this command made and has not logged out yet.
static ACTIVE: Mutex<Option<Login>> = Mutex::new(None);

struct Login {
    /// A client for the same token with short timeouts: a logout must not hold the user
    /// for a minute at the end, or after Ctrl-C.
    client: Client,
    device_id: Option<String>,
}

/// A connected client. When its login was made for this command, dropping it logs out.
pub(crate) struct Session {
    client: Client,
    owns_login: bool,
}

impl Session {
    /// A client with a token the user gave: nothing to log out.
    pub(crate) fn borrowed(client: Client) -> Self {
        Self {
            client,
            owns_login: false,
        }
    }

    /// A client whose login this command made: logged out when dropped (or on interrupt).
    pub(crate) fn owned(
        client: Client,
        device_id: Option<String>,
        options: &ConnectOptions,
    ) -> Result<Self, homeserver::ClientError> {
        let mut quick = options.clone();
        quick.idle_timeout = Duration::from_secs(10);
        quick.connect_timeout = Duration::from_secs(5);
        quick.max_attempts = 2;
        quick.on_retry = None;
        let logout = match Client::with_options(client.homeserver(), client.access_token(), &quick)
        {
            Ok(c) => c,
            Err(e) => {
                // Never leave the login behind.
                let _ = client.logout();
                return Err(e);
            }
        };
        *ACTIVE.lock().unwrap_or_else(PoisonError::into_inner) = Some(Login {
            client: logout,
            device_id,
        });
        Ok(Self {
            client,
            owns_login: true,
        })
    }
}

impl Deref for Session {
    type Target = Client;
    fn deref(&self) -> &Client {
        &self.client
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        if self.owns_login {
            end_login();
        }
    }
}

/// Logs out the login this command made, if it has not been yet. Holds the lock while it
/// does, so that an interrupt during the logout waits for it instead of exiting first.
fn end_login() {
    let mut active = ACTIVE.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(login) = active.take()
        && let Err(e) = login.client.logout()
    {
        eprintln!(
            "warning: could not log out the login this command made (device {}): {e}. \
             Remove that session in your Matrix client (Settings → Sessions)",
            login.device_id.as_deref().unwrap_or("?")
        );
    }
}

// Until the interrupt handler in secret_file.rs calls it.
#[allow(dead_code)]
/// For the SIGINT/SIGTERM handler: logs out the login this command made with `--user`,
/// if there is one (a few seconds at most), before the process exits.
pub(crate) fn logout_on_interrupt() {
    end_login();
}
