//! `doctor` on accounts Element's own library (matrix-js-sdk with its Rust crypto, through
//! `tools/element/element-client.mjs`) made and broke on the test Synapse: a healthy
//! Element account is healthy, and each state Element can leave an account in is named.
//! Without Node, Element's packages or Synapse these tests say so and skip — except with
//! `CI` set, where they fail.

mod common;
use common::{Account, p, run, stderr, stdout};
use serde_json::Value;

/// The exit status of `doctor` when it found a problem.
const UNHEALTHY: i32 = 6;

impl Account {
    /// `doctor` with the access token and `key` (the Security Key or Phrase) on stdin.
    fn doctor(&self, key: &str) -> (Option<i32>, String) {
        self.doctor_with(key, &[])
    }

    fn doctor_with(&self, key: &str, extra: &[&str]) -> (Option<i32>, String) {
        let o = run(
            &[
                &[
                    "doctor",
                    "--key-stdin",
                    "--homeserver",
                    &self.url,
                    "--access-token-file",
                    p(&self.token),
                ][..],
                extra,
            ]
            .concat(),
            key,
        );
        assert!(
            matches!(o.status.code(), Some(0) | Some(UNHEALTHY)),
            "{}",
            stderr(&o)
        );
        (o.status.code(), stdout(&o))
    }
}

/// The finding codes `doctor` printed, each `[code]`, in order.
fn codes(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| {
            let start = l.rfind('[')?;
            l.ends_with(']')
                .then(|| l[start + 1..l.len() - 1].to_owned())
        })
        .collect()
}

#[test]
fn an_element_account_is_healthy_until_an_unverified_device_resets_key_storage() {
    let Some(a) = Account::for_element("reset") else {
        return;
    };
    let made = a.element("setup", &["--rooms", "1", "--messages", "2"]);
    let key = made["security_key"].as_str().unwrap().to_owned();

    // What Element set up is healthy: exit 0, no problem.
    let (status, text) = a.doctor(&key);
    assert_eq!(status, Some(0), "{text}");
    assert!(
        text.contains("healthy") && !text.contains("PROBLEM"),
        "{text}"
    );
    assert!(text.contains("0 failed"), "{text}");

    // A new Element device, never verified, resets key storage and its user cancels the
    // secret-storage prompt: matrix-js-sdk deletes version 1, makes version 2 signed by
    // that device alone, and cannot store the new key.
    let reset = a.element("reset-backup-unverified", &[]);
    assert!(reset["store_error"].is_string(), "{reset}");
    let device = reset["device_id"].as_str().unwrap();
    let version = reset["backup_version"].as_str().unwrap();

    let (status, text) = a.doctor(&key);
    assert_eq!(status, Some(UNHEALTHY), "{text}");
    let found = codes(&text);
    for code in [
        "backup_key_stale",
        "backup_made_by_device",
        "backup_not_signed_by_master_key",
        "devices_not_cross_signed",
    ] {
        assert!(found.iter().any(|c| c == code), "{code} missing: {text}");
    }
    // Element deleted the old version: nothing is left to name.
    assert!(!found.iter().any(|c| c == "old_backup_versions"), "{text}");
    assert!(
        text.contains(&format!(
            "backup version {version} was made (signed) by device {device}"
        )),
        "{text}"
    );
    assert!(
        text.contains("\"Key storage out of sync\"")
            && text.contains("\"This backup is not trusted\""),
        "{text}"
    );
}

/// A backup reset by a client that neither stored the new key nor signed the version with
/// the master key; `doctor --fix --yes` with the new backup's own key repairs it, and a
/// fresh Element device that has only the Security Key then finds secret storage and
/// cross-signing ready, trusts the backup, and its key opens it.
#[test]
fn doctor_fix_makes_element_trust_the_backup_again() {
    let Some(a) = Account::for_element("fix") else {
        return;
    };
    let made = a.element("setup", &["--rooms", "1", "--messages", "1"]);
    let key = made["security_key"].as_str().unwrap().to_owned();
    let key_file = a.dir.join("security-key.txt");
    std::fs::write(&key_file, &key).unwrap();

    let client =
        homeserver::Client::new(&a.url, &std::fs::read_to_string(&a.token).unwrap()).unwrap();
    let new_key = recovery_key::RecoveryKey::generate().unwrap();
    let backup_key = backup_cipher::BackupDecryptionKey::from_recovery_key(&new_key);
    let v2 = client
        .create_backup_version(&backup_cipher::BackupVersion::new(backup_key.public_key()))
        .unwrap();
    let backup_key_file = a.dir.join("backup-key.txt");
    std::fs::write(&backup_key_file, new_key.to_base58_grouped().as_str()).unwrap();

    let (status, text) = a.doctor(&key);
    assert_eq!(status, Some(UNHEALTHY), "{text}");
    let (status, text) = a.doctor_with(
        &key,
        &["--fix", "--yes", "--backup-key-file", p(&backup_key_file)],
    );
    assert!(text.contains("repair plan:"), "{text}");
    let after = text.split("after the repairs:").nth(1).expect(&text);
    assert_eq!(status, Some(0), "{text}");
    for code in [
        "backup_key_stale",
        "backup_not_signed_by_master_key",
        "key_backup_event_missing",
    ] {
        assert!(!after.contains(code), "{code} after --fix:\n{text}");
    }
    assert!(after.contains(&format!("backup version {v2}")), "{text}");

    // Element's own library, on a fresh device with only the Security Key.
    let seen = a.element("recover", &["--security-key-file", p(&key_file)]);
    assert_eq!(seen["secret_storage_ready"], true, "{seen}");
    assert_eq!(seen["cross_signing_ready"], true, "{seen}");
    assert_eq!(seen["backup_version"], v2.as_str(), "{seen}");
    assert_eq!(seen["trust"]["trusted"], true, "{seen}");
    assert_eq!(seen["trust"]["matchesDecryptionKey"], true, "{seen}");
}

/// Element set up with a Security Phrase: the phrase is what the user has, and the account
/// is healthy; a phrase with one letter changed is "Your recovery key is incorrect".
#[test]
fn an_element_account_set_up_with_a_phrase_is_healthy_with_that_phrase() {
    let Some(a) = Account::for_element("phrase") else {
        return;
    };
    let phrase = "correct horse battery staple, doctor's orders";
    a.element(
        "setup",
        &["--passphrase", phrase, "--rooms", "1", "--messages", "1"],
    );
    let (status, text) = a.doctor(phrase);
    assert_eq!(status, Some(0), "{text}");
    assert!(
        text.contains("healthy") && !text.contains("PROBLEM"),
        "{text}"
    );
    let (status, text) = a.doctor(&phrase.replace("horse", "horsE"));
    assert_eq!(status, Some(UNHEALTHY), "{text}");
    assert!(
        codes(&text).iter().any(|c| c == "recovery_key_incorrect"),
        "{text}"
    );
}

/// What a fresh Element device that has only the Security Key sees after a repair: secret
/// storage and cross-signing ready, `version` current and trusted, every session of the
/// backup restored and every message Element sent at setup (`made`, its report) decrypted.
fn assert_element_restores_everything(a: &Account, key_file: &std::path::Path, version: &str) {
    let made_file = a.dir.join("element-setup.json");
    let made: Value = serde_json::from_str(&std::fs::read_to_string(&made_file).unwrap()).unwrap();
    let seen = a.element(
        "recover",
        &[
            "--security-key-file",
            p(key_file),
            "--expect",
            p(&made_file),
        ],
    );
    assert_eq!(seen["secret_storage_ready"], true, "{seen}");
    assert_eq!(seen["cross_signing_ready"], true, "{seen}");
    assert_eq!(seen["backup_version"], version, "{seen}");
    assert_eq!(seen["trust"]["trusted"], true, "{seen}");
    assert_eq!(seen["trust"]["matchesDecryptionKey"], true, "{seen}");
    let sessions = made["exported"].as_array().unwrap().len();
    assert_eq!(seen["restored"]["total"], sessions, "{seen}");
    assert_eq!(seen["restored"]["imported"], sessions, "{seen}");
    let decrypted = seen["decrypted"].as_array().unwrap();
    assert_eq!(decrypted.len(), made["messages"].as_array().unwrap().len());
    assert!(decrypted.iter().all(|d| d["ok"] == true), "{seen}");
}

/// The sessions Element exported at setup, as room keys, for one room or all.
fn exported_sessions(a: &Account, room: Option<&str>) -> Vec<backup_cipher::RoomKey> {
    let made: Value =
        serde_json::from_str(&std::fs::read_to_string(a.dir.join("element-setup.json")).unwrap())
            .unwrap();
    made["exported"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| room.is_none_or(|r| s["room_id"] == r))
        .map(|s| serde_json::from_value(s.clone()).unwrap())
        .collect()
}

fn client_of(a: &Account) -> homeserver::Client {
    homeserver::Client::new(&a.url, &std::fs::read_to_string(&a.token).unwrap()).unwrap()
}

/// element-meta #2338: a client backed up one room's keys with another backup key into
/// Element's backup version (made here by deleting that room's entries and uploading them
/// again encrypted to the other key). `doctor --fix --yes --old-key-file` with that key
/// moves every session to a version with the same key and signatures, deletes the broken
/// version only after reading the new one back, and Element restores every session.
#[test]
fn doctor_fix_re_encrypts_entries_of_an_older_key_and_element_restores_them() {
    let Some(a) = Account::for_element("fixold") else {
        return;
    };
    let made = a.element("setup", &["--rooms", "2", "--messages", "2"]);
    let key = made["security_key"].as_str().unwrap().to_owned();
    let key_file = a.dir.join("security-key.txt");
    std::fs::write(&key_file, &key).unwrap();
    let v1 = made["backup_version"].as_str().unwrap().to_owned();
    let room = made["messages"][0]["room_id"].as_str().unwrap().to_owned();

    let client = client_of(&a);
    let old = recovery_key::RecoveryKey::generate().unwrap();
    let old_key = backup_cipher::BackupDecryptionKey::from_recovery_key(&old);
    let old_key_file = a.dir.join("old-backup-key.txt");
    std::fs::write(&old_key_file, old.to_base58_grouped().as_str()).unwrap();
    let path = format!(
        "/_matrix/client/v3/room_keys/keys/{}?version={v1}",
        room.replace('!', "%21").replace(':', "%3A")
    );
    let deleted = client
        .send_request(&flows::Request::new(flows::Method::Delete, path, None))
        .unwrap();
    assert_eq!(deleted.status, 200, "{:?}", deleted.body);
    let sessions = exported_sessions(&a, Some(&room));
    assert!(!sessions.is_empty());
    let (body, errors) = backup_cipher::encrypt_sessions(old_key.public_key(), &sessions);
    assert!(errors.is_empty());
    client.put_room_keys(&v1, &body).unwrap();

    let (status, text) = a.doctor_with(&key, &["--all-entries"]);
    assert_eq!(status, Some(UNHEALTHY), "{text}");
    assert!(
        codes(&text).iter().any(|c| c == "entries_for_another_key"),
        "{text}"
    );

    let (status, text) = a.doctor_with(
        &key,
        &[
            "--all-entries",
            "--fix",
            "--yes",
            "--old-key-file",
            p(&old_key_file),
        ],
    );
    assert_eq!(status, Some(0), "{text}");
    let v2 = client.backup_version(None).unwrap().version.unwrap();
    assert_ne!(v2, v1);
    assert!(
        text.contains(&format!(
            "version {v1}: every session is in version {v2}: deleted"
        )),
        "{text}"
    );
    let after = text.split("after the repairs:").nth(1).expect(&text);
    assert!(!after.contains("entries_for_another_key"), "{text}");
    assert!(
        client.backup_version(Some(&v1)).is_err(),
        "{v1} still there"
    );

    assert_element_restores_everything(&a, &key_file, &v2);
    let (status, text) = a.doctor_with(&key, &["--all-entries"]);
    assert_eq!(status, Some(0), "{text}");
}

/// A reset by another client left Element's version (its key still in secret storage) on
/// the server, and a new version that holds only one room's keys. `doctor --fix --yes`
/// with the new backup's key stores it, signs the new version, moves the other room's
/// sessions from the old version (opened by the stale key in secret storage), reads them
/// back, and only then deletes the old version; Element restores every session.
#[test]
fn doctor_fix_moves_an_old_versions_sessions_then_deletes_it() {
    let Some(a) = Account::for_element("fixmove") else {
        return;
    };
    let made = a.element("setup", &["--rooms", "2", "--messages", "2"]);
    let key = made["security_key"].as_str().unwrap().to_owned();
    let key_file = a.dir.join("security-key.txt");
    std::fs::write(&key_file, &key).unwrap();
    let v1 = made["backup_version"].as_str().unwrap().to_owned();
    let room = made["messages"][0]["room_id"].as_str().unwrap().to_owned();

    let client = client_of(&a);
    let new = recovery_key::RecoveryKey::generate().unwrap();
    let new_key = backup_cipher::BackupDecryptionKey::from_recovery_key(&new);
    let v2 = client
        .create_backup_version(&backup_cipher::BackupVersion::new(new_key.public_key()))
        .unwrap();
    let (body, errors) =
        backup_cipher::encrypt_sessions(new_key.public_key(), &exported_sessions(&a, Some(&room)));
    assert!(errors.is_empty());
    client.put_room_keys(&v2, &body).unwrap();
    let backup_key_file = a.dir.join("backup-key.txt");
    std::fs::write(&backup_key_file, new.to_base58_grouped().as_str()).unwrap();

    let (status, text) = a.doctor(&key);
    assert_eq!(status, Some(UNHEALTHY), "{text}");
    assert!(
        codes(&text).iter().any(|c| c == "old_backup_versions"),
        "{text}"
    );

    let (status, text) = a.doctor_with(
        &key,
        &["--fix", "--yes", "--backup-key-file", p(&backup_key_file)],
    );
    assert_eq!(status, Some(0), "{text}");
    assert!(
        text.contains(&format!(
            "version {v1}: every session is in version {v2}: deleted"
        )),
        "{text}"
    );
    assert!(
        client.backup_version(Some(&v1)).is_err(),
        "{v1} still there"
    );
    let all = exported_sessions(&a, None).len();
    assert_eq!(
        client.backup_version(None).unwrap().count,
        Some(all as u64),
        "every session in {v2}"
    );

    assert_element_restores_everything(&a, &key_file, &v2);
    let (status, text) = a.doctor(&key);
    assert_eq!(status, Some(0), "{text}");
}
