//! Element's "Set up recovery" on every state Element and Element X leave an account in,
//! against the test Synapse, through the CLI's `setup` and through the library's flow
//! (`homeserver::Client::set_up_recovery`). Each state is made here by raw API calls
//! (the account data, keys and versions those clients leave), or by Element's own library
//! (`tools/element/element-client.mjs`, skipped without it except in CI):
//!
//! - a fresh account: everything is written, `m.key_backup` `{"enabled": true}` last;
//! - set up by Element: refused without a reset; reset with Element's Security Key keeps
//!   the identity and every session, and a fresh Element device trusts the result;
//! - Element X used without recovery: cross-signing keys whose private keys stayed on
//!   its devices and a backup whose key never left them, no secret storage;
//! - a backup without secret storage (an older client's recovery key only);
//! - secret storage without a backup.

mod common;
use std::path::{Path, PathBuf};

use common::{Account, demo_sessions, p, run, stderr, stdout, tmp};
use flows::{AccountSituation, SetupEvent, SetupOptions};
use homeserver::SetupObserver;
use serde_json::json;

impl Account {
    fn master_key(&self) -> Option<String> {
        self.client.master_key(&self.user).unwrap()
    }
    fn account_data(&self, event_type: &str) -> Option<serde_json::Value> {
        self.client.account_data(&self.user, event_type).unwrap()
    }
    fn version_exists(&self, version: &str) -> bool {
        match self.client.backup_version(Some(version)) {
            Ok(_) => true,
            Err(homeserver::ClientError::NoBackup)
            | Err(homeserver::ClientError::Matrix { status: 404, .. }) => false,
            Err(e) => panic!("{e}"),
        }
    }

    /// What Element X leaves when the user never set up recovery: it uploads
    /// cross-signing keys (confirmed with the password) and creates a backup signed by
    /// the master key, and keeps every private key on the device. Returns the version.
    fn as_element_x_without_recovery(&self) -> String {
        let keys = ssss::CrossSigningKeys::generate().unwrap();
        let upload = flows::requests::upload_cross_signing(keys.upload_body(&self.user).unwrap());
        let mut r = self.client.send_request(&upload).unwrap();
        if r.status == 401 {
            let again = flows::with_password(&upload, &r, &self.user, &self.password).unwrap();
            r = self.client.send_request(&again).unwrap();
        }
        assert_eq!(r.status, 200, "{:?}", r.body);
        let key = backup_cipher::BackupDecryptionKey::generate().unwrap();
        let mut version = backup_cipher::BackupVersion::new(key.public_key());
        keys.sign_backup(&mut version.auth_data, &self.user)
            .unwrap();
        self.client.create_backup_version(&version).unwrap()
    }

    /// A backup made with a recovery key only (no secret storage, no cross-signing), with
    /// the demo sessions in it. Returns the version and the backup's recovery key.
    fn with_backup_only(&self, dir: &Path) -> (String, PathBuf, String) {
        let mut seed = [0u8; 32];
        seed.iter_mut()
            .enumerate()
            .for_each(|(i, b)| *b = (i as u8).wrapping_mul(37).wrapping_add(11));
        let key = backup_cipher::BackupDecryptionKey::from_bytes(&seed);
        let version = self
            .client
            .create_backup_version(&backup_cipher::BackupVersion::new(key.public_key()))
            .unwrap();
        let recovery = recovery_key::RecoveryKey::from_bytes(&mut seed).to_base58_grouped();
        let key_file = dir.join("backup-recovery-key.txt");
        std::fs::write(&key_file, recovery.as_str()).unwrap();
        let (sessions, reference) = demo_sessions(dir);
        let o = run(
            &[
                &["upload", "--key-file", p(&key_file)][..],
                &self.auth(),
                &[p(&sessions)],
            ]
            .concat(),
            "",
        );
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        (version, key_file, reference)
    }

    /// Secret storage (a Security Key) without a backup or cross-signing keys. Returns
    /// the Security Key.
    fn with_secret_storage_only(&self) -> String {
        let mut store = ssss::SecretStore::default();
        let (key, events) = store.create_key(None, Some("Security Key")).unwrap();
        for (event_type, content) in events {
            self.client
                .set_account_data(&self.user, &event_type, &content)
                .unwrap();
        }
        key.to_recovery_key().to_base58_grouped().to_string()
    }
}

/// Records what the library's setup tells.
#[derive(Default)]
struct Events(Vec<SetupEvent>);

impl SetupObserver for Events {
    fn event(&mut self, event: &SetupEvent) {
        self.0.push(event.clone());
    }
}

/// `status` of the CLI: its stdout.
fn status(a: &Account) -> String {
    stdout(&run(&[&["status"][..], &a.auth()].concat(), ""))
}

#[test]
fn a_fresh_account_gets_m_key_backup_last_and_status_shows_it() {
    let dir = tmp("states-fresh");
    let Some(a) = Account::new(&dir) else { return };
    assert!(
        status(&a).contains("m.key_backup:       not set"),
        "{}",
        status(&a)
    );
    let mut events = Events::default();
    let outcome = a
        .client
        .set_up_recovery(SetupOptions::new(), None, &mut events)
        .unwrap();
    assert_eq!(outcome.situation, AccountSituation::Fresh);
    assert!(outcome.new_cross_signing && outcome.old_version_kept.is_none());
    assert_eq!(
        a.account_data("m.key_backup"),
        Some(json!({"enabled": true}))
    );
    assert_eq!(a.master_key().as_deref(), Some(outcome.master_key.as_str()));
    // Written after the default-key pointer, read back and checked.
    let order: Vec<String> = events.0.iter().map(|e| format!("{e:?}")).collect();
    let enabled = order.iter().position(|e| e == "KeyBackupEnabled").unwrap();
    let verified = order
        .iter()
        .position(|e| e.starts_with("Verified"))
        .unwrap();
    assert!(enabled < verified, "{order:?}");
    let text = status(&a);
    assert!(
        text.contains("m.key_backup:       enabled") && text.contains("recovery is set up"),
        "{text}"
    );
    // The CLI on the same account: refused, the state named.
    let o = run(&[&["setup"][..], &a.auth()].concat(), "");
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("already set up") && stderr(&o).contains("hint: use --reset"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn element_x_without_recovery_is_named_and_nothing_is_left_behind_unsaid() {
    let dir = tmp("states-element-x");
    let Some(a) = Account::new(&dir) else { return };
    let old = a.as_element_x_without_recovery();
    let master = a.master_key().unwrap();
    assert!(
        status(&a).contains("used by Element X without recovery"),
        "{}",
        status(&a)
    );

    // Without a choice, and with a reset alone: refused, the state and each choice's
    // cost said, nothing changed.
    for extra in [&[][..], &["--reset"][..]] {
        let o = run(&[&["setup"][..], extra, &a.with_password()].concat(), "");
        assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
        let text = stderr(&o);
        for said in [
            "was used by Element X without recovery",
            "\"Set up recovery\" in Element X on a device that holds the keys",
            "costs the identity",
            "your own verified devices",
            &format!("backup version {old}"),
            "stays on the server",
            "hint: to replace the identity here: --replace-cross-signing",
            "--delete-old-version",
        ] {
            assert!(text.contains(said), "{said}: {text}");
        }
        assert!(!text.contains("already set up"), "{text}");
        assert_eq!(a.master_key().as_deref(), Some(master.as_str()));
        assert!(a.account_data("m.secret_storage.default_key").is_none());
    }

    // Replacing the identity, explicitly: done, and the old version is kept and said so.
    let o = run(
        &[
            &["setup", "--replace-cross-signing"][..],
            &a.with_password(),
        ]
        .concat(),
        "",
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = stderr(&o);
    assert!(
        text.contains("replacing the cross-signing keys")
            && text.contains(&format!("version {old} is kept on the server")),
        "{text}"
    );
    assert_ne!(a.master_key().as_deref(), Some(master.as_str()));
    assert!(a.version_exists(&old), "the old version is kept");
    let current = a.client.backup_version(None).unwrap().version.unwrap();
    assert_ne!(current, old);
    assert_eq!(
        a.account_data("m.key_backup"),
        Some(json!({"enabled": true}))
    );
}

#[test]
fn element_x_through_the_flow_deletes_the_old_version_only_when_chosen() {
    let dir = tmp("states-element-x-flow");
    let Some(a) = Account::new(&dir) else { return };
    let old = a.as_element_x_without_recovery();
    // Refused without the choice; the password alone is not a choice.
    let e = a
        .client
        .set_up_recovery(SetupOptions::new(), Some(&a.password), &mut ())
        .unwrap_err();
    assert!(
        matches!(
            &e,
            homeserver::SetupRunError::Setup(flows::SetupFlowError::Refused(
                flows::PlanError::KeysOnOtherDevices { version: Some(v), .. }
            )) if *v == old
        ),
        "{e}"
    );
    // Replacing without the password: refused before anything changes.
    let e = a
        .client
        .set_up_recovery(
            SetupOptions::new().replace_cross_signing(true),
            None,
            &mut (),
        )
        .unwrap_err();
    assert!(e.to_string().contains("needs your account password"), "{e}");
    assert!(a.version_exists(&old));

    let mut events = Events::default();
    let outcome = a
        .client
        .set_up_recovery(
            SetupOptions::new()
                .replace_cross_signing(true)
                .delete_unreadable_old_version(true),
            Some(&a.password),
            &mut events,
        )
        .unwrap();
    assert!(matches!(
        outcome.situation,
        AccountSituation::KeysOnOtherDevices { .. }
    ));
    assert_eq!(outcome.old_version_deleted.as_deref(), Some(old.as_str()));
    assert!(outcome.new_cross_signing);
    assert!(
        events.0.contains(&SetupEvent::OldVersionDeleted {
            version: old.clone(),
            carried_over: false
        }),
        "{:?}",
        events.0
    );
    assert!(!a.version_exists(&old));
}

#[test]
fn a_backup_without_secret_storage_is_carried_over_with_its_recovery_key() {
    let dir = tmp("states-backup-only");
    let Some(a) = Account::new(&dir) else { return };
    let (old, key_file, reference) = a.with_backup_only(&dir);
    let o = run(&[&["setup"][..], &a.auth()].concat(), "");
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains(&format!("key backup version {old} but no secret storage"))
            && stderr(&o).contains("--old-key-file"),
        "{}",
        stderr(&o)
    );

    let old_key = std::fs::read_to_string(&key_file).unwrap();
    let mut events = Events::default();
    let outcome = a
        .client
        .set_up_recovery(SetupOptions::new().reset(Some(&old_key)), None, &mut events)
        .unwrap();
    assert_eq!(
        outcome.situation,
        AccountSituation::BackupWithoutSecretStorage {
            version: old.clone()
        }
    );
    assert_eq!(outcome.carried_over, 1000);
    assert_eq!(outcome.old_version_deleted.as_deref(), Some(old.as_str()));
    assert!(
        events
            .0
            .iter()
            .any(|e| matches!(e, SetupEvent::CarryingOver { sessions: 1000, .. }))
    );
    assert!(!a.version_exists(&old));
    // A fresh client with only the new Security Key restores every session.
    let o = run(
        &[&["restore", "--secret-storage"][..], &a.auth()].concat(),
        &outcome.security_key,
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o), reference);
}

#[test]
fn a_backup_without_its_key_is_kept_unless_the_cli_is_told_to_delete_it() {
    for delete in [false, true] {
        let dir = tmp(if delete {
            "states-delete"
        } else {
            "states-keep"
        });
        let Some(a) = Account::new(&dir) else { return };
        let (old, _, _) = a.with_backup_only(&dir);
        let flags: &[&str] = if delete {
            &["setup", "--reset", "--delete-old-version"]
        } else {
            &["setup", "--reset"]
        };
        let o = run(&[flags, &a.auth()].concat(), "");
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        let said = if delete {
            format!("deleted the old backup version {old} unread, as chosen")
        } else {
            format!("version {old} is kept on the server")
        };
        assert!(stderr(&o).contains(&said), "{}", stderr(&o));
        assert_eq!(a.version_exists(&old), !delete);
    }
}

#[test]
fn secret_storage_without_a_backup_is_named_and_reset_with_its_key() {
    let dir = tmp("states-ssss-only");
    let Some(a) = Account::new(&dir) else { return };
    let old_key = a.with_secret_storage_only();
    let o = run(&[&["setup"][..], &a.auth()].concat(), "");
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("has secret storage") && stderr(&o).contains("but no key backup"),
        "{}",
        stderr(&o)
    );
    let old = dir.join("old.txt");
    std::fs::write(&old, &old_key).unwrap();
    let o = run(
        &[
            &["setup", "--reset", "--old-key-file", p(&old)][..],
            &a.auth(),
        ]
        .concat(),
        "",
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stderr(&o).contains("verified"), "{}", stderr(&o));
    assert_eq!(
        a.account_data("m.key_backup"),
        Some(json!({"enabled": true}))
    );
    assert!(status(&a).contains("recovery is set up"));
}

#[test]
fn set_up_by_element_then_reset_with_its_security_key_keeps_identity_and_sessions() {
    let dir = tmp("states-element");
    let Some(a) = Account::new(&dir) else { return };
    if !common::element_installed() {
        return;
    }
    let made = a.element("setup", &["--rooms", "2", "--messages", "2"]);
    let element_key = made["security_key"].as_str().unwrap().to_owned();
    let old = made["backup_version"].as_str().unwrap().to_owned();
    let sessions = made["exported"].as_array().unwrap().len() as u64;
    let master = a.master_key().unwrap();

    // The CLI names the state and refuses without a reset.
    assert!(status(&a).contains("recovery is set up"), "{}", status(&a));
    let o = run(&[&["setup"][..], &a.auth()].concat(), "");
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("already set up"), "{}", stderr(&o));

    // The flow's reset with Element's Security Key: same identity, every session copied.
    let mut events = Events::default();
    let outcome = a
        .client
        .set_up_recovery(
            SetupOptions::new().reset(Some(&element_key)),
            None,
            &mut events,
        )
        .unwrap();
    assert!(matches!(outcome.situation, AccountSituation::SetUp { .. }));
    assert!(!outcome.new_cross_signing);
    assert_eq!(outcome.master_key, master);
    assert_eq!(a.master_key().as_deref(), Some(master.as_str()));
    assert_eq!(outcome.carried_over, sessions);
    assert_eq!(outcome.old_version_deleted.as_deref(), Some(old.as_str()));
    assert!(!a.version_exists(&old));

    // A fresh Element device with only the new Security Key: ready, trusted, every
    // message decrypted.
    let key_file = dir.join("new-key.txt");
    std::fs::write(&key_file, outcome.security_key.as_str()).unwrap();
    let expect = dir.join("element-setup.json");
    let report = a.element(
        "recover",
        &["--security-key-file", p(&key_file), "--expect", p(&expect)],
    );
    assert_eq!(report["cross_signing_ready"], true, "{report}");
    assert_eq!(report["secret_storage_ready"], true, "{report}");
    assert_eq!(report["trust"]["trusted"], true, "{report}");
    let decrypted = report["decrypted"].as_array().unwrap();
    assert_eq!(decrypted.len(), 4, "{report}");
    assert!(decrypted.iter().all(|m| m["ok"] == true), "{report}");
}
