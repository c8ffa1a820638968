//! `setup` and `status` against a real Synapse: a fresh client unlocks with only what
//! the tool printed and restores what was uploaded.

mod common;
use std::path::{Path, PathBuf};

use common::{demo_sessions, p, run, stderr, stdout, tmp};
use homeserver::testing::{homeserver_url, new_user};

struct Acc {
    url: String,
    token: PathBuf,
    user: String,
    password: String,
}

fn acc(dir: &Path) -> Option<Acc> {
    let url = homeserver_url()?;
    let (client, user, password) = new_user(&url);
    let token = dir.join("token");
    std::fs::write(&token, client.access_token()).unwrap();
    Some(Acc {
        url,
        token,
        user,
        password,
    })
}

fn auth(a: &Acc) -> Vec<&str> {
    vec![
        "--homeserver",
        &a.url,
        "--access-token-file",
        a.token.to_str().unwrap(),
    ]
}

/// Uploads the demo sessions to the account's backup, with the backup key taken from
/// secret storage through the CLI (restore of an empty backup proves the unlock; the
/// key itself is fetched with `ssss get` on downloaded account data).
fn upload_with_key(a: &Acc, dir: &Path, backup_key: &str, sessions: &Path) {
    let key_file = dir.join("backup-key.txt");
    std::fs::write(&key_file, backup_key).unwrap();
    let o = run(
        &[
            &["upload", "--key-file", p(&key_file)][..],
            &auth(a),
            &[p(sessions)],
        ]
        .concat(),
        "",
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

/// The backup key in the account's secret storage, read through the library as a fresh
/// client (only with what the user was given).
fn backup_key_from_server(a: &Acc, given: &str) -> String {
    let client = homeserver::Client::new(&a.url, &std::fs::read_to_string(&a.token).unwrap());
    let mut events = serde_json::Map::new();
    for t in ["m.secret_storage.default_key", "m.megolm_backup.v1"] {
        events.insert(t.into(), client.account_data(&a.user, t).unwrap().unwrap());
    }
    let id = events["m.secret_storage.default_key"]["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let t = format!("m.secret_storage.key.{id}");
    events.insert(
        t.clone(),
        client.account_data(&a.user, &t).unwrap().unwrap(),
    );
    let store = ssss::SecretStore::from_json(&serde_json::Value::Object(events)).unwrap();
    let u = store.unlock(given).unwrap();
    store
        .backup_key(&u.key)
        .unwrap()
        .key
        .to_base64_secret()
        .to_string()
}

#[test]
fn setup_with_a_generated_key_then_a_fresh_client_restores() {
    let dir = tmp("key");
    let Some(a) = acc(&dir) else { return };
    let o = run(&[&["status"][..], &auth(&a)].concat(), "");
    assert_eq!(o.status.code(), Some(3));
    assert!(stdout(&o).contains("not set up"));

    let key_out = dir.join("security-key.txt");
    let o = run(
        &[&["setup", "--key-out", p(&key_out)][..], &auth(&a)].concat(),
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
    upload_with_key(&a, &dir, &backup_key_from_server(&a, &printed), &sessions);
    let o = run(
        &[&["restore", "--secret-storage"][..], &auth(&a)].concat(),
        &format!("{printed}\n"),
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o), reference);

    let o = run(&[&["status", "--check"][..], &auth(&a)].concat(), &printed);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(
        text.contains("set up")
            && text.contains("1000 keys")
            && text.contains("matches the current"),
        "{text}"
    );

    // Existing setup: refused without --reset, nothing changed.
    let o = run(&[&["setup"][..], &auth(&a)].concat(), "");
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("already set up") && stderr(&o).contains("--reset"),
        "{}",
        stderr(&o)
    );
    let o = run(
        &[&["restore", "--secret-storage"][..], &auth(&a)].concat(),
        &printed,
    );
    assert_eq!(o.status.code(), Some(0));

    // --reset with the old key: a new key, and every session still readable with it.
    let old = dir.join("old.txt");
    std::fs::write(&old, &printed).unwrap();
    let o = run(
        &[
            &["setup", "--reset", "--old-key-file", p(&old)][..],
            &auth(&a),
        ]
        .concat(),
        "",
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("copied 1000 sessions"),
        "{}",
        stderr(&o)
    );
    let new_key = stdout(&o).lines().last().unwrap().to_owned();
    assert_ne!(new_key, printed);
    let o = run(
        &[&["restore", "--secret-storage"][..], &auth(&a)].concat(),
        &new_key,
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o), reference);
    // The old key no longer unlocks.
    let o = run(
        &[&["restore", "--secret-storage"][..], &auth(&a)].concat(),
        &printed,
    );
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn setup_with_a_phrase_and_phrases_that_are_refused() {
    let dir = tmp("phrase");
    let Some(a) = acc(&dir) else { return };
    let pw_file = dir.join("password");
    std::fs::write(&pw_file, &a.password).unwrap();
    let login = [
        "--homeserver",
        a.url.as_str(),
        "--user",
        a.user.as_str(),
        "--password-file",
        p(&pw_file),
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
    upload_with_key(&a, &dir, &backup_key_from_server(&a, phrase), &sessions);
    let o = run(
        &[&["restore", "--secret-storage"][..], &auth(&a)].concat(),
        &format!("{phrase}\n"),
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stderr(&o).contains("with the passphrase"));
    assert_eq!(stdout(&o), reference);
}
