//! From a diagnosis to a migration, and what the outcome says was kept.

use backup_cipher::{BackupDecryptionKey, KeysBackup, fixtures::synthetic_sessions};

use super::*;
use crate::doctor::{FindingCode, plan_repairs};

/// The plan from a diagnosis: the current key from what the user gave, the older key from
/// `--old-key-file`'s text; run, it empties and deletes the old version.
#[test]
fn plan_migration_finds_the_keys_and_its_flow_does_the_job() {
    let (old_rk, rk) = (
        recovery_key::RecoveryKey::generate().unwrap(),
        recovery_key::RecoveryKey::generate().unwrap(),
    );
    let (old_key, key) = (
        BackupDecryptionKey::from_recovery_key(&old_rk),
        BackupDecryptionKey::from_recovery_key(&rk),
    );
    let sessions = synthetic_sessions(4, 17);
    let mut server = Server::default();
    server.add(&old_key, body_of(&old_key, &sessions));
    server.add(&key, KeysBackup::default());
    let mut snapshot = crate::AccountSnapshot::new("@a:x");
    snapshot.version = Some(server.version("2"));
    snapshot.old_versions = vec![server.version("1")];
    let options = crate::DoctorOptions::default().entries(crate::EntryCheck::Skip);
    let input = rk.to_base58_grouped();
    let diagnosis = crate::diagnose(&snapshot, Some(input.as_str()), &options);
    assert!(diagnosis.has(FindingCode::OldBackupVersions));

    // The older key comes from its text alone: the current key does not open version 1.
    let old_text = old_rk.to_base58_grouped();
    let plan = plan_migration(&diagnosis, &input, None, &[old_text.as_str()]);
    let MigrationPlan::Ready { flow, fixes, .. } = plan else {
        panic!("not ready: {plan:?}")
    };
    assert_eq!(fixes, vec![FindingCode::OldBackupVersions]);
    let outcome = server.run(*flow);
    assert_eq!(outcome.old_versions["1"], OldVersionFate::Deleted);
    assert_eq!(opened(&key, server.body("2").unwrap()), expected(&sessions));

    // A key that opens nothing current: blocked, and says why.
    let other = recovery_key::RecoveryKey::generate()
        .unwrap()
        .to_base58_grouped();
    let diagnosis = crate::diagnose(&snapshot, Some(other.as_str()), &options);
    assert!(matches!(
        plan_migration(&diagnosis, &other, None, &[old_text.as_str()]),
        MigrationPlan::Blocked { .. }
    ));
}

/// An empty old version whose key the user does not have is kept (whose it is cannot be
/// told); with its key given, it is deleted.
#[test]
fn an_empty_old_version_is_deleted_only_with_its_key() {
    let (unknown, key) = (
        BackupDecryptionKey::generate().unwrap(),
        BackupDecryptionKey::generate().unwrap(),
    );
    let mut server = Server::default();
    server.add(&unknown, KeysBackup::default());
    server.add(&key, KeysBackup::default());

    let outcome = server.run(server.flow(&key, &[]));
    assert_eq!(outcome.old_versions["1"], OldVersionFate::KeptNoKey);
    assert!(server.body("1").is_some());

    let outcome = server.run(server.flow(&key, std::slice::from_ref(&unknown)));
    assert_eq!(outcome.old_versions["1"], OldVersionFate::Deleted);
    assert!(server.body("1").is_none());
}

/// Secret storage holds a stale backup key whose entries are in the current version (the
/// #2338 case), and the entries were not checked (so no finding names them). The plan
/// does not overwrite the stale key before the migration: storing the current key waits
/// in `after_migration`, the migration runs (the stale key is its older key), moves every
/// entry, and keeps nothing, which is when the stale key may go.
#[test]
fn a_stale_stored_key_is_replaced_only_after_the_migration_moved_what_it_opens() {
    let (stale_rk, rk) = (
        recovery_key::RecoveryKey::generate().unwrap(),
        recovery_key::RecoveryKey::generate().unwrap(),
    );
    let (stale, key) = (
        BackupDecryptionKey::from_recovery_key(&stale_rk),
        BackupDecryptionKey::from_recovery_key(&rk),
    );
    let mut store = ssss::SecretStore::default();
    let (sskey, _) = store.create_key(None, None).unwrap();
    store.set_backup_key(&sskey, &stale).unwrap();
    let sessions = synthetic_sessions(6, 29);
    let (good, bad) = sessions.split_at(2);
    let mut server = Server::default();
    server.add(&key, merge(body_of(&key, good), body_of(&stale, bad)));
    let mut snapshot = crate::AccountSnapshot::new("@a:x");
    snapshot.secret_storage = store;
    snapshot.version = Some(server.version("1"));
    let options = crate::DoctorOptions::default().entries(crate::EntryCheck::Skip);
    let input = sskey.to_recovery_key().to_base58_grouped();
    let own = rk.to_base58_grouped();
    let diagnosis = crate::diagnose(&snapshot, Some(input.as_str()), &options);
    assert!(diagnosis.has(FindingCode::BackupKeyStale), "{diagnosis:?}");

    let plan = plan_repairs(&diagnosis, &input, Some(own.as_str()));
    assert!(
        plan.repairs
            .iter()
            .all(|r| r.fixes != FindingCode::BackupKeyStale),
        "{plan:?}"
    );
    assert_eq!(plan.after_migration.len(), 1, "{plan:?}");
    assert_eq!(plan.after_migration[0].fixes, FindingCode::BackupKeyStale);

    let MigrationPlan::Ready { flow, .. } =
        plan_migration(&diagnosis, &input, Some(own.as_str()), &[])
    else {
        panic!("the migration is not planned")
    };
    let outcome = server.run(*flow);
    assert!(outcome.kept_nothing(), "{outcome:?}");
    assert_eq!(
        opened(&key, server.body(&outcome.current_version).unwrap()),
        expected(&sessions)
    );
}

/// A migration that kept a version, or could not re-encrypt a session, did not keep
/// nothing.
#[test]
fn kept_nothing_is_false_when_anything_was_kept() {
    let mut outcome = MigrationOutcome::default();
    assert!(outcome.kept_nothing());
    outcome
        .old_versions
        .insert("1".into(), OldVersionFate::Deleted);
    outcome
        .old_versions
        .insert("2".into(), OldVersionFate::Gone);
    assert!(outcome.kept_nothing());
    for kept in [
        OldVersionFate::KeptUnreadable { unreadable: 1 },
        OldVersionFate::KeptNoKey,
        OldVersionFate::KeptNotVerified { missing: 1 },
        OldVersionFate::KeptDeleteRefused { status: 500 },
    ] {
        let mut o = outcome.clone();
        o.old_versions.insert("3".into(), kept);
        assert!(!o.kept_nothing());
    }
    outcome.not_reencrypted = 1;
    assert!(!outcome.kept_nothing());
}
