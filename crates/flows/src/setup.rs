//! Setting up recovery as Element's "Set up recovery" does, as a plan of requests.
//!
//! [`AccountStateFlow`] reads what is there (backup version, secret storage, the
//! cross-signing master key); [`plan_setup`] decides everything — refuse, keep or replace
//! the cross-signing keys, what to copy from the old backup — and returns the requests in
//! the order that keeps the account usable if the caller stops half-way:
//!
//! 1. `upload_cross_signing` (new keys only; answer a 401 with [`with_password`]): when the
//!    server refuses, nothing else has changed;
//! 2. `create_version` (the new backup, signed by the master key);
//! 3. the caller copies the old backup's sessions into the new version ([`CarryOver`]);
//! 4. `account_data`: the key description, the secrets, and last the default-key pointer;
//! 5. `delete_old_version`, only when the old sessions were copied.

use backup_cipher::{BackupDecryptionKey, BackupVersion};
use serde_json::{Value, json};
use ssss::{
    CrossSigningKeys, RecoverError, SecretStore,
    setup::{SecureBackupSetup, SetupError, SetupSecret, Signer},
};

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
}

/// Reads an [`AccountState`]: [`SecretStorageFlow`]'s requests, then `POST /keys/query`.
#[derive(Debug)]
pub struct AccountStateFlow {
    read: SecretStorageFlow,
    user_id: String,
    query_sent: bool,
    query_pending: bool,
    master_key: Option<String>,
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
        }
    }
}

impl Flow for AccountStateFlow {
    type Output = AccountState;

    fn next_request(&mut self) -> Option<Request> {
        if let Some(r) = self.read.next_request() {
            return Some(r);
        }
        if self.query_sent {
            return None;
        }
        self.query_sent = true;
        self.query_pending = true;
        Some(requests::keys_query(&self.user_id))
    }

    fn receive(&mut self, response: Response) -> Result<(), FlowError> {
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
        if self.query_pending || !self.query_sent {
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

/// What the user chose.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct SetupChoices<'a> {
    /// A generated Security Key, or a Security Phrase (checked by the caller's policy).
    pub secret: SetupSecret<'a>,
    /// Replace an existing setup.
    pub reset: bool,
    /// With `reset`: what the user had for the old setup (Security Key or Phrase, or the
    /// old backup's key), to keep the cross-signing keys and copy the old sessions.
    pub old_input: Option<&'a str>,
    /// Create new cross-signing keys even when the old ones cannot be read.
    pub replace_cross_signing: bool,
    /// Whether the caller can answer the server's password confirmation.
    pub have_password: bool,
    /// Also sign the backup with this key (e.g. the device's).
    pub signer: Option<Signer<'a>>,
}

impl<'a> SetupChoices<'a> {
    /// A fresh setup with `secret`, nothing else.
    pub fn new(secret: SetupSecret<'a>) -> Self {
        Self {
            secret,
            reset: false,
            old_input: None,
            replace_cross_signing: false,
            have_password: false,
            signer: None,
        }
    }
    /// Replace an existing setup, with what the user had for it (if anything).
    pub fn reset(mut self, old_input: Option<&'a str>) -> Self {
        self.reset = true;
        self.old_input = old_input;
        self
    }
    /// Allow replacing unreadable cross-signing keys.
    pub fn replace_cross_signing(mut self, replace: bool) -> Self {
        self.replace_cross_signing = replace;
        self
    }
    /// Whether a password is at hand for the server's confirmation.
    pub fn have_password(mut self, have: bool) -> Self {
        self.have_password = have;
        self
    }
    /// Also sign the backup with this key.
    pub fn signer(mut self, signer: Option<Signer<'a>>) -> Self {
        self.signer = signer;
        self
    }
}

/// The old backup's sessions, to copy into the new version between `create_version` and
/// `account_data`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct CarryOver {
    /// The old version id.
    pub old_version: String,
    /// Its key.
    pub old_key: BackupDecryptionKey,
}

/// Everything to send, in order (see the module documentation).
#[derive(Debug)]
#[non_exhaustive]
pub struct SetupPlan {
    /// The new key, backup key and the rest: show `setup.secret_storage_key` once.
    pub setup: SecureBackupSetup,
    /// The cross-signing keys the setup uses (new or kept).
    pub cross_signing: CrossSigningKeys,
    /// `POST /keys/device_signing/upload`, when the keys are new.
    pub upload_cross_signing: Option<Request>,
    /// `POST /room_keys/version`; its answer's `version` is the new version.
    pub create_version: Request,
    /// The old sessions to copy, when they can be read.
    pub carry_over: Option<CarryOver>,
    /// The old version that stays (its sessions cannot be read), when there is one.
    pub old_version_kept: Option<String>,
    /// `PUT /user/{userId}/account_data/{type}`, the default-key pointer last.
    pub account_data: Vec<Request>,
    /// `DELETE /room_keys/version/{old}`, to send once the old sessions are copied.
    pub delete_old_version: Option<Request>,
    /// What the plan decided, one line each, for the user.
    pub notes: Vec<String>,
}

/// Why no setup is planned. Each message says what is needed, in this API's terms (a
/// reset, the old key, the password); nothing was changed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PlanError {
    /// Secure backup exists and `reset` was not chosen.
    #[error(
        "secure backup is already set up on {user} (secret-storage key {key}, backup version \
         {version}); nothing was changed. Replacing it needs a reset, with the old Security \
         Key or Phrase to carry the old sessions over"
    )]
    AlreadySetUp {
        /// The user.
        user: String,
        /// The default key id, or "none".
        key: String,
        /// The backup version, or "none".
        version: String,
    },
    /// The account has cross-signing keys whose private parts could not be read.
    #[error(
        "this account already has cross-signing keys (master key {0}), and their private \
         parts could not be read from its secret storage. Reset with the old Security Key or \
         Phrase to keep them, or choose to replace them: other people and your other devices \
         will then see a new identity and must verify you again. Nothing was changed"
    )]
    CrossSigningExists(String),
    /// Replacing cross-signing keys needs the account password.
    #[error(
        "replacing cross-signing keys needs your account password (the server asks for it). \
         Nothing was changed"
    )]
    NeedsPassword,
    /// The old key opens neither the old backup nor the old secret storage.
    #[error("the old Security Key or Phrase (or the old backup's key): {0}")]
    OldKey(RecoverError),
    /// The new setup could not be built.
    #[error(transparent)]
    Setup(#[from] SetupError),
    /// New cross-signing keys could not be made or signed.
    #[error(transparent)]
    CrossSigning(#[from] ssss::CrossSigningError),
}

/// Plans a setup on an account in `state`.
pub fn plan_setup(state: &AccountState, choices: SetupChoices<'_>) -> Result<SetupPlan, PlanError> {
    let user = &state.user_id;
    let store = &state.secret_storage;
    let current_id = state.version.as_ref().and_then(|v| v.version.clone());
    if (store.default_key_id().is_some() || state.version.is_some()) && !choices.reset {
        return Err(PlanError::AlreadySetUp {
            user: user.clone(),
            key: store.default_key_id().unwrap_or("none").to_owned(),
            version: current_id.unwrap_or_else(|| "none".into()),
        });
    }
    let mut notes = Vec::new();

    // What the old setup gives: the old backup's key, the cross-signing keys.
    let mut old_key = None;
    let mut old_cross_signing = None;
    if let Some(text) = choices.old_input.filter(|_| choices.reset) {
        old_cross_signing = store
            .unlock(text)
            .ok()
            .and_then(|u| CrossSigningKeys::from_secret_store(store, &u.key).ok());
        match ssss::recover_backup_key(text, Some(store), state.version.as_ref()) {
            Ok(found) => {
                notes.push(format!("old key: {}", found.describe()));
                old_key = Some(found.backup_key);
            }
            // Secret storage opened, but its backup key is not the current backup's: the
            // cross-signing keys still come along.
            Err(e) if old_cross_signing.is_some() => notes.push(format!("warning: {e}")),
            Err(e) => return Err(PlanError::OldKey(e)),
        }
    }

    // Keep, make or refuse the cross-signing keys.
    let (cross_signing, new_keys) = match &state.master_key {
        None => (CrossSigningKeys::generate()?, true),
        Some(master) => match old_cross_signing.filter(|k| &k.master_public_key() == master) {
            Some(keys) => {
                notes.push(format!(
                    "keeping this account's cross-signing keys (master key {master})"
                ));
                (keys, false)
            }
            None if !choices.replace_cross_signing => {
                return Err(PlanError::CrossSigningExists(master.clone()));
            }
            None if !choices.have_password => return Err(PlanError::NeedsPassword),
            None => {
                notes.push(format!(
                    "replacing the cross-signing keys (master key {master}): other people and \
                     your other devices will see a new identity and must verify you again"
                ));
                (CrossSigningKeys::generate()?, true)
            }
        },
    };

    let mut setup = SecureBackupSetup::create(
        choices.secret,
        Some(secret_name(choices.secret)),
        choices.signer,
    )?;
    setup.add_cross_signing(&cross_signing, user)?;
    let upload_cross_signing = if new_keys {
        Some(requests::upload_cross_signing(
            cross_signing.upload_body(user)?,
        ))
    } else {
        None
    };
    let create_version = requests::create_backup_version(&setup.backup_version);
    let account_data = setup
        .account_data
        .iter()
        .map(|(event_type, content)| requests::set_account_data(user, event_type, content.clone()))
        .collect();
    let (carry_over, old_version_kept, delete_old_version) = match (current_id, old_key) {
        (Some(old_version), Some(old_key)) => (
            Some(CarryOver {
                old_version: old_version.clone(),
                old_key,
            }),
            None,
            Some(requests::delete_backup_version(&old_version)),
        ),
        (Some(old_version), None) => (None, Some(old_version), None),
        (None, _) => (None, None, None),
    };
    Ok(SetupPlan {
        setup,
        cross_signing,
        upload_cross_signing,
        create_version,
        carry_over,
        old_version_kept,
        account_data,
        delete_old_version,
        notes,
    })
}

fn secret_name(secret: SetupSecret<'_>) -> &'static str {
    match secret {
        SetupSecret::Passphrase(_) => "Security Phrase",
        _ => "Security Key",
    }
}

/// User-interactive authentication: when `response` is the server's 401 asking for
/// confirmation (it has `flows`), the same `request` with an `m.login.password` answer
/// (and the server's `session`). `None` when the response is not such a question.
pub fn with_password(
    request: &Request,
    response: &Response,
    user_id: &str,
    password: &str,
) -> Option<Request> {
    if response.status != 401 || response.body.get("flows").is_none() {
        return None;
    }
    let mut auth = json!({
        "type": "m.login.password",
        "identifier": {"type": "m.id.user", "user": user_id},
        "password": password,
    });
    if let (Some(session), Some(a)) = (response.body.get("session"), auth.as_object_mut()) {
        a.insert("session".into(), session.clone());
    }
    let mut body = request.body.clone().unwrap_or_else(|| json!({}));
    body.as_object_mut()?.insert("auth".into(), auth);
    Some(Request {
        body: Some(body),
        ..request.clone()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fresh(master_key: Option<String>) -> AccountState {
        AccountState {
            user_id: "@alice:example.org".into(),
            version: None,
            secret_storage: SecretStore::default(),
            master_key,
        }
    }

    #[test]
    fn a_fresh_account_gets_everything_in_a_safe_order() {
        let plan = plan_setup(&fresh(None), SetupChoices::new(SetupSecret::GenerateKey)).unwrap();
        let upload = plan.upload_cross_signing.as_ref().unwrap();
        assert_eq!(upload.path, "/_matrix/client/v3/keys/device_signing/upload");
        let body = upload.body.as_ref().unwrap();
        let master = plan.cross_signing.master_public_key();
        assert_eq!(
            body["master_key"]["keys"][format!("ed25519:{master}")],
            master.as_str()
        );
        // The backup is signed by the master key.
        let version = plan.create_version.body.as_ref().unwrap();
        assert!(
            version["auth_data"]["signatures"]["@alice:example.org"]
                .get(format!("ed25519:{master}"))
                .is_some()
        );
        // Description first, the default-key pointer last, the secrets between.
        let types: Vec<&str> = plan
            .account_data
            .iter()
            .map(|r| r.path.rsplit('/').next().unwrap())
            .collect();
        assert!(types[0].starts_with("m.secret_storage.key."), "{types:?}");
        assert_eq!(*types.last().unwrap(), "m.secret_storage.default_key");
        for needed in [
            "m.megolm_backup.v1",
            "m.cross_signing.master",
            "m.cross_signing.self_signing",
            "m.cross_signing.user_signing",
        ] {
            assert!(types.contains(&needed), "{types:?}");
        }
        assert!(plan.carry_over.is_none() && plan.delete_old_version.is_none());
    }

    #[test]
    fn existing_keys_are_never_replaced_silently() {
        let state = fresh(Some("bWFzdGVy".into()));
        let choice = SetupChoices::new(SetupSecret::GenerateKey).reset(None);
        assert!(matches!(
            plan_setup(&state, choice),
            Err(PlanError::CrossSigningExists(_))
        ));
        assert!(matches!(
            plan_setup(&state, choice.replace_cross_signing(true)),
            Err(PlanError::NeedsPassword)
        ));
        let plan = plan_setup(
            &state,
            choice.replace_cross_signing(true).have_password(true),
        )
        .unwrap();
        assert!(plan.upload_cross_signing.is_some());
        assert!(plan.notes.iter().any(|n| n.contains("new identity")));
    }

    /// The library says what is needed in its own terms; the CLI adds its options.
    #[test]
    fn plan_errors_name_no_command_line_option() {
        let mut set_up = fresh(None);
        set_up.secret_storage.create_key(None, None).unwrap();
        let keys = fresh(Some("bWFzdGVy".into()));
        let reset = SetupChoices::new(SetupSecret::GenerateKey).reset(None);
        let errors = [
            plan_setup(&set_up, SetupChoices::new(SetupSecret::GenerateKey)).unwrap_err(),
            plan_setup(&keys, reset).unwrap_err(),
            plan_setup(&keys, reset.replace_cross_signing(true)).unwrap_err(),
        ];
        for e in errors {
            let text = e.to_string();
            assert!(!text.contains("--"), "{text}");
            assert!(!text.contains("FILE"), "{text}");
        }
    }

    #[test]
    fn an_existing_setup_needs_reset() {
        let mut state = fresh(None);
        state.secret_storage.create_key(None, None).unwrap();
        assert!(matches!(
            plan_setup(&state, SetupChoices::new(SetupSecret::GenerateKey)),
            Err(PlanError::AlreadySetUp { .. })
        ));
    }

    #[test]
    fn the_password_answers_the_servers_question() {
        let request = requests::upload_cross_signing(json!({"master_key": {}}));
        let ok = Response::ok(json!({}));
        assert!(with_password(&request, &ok, "@a:x", "pw").is_none());
        let question = Response::new(
            401,
            json!({"session": "S", "flows": [{"stages": ["m.login.password"]}]}),
        );
        let again = with_password(&request, &question, "@a:x", "pw").unwrap();
        let auth = &again.body.as_ref().unwrap()["auth"];
        assert_eq!(auth["type"], "m.login.password");
        assert_eq!(auth["session"], "S");
        assert_eq!(auth["identifier"]["user"], "@a:x");
        assert_eq!(again.body.as_ref().unwrap()["master_key"], json!({}));
    }
}
