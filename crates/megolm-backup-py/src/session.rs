//! The library's client and the user of its access token: what the homeserver's methods
//! and the setup share.

use std::sync::Mutex;

use homeserver::{Client, ClientError};

/// A client and, once asked, the user its access token belongs to.
pub(crate) struct Session {
    client: Client,
    user_id: Mutex<Option<String>>,
}

impl Session {
    /// `client`, with its user when already known (from a login).
    pub(crate) fn new(client: Client, user_id: Option<String>) -> Self {
        Self {
            client,
            user_id: Mutex::new(user_id),
        }
    }

    /// The library's client.
    pub(crate) fn client(&self) -> &Client {
        &self.client
    }

    /// The user of the access token (`GET /account/whoami`, asked once).
    pub(crate) fn whoami(&self) -> Result<String, ClientError> {
        let mut cached = self.user_id.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(u) = &*cached {
            return Ok(u.clone());
        }
        let user = self.client.whoami()?.user_id;
        *cached = Some(user.clone());
        Ok(user)
    }
}
