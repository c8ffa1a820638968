//! The hints the tool adds to a library's message: the flag or command that helps, on a
//! `hint:` line of its own (the libraries name no flag; src/fatal.rs maps each error).

mod common;
use common::{repo, run, stderr, tmp, write};

/// The `hint:` line of what the tool printed.
fn hint(o: &std::process::Output) -> String {
    stderr(o)
        .lines()
        .find_map(|l| l.strip_prefix("hint: "))
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn a_security_phrase_given_to_recovery_key_decode_is_sent_to_restore() {
    let o = run(&["recovery-key", "decode"], "correct horse battery staple");
    assert_eq!(o.status.code(), Some(1));
    let hint = hint(&o);
    assert!(
        hint.contains("--account-data") && hint.contains("--homeserver"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn account_data_without_secret_storage_points_to_the_backup_key() {
    let dir = tmp("hints-4s");
    let empty = write(&dir, "empty.json", "{}");
    let o = run(&["ssss", "unlock", "--account-data", &empty], "x");
    assert_eq!(o.status.code(), Some(1));
    assert!(hint(&o).contains("restore --key-file"), "{}", stderr(&o));
}

#[test]
fn a_body_over_the_limit_names_the_limit_flag() {
    let o = run(
        &[
            "restore",
            "--key-file",
            "demo/recovery-key.txt",
            "--max-body-bytes",
            "100",
            "demo/backup.json",
        ],
        "",
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(hint(&o).contains("--max-body-bytes"), "{}", stderr(&o));
}

/// The stale-secret-storage hint names the backup version as `--backup-version`.
#[test]
fn a_stale_key_names_the_backup_version_flag() {
    let expected: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            repo().join("crates/megolm-backup/tests/fixtures/account-data.expected.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let o = run(
        &[
            "restore",
            "--account-data",
            "crates/megolm-backup/tests/fixtures/account-data.json",
            "--backup-info",
            "demo/backup-info.json",
            "demo/backup.json",
        ],
        expected["passphrase"].as_str().unwrap(),
    );
    // The stored key does not open this backup: status 3, as for any key that does not.
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let hint = hint(&o);
    assert!(
        hint.contains("--backup-version ") || hint.contains("--backup-version"),
        "{hint}"
    );
    assert!(!hint.contains("--version"), "{hint}");
}
