//! `restore`, `encrypt` and `bench`, end to end through the binary.

mod common;

use common::{repo, run, stderr, stdout, tmp, write};
use serde_json::Value;

/// The vodozemac-generated restore case: its body, key and expected output come from
/// vodozemac, not from this workspace.
fn vodozemac_case() -> Value {
    let file: Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("test-vectors/vodozemac-generated.json")).unwrap(),
    )
    .unwrap();
    file["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "vz-restore-3-rooms")
        .unwrap()
        .clone()
}

#[test]
fn restores_the_shipped_demo() {
    let dir = tmp("demo");
    let out = dir.join("restored.json");
    let o = run(
        &[
            "restore",
            "--key-file",
            "demo/recovery-key.txt",
            "--backup-info",
            "demo/backup-info.json",
            "--out",
            out.to_str().unwrap(),
            "demo/backup.json",
        ],
        "",
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("restored 1000 of 1000 sessions"),
        "{}",
        stderr(&o)
    );
    let sessions: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(sessions.len(), 1000);
    let keys: Vec<(String, String)> = sessions
        .iter()
        .map(|s| {
            (
                s["room_id"].as_str().unwrap().into(),
                s["session_id"].as_str().unwrap().into(),
            )
        })
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&out).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
}

#[test]
fn damaged_backup_restores_the_good_sessions_and_exits_2() {
    let case = vodozemac_case();
    let dir = tmp("damaged");
    let body = write(&dir, "body.json", &case["input"]["backup_json"].to_string());
    let info = write(
        &dir,
        "info.json",
        &case["input"]["backup_info_json"].to_string(),
    );
    let key = write(
        &dir,
        "key.txt",
        &format!("{}\n", case["input"]["key"]["base64"].as_str().unwrap()),
    );
    let failures = dir.join("failures.json");
    for extra in [&[][..], &["--sort-memory", "2000", "--jobs", "1"][..]] {
        let mut args = vec![
            "restore",
            "--key-file",
            &key,
            "--backup-info",
            &info,
            "--failures",
            failures.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        args.push(&body);
        let o = run(&args, "");
        assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
        let got: Value = serde_json::from_str(&stdout(&o)).unwrap();
        assert_eq!(got, case["expected"]["sessions_json"]);
        let failed: Vec<Value> =
            serde_json::from_str(&std::fs::read_to_string(&failures).unwrap()).unwrap();
        let classes: Vec<Value> = failed
            .iter()
            .map(|f| serde_json::json!({"room_id": f["room_id"], "session_id": f["session_id"], "error": f["error"]}))
            .collect();
        assert_eq!(Value::Array(classes), case["expected"]["failures_json"]);
        assert!(
            failed
                .iter()
                .all(|f| f["message"].as_str().is_some_and(|m| !m.is_empty()))
        );
        let err = stderr(&o);
        assert!(
            err.contains("5 failed") && err.contains("still restored"),
            "{err}"
        );
    }
    // From stdin too.
    let o = run(
        &["restore", "--key-file", &key, "-"],
        &case["input"]["backup_json"].to_string(),
    );
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        serde_json::from_str::<Value>(&stdout(&o)).unwrap(),
        case["expected"]["sessions_json"]
    );
}

#[test]
fn a_key_for_another_backup_is_refused_before_any_work() {
    let dir = tmp("mismatch");
    let key = write(
        &dir,
        "key.txt",
        "EsTc LW2K PGiF wKEA 3As5 g5c4 BXwk qeeJ ZJV8 Q9fu gUMN UE4d\n",
    );
    let o = run(
        &[
            "restore",
            "--key-file",
            &key,
            "--backup-info",
            "demo/backup-info.json",
            "demo/backup.json",
        ],
        "",
    );
    // A key that does not open this backup: status 3.
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("it belongs to another backup")
            && stderr(&o).contains("backup version 1 has"),
        "{}",
        stderr(&o)
    );
    assert!(stdout(&o).is_empty());
    let key = write(&dir, "phrase.txt", "correct horse battery staple\n");
    let o = run(&["restore", "--key-file", &key, "demo/backup.json"], "");
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("passphrase"), "{}", stderr(&o));
}

#[test]
fn legacy_passphrase_backup_restores() {
    // A legacy passphrase backup: the key is PBKDF2 of the passphrase with the
    // parameters in auth_data. The body is made with the CLI's own encrypt command.
    let dir = tmp("legacy");
    let phrase = " spaces kept ";
    let key = recovery_key::derive_bits(phrase.as_bytes(), b"demo-salt", 1000, 256).unwrap();
    let key_b64 = recovery_key::encode_base64(&key);
    let key_file = write(&dir, "key.txt", &key_b64);
    // Sessions to back up: the demo's, restored.
    let demo = dir.join("demo-restored.json");
    let o = run(
        &[
            "restore",
            "--key-file",
            "demo/recovery-key.txt",
            "--out",
            demo.to_str().unwrap(),
            "demo/backup.json",
        ],
        "",
    );
    assert_eq!(o.status.code(), Some(0));
    let public = x25519_public(&key);
    let body = dir.join("body.json");
    let o = run(
        &[
            "encrypt",
            "--public-key",
            &public,
            "--out",
            body.to_str().unwrap(),
            demo.to_str().unwrap(),
        ],
        "",
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let info = write(&dir, "info.json", &serde_json::json!({"algorithm": "m.megolm_backup.v1.curve25519-aes-sha2", "version": "9",
            "auth_data": {"public_key": public, "private_key_salt": "demo-salt", "private_key_iterations": 1000}})
        .to_string(),
    );
    let o = run(
        &[
            "restore",
            "--passphrase-stdin",
            "--backup-info",
            &info,
            body.to_str().unwrap(),
        ],
        &format!("{phrase}\n"),
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    // Round trip: backup -> sessions -> backup -> sessions keeps every session byte for byte.
    assert_eq!(stdout(&o), std::fs::read_to_string(&demo).unwrap());
    // The key file works too; a trimmed passphrase does not.
    let o = run(
        &[
            "restore",
            "--key-file",
            &key_file,
            "--backup-info",
            &info,
            body.to_str().unwrap(),
        ],
        "",
    );
    assert_eq!(o.status.code(), Some(0));
    let o = run(
        &[
            "restore",
            "--passphrase-stdin",
            "--backup-info",
            &info,
            body.to_str().unwrap(),
        ],
        phrase.trim(),
    );
    // Not a key, and no secret storage to try it with: an error (1).
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
}

/// The backup public key of a secret (X25519 public key; checked by the vectors).
fn x25519_public(secret: &[u8]) -> String {
    backup_cipher::BackupDecryptionKey::from_slice(secret)
        .unwrap()
        .public_key()
        .to_base64()
}

/// Built only with the `bench` feature (`cargo test -p megolm-backup --features bench`).
#[cfg(feature = "bench")]
#[test]
fn bench_runs() {
    let o = run(&["bench", "--sessions", "300", "--runs", "1"], "");
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(
        text.contains("1 thread") && text.contains("sessions/s"),
        "{text}"
    );
}
