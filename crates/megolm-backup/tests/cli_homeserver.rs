//! The homeserver commands against a real Synapse (scripts/synapse.sh start).

mod common;
use std::path::Path;

use common::{
    Account, demo_sessions, element_export, p, restore_demo_to_export, run, stderr, stdout, tmp,
};
use serde_json::Value;

/// A test account whose token file ends in a newline, as `echo TOKEN > file` writes it.
fn account(dir: &Path) -> Option<Account> {
    let acc = Account::new(dir)?;
    std::fs::write(&acc.token, format!("{}\n", acc.client.access_token())).unwrap();
    Some(acc)
}

#[test]
fn upload_info_fetch_restore_and_recover_into_an_element_export() {
    let dir = tmp("full");
    let Some(acc) = account(&dir) else { return };
    let auth = [
        "--homeserver",
        &acc.url,
        "--access-token-file",
        p(&acc.token),
    ];

    // No backup yet: told clearly.
    let o = run(&[&["info"][..], &auth].concat(), "");
    assert_eq!(o.status.code(), Some(3));
    assert!(stdout(&o).contains("no key backup"));
    let o = run(
        &[&["fetch", "--out", p(&dir.join("x.json"))][..], &auth].concat(),
        "",
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("no key backup"), "{}", stderr(&o));

    // Upload the demo's 1,000 sessions: a version is created for the key.
    let (sessions, reference) = demo_sessions(&dir);
    let o = run(
        &[
            &[
                "upload",
                "--key-file",
                "demo/recovery-key.txt",
                "--chunk-size",
                "300",
            ][..],
            &auth,
            &[p(&sessions)],
        ]
        .concat(),
        "",
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("created backup version") && stderr(&o).contains("holds 1000 keys"),
        "{}",
        stderr(&o)
    );
    // Again: nothing to send.
    let o = run(
        &[
            &["upload", "--key-file", "demo/recovery-key.txt"][..],
            &auth,
            &[p(&sessions)],
        ]
        .concat(),
        "",
    );
    assert!(
        stderr(&o).contains("uploaded 0 sessions")
            && stderr(&o).contains("1000 already there")
            && stderr(&o).contains("the backup now holds 1000 keys"),
        "{}",
        stderr(&o)
    );

    let o = run(
        &[&["info", "--key-file", "demo/recovery-key.txt"][..], &auth].concat(),
        "",
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(
        text.contains("keys:       1000")
            && text.contains(
                "the key is the backup's own backup key (what older Element called the backup's recovery key), which matches backup version"
            ),
        "{text}"
    );
    assert!(text.contains("m.megolm_backup.v1.curve25519-aes-sha2"));
    let other = dir.join("other-key.txt");
    std::fs::write(
        &other,
        "EsTc LW2K PGiF wKEA 3As5 g5c4 BXwk qeeJ ZJV8 Q9fu gUMN UE4d\n",
    )
    .unwrap();
    let o = run(
        &[&["info", "--key-file", p(&other)][..], &auth].concat(),
        "",
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stdout(&o).contains("does NOT open this backup")
            && stdout(&o).contains("it belongs to another backup"),
        "{}",
        stdout(&o)
    );

    // fetch, then restore the file.
    let body = dir.join("backup.json");
    let info = dir.join("info.json");
    let o = run(
        &[
            &["fetch", "--out", p(&body), "--info-out", p(&info)][..],
            &auth,
        ]
        .concat(),
        "",
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let o = run(
        &[
            "restore",
            "--key-file",
            "demo/recovery-key.txt",
            "--backup-info",
            p(&info),
            p(&body),
        ],
        "",
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o), reference);

    // restore straight from the server, byte for byte.
    let o = run(
        &[
            &["restore", "--key-file", "demo/recovery-key.txt"][..],
            &auth,
        ]
        .concat(),
        "",
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o), reference);

    // The README's three-line recovery: fetch + restore into an Element export; Element's
    // reader (tools/element-export.mjs) opens it.
    let (export, pass) = restore_demo_to_export(&dir, "export pass", &auth);
    let out = element_export(&["decrypt", p(&export), p(&pass)]);
    let element: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(element, serde_json::from_str::<Value>(&reference).unwrap());
}

#[test]
fn password_login_bad_token_and_wrong_key() {
    let dir = tmp("auth");
    let Some(acc) = account(&dir) else { return };
    let token = std::fs::read_to_string(&acc.token).unwrap();
    let devices = || homeserver::testing::devices(&acc.url, token.trim());
    let before = devices();
    // --user with the password on stdin.
    let o = run(
        &["info", "--homeserver", &acc.url, "--user", &acc.user],
        &format!("{}\n", acc.password),
    );
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    // That login was logged out at the end: no device was added to the account.
    assert_eq!(devices(), before);
    // --keep-login keeps it, and names the device.
    let o = run(
        &[
            "info",
            "--homeserver",
            &acc.url,
            "--user",
            &acc.user,
            "--keep-login",
        ],
        &format!("{}\n", acc.password),
    );
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let now = devices();
    assert_eq!(now.len(), before.len() + 1, "{now:?}");
    assert!(
        now.iter().any(|(id, name)| stderr(&o).contains(id.as_str())
            && name.as_deref() == Some("megolm-backup")),
        "{now:?}: {}",
        stderr(&o)
    );
    let bad = dir.join("bad-token");
    std::fs::write(&bad, "syt_bogus\n").unwrap();
    let o = run(
        &[
            "info",
            "--homeserver",
            &acc.url,
            "--access-token-file",
            p(&bad),
        ],
        "",
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("refused the access token") && stderr(&o).contains("log in again"),
        "{}",
        stderr(&o)
    );
    assert!(!stderr(&o).contains("syt_bogus"), "token printed");
    let o = run(
        &[
            "info",
            "--homeserver",
            "http://127.0.0.1:9",
            "--access-token-file",
            p(&bad),
        ],
        "",
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("cannot reach the homeserver"),
        "{}",
        stderr(&o)
    );

    // A backup of one key; restore with another is refused before any work.
    let auth = [
        "--homeserver",
        &acc.url,
        "--access-token-file",
        p(&acc.token),
    ];
    let (sessions, _) = demo_sessions(&dir);
    let o = run(
        &[
            &["upload", "--key-file", "demo/recovery-key.txt"][..],
            &auth,
            &[p(&sessions)],
        ]
        .concat(),
        "",
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let other = dir.join("other.txt");
    std::fs::write(
        &other,
        "EsTc LW2K PGiF wKEA 3As5 g5c4 BXwk qeeJ ZJV8 Q9fu gUMN UE4d\n",
    )
    .unwrap();
    let o = run(
        &[&["restore", "--key-file", p(&other)][..], &auth].concat(),
        "",
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("opens neither the backup nor secret storage")
            && stderr(&o).contains("it belongs to another backup"),
        "{}",
        stderr(&o)
    );
    let o = run(
        &[
            &["upload", "--key-file", p(&other)][..],
            &auth,
            &[p(&sessions)],
        ]
        .concat(),
        "",
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("it belongs to another backup")
            && stderr(&o).contains("set up recovery again"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn signed_upload_verifies() {
    let dir = tmp("signed");
    let Some(acc) = account(&dir) else { return };
    let auth = [
        "--homeserver",
        &acc.url,
        "--access-token-file",
        p(&acc.token),
    ];
    let seed = [42u8; 32];
    let sk_file = dir.join("device.key");
    std::fs::write(&sk_file, recovery_key::encode_base64(&seed)).unwrap();
    let (sessions, _) = demo_sessions(&dir);
    let o = run(
        &[
            &[
                "upload",
                "--key-file",
                "demo/recovery-key.txt",
                "--signing-key-file",
                p(&sk_file),
                "--signing-key-id",
                "ed25519:TESTDEVICE",
            ][..],
            &auth,
            &[p(&sessions)],
        ]
        .concat(),
        "",
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let info = dir.join("info.json");
    let o = run(
        &[
            &[
                "fetch",
                "--out",
                p(&dir.join("b.json")),
                "--info-out",
                p(&info),
            ][..],
            &auth,
        ]
        .concat(),
        "",
    );
    assert_eq!(o.status.code(), Some(0));
    let version: backup_cipher::BackupVersion =
        serde_json::from_str(&std::fs::read_to_string(&info).unwrap()).unwrap();
    let mut keys = std::collections::BTreeMap::new();
    keys.insert(
        "ed25519:TESTDEVICE".to_owned(),
        ed25519_dalek::SigningKey::from_bytes(&seed).verifying_key(),
    );
    let report = backup_cipher::verify_auth_data(&version.auth_data, &acc.user, &keys).unwrap();
    assert_eq!(report.len(), 1);
    assert_eq!(report[0].status, backup_cipher::SignatureStatus::Valid);
}
