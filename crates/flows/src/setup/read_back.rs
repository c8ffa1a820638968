//! The read-back check: what a fresh client finds on the account unlocks with what the
//! user was given, and holds the new backup's key and the account's cross-signing keys.

use ssss::CrossSigningKeys;

use super::{AccountState, NewSecurityKey, SetupFlowError, SetupPlan};

/// Checks `state`, read after the setup wrote `plan` and created backup `version`: the
/// Security Key shown (or `phrase`, when the user chose one) unlocks secret storage, which
/// holds that version's key and the cross-signing keys the account publishes, and
/// `m.key_backup` says enabled.
pub(super) fn verify(
    plan: &SetupPlan,
    version: &str,
    phrase: Option<&str>,
    state: &AccountState,
) -> Result<(), SetupFlowError> {
    let shown = plan
        .setup
        .secret_storage_key
        .to_recovery_key()
        .to_base58_grouped();
    let fail = |reason: String| SetupFlowError::NotVerified {
        reason,
        security_key: NewSecurityKey(Box::new(shown.clone())),
    };
    let given: &str = match phrase {
        Some(p) => p,
        None => &shown,
    };
    let info = state
        .version
        .as_ref()
        .filter(|v| v.version.as_deref() == Some(version))
        .ok_or_else(|| fail(format!("backup version {version} is not the current one")))?;
    let store = &state.secret_storage;
    // Element finds secret storage through the default-key pointer only: it must name the
    // new key (a pointer the server acknowledged but did not keep, or one still naming the
    // old key, would have Element offer to set up again, writing over the new secrets).
    let new_id = plan.setup.secret_storage_key.key_id();
    if store.default_key_id() != Some(new_id) {
        return Err(fail(format!(
            "the default-key pointer (m.secret_storage.default_key) names {}, not the new \
             key {new_id}",
            store.default_key_id().unwrap_or("no key")
        )));
    }
    let found = ssss::recover_backup_key(given, Some(store), Some(info))
        .map_err(|e| fail(e.to_string()))?;
    let unlocked = found
        .secret_storage
        .ok_or_else(|| fail("secret storage did not unlock".into()))?;
    let keys = CrossSigningKeys::from_secret_store(store, &unlocked.key)
        .map_err(|e| fail(format!("the cross-signing keys: {e}")))?;
    if state.master_key.as_deref() != Some(keys.master_public_key().as_str()) {
        return Err(fail(format!(
            "the master key in secret storage ({}) is not the account's ({})",
            keys.master_public_key(),
            state.master_key.as_deref().unwrap_or("none")
        )));
    }
    if state.key_backup_enabled != Some(true) {
        return Err(fail("m.key_backup does not say enabled".into()));
    }
    Ok(())
}
