//! `doctor` against a real Synapse: each broken state made here by raw API calls (the
//! ones Element's library cannot be asked to make: element_doctor.rs has those), then
//! named by the doctor with exit status 6; a healthy account exits 0.

mod common;
use std::path::PathBuf;

use backup_cipher::{BackupDecryptionKey, BackupVersion, KeysBackup};
use common::{Account, p, run, stderr, stdout, tmp};
use serde_json::{Value, json};

/// The exit status of `doctor` when it found a problem.
const UNHEALTHY: i32 = 6;

impl Account {
    /// `setup` with a generated Security Key; returns the key's file.
    fn setup(&self) -> PathBuf {
        let key = self.dir.join("security-key.txt");
        let o = run(
            &[&["setup", "--key-out", p(&key)][..], &self.auth()].concat(),
            "",
        );
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        key
    }

    /// `doctor --key-file KEY EXTRA…` with the token: (exit status, stdout).
    fn doctor(&self, key: &str, extra: &[&str]) -> (Option<i32>, String) {
        let o = run(
            &[&["doctor", "--key-file", key][..], extra, &self.auth()].concat(),
            "",
        );
        assert!(
            matches!(o.status.code(), Some(0) | Some(UNHEALTHY)),
            "{}",
            stderr(&o)
        );
        (o.status.code(), stdout(&o))
    }

    fn set(&self, event_type: &str, content: Value) {
        self.client
            .set_account_data(&self.user, event_type, &content)
            .unwrap();
    }
}

/// The finding codes printed, each `[code]` at the end of its heading line.
fn codes(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| {
            let start = l.rfind('[')?;
            l.ends_with(']')
                .then(|| l[start + 1..l.len() - 1].to_owned())
        })
        .collect()
}

fn assert_named(status: Option<i32>, text: &str, expected: &[&str]) {
    assert_eq!(status, Some(UNHEALTHY), "{text}");
    let found = codes(text);
    for code in expected {
        assert!(found.iter().any(|c| c == code), "{code} missing:\n{text}");
    }
}

fn demo_body() -> KeysBackup {
    serde_json::from_str(&std::fs::read_to_string(common::repo().join("demo/backup.json")).unwrap())
        .unwrap()
}

#[test]
fn an_account_with_nothing_set_up() {
    let Some(a) = Account::new(&tmp("nothing")) else {
        return;
    };
    let (status, text) = a.doctor("demo/recovery-key.txt", &[]);
    assert_named(
        status,
        &text,
        &[
            "secret_storage_not_set_up",
            "no_backup",
            "cross_signing_not_set_up",
        ],
    );
    assert!(text.contains("\"Set up recovery\""), "{text}");
}

#[test]
fn setup_is_healthy_and_another_key_is_incorrect() {
    let Some(a) = Account::new(&tmp("healthy")) else {
        return;
    };
    let key = a.setup();
    let (status, text) = a.doctor(p(&key), &[]);
    assert_eq!(status, Some(0), "{text}");
    assert!(
        !text.contains("PROBLEM") && text.contains("healthy"),
        "{text}"
    );
    // Not even advice: setup writes m.key_backup too.
    assert!(codes(&text).is_empty(), "{text}");

    // Another account's key (the demo backup's).
    let (status, text) = a.doctor("demo/recovery-key.txt", &[]);
    assert_named(status, &text, &["recovery_key_incorrect"]);
    assert!(
        text.contains("\"Your recovery key is incorrect\""),
        "{text}"
    );

    // With m.key_backup enabled nothing is left to say; disabled is a problem.
    a.set("m.key_backup", json!({"enabled": true}));
    let (status, text) = a.doctor(p(&key), &[]);
    assert_eq!((status, codes(&text).len()), (Some(0), 0), "{text}");
    a.set("m.key_backup", json!({"enabled": false}));
    let (status, text) = a.doctor(p(&key), &[]);
    assert_named(status, &text, &["key_backup_disabled"]);
}

#[test]
fn default_key_pointing_at_a_missing_description() {
    let Some(a) = Account::new(&tmp("pointer")) else {
        return;
    };
    let key = a.setup();
    a.set("m.secret_storage.default_key", json!({"key": "gone"}));
    let (status, text) = a.doctor(p(&key), &[]);
    assert_named(status, &text, &["default_key_description_missing"]);
    assert!(text.contains("\"gone\""), "{text}");
}

#[test]
fn backup_key_missing_from_secret_storage() {
    let Some(a) = Account::new(&tmp("missing")) else {
        return;
    };
    let key = a.setup();
    a.set("m.megolm_backup.v1", json!({"encrypted": {}}));
    let (status, text) = a.doctor(p(&key), &[]);
    assert_named(status, &text, &["backup_key_not_stored"]);
}

#[test]
fn a_new_version_made_without_secret_storage_leaves_the_stored_key_stale() {
    let Some(a) = Account::new(&tmp("stale")) else {
        return;
    };
    let key = a.setup();
    let new_key = BackupDecryptionKey::generate().unwrap();
    let v2 = a
        .client
        .create_backup_version(&BackupVersion::new(new_key.public_key()))
        .unwrap();
    let (status, text) = a.doctor(p(&key), &[]);
    assert_named(
        status,
        &text,
        &[
            "backup_key_stale",
            "backup_not_signed_by_master_key",
            "old_backup_versions",
        ],
    );
    assert!(text.contains(&format!("backup version {v2}")), "{text}");
    assert!(
        text.contains("it opens version 1 (still on the server)"),
        "{text}"
    );
}

#[test]
fn a_backup_signed_by_a_master_key_no_longer_published() {
    let Some(a) = Account::new(&tmp("oldmaster")) else {
        return;
    };
    let key = a.setup();
    let mut info = a.client.backup_version(None).unwrap();
    let id = info.version.clone().unwrap();
    // The version as a cross-signing reset leaves it: signed by the previous master key.
    let old_master = ed25519_dalek::SigningKey::from_bytes(&[7u8; 32]);
    let old_public = recovery_key::encode_base64(old_master.verifying_key().as_bytes());
    info.auth_data.signatures.clear();
    backup_cipher::sign_auth_data(
        &mut info.auth_data,
        &a.user,
        &format!("ed25519:{old_public}"),
        &old_master,
    )
    .unwrap();
    a.client.update_backup_version(&id, &info).unwrap();
    let (status, text) = a.doctor(p(&key), &[]);
    assert_named(status, &text, &["backup_signed_by_old_master_key"]);
    assert!(text.contains(&old_public), "{text}");
    assert!(text.contains("\"This backup is not trusted\""), "{text}");
}

#[test]
fn cross_signing_keys_missing_or_not_the_published_ones() {
    let Some(a) = Account::new(&tmp("xsign")) else {
        return;
    };
    let key = a.setup();
    a.set("m.cross_signing.user_signing", json!({"encrypted": {}}));
    // The self-signing secret replaced by another seed, under the same secret-storage key.
    let text_key = std::fs::read_to_string(&key).unwrap();
    let rk = recovery_key::RecoveryKey::from_base58(text_key.trim()).unwrap();
    let key_id = a
        .client
        .account_data(&a.user, "m.secret_storage.default_key")
        .unwrap()
        .unwrap()["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let sk = ssss::SecretStorageKey::from_recovery_key(&rk, key_id);
    let (name, content) = ssss::SecretStore::default()
        .set_secret(
            &sk,
            "m.cross_signing.self_signing",
            &recovery_key::encode_base64(&[9u8; 32]),
        )
        .unwrap();
    a.set(&name, content);
    let (status, text) = a.doctor(p(&key), &[]);
    assert_named(
        status,
        &text,
        &[
            "cross_signing_keys_not_stored",
            "cross_signing_keys_mismatch",
        ],
    );
    assert!(text.contains("m.cross_signing.user_signing"), "{text}");
}

#[test]
fn entries_encrypted_to_another_key_are_counted() {
    let Some(a) = Account::new(&tmp("otherkey")) else {
        return;
    };
    let key = a.setup();
    let version = a.client.backup_version(None).unwrap().version.unwrap();
    // element-meta #2338: a client uploads with another backup key (here the demo's).
    a.client.put_room_keys(&version, &demo_body()).unwrap();
    let (status, text) = a.doctor(p(&key), &[]);
    assert_named(status, &text, &["entries_for_another_key"]);
    assert!(
        text.contains("200 of 200 entries checked (of 1000)"),
        "{text}"
    );
    let (_, text) = a.doctor(p(&key), &["--all-entries"]);
    assert!(
        text.contains("1000 of 1000 entries are encrypted to another key"),
        "{text}"
    );
}

#[test]
fn damaged_and_malformed_entries_are_told_apart() {
    let Some(a) = Account::new(&tmp("damaged")) else {
        return;
    };
    let info: BackupVersion = serde_json::from_str(
        &std::fs::read_to_string(common::repo().join("demo/backup-info.json")).unwrap(),
    )
    .unwrap();
    let version = a.client.create_backup_version(&info).unwrap();
    let mut body = demo_body();
    let mut entries = body
        .rooms
        .values_mut()
        .flat_map(|r| r.sessions.values_mut());
    // The last ciphertext byte flipped: the MAC (of the empty string, by the algorithm's
    // compatibility wart) still passes, the padding does not.
    let padded = entries.next().unwrap();
    let mut ct = recovery_key::decode_base64_public(&padded.session_data.ciphertext).unwrap();
    *ct.last_mut().unwrap() ^= 0x5a;
    padded.session_data.ciphertext = recovery_key::encode_base64(&ct);
    // An ephemeral key that is not one.
    entries.next().unwrap().session_data.ephemeral = "AAAA".into();
    drop(entries);
    a.client.put_room_keys(&version, &body).unwrap();
    let (status, text) = a.doctor("demo/recovery-key.txt", &["--all-entries"]);
    assert_named(status, &text, &["entries_bad_padding", "entries_malformed"]);
    assert!(text.contains("1000 checked of 1000, 2 failed"), "{text}");
    assert!(
        !codes(&text).iter().any(|c| c == "entries_for_another_key"),
        "{text}"
    );
}

#[test]
fn a_login_this_tool_kept_is_named_and_fix_logs_it_out() {
    let Some(a) = Account::new(&tmp("logins")) else {
        return;
    };
    let key = a.setup();
    let user = a.user.clone();
    let by_password = |cmd: &[&str]| {
        run(
            &[
                cmd,
                &[
                    "--homeserver",
                    &a.url,
                    "--user",
                    &user,
                    "--password-file",
                    p(&a.password_file),
                ][..],
            ]
            .concat(),
            "",
        )
    };
    // The test's own token is a login of this tool too: end it first.
    a.client.logout().unwrap();
    // The doctor's own login (with --user) is not a login left behind.
    let o = by_password(&["doctor", "--key-file", p(&key)]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    let o = by_password(&["status", "--keep-login"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let kept = stderr(&o)
        .split("device ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .unwrap()
        .to_owned();
    let o = by_password(&["doctor", "--key-file", p(&key)]);
    let text = stdout(&o);
    assert_named(o.status.code(), &text, &["tool_logins_left"]);
    assert!(
        text.contains(&format!("\"megolm-backup\": {kept}")),
        "{text}"
    );

    // --fix logs it out, answering the server's password question.
    let o = by_password(&["doctor", "--key-file", p(&key), "--fix", "--yes"]);
    let text = stdout(&o);
    assert!(text.contains("log out this tool's logins"), "{text}");
    let after = text.split("after the repairs:").nth(1).expect(&text);
    assert!(
        !after.contains("tool_logins_left"),
        "{text}\n{}",
        stderr(&o)
    );
    let password = std::fs::read_to_string(&a.password_file).unwrap();
    let (check, _) = homeserver::Client::login_password(&a.url, &user, &password).unwrap();
    let devices = homeserver::testing::devices(&a.url, check.access_token());
    assert!(devices.iter().all(|(id, _)| *id != kept), "{devices:?}");
    check.logout().unwrap();
}

/// An older version whose entries no key given opens is kept and named by `--fix`; given
/// its key (`--old-key-file`), the next run moves its sessions into the current version,
/// reads them back and deletes it.
#[test]
fn fix_keeps_an_old_version_it_cannot_read_until_its_key_is_given() {
    let Some(a) = Account::new(&tmp("keepold")) else {
        return;
    };
    let key = a.setup();
    let v1 = a.client.backup_version(None).unwrap().version.unwrap();
    // Entries of another key (the demo's) in the version that becomes the old one.
    a.client.put_room_keys(&v1, &demo_body()).unwrap();
    let new = recovery_key::RecoveryKey::generate().unwrap();
    let new_key = BackupDecryptionKey::from_recovery_key(&new);
    let v2 = a
        .client
        .create_backup_version(&BackupVersion::new(new_key.public_key()))
        .unwrap();
    let new_file = a.dir.join("new-backup-key.txt");
    std::fs::write(&new_file, new.to_base58_grouped().as_str()).unwrap();

    let fix = ["--fix", "--yes", "--backup-key-file", p(&new_file)];
    let (_, text) = a.doctor(p(&key), &fix);
    assert!(
        text.contains(&format!(
            "version {v1}: kept: 1000 entries open with none of your keys"
        )),
        "{text}"
    );
    assert!(a.client.backup_version(Some(&v1)).is_ok());
    assert_eq!(a.client.backup_version(None).unwrap().count, Some(0));

    let demo_key = common::repo().join("demo/recovery-key.txt");
    let (status, text) = a.doctor(
        p(&key),
        &[&fix[..], &["--old-key-file", p(&demo_key)]].concat(),
    );
    assert!(
        text.contains(&format!(
            "version {v1}: every session is in version {v2}: deleted"
        )),
        "{text}"
    );
    assert!(a.client.backup_version(Some(&v1)).is_err());
    assert_eq!(a.client.backup_version(None).unwrap().count, Some(1000));
    assert_eq!(status, Some(0), "{text}");
}

/// `--fix` with a token only, when the first repair is logging out this tool's login
/// (which needs the password): the error says that no repair was made, and none was
/// (`m.key_backup`, written last, still says disabled).
#[test]
fn a_repair_refused_for_want_of_a_password_says_what_was_made() {
    let Some(a) = Account::new(&tmp("needs-password")) else {
        return;
    };
    let key = a.setup();
    let o = run(
        &[
            "status",
            "--keep-login",
            "--homeserver",
            &a.url,
            "--user",
            &a.user,
            "--password-file",
            p(&a.password_file),
        ],
        "",
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    // Found before the login left behind; repaired before it too, the logout being the
    // one repair that may need the password.
    a.set("m.key_backup", json!({"enabled": false}));
    let (status, text) = a.doctor(p(&key), &[]);
    assert_named(status, &text, &["key_backup_disabled", "tool_logins_left"]);

    let o = run(
        &[
            &["doctor", "--key-file", p(&key), "--fix", "--yes"][..],
            &a.auth(),
        ]
        .concat(),
        "",
    );
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{}{err}", stdout(&o));
    assert!(
        err.contains("repair 2 (log out this tool's logins"),
        "{err}"
    );
    assert!(err.contains("needs the account password"), "{err}");
    assert!(err.contains("Repair 1 (write m.key_backup"), "{err}");
    let flag = a
        .client
        .account_data(&a.user, "m.key_backup")
        .unwrap()
        .unwrap();
    assert_eq!(flag, json!({"enabled": true}));
}

/// Secret storage holds the key of version 1 (stale), and a client still used it for
/// entries of version 2 (element-meta #2338); version 1 is gone and the entries are not
/// checked, so no finding names them. `--fix` does not store version 2's key over the
/// stale one before the migration has moved those entries: afterwards every entry opens
/// with the current key and the account is healthy. (The old code stored the key first
/// and skipped the migration: the entries were left for a key no longer anywhere.)
#[test]
fn fix_replaces_a_stale_stored_key_only_after_moving_what_it_opens() {
    let Some(a) = Account::new(&tmp("stale-fix")) else {
        return;
    };
    let key = a.setup();
    let v1 = a.client.backup_version(None).unwrap();
    let stale_public =
        backup_cipher::BackupPublicKey::from_base64(&v1.auth_data.public_key).unwrap();
    // Sessions of our own: the demo's, decrypted with its key, re-encrypted to version 1's.
    let demo_rk = std::fs::read_to_string(common::repo().join("demo/recovery-key.txt")).unwrap();
    let demo_key = BackupDecryptionKey::from_recovery_key(
        &recovery_key::RecoveryKey::from_base58(demo_rk.trim()).unwrap(),
    );
    let restored =
        backup_cipher::restore_keys(&demo_key, &demo_body(), &Default::default()).unwrap();
    let sessions: Vec<backup_cipher::RoomKey> = restored.sessions[..40]
        .iter()
        .map(|s| s.room_key().unwrap())
        .collect();
    let (stale_body, errors) = backup_cipher::encrypt_sessions(&stale_public, &sessions);
    assert!(errors.is_empty());

    let new = recovery_key::RecoveryKey::generate().unwrap();
    let new_key = BackupDecryptionKey::from_recovery_key(&new);
    let v2 = a
        .client
        .create_backup_version(&BackupVersion::new(new_key.public_key()))
        .unwrap();
    a.client.put_room_keys(&v2, &stale_body).unwrap();
    a.client
        .delete_backup_version(v1.version.as_deref().unwrap())
        .unwrap();
    let new_file = a.dir.join("new-backup-key.txt");
    std::fs::write(&new_file, new.to_base58_grouped().as_str()).unwrap();

    let fix = [
        "--fix",
        "--yes",
        "--no-entries",
        "--backup-key-file",
        p(&new_file),
    ];
    let (_, text) = a.doctor(p(&key), &fix);
    assert!(
        text.contains("only if the migration keeps nothing"),
        "{text}"
    );
    assert!(
        text.contains(&format!("version {v2}: every session is in version")),
        "{text}"
    );

    let (status, text) = a.doctor(p(&key), &["--all-entries"]);
    assert!(
        text.contains("entries: 40 checked of 40, 0 failed"),
        "{text}"
    );
    assert!(
        !codes(&text).iter().any(|c| c == "entries_for_another_key"),
        "{text}"
    );
    assert!(
        !codes(&text).iter().any(|c| c == "backup_key_stale"),
        "{text}"
    );
    assert_eq!(status, Some(0), "{text}");
}
