//! What the account has: [`AccountState`], read by [`AccountStateFlow`] (secret storage,
//! the backup version, the cross-signing master key, `m.key_backup`).

use backup_cipher::BackupVersion;
use serde_json::Value;
use ssss::SecretStore;

use crate::{Flow, FlowError, Request, Response, SecretStorageFlow, requests};

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

/// Reads an [`AccountState`]: [`SecretStorageFlow`]'s requests, then `POST /keys/query`,
/// then the `m.key_backup` account data.
#[derive(Debug)]
pub struct AccountStateFlow {
    read: SecretStorageFlow,
    user_id: String,
    query_sent: bool,
    query_pending: bool,
    master_key: Option<String>,
    key_backup_sent: bool,
    key_backup_pending: bool,
    key_backup_enabled: Option<bool>,
}

impl AccountStateFlow {
    /// For `user_id` (from `GET /account/whoami`).
    pub fn new(user_id: &str) -> Self {
        Self {
            read: SecretStorageFlow::new(user_id),
            user_id: user_id.to_owned(),
            query_sent: false,
            query_pending: false,
            master_key: None,
            key_backup_sent: false,
            key_backup_pending: false,
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
        if !self.query_sent {
            self.query_sent = true;
            self.query_pending = true;
            return Some(requests::keys_query(&self.user_id));
        }
        if self.key_backup_sent {
            return None;
        }
        self.key_backup_sent = true;
        self.key_backup_pending = true;
        Some(requests::account_data(&self.user_id, KEY_BACKUP_EVENT))
    }

    fn receive(&mut self, response: Response) -> Result<(), FlowError> {
        if self.key_backup_pending {
            self.key_backup_pending = false;
            if response.is_not_found() {
                return Ok(());
            }
            if !response.is_success() {
                return Err(response.error());
            }
            self.key_backup_enabled = response.body.get("enabled").and_then(Value::as_bool);
            return Ok(());
        }
        if !self.query_pending {
            return self.read.receive(response);
        }
        self.query_pending = false;
        if !response.is_success() {
            return Err(response.error());
        }
        self.master_key = master_key_in_query(&response.body, &self.user_id);
        Ok(())
    }

    fn finish(self) -> Result<AccountState, FlowError> {
        if self.query_pending || self.key_backup_pending || !self.key_backup_sent {
            return Err(FlowError::OutOfOrder(
                "finish came before the last response",
            ));
        }
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
