//! `setup` and `status` against a real Synapse: a fresh client unlocks with only what
//! the tool printed and restores what was uploaded.

mod common;
use std::path::Path;

use common::{Account, demo_sessions, p, run, stderr, stdout, tmp};

/// Uploads the demo sessions to the account's backup with what `setup` gave the user
/// (the Security Key in a file, or the Security Phrase on stdin).
fn upload_with(a: &Account, key_args: &[&str], stdin: &str, sessions: &Path) {
    let o = run(
        &[&["upload"][..], key_args, &a.auth(), &[p(sessions)]].concat(),
        stdin,
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("unlocked secret storage") && stderr(&o).contains("uploaded 1000"),
        "{}",
        stderr(&o)
    );
}

fn master_key(a: &Account) -> String {
    let client =
        homeserver::Client::new(&a.url, &std::fs::read_to_string(&a.token).unwrap()).unwrap();
    client.master_key(&a.user).unwrap().expect("a master key")
}

/// The backup is what Element trusts: signed by the account's cross-signing master key
/// (as published by the server), and the self-signing and user-signing keys are signed
/// by it too. Checked with ed25519-dalek over canonical JSON built here.
fn assert_signed_by_master(a: &Account) {
    let client =
        homeserver::Client::new(&a.url, &std::fs::read_to_string(&a.token).unwrap()).unwrap();
    let master = client.master_key(&a.user).unwrap().expect("a master key");
    let info = client.backup_version(None).unwrap();
    let sig = &info.auth_data.signatures[&a.user][&format!("ed25519:{master}")];
    let mut unsigned = serde_json::to_value(&info.auth_data).unwrap();
    unsigned.as_object_mut().unwrap().remove("signatures");
    // Canonical JSON of {"public_key": …} plus any extra fields: sorted keys, no spaces.
    let fields: std::collections::BTreeMap<String, serde_json::Value> =
        serde_json::from_value(unsigned).unwrap();
    let message = serde_json::to_string(&fields).unwrap();
    let key = ed25519_dalek::VerifyingKey::from_bytes(
        &recovery_key::decode_base64_public(&master)
            .unwrap()
            .try_into()
            .unwrap(),
    )
    .unwrap();
    let sig =
        ed25519_dalek::Signature::from_slice(&recovery_key::decode_base64(sig).unwrap()).unwrap();
    key.verify_strict(message.as_bytes(), &sig)
        .expect("the backup is signed by the master key");
}

#[test]
fn setup_with_a_generated_key_then_a_fresh_client_restores() {
    let dir = tmp("key");
    let Some(a) = Account::new(&dir) else { return };
    let o = run(&[&["status"][..], &a.auth()].concat(), "");
    assert_eq!(o.status.code(), Some(3));
    assert!(stdout(&o).contains("not set up"));

    let key_out = dir.join("security-key.txt");
    let o = run(
        &[&["setup", "--key-out", p(&key_out)][..], &a.auth()].concat(),
        "",
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let printed = stdout(&o).lines().last().unwrap().to_owned();
    assert_eq!(printed.len(), 59, "{printed}");
    assert_eq!(
        std::fs::read_to_string(&key_out).unwrap().trim_end(),
        printed
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&key_out).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    assert!(stderr(&o).contains("verified"), "{}", stderr(&o));

    // Upload sessions with the key from secret storage, then restore them as a fresh
    // client with only the printed Security Key.
    let (sessions, reference) = demo_sessions(&dir);
    upload_with(&a, &["--key-file", p(&key_out)], "", &sessions);
    assert_signed_by_master(&a);
    let o = run(
        &[&["restore", "--secret-storage"][..], &a.auth()].concat(),
        &format!("{printed}\n"),
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o), reference);

    let o = run(&[&["status", "--check"][..], &a.auth()].concat(), &printed);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(
        text.contains("set up")
            && text.contains("1000 keys")
            && text.contains("your Security Key (Recovery key) unlocked secret storage")
            && text.contains("which matches backup version 1"),
        "{text}"
    );

    // Existing setup: refused without --reset, nothing changed.
    let o = run(&[&["setup"][..], &a.auth()].concat(), "");
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("already set up") && stderr(&o).contains("--reset"),
        "{}",
        stderr(&o)
    );
    let o = run(
        &[&["restore", "--secret-storage"][..], &a.auth()].concat(),
        &printed,
    );
    assert_eq!(o.status.code(), Some(0));

    // --reset with the old key: a new key, the same cross-signing identity, and every
    // session still readable with it.
    let master_before = master_key(&a);
    let old = dir.join("old.txt");
    std::fs::write(&old, &printed).unwrap();
    let o = run(
        &[
            &["setup", "--reset", "--old-key-file", p(&old)][..],
            &a.auth(),
        ]
        .concat(),
        "",
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("copied 1000 sessions")
            && stderr(&o).contains("keeping this account's cross-signing keys"),
        "{}",
        stderr(&o)
    );
    assert_eq!(master_key(&a), master_before);
    assert_signed_by_master(&a);
    let new_key = stdout(&o).lines().last().unwrap().to_owned();
    assert_ne!(new_key, printed);
    let o = run(
        &[&["restore", "--secret-storage"][..], &a.auth()].concat(),
        &new_key,
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o), reference);
    // The old key no longer unlocks.
    let o = run(
        &[&["restore", "--secret-storage"][..], &a.auth()].concat(),
        &printed,
    );
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn setup_with_a_phrase_and_phrases_that_are_refused() {
    let dir = tmp("phrase");
    let Some(a) = Account::new(&dir) else { return };
    let login = [
        "--homeserver",
        a.url.as_str(),
        "--user",
        a.user.as_str(),
        "--password-file",
        p(&a.password_file),
    ];

    // Weak, then the account password itself: refused, nothing written.
    let o = run(
        &[&["setup", "--passphrase"][..], &login].concat(),
        "password123\n",
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("too easy to guess"), "{}", stderr(&o));
    let o = run(
        &[&["setup", "--passphrase"][..], &login].concat(),
        &format!("{}\n", a.password),
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("must not be your account password"),
        "{}",
        stderr(&o)
    );
    let o = run(&[&["status"][..], &login].concat(), "");
    assert_eq!(
        o.status.code(),
        Some(3),
        "nothing was written: {}",
        stdout(&o)
    );

    // A good phrase (read once from stdin, which is not a terminal here).
    let phrase = "  velvet harbour quietly juggles seventeen lanterns ";
    let o = run(
        &[&["setup", "--passphrase"][..], &login].concat(),
        &format!("{phrase}\n"),
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stderr(&o).contains("Security Phrase"));
    let (sessions, reference) = demo_sessions(&dir);
    upload_with(&a, &[], &format!("{phrase}\n"), &sessions);
    assert_signed_by_master(&a);
    let o = run(
        &[&["restore", "--secret-storage"][..], &a.auth()].concat(),
        &format!("{phrase}\n"),
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stderr(&o).contains("your Security Phrase unlocked secret storage"));
    assert_eq!(stdout(&o), reference);

    // A reset that cannot read the old cross-signing keys replaces them only when asked,
    // and the server's confirmation is answered with the account password.
    let before = master_key(&a);
    let o = run(&[&["setup", "--reset"][..], &login].concat(), "");
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("already has cross-signing keys"),
        "{}",
        stderr(&o)
    );
    assert_eq!(master_key(&a), before, "nothing was changed");
    let o = run(
        &[&["setup", "--reset", "--replace-cross-signing"][..], &login].concat(),
        "",
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("replacing the cross-signing keys")
            && stderr(&o).contains("uploaded new cross-signing keys"),
        "{}",
        stderr(&o)
    );
    assert_ne!(master_key(&a), before);
    assert_signed_by_master(&a);
}
