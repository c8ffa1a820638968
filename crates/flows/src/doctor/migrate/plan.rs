//! Planning the migration from a diagnosis: which keys, which versions ([`plan_migration`]).

use backup_cipher::{BackupDecryptionKey, BackupVersion};

use super::MigrateFlow;
use crate::doctor::{Diagnosis, FindingCode};

/// What the doctor's migration step will do for a diagnosis ([`plan_migration`]).
#[derive(Debug)]
#[non_exhaustive]
pub enum MigrationPlan {
    /// Nothing calls for it: no older version on the server, no entry found encrypted to
    /// another key, no older key given.
    NotNeeded,
    /// It is called for but cannot run.
    Blocked {
        /// The finding it would have repaired.
        fixes: FindingCode,
        /// Why not, and what would let it run.
        why: String,
    },
    /// Ready to run.
    Ready {
        /// The flow to drive.
        flow: Box<MigrateFlow>,
        /// What it does, for the user to approve.
        description: String,
        /// The findings it repairs.
        fixes: Vec<FindingCode>,
    },
}

/// The keys that `text` stands for among the older versions: tried against each (as the
/// backup's own key, a Security Phrase of a passphrase backup, or the Security Key or
/// Phrase of secret storage whose stored backup key opens it), and as a backup key on its
/// own (recovery key or base64, unchecked).
fn older_keys_of(
    text: &str,
    store: &ssss::SecretStore,
    versions: &[BackupVersion],
) -> Vec<BackupDecryptionKey> {
    let mut keys: Vec<BackupDecryptionKey> = versions
        .iter()
        .filter_map(|v| ssss::recover_backup_key(text, Some(store), Some(v)).ok())
        .map(|found| found.backup_key)
        .collect();
    keys.extend(
        ssss::recover_backup_key(text, None, None)
            .ok()
            .map(|f| f.backup_key),
    );
    // A backup key stored under the secret-storage key that `text` unlocks, even a stale
    // one: a client may still have used it for entries of the current version.
    if let Ok(u) = store.unlock(text)
        && let Ok(secret) = store.backup_key(&u.key)
    {
        keys.push(secret.key);
    }
    keys
}

/// Plans the doctor's migration: every session that the user's keys open in the older
/// versions still on the server, and in entries of the current version encrypted to an
/// older key, moved into the current version re-encrypted ([`MigrateFlow`]). It is
/// planned too when secret storage holds a stale backup key, so that what that key
/// opens moves before the key is replaced. `input`
/// (Security Key or Phrase) and `backup_key` (the current backup's own key) give the
/// current key as in [`plan_repairs`](crate::doctor::plan_repairs); `older` are the keys of
/// older versions the user also has (backup keys, Security Keys or Phrases from before a
/// reset); `input` is tried as an older key too.
pub fn plan_migration(
    diagnosis: &Diagnosis,
    input: &str,
    backup_key: Option<&str>,
    older: &[&str],
) -> MigrationPlan {
    use FindingCode as C;
    let account = &diagnosis.account;
    let mut fixes = Vec::new();
    if diagnosis.has(C::EntriesForAnotherKey) {
        fixes.push(C::EntriesForAnotherKey);
    }
    if diagnosis.has(C::OldBackupVersions) {
        fixes.push(C::OldBackupVersions);
    }
    let Some(version) = account.version.as_ref() else {
        return MigrationPlan::NotNeeded;
    };
    // A stale backup key in secret storage is an older key: the migration runs to move
    // what it opens before it is replaced (RepairPlan::after_migration).
    let stale = diagnosis.has(C::BackupKeyStale);
    if fixes.is_empty() && older.is_empty() && !stale {
        return MigrationPlan::NotNeeded;
    }
    let first = fixes.first().copied().unwrap_or(if stale {
        C::BackupKeyStale
    } else {
        C::EntriesForAnotherKey
    });
    let Some(current_key) = crate::doctor::current_backup_key(diagnosis, input, backup_key) else {
        return MigrationPlan::Blocked {
            fixes: first,
            why: "no key the user gave opens the current backup version, so nothing can be \
                  re-encrypted to it: give its own key"
                .into(),
        };
    };
    let store = &account.secret_storage;
    let mut keys = Vec::new();
    for text in older.iter().copied().chain(std::iter::once(input)) {
        for k in older_keys_of(text, store, &account.old_versions) {
            let public = k.public_key().to_base64();
            if !keys
                .iter()
                .any(|o: &BackupDecryptionKey| o.public_key().to_base64() == public)
            {
                keys.push(k);
            }
        }
    }
    let old_ids: Vec<String> = account
        .old_versions
        .iter()
        .filter_map(|v| v.version.clone())
        .collect();
    let old_versions = &account.old_versions;
    let current_public = current_key.public_key().to_base64();
    let has_older_key = keys
        .iter()
        .any(|k| k.public_key().to_base64() != current_public);
    if old_ids.is_empty() && !has_older_key {
        // Planned for a stale stored key alone, which is not at hand (secret storage not
        // unlocked): nothing to move with, and the plan of repairs says why.
        if fixes.is_empty() && older.is_empty() {
            return MigrationPlan::NotNeeded;
        }
        return MigrationPlan::Blocked {
            fixes: first,
            why: "no older key was given, so the entries encrypted to another key cannot be \
                  read: give the older backup key or the Security Key from before the reset"
                .into(),
        };
    }
    let flow = match MigrateFlow::new(version, &current_key, &keys, old_versions) {
        Ok(flow) => flow,
        Err(e) => {
            return MigrationPlan::Blocked {
                fixes: first,
                why: e.to_string(),
            };
        }
    };
    let id = version.version.as_deref().unwrap_or("?");
    let olds = if old_ids.is_empty() {
        String::new()
    } else {
        format!(" of older versions {} and", old_ids.join(", "))
    };
    MigrationPlan::Ready {
        flow: Box::new(flow),
        description: format!(
            "move into backup version {id}, re-encrypted to its key, every session that your \
             keys open{olds} of entries of version {id} encrypted to an older key (those move \
             with the rest to a new version with the same key and signatures); read the \
             result back; then delete each older version whose every session is in it (a \
             version with entries no key opens is kept)"
        ),
        fixes,
    }
}
