//! A fresh account on the test Synapse (`scripts/synapse.sh start`) for one test, and the
//! arguments the tool needs to use it.

use std::path::{Path, PathBuf};

use homeserver::{
    Client,
    testing::{homeserver_url, new_user},
};
use serde_json::Value;

use super::{element_installed, p, run_element, tmp};

/// A user registered on the test Synapse, logged in, its access token and password in
/// files of the test's scratch folder.
pub struct Account {
    /// The homeserver's URL.
    pub url: String,
    /// The user's name, as `--user` takes it.
    pub user: String,
    /// The user's password.
    pub password: String,
    /// A client logged in as the user (its token is the one in [`token`](Self::token)).
    pub client: Client,
    /// The test's scratch folder, which holds the two files below.
    pub dir: PathBuf,
    /// `dir/token`: the access token, without a newline.
    pub token: PathBuf,
    /// `dir/password`: the password, without a newline.
    pub password_file: PathBuf,
}

impl Account {
    /// Registers a new user, its files in `dir`. `None` when no Synapse is reachable: the
    /// test says so and skips (under `CI` it fails instead).
    pub fn new(dir: &Path) -> Option<Self> {
        let url = homeserver_url()?;
        Some(Self::register(url, dir.to_owned()))
    }

    /// [`new`](Self::new) in the scratch folder `tmp(name)`, for the tests that run
    /// Element's client: `None` also when Element's code is not installed.
    pub fn for_element(name: &str) -> Option<Self> {
        let url = homeserver_url()?;
        if !element_installed() {
            return None;
        }
        Some(Self::register(url, tmp(name)))
    }

    fn register(url: String, dir: PathBuf) -> Self {
        let (client, user, password) = new_user(&url);
        let token = dir.join("token");
        std::fs::write(&token, client.access_token()).unwrap();
        let password_file = dir.join("password");
        std::fs::write(&password_file, &password).unwrap();
        Self {
            url,
            user,
            password,
            client,
            dir,
            token,
            password_file,
        }
    }

    /// `--homeserver URL --access-token-file TOKEN`.
    pub fn auth(&self) -> Vec<&str> {
        vec![
            "--homeserver",
            &self.url,
            "--access-token-file",
            p(&self.token),
        ]
    }

    /// [`auth`](Self::auth) and `--password-file PASSWORD`.
    pub fn with_password(&self) -> Vec<&str> {
        [
            &self.auth()[..],
            &["--password-file", p(&self.password_file)],
        ]
        .concat()
    }

    /// Runs Element's client (`element-client.mjs CMD`) as this user, its report in
    /// [`dir`](Self::dir); returns the report.
    pub fn element(&self, cmd: &str, args: &[&str]) -> Value {
        run_element(&self.url, &self.user, &self.password, &self.dir, cmd, args)
    }
}
