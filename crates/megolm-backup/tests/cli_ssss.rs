//! Secret storage end to end through the CLI, on an account-data fixture written by
//! Node's WebCrypto (tools/make-ssss-fixture.mjs): a passphrase key, the backup key
//! secret and three cross-signing secrets.

mod common;
use common::{repo, run, stderr, stdout};
use serde_json::Value;

const DATA: &str = "crates/megolm-backup/tests/fixtures/account-data.json";

fn expected() -> Value {
    serde_json::from_str(
        &std::fs::read_to_string(
            repo().join("crates/megolm-backup/tests/fixtures/account-data.expected.json"),
        )
        .unwrap(),
    )
    .unwrap()
}

#[test]
fn unlock_with_the_passphrase_lists_and_shows_every_secret() {
    let exp = expected();
    let phrase = exp["passphrase"].as_str().unwrap();
    let o = run(
        &["ssss", "unlock", "--account-data", DATA],
        &format!("{phrase}\n"),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.contains(exp["key_id"].as_str().unwrap()));
    assert!(
        text.contains("with your Security Phrase (passphrase)"),
        "{text}"
    );
    for (name, value) in exp["secrets"].as_object().unwrap() {
        assert!(text.contains(name.as_str()), "{text}");
        assert!(
            !text.contains(value.as_str().unwrap()),
            "secret shown without --show"
        );
    }
    for (_, public) in exp["cross_signing_public_keys"].as_object().unwrap() {
        assert!(text.contains(public.as_str().unwrap()), "{text}");
    }
    assert!(text.contains(exp["backup_public_key"].as_str().unwrap()));

    let o = run(
        &["ssss", "unlock", "--show", "--account-data", DATA],
        &format!("{phrase}\r\n"),
    );
    let text = stdout(&o);
    for (_, value) in exp["secrets"].as_object().unwrap() {
        assert!(text.contains(value.as_str().unwrap()), "{text}");
    }
}

#[test]
fn unlock_with_the_recovery_key_and_get_one_secret() {
    let exp = expected();
    let rk = exp["recovery_key"].as_str().unwrap();
    let o = run(&["ssss", "unlock", "--account-data", DATA], rk);
    assert!(
        stdout(&o).contains("with your Security Key (recovery key)"),
        "{}",
        stderr(&o)
    );
    for (name, value) in exp["secrets"].as_object().unwrap() {
        let o = run(
            &["ssss", "get", name, "--account-data", DATA],
            &format!("{rk}\n"),
        );
        assert!(o.status.success(), "{}", stderr(&o));
        assert_eq!(stdout(&o).trim_end(), value.as_str().unwrap());
    }
    let o = run(
        &["ssss", "get", "m.nonexistent", "--account-data", DATA],
        rk,
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("not stored"), "{}", stderr(&o));
}

#[test]
fn wrong_inputs_are_told_apart() {
    let exp = expected();
    let phrase = exp["passphrase"].as_str().unwrap();
    let o = run(&["ssss", "unlock", "--account-data", DATA], phrase.trim());
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("passphrase is wrong") && stderr(&o).contains("spaces"),
        "{}",
        stderr(&o)
    );
    let o = run(
        &["ssss", "unlock", "--account-data", DATA],
        "EsTc LW2K PGiF wKEA 3As5 g5c4 BXwk qeeJ ZJV8 Q9fu gUMN UE4d",
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("valid recovery key, but not the one"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn restore_with_only_the_security_phrase() {
    let exp = expected();
    let dir = std::env::temp_dir().join(format!("mkb-ssss-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // Sessions backed up to the fixture account's backup key.
    let sessions = dir.join("sessions.json");
    let o = run(
        &[
            "restore",
            "--key-file",
            "demo/recovery-key.txt",
            "--out",
            sessions.to_str().unwrap(),
            "demo/backup.json",
        ],
        "",
    );
    assert_eq!(o.status.code(), Some(0));
    let body = dir.join("body.json");
    let public = exp["backup_public_key"].as_str().unwrap();
    let o = run(
        &[
            "encrypt",
            "--public-key",
            public,
            "--out",
            body.to_str().unwrap(),
            sessions.to_str().unwrap(),
        ],
        "",
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let info = dir.join("info.json");
    std::fs::write(
        &info,
        serde_json::json!({"algorithm": "m.megolm_backup.v1.curve25519-aes-sha2",
        "version": "4", "auth_data": {"public_key": public}})
        .to_string(),
    )
    .unwrap();

    let phrase = exp["passphrase"].as_str().unwrap();
    let o = run(
        &[
            "restore",
            "--account-data",
            DATA,
            "--backup-info",
            info.to_str().unwrap(),
            body.to_str().unwrap(),
        ],
        &format!("{phrase}\n"),
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o), std::fs::read_to_string(&sessions).unwrap());
    assert!(
        stderr(&o).contains("your Security Phrase unlocked secret storage"),
        "{}",
        stderr(&o)
    );

    // A stale key in secret storage: the backup was reset to another key since.
    let o = run(
        &[
            "restore",
            "--account-data",
            DATA,
            "--backup-info",
            "demo/backup-info.json",
            "demo/backup.json",
        ],
        &format!("{phrase}\n"),
    );
    // The stored key does not open this backup: status 3.
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("the backup key stored there is stale"),
        "{}",
        stderr(&o)
    );
}
