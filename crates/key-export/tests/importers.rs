//! Exports written by this crate, imported by the importers people use:
//! - matrix-nio's own importer (`tools/nio/import_keys.py`: nio's decryption, its
//!   `megolm_key_import` schema over the whole list, and a vodozemac session per entry);
//! - Element's (`tools/element/import-keys.mjs`: Element's export code decrypts, then
//!   matrix-sdk-crypto-wasm's `importExportedRoomKeys`, what matrix-js-sdk calls).
//!
//! Issue 20: an export of no sessions was an empty plaintext nio refused, and one entry
//! without `forwarding_curve25519_key_chain` (or with a `null` member) made nio refuse the
//! whole file.
//!
//! Needs `bash tools/nio/setup.sh` (a pinned matrix-nio in `.venv-nio/`) and
//! `bash tools/element/setup.sh`. Without them the tests fail under `CI=true` and are
//! skipped, loudly, elsewhere.

use std::{path::PathBuf, process::Command};

use key_export::{ExportOptions, ExportWriter};
use serde_json::{Value, json};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The venv's python when matrix-nio is installed there.
fn nio_python() -> Option<PathBuf> {
    let python = repo().join(".venv-nio/bin/python");
    let ok = Command::new(&python)
        .args(["-c", "import nio, vodozemac"])
        .output()
        .is_ok_and(|o| o.status.success());
    ok.then_some(python)
}

/// A session in export form with a valid Megolm session key (version 1, index 0, a
/// ratchet, a real Ed25519 key), made here from `n`.
fn session(n: u8) -> Value {
    let signing = ed25519_dalek::SigningKey::from_bytes(&[n; 32]);
    let public = signing.verifying_key().to_bytes();
    let mut key = vec![1u8, 0, 0, 0, 0];
    key.extend_from_slice(&[n.wrapping_mul(7); 128]);
    key.extend_from_slice(&public);
    let device = ed25519_dalek::SigningKey::from_bytes(&[n ^ 0x55; 32]);
    json!({
        "algorithm": "m.megolm.v1.aes-sha2",
        "room_id": "!room:example.org",
        "session_id": recovery_key::encode_base64(&public),
        "sender_key": recovery_key::encode_base64(&[n; 32]),
        "sender_claimed_keys": {
            "ed25519": recovery_key::encode_base64(&device.verifying_key().to_bytes())
        },
        "forwarding_curve25519_key_chain": [],
        "session_key": recovery_key::encode_base64(&key),
    })
}

/// Writes `sessions` (JSON texts) with our writer and returns nio's verdict:
/// `Ok((accepted, in_file))`, or `Err(message)` when nio refused the whole file.
fn nio_import(python: &PathBuf, name: &str, sessions: &[String]) -> Result<(u64, u64), String> {
    let mut importer = Command::new(python);
    importer.arg(repo().join("tools/nio/import_keys.py"));
    import_with(importer, &format!("nio-{name}"), sessions)
}

/// Node, when Element's code is installed under tools/element.
fn element_node() -> Option<Command> {
    let dir = repo().join("tools/element");
    let installed = dir
        .join("node_modules/@matrix-org/matrix-sdk-crypto-wasm")
        .is_dir()
        && dir.join(".cache/MegolmExportEncryption.js").is_file();
    let node = Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    (installed && node).then(|| {
        let mut c = Command::new("node");
        c.arg(dir.join("import-keys.mjs"));
        c
    })
}

/// Writes `sessions` with our writer, runs `importer EXPORT PASSPHRASE_FILE`, and returns
/// its verdict: `Ok((accepted, in_file))`, or `Err(message)` when it refused the file.
fn import_with(
    mut importer: Command,
    name: &str,
    sessions: &[String],
) -> Result<(u64, u64), String> {
    let dir = std::env::temp_dir().join(format!("mkb-importers-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let export = dir.join(format!("{name}.txt"));
    let pass = dir.join("pass.txt");
    std::fs::write(&pass, "nio test passphrase\n").unwrap();
    let options = ExportOptions::new(1000).allow_low_rounds();
    let mut w = ExportWriter::new(Vec::new(), "nio test passphrase", options).unwrap();
    for s in sessions {
        w.write_session_json(s.as_bytes()).unwrap();
    }
    std::fs::write(&export, w.finish().unwrap()).unwrap();
    let out = importer.arg(&export).arg(&pass).output().unwrap();
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    let verdict: Value = serde_json::from_slice(&out.stdout).unwrap();
    Ok((
        verdict["accepted"].as_u64().unwrap(),
        verdict["in_file"].as_u64().unwrap(),
    ))
}

fn without(mut session: Value, member: &str) -> String {
    session.as_object_mut().unwrap().remove(member);
    session.to_string()
}

fn with_null(mut session: Value, member: &str) -> String {
    session[member] = Value::Null;
    session.to_string()
}

#[test]
fn matrix_nio_imports_every_export_we_write() {
    let Some(python) = nio_python() else {
        let why = "matrix-nio is not installed: run `bash tools/nio/setup.sh`";
        assert!(std::env::var("CI").as_deref() != Ok("true"), "{why}");
        eprintln!("SKIPPED matrix_nio_imports_every_export_we_write: {why}");
        return;
    };
    let full: Vec<String> = (1..=3).map(|n| session(n).to_string()).collect();
    assert_eq!(nio_import(&python, "full", &full), Ok((3, 3)));
    assert_eq!(nio_import(&python, "empty", &[]), Ok((0, 0)));

    // No chain, or a null one: completed, so nio takes every entry.
    let mut no_chain = full.clone();
    no_chain[1] = without(session(2), "forwarding_curve25519_key_chain");
    assert_eq!(nio_import(&python, "no-chain", &no_chain), Ok((3, 3)));
    let mut null_chain = full.clone();
    null_chain[2] = with_null(session(3), "forwarding_curve25519_key_chain");
    assert_eq!(nio_import(&python, "null-chain", &null_chain), Ok((3, 3)));

    // No sender_claimed_keys, or a null one: nio skips that entry only, the file stands.
    let mut no_claimed = full.clone();
    no_claimed[0] = without(session(1), "sender_claimed_keys");
    assert_eq!(nio_import(&python, "no-claimed", &no_claimed), Ok((2, 3)));
    let mut null_claimed = full.clone();
    null_claimed[0] = with_null(session(1), "sender_claimed_keys");
    assert_eq!(
        nio_import(&python, "null-claimed", &null_claimed),
        Ok((2, 3))
    );
}

#[test]
fn element_imports_every_export_we_write() {
    let import = |name: &str, sessions: &[String]| {
        let node = element_node()?;
        Some(import_with(node, &format!("element-{name}"), sessions))
    };
    let full: Vec<String> = (1..=3).map(|n| session(n).to_string()).collect();
    let Some(verdict) = import("full", &full) else {
        let why = "Element's code is not installed: run `bash tools/element/setup.sh`";
        assert!(std::env::var("CI").as_deref() != Ok("true"), "{why}");
        eprintln!("SKIPPED element_imports_every_export_we_write: {why}");
        return;
    };
    assert_eq!(verdict, Ok((3, 3)));
    assert_eq!(import("empty", &[]).unwrap(), Ok((0, 0)));
    let mut incomplete = full.clone();
    incomplete[0] = without(session(1), "sender_claimed_keys");
    incomplete[1] = without(session(2), "forwarding_curve25519_key_chain");
    incomplete[2] = with_null(session(3), "sender_claimed_keys");
    assert_eq!(import("incomplete", &incomplete).unwrap(), Ok((3, 3)));
}
