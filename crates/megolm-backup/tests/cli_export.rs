//! Element key-export files through the CLI, checked against an independent reader and
//! writer that does exactly what Element does (tools/element-export.mjs, Node WebCrypto).

mod common;

use common::{
    demo_sessions, element_export, p, repo, restore_demo_to_export, run, stderr, stdout, tmp,
};
use serde_json::Value;

#[test]
fn restore_into_an_export_that_element_reads() {
    let dir = tmp("to-element");
    let (_, reference) = demo_sessions(&dir);
    let (export, pass) = restore_demo_to_export(&dir, " export passphrase ", &["demo/backup.json"]);
    let text = std::fs::read_to_string(&export).unwrap();
    assert!(text.starts_with("-----BEGIN MEGOLM SESSION DATA-----\n"));
    assert!(text.ends_with("-----END MEGOLM SESSION DATA-----\n"));
    let element: Value =
        serde_json::from_slice(&element_export(&["decrypt", p(&export), p(&pass)])).unwrap();
    let ours: Value = serde_json::from_str(&reference).unwrap();
    assert_eq!(element, ours);
    assert_eq!(element.as_array().unwrap().len(), 1000);
}

#[test]
fn an_export_element_wrote_is_read_and_filtered_by_room() {
    let dir = tmp("from-element");
    let (sessions, reference) = demo_sessions(&dir);
    let pass = dir.join("pass.txt");
    std::fs::write(&pass, "element side\n").unwrap();
    let export = dir.join("element-export.txt");
    std::fs::write(
        &export,
        element_export(&["encrypt", p(&sessions), p(&pass), "1500"]),
    )
    .unwrap();

    let o = run(
        &[
            "export",
            "decrypt",
            p(&export),
            "--passphrase-file",
            p(&pass),
        ],
        "",
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let got: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(got, serde_json::from_str::<Value>(&reference).unwrap());

    let o = run(
        &[
            "export",
            "decrypt",
            p(&export),
            "--passphrase-file",
            p(&pass),
            "--room",
            "!room00003:example.org",
            "--room",
            "!room00007:example.org",
        ],
        "",
    );
    let got: Vec<Value> = serde_json::from_str(&stdout(&o)).unwrap();
    assert!(!got.is_empty());
    assert!(
        got.iter().all(|s| s["room_id"] == "!room00003:example.org"
            || s["room_id"] == "!room00007:example.org")
    );
    let all: Vec<Value> = serde_json::from_str(&reference).unwrap();
    let expected = all
        .iter()
        .filter(|s| {
            s["room_id"] == "!room00003:example.org" || s["room_id"] == "!room00007:example.org"
        })
        .count();
    assert_eq!(got.len(), expected);

    let wrong = dir.join("wrong.txt");
    std::fs::write(&wrong, "not it\n").unwrap();
    let o = run(
        &[
            "export",
            "decrypt",
            p(&export),
            "--passphrase-file",
            p(&wrong),
        ],
        "",
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("wrong passphrase"), "{}", stderr(&o));
}

#[test]
fn export_encrypt_only_some_rooms_then_element_reads_it() {
    let dir = tmp("encrypt-rooms");
    let (sessions, _) = demo_sessions(&dir);
    let pass = dir.join("pass.txt");
    std::fs::write(&pass, "p\n").unwrap();
    let export = dir.join("some.txt");
    let o = run(
        &[
            "export",
            "encrypt",
            p(&sessions),
            "--out",
            p(&export),
            "--passphrase-file",
            p(&pass),
            "--rounds",
            "1000",
            "--allow-low-rounds",
            "--room",
            "!room00001:example.org",
        ],
        "",
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let element: Vec<Value> =
        serde_json::from_slice(&element_export(&["decrypt", p(&export), p(&pass)])).unwrap();
    assert!(!element.is_empty());
    assert!(
        element
            .iter()
            .all(|s| s["room_id"] == "!room00001:example.org")
    );
}

#[test]
fn backup_to_export_to_backup_keeps_every_session_byte_for_byte() {
    let dir = tmp("round-trip");
    let (_, reference) = demo_sessions(&dir);
    let (export, pass) = restore_demo_to_export(&dir, "round trip", &["demo/backup.json"]);
    // The export goes back into a (new) server backup...
    let info: Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("demo/backup-info.json")).unwrap(),
    )
    .unwrap();
    let public = info["auth_data"]["public_key"].as_str().unwrap();
    let body = dir.join("body.json");
    let o = run(
        &[
            "encrypt",
            "--public-key",
            public,
            "--export-passphrase-file",
            p(&pass),
            "--out",
            p(&body),
            p(&export),
        ],
        "",
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    // ...and restores to exactly the same text.
    let o = run(
        &["restore", "--key-file", "demo/recovery-key.txt", p(&body)],
        "",
    );
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(stdout(&o), reference);
}

#[test]
fn export_passphrase_never_comes_from_argv_and_needs_a_terminal_or_file() {
    let dir = tmp("no-tty");
    let export = dir.join("x.txt");
    let o = run(
        &[
            "restore",
            "--key-file",
            "demo/recovery-key.txt",
            "--export-file",
            p(&export),
            "demo/backup.json",
        ],
        "",
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("--export-passphrase-file"),
        "{}",
        stderr(&o)
    );
    assert!(
        !export.exists(),
        "no work is done before the passphrase is known"
    );
}

/// Runs `export encrypt` of `sessions` (JSON text) with passphrase `p`, few rounds allowed.
fn encrypt_text(dir: &std::path::Path, sessions: &str) -> (std::process::Output, String, String) {
    let input = common::write(dir, "sessions.json", sessions);
    let pass = common::write(dir, "pass.txt", "p\n");
    let export = dir.join("out.txt");
    let o = run(
        &[
            "export",
            "encrypt",
            &input,
            "--out",
            p(&export),
            "--passphrase-file",
            &pass,
            "--rounds",
            "1000",
            "--allow-low-rounds",
        ],
        "",
    );
    (o, p(&export).to_owned(), pass)
}

/// An export of nothing is a file every reader opens: its plaintext is `[]` (issue 20).
#[test]
fn an_export_of_no_sessions_is_read_by_element_and_by_us() {
    let dir = tmp("empty-export");
    let (o, export, pass) = encrypt_text(&dir, "[]");
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(element_export(&["decrypt", &export, &pass]), b"[]");
    let o = run(
        &["export", "decrypt", &export, "--passphrase-file", &pass],
        "",
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let read: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(read, serde_json::json!([]));
}

/// An entry without the forwarding chain gets an empty one; one without
/// sender_claimed_keys is written without (matrix-nio refuses a whole file with `{}`);
/// the summary counts both (issue 20).
#[test]
fn entries_are_completed_and_the_summary_says_so() {
    let dir = tmp("complete-export");
    let (_, reference) = demo_sessions(&dir);
    let all: Vec<Value> = serde_json::from_str(&reference).unwrap();
    let mut entries = vec![all[0].clone(), all[1].clone(), all[2].clone()];
    entries[0]
        .as_object_mut()
        .unwrap()
        .remove("forwarding_curve25519_key_chain");
    entries[1]
        .as_object_mut()
        .unwrap()
        .remove("sender_claimed_keys");
    let (o, export, pass) = encrypt_text(&dir, &Value::from(entries.clone()).to_string());
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("wrote 3 sessions")
            && stderr(&o).contains("1 lacked forwarding_curve25519_key_chain")
            && stderr(&o).contains("1 have no sender_claimed_keys"),
        "{}",
        stderr(&o)
    );
    let element: Vec<Value> =
        serde_json::from_slice(&element_export(&["decrypt", &export, &pass])).unwrap();
    assert_eq!(element.len(), 3);
    assert_eq!(
        element[0]["forwarding_curve25519_key_chain"],
        serde_json::json!([])
    );
    assert!(element[1].get("sender_claimed_keys").is_none());
    assert_eq!(element[2], all[2]);
    for (got, given) in element.iter().zip(&entries) {
        for (name, value) in given.as_object().unwrap() {
            assert_eq!(&got[name], value, "{name}");
        }
    }
}

/// An empty export passphrase and low rounds are refused before any work, with the flag
/// that allows fewer rounds named (issue 20).
#[test]
fn an_empty_passphrase_and_low_rounds_are_refused_first() {
    let dir = tmp("export-params");
    let (sessions, _) = demo_sessions(&dir);
    let export = dir.join("never.txt");
    let empty = common::write(&dir, "empty-pass.txt", "\n");
    let o = run(
        &[
            "export",
            "encrypt",
            p(&sessions),
            "--out",
            p(&export),
            "--passphrase-file",
            &empty,
        ],
        "",
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("export passphrase is empty"),
        "{}",
        stderr(&o)
    );
    assert!(!export.exists());
    // Rounds are refused before the sessions are even read.
    let o = run(
        &[
            "export",
            "encrypt",
            "does-not-exist.json",
            "--out",
            p(&export),
            "--passphrase-file",
            &empty,
            "--rounds",
            "1",
        ],
        "",
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("1 PBKDF2 rounds") && stderr(&o).contains("--allow-low-rounds"),
        "{}",
        stderr(&o)
    );
    assert!(!export.exists());
}

/// A BOM before the armour is read (Element reads it); a file cut before its END line is
/// told so (issue 20).
#[test]
fn a_bom_is_read_and_a_cut_file_is_told_so() {
    let dir = tmp("export-bom");
    let (o, export, pass) = encrypt_text(&dir, "[]");
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = std::fs::read_to_string(&export).unwrap();
    let bom = common::write(&dir, "bom.txt", &format!("\u{feff}{text}"));
    let o = run(&["export", "decrypt", &bom, "--passphrase-file", &pass], "");
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let cut = common::write(&dir, "cut.txt", &text[..text.len() / 2]);
    let o = run(&["export", "decrypt", &cut, "--passphrase-file", &pass], "");
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("the export file is cut off: it has no END line"),
        "{}",
        stderr(&o)
    );
}

/// `restore --export-file` of a backup with no sessions writes a file whose plaintext is
/// `[]`, which Element's reader and ours open (issue 20: it was 0 bytes).
#[test]
fn restoring_an_empty_backup_into_an_export_writes_an_empty_list() {
    let dir = tmp("empty-backup-export");
    let body = common::write(&dir, "empty-body.json", r#"{"rooms": {}}"#);
    let (export, pass) = restore_demo_to_export(&dir, "export passphrase", &[&body]);
    assert_eq!(element_export(&["decrypt", p(&export), p(&pass)]), b"[]");
    let o = run(
        &[
            "export",
            "decrypt",
            p(&export),
            "--passphrase-file",
            p(&pass),
        ],
        "",
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o).trim(), "[]");
}
