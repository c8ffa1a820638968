//! Element key-export files through the CLI, checked against an independent reader and
//! writer that does exactly what Element does (tools/element-export.mjs, Node WebCrypto).

mod common;
use std::process::Command;

use common::{demo_sessions, p, repo, run, stderr, stdout, tmp};
use serde_json::Value;

fn node(args: &[&str]) -> Vec<u8> {
    let out = Command::new("node")
        .arg(repo().join("tools/element-export.mjs"))
        .args(args)
        .output()
        .expect(
            "Node.js is needed for the Element interop tests (it is on the project's machines)",
        );
    assert!(
        out.status.success(),
        "node: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

#[test]
fn restore_into_an_export_that_element_reads() {
    let dir = tmp("to-element");
    let (_, reference) = demo_sessions(&dir);
    let pass = dir.join("pass.txt");
    std::fs::write(&pass, " export passphrase \n").unwrap();
    let export = dir.join("keys.txt");
    let o = run(
        &[
            "restore",
            "--key-file",
            "demo/recovery-key.txt",
            "--export-file",
            p(&export),
            "--export-passphrase-file",
            p(&pass),
            "--export-rounds",
            "2000",
            "demo/backup.json",
        ],
        "",
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = std::fs::read_to_string(&export).unwrap();
    assert!(text.starts_with("-----BEGIN MEGOLM SESSION DATA-----\n"));
    assert!(text.ends_with("-----END MEGOLM SESSION DATA-----\n"));
    let element: Value = serde_json::from_slice(&node(&["decrypt", p(&export), p(&pass)])).unwrap();
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
    std::fs::write(&export, node(&["encrypt", p(&sessions), p(&pass), "1500"])).unwrap();

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
            "--room",
            "!room00001:example.org",
        ],
        "",
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let element: Vec<Value> =
        serde_json::from_slice(&node(&["decrypt", p(&export), p(&pass)])).unwrap();
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
    let pass = dir.join("pass.txt");
    std::fs::write(&pass, "round trip\n").unwrap();
    let export = dir.join("export.txt");
    let o = run(
        &[
            "restore",
            "--key-file",
            "demo/recovery-key.txt",
            "--export-file",
            p(&export),
            "--export-passphrase-file",
            p(&pass),
            "--export-rounds",
            "1000",
            "demo/backup.json",
        ],
        "",
    );
    assert_eq!(o.status.code(), Some(0));
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
