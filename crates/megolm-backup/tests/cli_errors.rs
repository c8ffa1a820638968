//! Every row of docs/errors.md: the situation is run through the CLI, and the message
//! fragment the table documents must appear in what the tool printed. A row without a
//! situation here, or a situation without a row, fails the test.

mod common;
use std::{
    collections::BTreeMap,
    process::{Command, Stdio},
};

use common::{repo, run, tmp, write};

/// (id, fragment) of every error row in docs/errors.md.
fn documented() -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(repo().join("docs/errors.md")).unwrap();
    let mut rows = BTreeMap::new();
    for line in text.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        if cells.len() == 6 && cells[1].starts_with('`') && cells[2].starts_with('`') {
            rows.insert(
                cells[1].trim_matches('`').to_owned(),
                cells[2].trim_matches('`').to_owned(),
            );
        }
    }
    rows
}

fn out(o: &std::process::Output) -> (Option<i32>, String) {
    (
        o.status.code(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stderr),
            String::from_utf8_lossy(&o.stdout)
        ),
    )
}

const FIXTURE: &str = "crates/megolm-backup/tests/fixtures/account-data.json";
const ALICE: &str = "EsTc LW2K PGiF wKEA 3As5 g5c4 BXwk qeeJ ZJV8 Q9fu gUMN UE4d";

#[test]
fn every_documented_error_is_what_the_tool_prints() {
    let dir = tmp("errors");
    let expected: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            repo().join("crates/megolm-backup/tests/fixtures/account-data.expected.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let phrase = expected["passphrase"].as_str().unwrap().to_owned();
    let other_key = write(&dir, "other.txt", ALICE);
    let bad_key = write(&dir, "bad.txt", "hello there");
    let pass = write(&dir, "pass.txt", "x\n");
    // Account data whose key has no passphrase.
    let mut store = ssss::SecretStore::default();
    store.create_key(None, None).unwrap();
    let no_phrase = write(&dir, "no-phrase.json", &store.to_json().to_string());
    let empty = write(&dir, "empty.json", "{}");
    // The vodozemac restore case: a body with damaged entries.
    let vz: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("test-vectors/vodozemac-generated.json")).unwrap(),
    )
    .unwrap();
    let case = vz["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "vz-restore-3-rooms")
        .unwrap();
    let damaged = write(
        &dir,
        "damaged.json",
        &case["input"]["backup_json"].to_string(),
    );
    let vz_key = write(
        &dir,
        "vz-key.txt",
        case["input"]["key"]["base64"].as_str().unwrap(),
    );

    let mut results: BTreeMap<&str, (Option<i32>, String)> = BTreeMap::new();
    macro_rules! add {
        ($id:expr, $args:expr, $stdin:expr) => {
            results.insert($id, out(&run($args, $stdin)))
        };
    }
    add!(
        "rk-passphrase",
        &["recovery-key", "decode"],
        "correct horse battery staple!"
    );
    add!(
        "rk-character",
        &["recovery-key", "decode"],
        "EsTc LW2K PGiF wKEA 3As5 g5c4 BXwk qeeJ ZJV8 Q9fu gUMN UE40"
    );
    add!(
        "rk-length",
        &["recovery-key", "decode"],
        "EsTc LW2K PGiF wKEA 3As5 g5c4 BXwk qeeJ ZJV8 Q9fu gUMN"
    );
    add!(
        "rk-parity",
        &["recovery-key", "decode"],
        "EsTc LW2K PGiF wKEA 3As5 g5c4 BXwk qeeJ ZJV8 Q9fu gUMN UE4e"
    );
    add!(
        "rk-prefix",
        &["recovery-key", "decode"],
        "EsVQGBWzbfTbjytzf8y9TemdBYa376FoSVeZEG4fyTEnKE34"
    );
    add!(
        "key-file",
        &["restore", "--key-file", &bad_key, "demo/backup.json"],
        ""
    );
    add!(
        "iterations",
        &[
            "recovery-key",
            "from-passphrase",
            "--salt",
            "s",
            "--iterations",
            "20000000"
        ],
        "x"
    );
    add!(
        "key-mismatch",
        &[
            "restore",
            "--key-file",
            &other_key,
            "--backup-info",
            "demo/backup-info.json",
            "demo/backup.json"
        ],
        ""
    );
    add!(
        "stale-4s",
        &[
            "restore",
            "--account-data",
            FIXTURE,
            "--backup-info",
            "demo/backup-info.json",
            "demo/backup.json"
        ],
        &phrase
    );
    add!(
        "key-no-match",
        &[
            "restore",
            "--account-data",
            FIXTURE,
            "--backup-info",
            "demo/backup-info.json",
            "--key-file",
            &other_key,
            "demo/backup.json"
        ],
        ""
    );
    add!(
        "corrupt-entry",
        &["restore", "--key-file", &vz_key, &damaged],
        ""
    );
    add!(
        "body",
        &[
            "restore",
            "--key-file",
            "demo/recovery-key.txt",
            "demo/backup-info.json"
        ],
        ""
    );
    add!(
        "too-large",
        &[
            "restore",
            "--key-file",
            "demo/recovery-key.txt",
            "--max-body-bytes",
            "100",
            "demo/backup.json"
        ],
        ""
    );
    add!(
        "stdin-twice",
        &[
            "restore",
            "--passphrase-stdin",
            "--backup-info",
            "demo/backup-info.json",
            "-"
        ],
        "x"
    );
    add!(
        "4s-wrong-key",
        &["ssss", "unlock", "--account-data", FIXTURE],
        ALICE
    );
    add!(
        "4s-wrong-passphrase",
        &["ssss", "unlock", "--account-data", FIXTURE],
        "not the phrase"
    );
    add!(
        "4s-no-passphrase",
        &["ssss", "unlock", "--account-data", &no_phrase],
        "a passphrase, surely"
    );
    add!(
        "4s-none",
        &["ssss", "unlock", "--account-data", &empty],
        ALICE
    );
    add!(
        "4s-missing-secret",
        &["ssss", "get", "m.nothing", "--account-data", FIXTURE],
        &phrase
    );
    add!(
        "export-passphrase",
        &[
            "export",
            "decrypt",
            "demo/backup.json",
            "--passphrase-file",
            &pass
        ],
        ""
    );
    let export = dir.join("e.txt");
    let sessions = dir.join("s.json");
    run(
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
    run(
        &[
            "export",
            "encrypt",
            sessions.to_str().unwrap(),
            "--out",
            export.to_str().unwrap(),
            "--passphrase-file",
            &pass,
            "--rounds",
            "10",
            "--allow-low-rounds",
        ],
        "",
    );
    let wrong = write(&dir, "wrong.txt", "y\n");
    add!(
        "export-passphrase",
        &[
            "export",
            "decrypt",
            export.to_str().unwrap(),
            "--passphrase-file",
            &wrong
        ],
        ""
    );
    add!(
        "export-armor",
        &[
            "export",
            "decrypt",
            "demo/backup.json",
            "--passphrase-file",
            &pass
        ],
        ""
    );
    add!(
        "export-no-tty",
        &[
            "restore",
            "--key-file",
            "demo/recovery-key.txt",
            "--export-file",
            dir.join("x.txt").to_str().unwrap(),
            "demo/backup.json"
        ],
        ""
    );
    let token = write(&dir, "token.txt", "syt_nope");
    add!(
        "unreachable",
        &[
            "info",
            "--homeserver",
            "http://127.0.0.1:9",
            "--access-token-file",
            &token
        ],
        ""
    );
    add!(
        "insecure-http",
        &[
            "info",
            "--homeserver",
            "http://0.0.0.0:9",
            "--access-token-file",
            &token
        ],
        ""
    );
    let not_pem = write(&dir, "not.pem", "no certificate here\n");
    add!(
        "ca-file",
        &[
            "info",
            "--homeserver",
            "https://127.0.0.1:9",
            "--access-token-file",
            &token,
            "--ca-file",
            &not_pem
        ],
        ""
    );
    let no_token = Command::new(env!("CARGO_BIN_EXE_megolm-backup"))
        .args(["info", "--homeserver", "http://127.0.0.1:9"])
        .env_remove("MATRIX_ACCESS_TOKEN")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    results.insert("no-token", out(&no_token));

    // The rows that need a real homeserver.
    if let Some(url) = homeserver::testing::homeserver_url() {
        let (client, user, password) = homeserver::testing::new_user(&url);
        let tok = write(&dir, "good-token.txt", client.access_token());
        let pw = write(&dir, "pw.txt", &password);
        add!(
            "bad-token",
            &["info", "--homeserver", &url, "--access-token-file", &token],
            ""
        );
        add!(
            "no-backup",
            &[
                "fetch",
                "--homeserver",
                &url,
                "--access-token-file",
                &tok,
                "--out",
                dir.join("f.json").to_str().unwrap()
            ],
            ""
        );
        add!(
            "weak-phrase",
            &[
                "setup",
                "--passphrase",
                "--homeserver",
                &url,
                "--access-token-file",
                &tok
            ],
            "password1"
        );
        add!(
            "account-password",
            &[
                "setup",
                "--passphrase",
                "--homeserver",
                &url,
                "--user",
                &user,
                "--password-file",
                &pw
            ],
            &password
        );
        let up = run(
            &[
                "upload",
                "--homeserver",
                &url,
                "--access-token-file",
                &tok,
                "--key-file",
                "demo/recovery-key.txt",
                sessions.to_str().unwrap(),
            ],
            "",
        );
        assert_eq!(up.status.code(), Some(0));
        add!(
            "other-key",
            &[
                "upload",
                "--homeserver",
                &url,
                "--access-token-file",
                &tok,
                "--key-file",
                &other_key,
                sessions.to_str().unwrap()
            ],
            ""
        );
        add!(
            "setup-exists",
            &["setup", "--homeserver", &url, "--access-token-file", &tok],
            ""
        );
        // An account set up by `setup` has cross-signing keys; a reset that cannot read
        // them from the old secret storage must not silently replace them.
        let (set_up, _, _) = homeserver::testing::new_user(&url);
        let tok2 = write(&dir, "token2.txt", set_up.access_token());
        let first = run(
            &["setup", "--homeserver", &url, "--access-token-file", &tok2],
            "",
        );
        assert_eq!(first.status.code(), Some(0), "{}", common::stderr(&first));
        add!(
            "cross-signing-exists",
            &[
                "setup",
                "--reset",
                "--homeserver",
                &url,
                "--access-token-file",
                &tok2
            ],
            ""
        );
        add!(
            "replace-needs-password",
            &[
                "setup",
                "--reset",
                "--replace-cross-signing",
                "--homeserver",
                &url,
                "--access-token-file",
                &tok2
            ],
            ""
        );
    }

    let docs = documented();
    let mut problems = Vec::new();
    for (id, fragment) in &docs {
        match results.get(id.as_str()) {
            None if homeserver::testing::homeserver_url().is_none() => {}
            None => problems.push(format!("{id}: documented but no situation runs it")),
            Some((code, text)) => {
                if !text.contains(fragment.as_str()) {
                    problems.push(format!("{id}: expected {fragment:?} in:\n{text}"));
                }
                if *code == Some(0) {
                    problems.push(format!("{id}: exited 0"));
                }
            }
        }
    }
    for id in results.keys() {
        if !docs.contains_key(*id) {
            problems.push(format!(
                "{id}: runs but is not documented in docs/errors.md"
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
