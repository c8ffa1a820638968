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
