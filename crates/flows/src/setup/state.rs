//! What the account has: [`AccountState`], read by [`AccountStateFlow`] (secret storage,
//! the backup version, the cross-signing master key, `m.key_backup`).

use backup_cipher::BackupVersion;
use serde_json::Value;
use ssss::SecretStore;

use crate::{Flow, FlowError, Request, Response, SecretStorageFlow, requests, step::Steps};

/// What the account has now.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct AccountState {
    /// The user.
    pub user_id: String,
    /// The current backup version, if any.
    pub version: Option<BackupVersion>,
    /// The secret-storage account data.
    pub secret_storage: SecretStore,
    /// The cross-signing master public key the server publishes, if any.
    pub master_key: Option<String>,
    /// `m.key_backup`'s `enabled` (account data Element X reads): `None` when the event
    /// is absent or has no boolean `enabled`.
    pub key_backup_enabled: Option<bool>,
}

/// The account-data event Element X reads to know whether key backup is on
/// (`{"enabled": true}`).
pub const KEY_BACKUP_EVENT: &str = "m.key_backup";

/// What is read after secret storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    KeysQuery,
    KeyBackup,
}

/// Reads an [`AccountState`]: [`SecretStorageFlow`]'s requests, then `POST /keys/query`,
/// then the `m.key_backup` account data.
#[derive(Debug)]
pub struct AccountStateFlow {
    read: SecretStorageFlow,
    user_id: String,
    /// Its own steps, once `read` has sent all of its.
    steps: Steps<Step>,
    master_key: Option<String>,
    key_backup_enabled: Option<bool>,
}

impl AccountStateFlow {
    /// For `user_id` (from `GET /account/whoami`).
    pub fn new(user_id: &str) -> Self {
        Self {
            read: SecretStorageFlow::new(user_id),
            user_id: user_id.to_owned(),
            steps: Steps::new([Step::KeysQuery, Step::KeyBackup]),
            master_key: None,
            key_backup_enabled: None,
        }
    }
}

impl Flow for AccountStateFlow {
    type Output = AccountState;

    fn next_request(&mut self) -> Option<Request> {
        if let Some(r) = self.read.next_request() {
            return Some(r);
        }
        let step = self.steps.pop()?;
        let request = match step {
            Step::KeysQuery => requests::keys_query(&self.user_id),
            Step::KeyBackup => requests::account_data(&self.user_id, KEY_BACKUP_EVENT),
        };
        self.steps.send(step, request)
    }

    fn receive(&mut self, response: Response) -> Result<(), FlowError> {
        if self.steps.in_flight().is_none() {
            return self.read.receive(response);
        }
        match self.steps.answered()? {
            Step::KeysQuery => {
                if !response.is_success() {
                    return Err(response.error());
                }
                self.master_key = master_key_in_query(&response.body, &self.user_id);
            }
            Step::KeyBackup => {
                if response.is_not_found() {
                    return Ok(());
                }
                if !response.is_success() {
                    return Err(response.error());
                }
                self.key_backup_enabled = response.body.get("enabled").and_then(Value::as_bool);
            }
        }
        Ok(())
    }

    fn finish(self) -> Result<AccountState, FlowError> {
        self.steps.finished()?;
        let (version, secret_storage) = self.read.finish()?;
        Ok(AccountState {
            user_id: self.user_id,
            version,
            secret_storage,
            master_key: self.master_key,
            key_backup_enabled: self.key_backup_enabled,
        })
    }
}

/// The cross-signing master public key of `user_id` in a `POST /keys/query` answer
/// (`master_keys.<user_id>.keys`), if the account has one.
pub fn master_key_in_query(response: &Value, user_id: &str) -> Option<String> {
    response
        .get("master_keys")?
        .get(user_id)?
        .get("keys")?
        .as_object()?
        .values()
        .find_map(|v| v.as_str().map(str::to_owned))
}
