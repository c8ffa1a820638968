//! Every row of docs/errors.md: the situation is run through the CLI, and the message
//! fragment the table documents must appear in what the tool printed. A row without a
//! situation here, or a situation without a row, fails the test.

mod common;
use std::{
    collections::BTreeMap,
    process::{Command, Stdio},
    time::Duration,
};

use common::{repo, run, tmp, write};
use homeserver::testing::{Delivery, FakeServer, Reply};

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

/// The exit status of the rows that do not exit 1 (every other row exits 1).
const STATUSES: &[(&str, i32)] = &[
    ("corrupt-entry", 2),
    ("truncated-body", 2),
    ("damaged-body", 2),
    ("wrong-key", 3),
    // A key that opens neither the backup nor secret storage, found out before any
    // decrypting: the same status as when decrypting finds it out.
    ("key-before-reset", 3),
    ("key-mismatch", 3),
    ("key-no-match", 3),
    ("stale-4s", 3),
    ("nothing-restored", 4),
    ("fetch-cut", 5),
    ("fetch-damaged", 5),
    ("doctor-fix-no-tty", 6),
];

/// The rows that need a real homeserver (`homeserver::testing::homeserver_url`): without
/// one they are not run. Every other row always is.
const NEED_SYNAPSE: &[&str] = &[
    "bad-token",
    "no-backup",
    "weak-phrase",
    "account-password",
    "other-key",
    "setup-exists",
    "cross-signing-exists",
    "replace-needs-password",
    "setup-backup-only",
    "setup-4s-only",
    "setup-element-x",
    "setup-stale-key",
    "setup-unreadable-key",
    "doctor-fix-no-tty",
    "doctor-needs-password",
];

/// Text given in a situation that must never appear in what the tool prints.
const NEVER_PRINTED: &[&str] = &["PASSWORD", "SECRET"];

const VERSION: &str = "/_matrix/client/v3/room_keys/version";
const KEYS: &str = "/_matrix/client/v3/room_keys/keys";

fn version_body() -> serde_json::Value {
    serde_json::json!({
        "algorithm": "m.megolm_backup.v1.curve25519-aes-sha2",
        "auth_data": {"public_key": "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo"},
        "count": 1, "etag": "1", "version": "7"
    })
}

/// A scripted homeserver with backup version 7 whose keys download is `keys`.
fn server_with(keys: Reply) -> FakeServer {
    let server = FakeServer::start();
    server.on("GET", VERSION, [Reply::json(200, &version_body())]);
    server.on("GET", KEYS, [keys]);
    server
}

const USER: &str = "@alice:example.org";
/// USER's account data, as the requests percent-encode the user id in a path.
const ACCOUNT_DATA: &str = "/_matrix/client/v3/user/%40alice%3Aexample.org/account_data/";

/// A scripted homeserver holding a fresh account of USER (no backup, no secret storage,
/// no cross-signing keys) that accepts every write of `setup` but the account-data event
/// `failing`, which it refuses with a 403, as a server that forbids it would.
fn setup_refusing(failing: &str) -> FakeServer {
    setup_answering(
        failing,
        Reply::json(
            403,
            &serde_json::json!({"errcode": "M_FORBIDDEN", "error": "Cannot set this account data"}),
        ),
    )
}

/// [`setup_refusing`], with `reply` as the answer to the write of `failing`.
fn setup_answering(failing: &str, reply: Reply) -> FakeServer {
    let server = fresh_account(Reply::json(200, &serde_json::json!({"version": "1"})));
    // The first route that matches answers: the failing write before all the others.
    server.on("PUT", &format!("{ACCOUNT_DATA}{failing}"), [reply]);
    server.on(
        "PUT",
        &format!("{ACCOUNT_DATA}*"),
        [Reply::json(200, &serde_json::json!({}))],
    );
    server
}

/// A fresh account (no backup, no account data, no cross-signing keys) that accepts new
/// cross-signing keys and answers the creation of a backup version with `created`.
fn fresh_account(created: Reply) -> FakeServer {
    let server = FakeServer::start();
    let not_found = Reply::json(
        404,
        &serde_json::json!({"errcode": "M_NOT_FOUND", "error": "Not found"}),
    );
    server.on(
        "GET",
        "/_matrix/client/v3/account/whoami",
        [Reply::json(200, &serde_json::json!({"user_id": USER}))],
    );
    server.on("GET", VERSION, [not_found.clone()]);
    server.on("GET", &format!("{ACCOUNT_DATA}*"), [not_found]);
    server.on(
        "POST",
        "/_matrix/client/v3/keys/query",
        [Reply::json(200, &serde_json::json!({"master_keys": {}}))],
    );
    server.on(
        "POST",
        "/_matrix/client/v3/keys/device_signing/upload",
        [Reply::json(200, &serde_json::json!({}))],
    );
    server.on("POST", VERSION, [created]);
    server
}

/// A new user on the Synapse at `url` set up by `setup --key-out`: its client, user id,
/// token file and Security Key file (named after `name` in `dir`).
fn set_up_new_user(
    url: &str,
    dir: &std::path::Path,
    name: &str,
) -> (homeserver::Client, String, String, String) {
    let (client, user, _) = homeserver::testing::new_user(url);
    let token = write(dir, &format!("token-{name}.txt"), client.access_token());
    let key = dir.join(format!("{name}-security-key.txt"));
    let key = key.to_str().unwrap().to_owned();
    let first = run(
        &[
            "setup",
            "--homeserver",
            url,
            "--access-token-file",
            &token,
            "--key-out",
            &key,
        ],
        "",
    );
    assert_eq!(first.status.code(), Some(0), "{}", common::stderr(&first));
    (client, user, token, key)
}

/// `setup` against `server` fails (status 1) after sending `DELETE delete`: its stderr.
fn set_up_failing_after_delete(
    server: &FakeServer,
    token: &str,
    dir: &std::path::Path,
    delete: &str,
) -> String {
    let o = set_up(server, token, &dir.join("key.txt"));
    let stderr = common::stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    assert!(
        server
            .requests()
            .iter()
            .any(|r| r.method == "DELETE" && r.path == delete),
        "{stderr}"
    );
    stderr
}

/// `setup --key-out KEY_OUT` against `server`, with a token.
fn set_up(server: &FakeServer, token: &str, key_out: &std::path::Path) -> std::process::Output {
    run(
        &[
            "setup",
            "--homeserver",
            server.url(),
            "--access-token-file",
            token,
            "--key-out",
            key_out.to_str().unwrap(),
        ],
        "",
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
            &bad_key,
            "demo/backup.json"
        ],
        ""
    );
    add!(
        "key-before-reset",
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
    // The demo body cut in the middle of an entry, and with one quote lost in an entry.
    let demo_body = std::fs::read_to_string(repo().join("demo/backup.json")).unwrap();
    let cut = write(&dir, "cut.json", &demo_body[..demo_body.len() / 2 + 2000]);
    let quote = demo_body.find("\"ciphertext\"").unwrap();
    let lost_quote = write(
        &dir,
        "lost-quote.json",
        &format!("{}{}", &demo_body[..quote], &demo_body[quote + 1..]),
    );
    add!(
        "truncated-body",
        &["restore", "--key-file", "demo/recovery-key.txt", &cut],
        ""
    );
    add!(
        "damaged-body",
        &[
            "restore",
            "--key-file",
            "demo/recovery-key.txt",
            &lost_quote
        ],
        ""
    );
    // A JSON object that is no kind of file the tool knows.
    let not_a_body = write(&dir, "not-a-body.json", r#"{"backup": {"rooms": {}}}"#);
    add!(
        "body",
        &[
            "restore",
            "--key-file",
            "demo/recovery-key.txt",
            &not_a_body
        ],
        ""
    );
    // One file given where another is asked: told before the key is read.
    add!(
        "body-is-version",
        &[
            "restore",
            "--key-file",
            "demo/recovery-key.txt",
            "demo/backup-info.json"
        ],
        ""
    );
    add!(
        "info-is-body",
        &[
            "restore",
            "--key-file",
            "demo/recovery-key.txt",
            "--backup-info",
            "demo/backup.json",
            "demo/backup.json"
        ],
        ""
    );
    add!(
        "body-info-swapped",
        &[
            "restore",
            "--key-file",
            "demo/recovery-key.txt",
            "--backup-info",
            "demo/backup.json",
            "demo/backup-info.json"
        ],
        ""
    );
    add!(
        "key-file-is-body",
        &[
            "restore",
            "--key-file",
            "demo/backup.json",
            "demo/backup.json"
        ],
        ""
    );
    add!(
        "no-key-stdin",
        &["restore", "--key-stdin", "demo/backup.json"],
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
        "account-data-is-body",
        &["ssss", "unlock", "--account-data", "demo/backup.json"],
        ALICE
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
    let export = dir.join("e.txt");
    let sessions = dir.join("s.json");
    let made = run(
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
    assert_eq!(made.status.code(), Some(0), "{}", common::stderr(&made));
    let made = run(
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
    assert_eq!(made.status.code(), Some(0), "{}", common::stderr(&made));
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
    let not_export = write(&dir, "not-export.txt", "these are my notes\n");
    add!(
        "export-armor",
        &["export", "decrypt", &not_export, "--passphrase-file", &pass],
        ""
    );
    add!(
        "export-is-body",
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
        "body-is-export",
        &[
            "restore",
            "--key-file",
            "demo/recovery-key.txt",
            export.to_str().unwrap()
        ],
        ""
    );
    add!(
        "body-is-room-keys",
        &[
            "restore",
            "--key-file",
            "demo/recovery-key.txt",
            sessions.to_str().unwrap()
        ],
        ""
    );
    add!(
        "sessions-is-body",
        &[
            "export",
            "encrypt",
            "demo/backup.json",
            "--out",
            dir.join("e-body.txt").to_str().unwrap(),
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
    // Keys typed or given the wrong way.
    let dashed = ALICE.replace(' ', "-");
    add!(
        "rk-case",
        &["recovery-key", "decode"],
        &ALICE.to_lowercase()
    );
    add!("rk-dashes", &["recovery-key", "decode"], &dashed);
    let empty_key = write(&dir, "empty-key.txt", "");
    add!(
        "no-key",
        &["restore", "--key-file", &empty_key, "demo/backup.json"],
        ""
    );
    add!(
        "key-itself",
        &["restore", "--key-file", ALICE, "demo/backup.json"],
        ""
    );

    // Export files: passphrase and rounds rules, a file cut before its END line.
    let blank = write(&dir, "blank.txt", "\n");
    add!(
        "export-empty-passphrase",
        &[
            "export",
            "encrypt",
            sessions.to_str().unwrap(),
            "--out",
            dir.join("e-empty.txt").to_str().unwrap(),
            "--passphrase-file",
            &blank
        ],
        ""
    );
    add!(
        "export-low-rounds",
        &[
            "export",
            "encrypt",
            sessions.to_str().unwrap(),
            "--out",
            dir.join("e-low.txt").to_str().unwrap(),
            "--passphrase-file",
            &pass,
            "--rounds",
            "10"
        ],
        ""
    );
    let whole = std::fs::read_to_string(&export).unwrap();
    let end = whole.find("-----END").unwrap();
    let cut = write(&dir, "cut.txt", &whole[..end]);
    add!(
        "export-cut",
        &["export", "decrypt", &cut, "--passphrase-file", &pass],
        ""
    );

    // Outputs, checked before the work; runs that restore nothing write nothing. On a
    // copy of the demo backup: a regression must not destroy the repository's file.
    let body = dir.join("backup.json");
    std::fs::copy(repo().join("demo/backup.json"), &body).unwrap();
    let body = body.to_str().unwrap();
    add!(
        "output-is-input",
        &[
            "restore",
            "--key-file",
            "demo/recovery-key.txt",
            "--out",
            body,
            body
        ],
        ""
    );
    add!(
        "output-folder",
        &[
            "restore",
            "--key-file",
            "demo/recovery-key.txt",
            "--out",
            dir.to_str().unwrap(),
            body
        ],
        ""
    );
    add!(
        "output-no-folder",
        &[
            "restore",
            "--key-file",
            "demo/recovery-key.txt",
            "--out",
            dir.join("missing/sessions.json").to_str().unwrap(),
            body
        ],
        ""
    );
    let never = dir.join("never.json");
    add!(
        "wrong-key",
        &[
            "restore",
            "--key-file",
            &other_key,
            "--out",
            never.to_str().unwrap(),
            body
        ],
        ""
    );
    let broken = write(
        &dir,
        "broken.json",
        r#"{"rooms": {"!r:example.org": {"sessions": {"s1": {"first_message_index": 0}, "s2": 7}}}}"#,
    );
    add!(
        "nothing-restored",
        &[
            "restore",
            "--key-file",
            "demo/recovery-key.txt",
            "--out",
            never.to_str().unwrap(),
            &broken
        ],
        ""
    );
    assert!(
        !never.exists(),
        "a run that restored nothing wrote its output"
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
            "HTTP://0.0.0.0:9",
            "--access-token-file",
            &token
        ],
        ""
    );
    add!(
        "url-userinfo",
        &[
            "info",
            "--homeserver",
            "https://alice:PASSWORD@127.0.0.1:9",
            "--access-token-file",
            &token
        ],
        ""
    );
    add!(
        "url-invalid",
        &[
            "info",
            "--homeserver",
            "https://alice:PASSWORD@exa mple.org",
            "--access-token-file",
            &token
        ],
        ""
    );
    add!(
        "url-scheme",
        &[
            "info",
            "--homeserver",
            "ftp://matrix.example.org",
            "--access-token-file",
            &token
        ],
        ""
    );
    let bad_token = write(&dir, "bad-token.txt", "syt_two words_SECRET\n");
    add!(
        "token-file",
        &[
            "info",
            "--homeserver",
            "http://127.0.0.1:9",
            "--access-token-file",
            &bad_token
        ],
        ""
    );
    // A scripted homeserver on 127.0.0.1: silent, an HTML page, a cut download.
    let silent = FakeServer::start();
    silent.on(
        "GET",
        VERSION,
        [Reply::json(200, &version_body()).delivered(Delivery::Silent(Duration::from_secs(3)))],
    );
    add!(
        "stalled",
        &[
            "info",
            "--homeserver",
            silent.url(),
            "--access-token-file",
            &token,
            "--idle-timeout",
            "1"
        ],
        ""
    );
    let portal = server_with(Reply::bytes(
        200,
        "text/html",
        b"<html><body>Please sign in</body></html>".to_vec(),
    ));
    add!(
        "html",
        &[
            "fetch",
            "--homeserver",
            portal.url(),
            "--access-token-file",
            &token,
            "--out",
            dir.join("portal.json").to_str().unwrap()
        ],
        ""
    );
    let keys = br#"{"rooms": {"!r:example.org": {"sessions": {}}}}"#.to_vec();
    let cut_at = keys.len() / 2;
    let cutting = server_with(
        Reply::bytes(200, "application/json", keys).delivered(Delivery::CutAfter(cut_at)),
    );
    add!(
        "fetch-cut",
        &[
            "fetch",
            "--homeserver",
            cutting.url(),
            "--access-token-file",
            &token,
            "--out",
            dir.join("cut.json").to_str().unwrap()
        ],
        ""
    );
    let damaged = server_with(Reply::bytes(
        200,
        "application/json",
        br#"{"rooms": {"!r:example.org": {"sessions": {}}}} trailing"#.to_vec(),
    ));
    add!(
        "fetch-damaged",
        &[
            "fetch",
            "--homeserver",
            damaged.url(),
            "--access-token-file",
            &token,
            "--out",
            dir.join("damaged.json").to_str().unwrap()
        ],
        ""
    );
    // A setup the server stops after the Security Key was handed over: before the
    // default-key pointer moves (unfinished), or at the last write, `m.key_backup`.
    let unfinished = setup_refusing("m.secret_storage.default_key");
    results.insert(
        "setup-unfinished",
        out(&set_up(&unfinished, &token, &dir.join("unfinished.key"))),
    );
    let after = setup_refusing("m.key_backup");
    results.insert(
        "setup-after-set-up",
        out(&set_up(&after, &token, &dir.join("after.key"))),
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
    add!(
        "secret-typed-as-file",
        &[
            "info",
            "--homeserver",
            "http://127.0.0.1:9",
            "--access-token-file",
            "syt_YWxpY2U_SECRET_0abc12"
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
        // The account above now has a backup made with a recovery key only (by `upload`),
        // no secret storage and no cross-signing keys: a state of its own.
        add!(
            "setup-backup-only",
            &["setup", "--homeserver", &url, "--access-token-file", &tok],
            ""
        );
        // The doctor finds `m.key_backup` missing, which --fix repairs: without a terminal
        // to ask on and without --yes, nothing is changed.
        add!(
            "doctor-fix-no-tty",
            &[
                "doctor",
                "--fix",
                "--homeserver",
                &url,
                "--access-token-file",
                &tok,
                "--key-file",
                "demo/recovery-key.txt"
            ],
            ""
        );
        // A login of this tool kept (`--keep-login`) is one the doctor logs out; the
        // server asks for the password, which a token alone cannot give.
        let kept = run(
            &[
                "info",
                "--homeserver",
                &url,
                "--user",
                &user,
                "--password-file",
                &pw,
                "--keep-login",
            ],
            "",
        );
        assert_eq!(kept.status.code(), Some(0), "{}", common::stderr(&kept));
        add!(
            "doctor-needs-password",
            &[
                "doctor",
                "--fix",
                "--yes",
                "--homeserver",
                &url,
                "--access-token-file",
                &tok,
                "--key-file",
                "demo/recovery-key.txt"
            ],
            ""
        );
        // Secret storage (a Security Key) without a backup or cross-signing keys.
        let (four_s, four_s_user, _) = homeserver::testing::new_user(&url);
        let mut store = ssss::SecretStore::default();
        let (_, events) = store.create_key(None, Some("Security Key")).unwrap();
        for (event_type, content) in events {
            four_s
                .set_account_data(&four_s_user, &event_type, &content)
                .unwrap();
        }
        let tok4 = write(&dir, "token4.txt", four_s.access_token());
        add!(
            "setup-4s-only",
            &["setup", "--homeserver", &url, "--access-token-file", &tok4],
            ""
        );
        // What Element X leaves when recovery was never set up: cross-signing keys
        // uploaded (confirmed with the password), a backup version signed by the master
        // key, every private key kept on the device, nothing in account data.
        let (element_x, x_user, x_password) = homeserver::testing::new_user(&url);
        let keys = ssss::CrossSigningKeys::generate().unwrap();
        let upload = flows::requests::upload_cross_signing(keys.upload_body(&x_user).unwrap());
        let mut r = element_x.send_request(&upload).unwrap();
        if r.status == 401 {
            let again = flows::with_password(&upload, &r, &x_user, &x_password).unwrap();
            r = element_x.send_request(&again).unwrap();
        }
        assert_eq!(r.status, 200, "{:?}", r.body);
        let backup_key = backup_cipher::BackupDecryptionKey::generate().unwrap();
        let mut version = backup_cipher::BackupVersion::new(backup_key.public_key());
        keys.sign_backup(&mut version.auth_data, &x_user).unwrap();
        element_x.create_backup_version(&version).unwrap();
        let tok_x = write(&dir, "token-x.txt", element_x.access_token());
        add!(
            "setup-element-x",
            &["setup", "--homeserver", &url, "--access-token-file", &tok_x],
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
        // `setup` on an account that `setup` set up (the account above has a backup
        // without secret storage, a state of its own).
        add!(
            "setup-exists",
            &["setup", "--homeserver", &url, "--access-token-file", &tok2],
            ""
        );
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
        // Another client replaced the backup (a new version with a new key) without
        // updating secret storage, whose backup key opens only the older version: a reset
        // with the old Security Key would write over the only copy of that key.
        let (stale, _, tok_s, stale_key) = set_up_new_user(&url, &dir, "stale");
        let stale_key = stale_key.as_str();
        let other = backup_cipher::BackupDecryptionKey::generate().unwrap();
        stale
            .create_backup_version(&backup_cipher::BackupVersion::new(other.public_key()))
            .unwrap();
        let reset = [
            "setup",
            "--reset",
            "--old-key-file",
            stale_key,
            "--homeserver",
            &url,
            "--access-token-file",
            &tok_s,
        ];
        add!("setup-stale-key", &reset, "");
        let (_, said) = &results["setup-stale-key"];
        for hint in [
            "it opens backup version 1, still on the server",
            "hint: run `doctor --fix` first",
            "--discard-stale-backup-key",
        ] {
            assert!(said.contains(hint), "{hint}: {said}");
        }
        // As the hint says: the doctor, given the current version's own key, moves what
        // the stale key opens and then stores the current key; the reset then goes on.
        let current_key = write(
            &dir,
            "stale-current-key.txt",
            &other.to_recovery_key().to_base58_grouped(),
        );
        let doctor = run(
            &[
                "doctor",
                "--fix",
                "--yes",
                "--key-file",
                stale_key,
                "--backup-key-file",
                &current_key,
                "--homeserver",
                &url,
                "--access-token-file",
                &tok_s,
            ],
            "",
        );
        let doctor_said = format!("{}{}", common::stderr(&doctor), common::stdout(&doctor));
        assert!(matches!(doctor.status.code(), Some(0 | 6)), "{doctor_said}");
        let again = run(&reset, "");
        assert_eq!(
            again.status.code(),
            Some(0),
            "{doctor_said}\n{}",
            common::stderr(&again)
        );
        // Or chosen: the reset goes on over the stale key.
        let (stale2, _, tok_s2, stale_key2) = set_up_new_user(&url, &dir, "stale2");
        let stale_key2 = stale_key2.as_str();
        stale2
            .create_backup_version(&backup_cipher::BackupVersion::new(other.public_key()))
            .unwrap();
        let reset2 = [
            "setup",
            "--reset",
            "--old-key-file",
            stale_key2,
            "--homeserver",
            &url,
            "--access-token-file",
            &tok_s2,
        ];
        let refused = run(&reset2, "");
        assert_eq!(
            refused.status.code(),
            Some(1),
            "{}",
            common::stderr(&refused)
        );
        let discard = [&reset2[..], &["--discard-stale-backup-key"]].concat();
        let chosen = run(&discard, "");
        assert_eq!(chosen.status.code(), Some(0), "{}", common::stderr(&chosen));

        // The stored backup key encrypted under another secret-storage key only (as a
        // client that re-keyed secret storage without re-encrypting it leaves it): the
        // Security Key given cannot read it, so a reset does not write over it unasked.
        let (rekeyed, rekeyed_user, tok_r, rekeyed_key) = set_up_new_user(&url, &dir, "rekeyed");
        let rekeyed_key = rekeyed_key.as_str();
        let mut stored = rekeyed
            .account_data(&rekeyed_user, "m.megolm_backup.v1")
            .unwrap()
            .unwrap();
        let encrypted = stored["encrypted"].as_object_mut().unwrap();
        let (_, entry) = encrypted
            .iter()
            .next()
            .map(|(k, v)| (k.clone(), v.clone()))
            .unwrap();
        encrypted.clear();
        encrypted.insert("OLDKEY".into(), entry);
        rekeyed
            .set_account_data(&rekeyed_user, "m.megolm_backup.v1", &stored)
            .unwrap();
        let reset3 = [
            "setup",
            "--reset",
            "--old-key-file",
            rekeyed_key,
            "--homeserver",
            &url,
            "--access-token-file",
            &tok_r,
        ];
        add!("setup-unreadable-key", &reset3, "");
        let (_, said) = &results["setup-unreadable-key"];
        for hint in ["secret-storage key OLDKEY", "--discard-stale-backup-key"] {
            assert!(said.contains(hint), "{hint}: {said}");
        }
        assert_eq!(
            rekeyed
                .account_data(&rekeyed_user, "m.megolm_backup.v1")
                .unwrap()
                .as_ref(),
            Some(&stored),
            "written over: {said}"
        );
    }

    let docs = documented();
    let mut problems = Vec::new();
    for (id, fragment) in &docs {
        match results.get(id.as_str()) {
            None if NEED_SYNAPSE.contains(&id.as_str())
                && homeserver::testing::homeserver_url().is_none() => {}
            None => problems.push(format!("{id}: documented but no situation runs it")),
            Some((code, text)) => {
                if !text.contains(fragment.as_str()) {
                    problems.push(format!("{id}: expected {fragment:?} in:\n{text}"));
                }
                let status = STATUSES
                    .iter()
                    .find(|(row, _)| row == id)
                    .map_or(1, |(_, status)| *status);
                if *code != Some(status) {
                    problems.push(format!("{id}: exited {code:?}, not {status}:\n{text}"));
                }
                for secret in NEVER_PRINTED {
                    if text.contains(secret) {
                        problems.push(format!("{id}: printed {secret:?}:\n{text}"));
                    }
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

/// What the server holds after `setup` stopped: the account data written (every PUT
/// but the one refused) and the public key of the backup version created.
fn written(server: &FakeServer, refused: &str) -> (serde_json::Value, String) {
    let mut account_data = serde_json::Map::new();
    let mut public_key = None;
    for r in server.requests() {
        let body = || serde_json::from_slice::<serde_json::Value>(&r.body).unwrap();
        if r.method == "PUT"
            && let Some(event_type) = r.path.strip_prefix(ACCOUNT_DATA)
            && event_type != refused
        {
            account_data.insert(event_type.to_owned(), body());
        } else if r.method == "POST" && r.path == VERSION {
            public_key = body()["auth_data"]["public_key"]
                .as_str()
                .map(str::to_owned);
        }
    }
    (account_data.into(), public_key.unwrap())
}

/// A setup that stops after the new Security Key was handed over: the key is printed and
/// in `--key-out` (mode 0600), it opens the secrets written (the new backup's key among
/// them), and the hint says to keep it (and that a new run replaces `--key-out`) — when a
/// write is refused before the default-key pointer moved (unfinished), when the last
/// write, `m.key_backup`, is (set up: the doctor finishes it), and when the homeserver
/// stops answering (the client's error, which alone would not say it).
#[test]
fn a_setup_stopped_after_the_key_was_handed_over_leaves_the_key_that_opens_the_secrets() {
    let dir = tmp("stopped-setup");
    let token = write(&dir, "token.txt", "syt_nope");
    let pointer = "m.secret_storage.default_key";
    let cut = Reply::json(200, &serde_json::json!({})).delivered(Delivery::CutAfter(0));
    for (server, refused, said, hint) in [
        (
            setup_refusing(pointer),
            pointer,
            "Setup did not finish",
            "hint: keep the Security Key printed above until a setup finishes: the secrets \
             written so far open only with it. If it is in a --key-out file, copy it \
             elsewhere before setting up again: a new run writes its own key to --key-out",
        ),
        (
            setup_refusing("m.key_backup"),
            "m.key_backup",
            "recovery is set up",
            "hint: keep the Security Key printed above (also in the --key-out file, if \
             given): it unlocks the new secret storage and backup. To finish what is \
             missing: `doctor --fix --key-file FILE`",
        ),
        (
            setup_answering(pointer, cut),
            pointer,
            "cannot reach the homeserver",
            "hint: setup did not finish: keep the Security Key printed above until a setup \
             finishes, as secrets may already be written encrypted to it. If it is in a \
             --key-out file, copy it elsewhere",
        ),
    ] {
        let key_out = dir.join(format!("{refused}.key"));
        let o = set_up(&server, &token, &key_out);
        let (stdout, stderr) = (common::stdout(&o), common::stderr(&o));
        assert_eq!(o.status.code(), Some(1), "{refused}: {stderr}");
        assert!(stderr.contains(said), "{refused}: {stderr}");
        assert!(stderr.contains(hint), "{refused}: {stderr}");
        // The key in --key-out is the one printed, and only its owner reads the file.
        let saved = std::fs::read_to_string(&key_out).unwrap();
        let key = saved.trim_end();
        assert!(stdout.lines().any(|l| l == key), "{refused}: {stdout}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&key_out).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{refused}");
        }
        // It opens the secrets written: the backup key is the new version's.
        let (account_data, public_key) = written(&server, refused);
        let store = ssss::SecretStore::from_json(&account_data).unwrap();
        let key_id = account_data
            .as_object()
            .unwrap()
            .keys()
            .find_map(|t| t.strip_prefix("m.secret_storage.key."))
            .unwrap();
        let unlocked = store.unlock_key(key_id, key).unwrap();
        let secret = store
            .get_secret(&unlocked.key, ssss::MEGOLM_BACKUP_SECRET)
            .unwrap();
        let backup_key = backup_cipher::BackupDecryptionKey::from_base64(&secret).unwrap();
        assert_eq!(backup_key.public_key().to_base64(), public_key, "{refused}");
    }
}

/// A setup stopped before the new backup's key was stored (the key description refused)
/// deletes the new version again, which no key could open, and says so; when that delete
/// is refused too, the hint says to delete it before setting up again.
#[test]
fn a_setup_stopped_before_the_backup_key_was_stored_deletes_the_new_version() {
    let dir = tmp("rolled-back");
    let token = write(&dir, "token.txt", "syt_nope");
    let delete = "/_matrix/client/v3/room_keys/version/1";
    for (answer, said, hint) in [
        (
            Reply::json(200, &serde_json::json!({})),
            "The new backup version 1, whose key was not stored yet, was deleted again",
            "hint: keep the Security Key printed above until a setup finishes",
        ),
        (
            Reply::json(
                403,
                &serde_json::json!({"errcode": "M_FORBIDDEN", "error": "no"}),
            ),
            "could not be deleted",
            "hint: once the homeserver answers, delete that backup version",
        ),
    ] {
        let server = setup_refusing("m.secret_storage.key.*");
        server.on("DELETE", delete, [answer]);
        let stderr = set_up_failing_after_delete(&server, &token, &dir, delete);
        assert!(stderr.contains(said), "{stderr}");
        assert!(stderr.contains(hint), "{stderr}");
    }
}

/// A setup whose first secret-storage write gets no answer (the connection closes with
/// nothing, every retry too) deletes the new version again, as for a refusal, and says
/// that no answer came.
#[test]
fn a_setup_that_gets_no_answer_before_the_backup_key_was_stored_deletes_the_new_version() {
    let dir = tmp("no-answer");
    let token = write(&dir, "token.txt", "syt_nope");
    let delete = "/_matrix/client/v3/room_keys/version/1";
    let server = setup_answering(
        "m.secret_storage.key.*",
        Reply::json(200, &serde_json::json!({})).delivered(Delivery::Silent(Duration::ZERO)),
    );
    server.on("DELETE", delete, [Reply::json(200, &serde_json::json!({}))]);
    let stderr = set_up_failing_after_delete(&server, &token, &dir, delete);
    for said in [
        "no answer came from the homeserver",
        "The new backup version 1, whose key was not stored yet, was deleted again",
        "hint: keep the Security Key printed above until a setup finishes",
    ] {
        assert!(stderr.contains(said), "{said}: {stderr}");
    }
}

/// The request creating the new backup version gets no answer (a POST is not sent
/// again): the current version is read to learn whether it was made; none is seen, which
/// may only mean not seen yet, so nothing is deleted, the error says a version may exist,
/// and the hint says to check with `status` once the homeserver answers.
#[test]
fn a_version_creation_without_an_answer_is_looked_for_and_the_hint_says_to_wait() {
    let dir = tmp("no-answer-create");
    let token = write(&dir, "token.txt", "syt_nope");
    let server = fresh_account(
        Reply::json(200, &serde_json::json!({})).delivered(Delivery::Silent(Duration::ZERO)),
    );
    let o = set_up(&server, &token, &dir.join("key.txt"));
    let stderr = common::stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    let requests = server.requests();
    let created = requests
        .iter()
        .position(|r| r.method == "POST" && r.path == VERSION)
        .expect("the version was asked for");
    assert!(
        requests[created + 1..]
            .iter()
            .any(|r| r.method == "GET" && r.path == VERSION),
        "{stderr}"
    );
    assert!(!requests.iter().any(|r| r.method == "DELETE"), "{stderr}");
    for said in [
        "cannot create the new backup version: no answer came from the homeserver",
        "A new backup version may have been created all the same",
        "hint: once the homeserver answers, run `status`",
        "then run setup again with --reset --replace-cross-signing",
    ] {
        assert!(stderr.contains(said), "{said}: {stderr}");
    }
}
