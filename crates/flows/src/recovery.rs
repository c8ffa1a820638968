//! From what the user has to the backup decryption key.

use backup_cipher::BackupVersion;
use serde_json::{Map, Value};
use ssss::{
    CROSS_SIGNING_SECRETS, DEFAULT_KEY_EVENT, MEGOLM_BACKUP_SECRET, RecoveredBackupKey,
    SecretStore, recover_backup_key,
};
use zeroize::Zeroizing;

use crate::{Flow, FlowError, Request, Response, requests, step::Steps};

/// What [`RecoveryFlow`] found.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RecoveredBackup {
    /// The backup key, what the user's input was, and the unlocked secret-storage key
    /// when it was the Security Key or Phrase.
    pub key: RecoveredBackupKey,
    /// The backup version the key was checked against (the current one, or the one asked
    /// for); `None` when the account has no backup (then the key was not checked).
    pub version: Option<BackupVersion>,
    /// The secret-storage account data that was read (the cross-signing seeds are in it,
    /// readable with `key.secret_storage`).
    pub secret_storage: SecretStore,
}

/// What is being read.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Version,
    AccountData(String),
}

/// Reads what a recovery needs from the server: the backup version (current, or a given
/// one; none when the account has no backup) and the secret-storage account data —
/// `m.secret_storage.default_key`, the default key's description, `m.megolm_backup.v1` and
/// the three cross-signing secrets (`GET /user/{userId}/account_data/{type}`; absent ones
/// are skipped). The secrets are read with or without a default-key pointer, and so are
/// the descriptions of the keys they are encrypted under (a few at most): a setup stopped
/// before its last write leaves them under a key no pointer names yet.
#[derive(Debug)]
pub struct SecretStorageFlow {
    user_id: String,
    version_id: Option<String>,
    steps: Steps<Step>,
    version: Option<BackupVersion>,
    events: Map<String, Value>,
    /// The key descriptions asked for.
    described: Vec<String>,
}

/// How many key descriptions a [`SecretStorageFlow`] reads (the default key's and
/// those the secrets name).
const MAX_DESCRIPTIONS: usize = 4;

impl SecretStorageFlow {
    /// For the current backup version of `user_id`.
    pub fn new(user_id: &str) -> Self {
        Self {
            user_id: user_id.to_owned(),
            version_id: None,
            steps: Steps::new(
                [
                    Step::Version,
                    Step::AccountData(DEFAULT_KEY_EVENT.to_owned()),
                    Step::AccountData(MEGOLM_BACKUP_SECRET.to_owned()),
                ]
                .into_iter()
                .chain(
                    CROSS_SIGNING_SECRETS
                        .iter()
                        .map(|name| Step::AccountData((*name).to_owned())),
                ),
            ),
            version: None,
            events: Map::new(),
            described: Vec::new(),
        }
    }

    /// For a given backup version instead of the current one.
    pub fn for_version(mut self, version: &str) -> Self {
        self.version_id = Some(version.to_owned());
        self
    }

    /// Reads the description of key `id`, once, and a few at most.
    fn describe(&mut self, id: &str) {
        if self.described.len() < MAX_DESCRIPTIONS && !self.described.iter().any(|d| d == id) {
            self.described.push(id.to_owned());
            self.steps
                .push(Step::AccountData(format!("m.secret_storage.key.{id}")));
        }
    }

    fn request(&self, step: &Step) -> Request {
        match step {
            Step::Version => requests::backup_version(self.version_id.as_deref()),
            Step::AccountData(t) => requests::account_data(&self.user_id, t),
        }
    }
}

impl Flow for SecretStorageFlow {
    /// The backup version (`None`: no backup) and the secret-storage account data.
    type Output = (Option<BackupVersion>, SecretStore);

    fn next_request(&mut self) -> Option<Request> {
        let step = self.steps.pop()?;
        let request = self.request(&step);
        self.steps.send(step, request)
    }

    fn receive(&mut self, response: Response) -> Result<(), FlowError> {
        let step = self.steps.answered()?;
        // M_NOT_FOUND: no backup, or no such account data. The caller decides.
        if response.is_not_found() {
            return Ok(());
        }
        if !response.is_success() {
            return Err(response.error());
        }
        match step {
            Step::Version => {
                let version: BackupVersion =
                    serde_json::from_value(response.body).map_err(|e| FlowError::Unexpected {
                        request: "GET /room_keys/version".into(),
                        reason: e.to_string(),
                    })?;
                self.version = Some(version);
            }
            Step::AccountData(event_type) => {
                if event_type == DEFAULT_KEY_EVENT {
                    // Then the default key's description.
                    if let Some(id) = response.body.get("key").and_then(Value::as_str) {
                        self.describe(id);
                    }
                } else if let Some(ids) = response.body.get("encrypted").and_then(Value::as_object)
                {
                    // The keys this secret is encrypted under (the default one, or those
                    // a setup stopped before its last write left it under).
                    let ids: Vec<String> = ids.keys().cloned().collect();
                    for id in ids {
                        self.describe(&id);
                    }
                }
                self.events.insert(event_type, response.body);
            }
        }
        Ok(())
    }

    fn finish(self) -> Result<Self::Output, FlowError> {
        self.steps.finished()?;
        let store = SecretStore::from_json(&Value::Object(self.events))?;
        Ok((self.version, store))
    }
}

/// Finds the backup key from what the user typed: [`SecretStorageFlow`]'s requests, then
/// [`recover_backup_key`] on what they returned.
///
/// A Security Phrase costs one PBKDF2 derivation in [`finish`](Flow::finish) (half a
/// second at Element's 500,000 rounds): call it off an async runtime's reactor thread.
#[derive(Debug)]
pub struct RecoveryFlow {
    read: SecretStorageFlow,
    input: Zeroizing<String>,
}

impl RecoveryFlow {
    /// For the current backup version. `input` is what the user typed, exactly (one
    /// trailing newline removed): a passphrase may begin or end with spaces.
    pub fn new(user_id: &str, input: &str) -> Self {
        Self {
            read: SecretStorageFlow::new(user_id),
            input: Zeroizing::new(input.to_owned()),
        }
    }

    /// For a given backup version instead of the current one.
    pub fn for_version(mut self, version: &str) -> Self {
        self.read = self.read.for_version(version);
        self
    }
}

impl Flow for RecoveryFlow {
    type Output = RecoveredBackup;

    fn next_request(&mut self) -> Option<Request> {
        self.read.next_request()
    }

    fn receive(&mut self, response: Response) -> Result<(), FlowError> {
        self.read.receive(response)
    }

    fn finish(self) -> Result<RecoveredBackup, FlowError> {
        let (version, secret_storage) = self.read.finish()?;
        let key = recover_backup_key(&self.input, Some(&secret_storage), version.as_ref())?;
        Ok(RecoveredBackup {
            key,
            version,
            secret_storage,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn out_of_order_is_an_error_not_a_panic() {
        let mut flow = RecoveryFlow::new("@a:x", "text");
        assert!(flow.receive(Response::ok(json!({}))).is_err());
        assert!(RecoveryFlow::new("@a:x", "text").finish().is_err());
    }

    #[test]
    fn paths_are_percent_encoded() {
        let mut flow = RecoveryFlow::new("@a b:x", "t").for_version("v/1");
        assert_eq!(
            flow.next_request().map(|r| r.path),
            Some("/_matrix/client/v3/room_keys/version/v%2F1".to_owned())
        );
        // No backup is not an error of the flow: the caller decides.
        flow.receive(Response::new(404, json!({"errcode": "M_NOT_FOUND"})))
            .unwrap();
        assert_eq!(
            flow.next_request().map(|r| r.path),
            Some(
                "/_matrix/client/v3/user/%40a%20b%3Ax/account_data/m.secret_storage.default_key"
                    .to_owned()
            )
        );
    }
}
