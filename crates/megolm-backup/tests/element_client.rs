//! The real client agrees, both ways. Element's own library (matrix-js-sdk 43 with its Rust
//! crypto, from npm) and Element's own export code (matrix-react-sdk's
//! `MegolmExportEncryption`) run against the test Synapse through
//! `tools/element/element-client.mjs` and `tools/element/react-sdk-export.mjs`:
//!
//! - what Element wrote, we read: Element sets up recovery (a generated Security Key, or a
//!   Security Phrase) and backs up its room keys; our tool restores them with what Element
//!   showed the user, online and offline, and the sessions equal Element's own
//!   `exportRoomKeys()`;
//! - what we wrote, Element reads, trusts and keeps using: our `setup` and `upload`; a fresh
//!   Element device that has only what we printed has secret storage ready, trusts the
//!   backup, restores it, backs its own new room keys up to it, and a second fresh device
//!   decrypts those messages from the backup;
//! - export files both ways through Element's export code, and Element's import path.
//!
//! `scripts/test.sh` installs both (`tools/element/setup.sh`). Without Node, the packages or
//! Synapse these tests say so and skip — except with `CI` set, where they fail.

mod common;
use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    process::Command,
};

use common::{Account, demo_sessions, p, repo, run, stderr, stdout, write};
use serde_json::Value;

impl Account {
    /// `fetch` with everything an offline restore needs: the backup, its version and the
    /// account's secret storage.
    fn fetch_to_files(&self) -> (PathBuf, PathBuf, PathBuf) {
        let (body, info, account_data) = (
            self.dir.join("body.json"),
            self.dir.join("info.json"),
            self.dir.join("account-data.json"),
        );
        let o = run(
            &[
                &["fetch", "--out", p(&body), "--info-out", p(&info)][..],
                &["--account-data-out", p(&account_data)],
                &self.auth(),
            ]
            .concat(),
            "",
        );
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        (body, info, account_data)
    }

    /// `fetch` to files, then `restore` from them alone with the key in `key_file`;
    /// the sessions go to stdout.
    fn restore_offline(&self, key_file: &str) -> std::process::Output {
        let (body, info, account_data) = self.fetch_to_files();
        run(
            &[
                "restore",
                "--account-data",
                p(&account_data),
                "--backup-info",
                p(&info),
                "--key-file",
                key_file,
                p(&body),
            ],
            "",
        )
    }
}

/// Runs Element's export code (`react-sdk-export.mjs`); returns stdout.
fn element_export_code(args: &[&str]) -> Vec<u8> {
    let o = Command::new("node")
        .arg(repo().join("tools/element/react-sdk-export.mjs"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "react-sdk-export: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    o.stdout
}

type Sessions = BTreeMap<(String, String), Value>;

fn by_id(list: &Value) -> Sessions {
    list.as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                (
                    s["room_id"].as_str().unwrap().to_owned(),
                    s["session_id"].as_str().unwrap().to_owned(),
                ),
                s.clone(),
            )
        })
        .collect()
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Every session Element exported is in ours, with every field Element wrote equal.
fn assert_contains_element_sessions(ours: &Sessions, element: &Value) {
    let element = by_id(element);
    assert!(!element.is_empty());
    for (id, theirs) in &element {
        let mine = ours
            .get(id)
            .unwrap_or_else(|| panic!("session {id:?} that Element exported is missing"));
        for (field, value) in theirs.as_object().unwrap() {
            assert_eq!(&mine[field], value, "{field} of session {id:?}");
        }
    }
}

/// Every message decrypted, by Element.
fn assert_all_decrypted(report: &Value, expected: usize) {
    let d = report["decrypted"].as_array().unwrap();
    assert_eq!(d.len(), expected);
    for m in d {
        assert_eq!(m["ok"], true, "Element could not decrypt {m}");
    }
}

/// Element's verdict on a setup it did not make: ready, trusted, restorable.
fn assert_element_trusts(report: &Value) {
    assert_eq!(report["cross_signing_ready"], true, "{report}");
    assert_eq!(report["secret_storage_ready"], true, "{report}");
    assert_eq!(report["trust"]["trusted"], true, "{report}");
    assert_eq!(report["trust"]["matchesDecryptionKey"], true, "{report}");
    assert_eq!(
        report["active_backup"], report["backup_version"],
        "{report}"
    );
}

#[test]
fn element_sets_up_recovery_and_we_restore_with_its_security_key() {
    let Some(a) = Account::for_element("el-key") else {
        return;
    };
    let el = a.element("setup", &["--rooms", "2", "--messages", "3"]);
    assert_eq!(el["secret_storage_ready"], true);
    let key = write(
        &a.dir,
        "security-key.txt",
        el["security_key"].as_str().unwrap(),
    );

    // Online, with the Security Key where the README says to put it.
    let out = a.dir.join("sessions.json");
    let o = run(
        &[
            &["restore", "--key-file", &key, "--out", p(&out)][..],
            &a.auth(),
        ]
        .concat(),
        "",
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("your Security Key (Recovery key) unlocked secret storage"),
        "{}",
        stderr(&o)
    );
    let ours = by_id(&read_json(&out));
    assert_eq!(ours.len(), 2);
    assert_contains_element_sessions(&ours, &el["exported"]);

    let o = run(&[&["info", "--key-file", &key][..], &a.auth()].concat(), "");
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("your Security Key (Recovery key) unlocked secret storage")
            && stdout(&o).contains("which matches backup version"),
        "{}",
        stdout(&o)
    );
    let o = run(
        &[&["status", "--check", "--key-file", &key][..], &a.auth()].concat(),
        "",
    );
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));

    // Offline: the backup, its version and the account's secret storage in files.
    let o = a.restore_offline(&key);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o), std::fs::read_to_string(&out).unwrap());

    // Our export file, read by Element's export code and imported by a fresh device that
    // then decrypts every message.
    let pass = write(&a.dir, "export-pass.txt", "an export passphrase\n");
    let export = a.dir.join("element-keys.txt");
    let o = run(
        &[
            &["restore", "--key-file", &key, "--export-file", p(&export)][..],
            &[
                "--export-passphrase-file",
                &pass,
                "--export-rounds",
                "100000",
            ],
            &a.auth(),
        ]
        .concat(),
        "",
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let plain: Value =
        serde_json::from_slice(&element_export_code(&["decrypt", p(&export), &pass])).unwrap();
    assert_eq!(by_id(&plain), ours);
    let expect = write(&a.dir, "expect.json", &el.to_string());
    let imported = a.element(
        "import",
        &[
            "--export-file",
            p(&export),
            "--passphrase-file",
            &pass,
            "--expect",
            &expect,
        ],
    );
    assert_eq!(imported["imported"], 2);
    assert_all_decrypted(&imported, 6);

    // An export file written by Element's export code, read by us.
    let element_file = a.dir.join("from-element.txt");
    let exported = write(&a.dir, "element-export.json", &el["exported"].to_string());
    std::fs::write(
        &element_file,
        element_export_code(&["encrypt", &exported, &pass, "1000"]),
    )
    .unwrap();
    let o = run(
        &[
            "export",
            "decrypt",
            p(&element_file),
            "--passphrase-file",
            &pass,
        ],
        "",
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let read: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_contains_element_sessions(&by_id(&read), &el["exported"]);
}

#[test]
fn element_sets_up_recovery_with_a_phrase_and_we_restore_with_the_phrase() {
    let Some(a) = Account::for_element("el-phrase") else {
        return;
    };
    let phrase = "  lantern orchard  seventeen velvet quarries ";
    let el = a.element(
        "setup",
        &["--passphrase", phrase, "--rooms", "1", "--messages", "2"],
    );
    // Typed on stdin, exactly as the user chose it (spaces included).
    let o = run(
        &[&["restore"][..], &a.auth()].concat(),
        &format!("{phrase}\n"),
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("your Security Phrase unlocked secret storage"),
        "{}",
        stderr(&o)
    );
    let ours: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_contains_element_sessions(&by_id(&ours), &el["exported"]);

    // The Security Key Element derived from the phrase works too.
    let key = write(&a.dir, "key.txt", el["security_key"].as_str().unwrap());
    let o = run(
        &[&["restore", "--key-file", &key][..], &a.auth()].concat(),
        "",
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(serde_json::from_str::<Value>(&stdout(&o)).unwrap(), ours);

    // Offline, the phrase in a file.
    let phrase_file = write(&a.dir, "phrase.txt", &format!("{phrase}\n"));
    let o = a.restore_offline(&phrase_file);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(serde_json::from_str::<Value>(&stdout(&o)).unwrap(), ours);

    // A wrong phrase: told what was tried.
    let o = run(&[&["restore"][..], &a.auth()].concat(), "lantern orchard\n");
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("opens neither the backup nor secret storage")
            && stderr(&o).contains("the passphrase is wrong"),
        "{}",
        stderr(&o)
    );
}

/// Our setup (with `setup_args`, `stdin`), our upload of the demo sessions with `key_args`,
/// then two fresh Element devices with only `element_key` (what we printed).
fn our_setup_is_trusted_and_used_by_element(
    a: &Account,
    setup_args: &[&str],
    stdin: &str,
    key_args: &[&str],
    element_key: &[&str],
) {
    let o = run(&[&["setup"][..], setup_args, &a.auth()].concat(), stdin);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let (sessions, _) = demo_sessions(&a.dir);
    let o = run(
        &[&["upload"][..], key_args, &a.auth(), &[p(&sessions)]].concat(),
        stdin,
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));

    // A fresh Element device: ready, trusting, restoring, and backing up its own keys.
    let first = a.element(
        "recover",
        &[element_key, &["--rooms", "2", "--messages", "2"]].concat(),
    );
    assert_element_trusts(&first);
    assert_eq!(first["restored"]["imported"], 1000, "{first}");
    assert_eq!(first["new_sessions_in_backup"].as_array().unwrap().len(), 4);

    // A second fresh device decrypts the first one's messages from the backup alone.
    let expect = write(&a.dir, "first.json", &first.to_string());
    let second = a.element("recover", &[element_key, &["--expect", &expect]].concat());
    assert_element_trusts(&second);
    assert_eq!(second["restored"]["total"], 1002, "{}", second["restored"]);
    assert_eq!(
        second["restored"]["imported"], 1002,
        "{}",
        second["restored"]
    );
    assert_all_decrypted(&second, 4);

    // And we restore everything Element sees, identically.
    let o = run(&[&["restore"][..], key_args, &a.auth()].concat(), stdin);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let ours = by_id(&serde_json::from_str(&stdout(&o)).unwrap());
    assert_eq!(ours.len(), 1002);
    // (Element's exportRoomKeys() lists only some of the 1,000 synthetic demo sessions it
    // imported — 257 in our runs — but every session of its own devices; all it lists must
    // be ours, byte for byte.)
    let theirs = by_id(&second["exported"]);
    for s in first["new_sessions_in_backup"].as_array().unwrap() {
        let id = (
            s["room_id"].as_str().unwrap().to_owned(),
            s["session_id"].as_str().unwrap().to_owned(),
        );
        assert!(theirs.contains_key(&id), "{id:?}");
    }
    for (id, s) in &theirs {
        assert_eq!(ours[id]["session_key"], s["session_key"], "{id:?}");
        assert_eq!(ours[id]["sender_key"], s["sender_key"], "{id:?}");
    }
}

#[test]
fn our_setup_with_a_security_key_is_trusted_and_used_by_element() {
    let Some(a) = Account::for_element("ours-key") else {
        return;
    };
    let key = a.dir.join("security-key.txt");
    our_setup_is_trusted_and_used_by_element(
        &a,
        &["--key-out", p(&key)],
        "",
        &["--key-file", p(&key)],
        &["--security-key-file", p(&key)],
    );
}

#[test]
fn our_setup_with_a_phrase_is_trusted_and_used_by_element() {
    let Some(a) = Account::for_element("ours-phrase") else {
        return;
    };
    let phrase = "quietly juggling seventeen harbour lanterns at dawn";
    let phrase_file = write(&a.dir, "phrase.txt", &format!("{phrase}\n"));
    our_setup_is_trusted_and_used_by_element(
        &a,
        &["--passphrase"],
        &format!("{phrase}\n"),
        &[],
        &["--passphrase-file", &phrase_file],
    );
}
