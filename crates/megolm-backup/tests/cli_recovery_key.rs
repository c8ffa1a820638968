//! The `recovery-key` and `vectors` subcommands, end to end.

mod common;
use common::{run, stderr, stdout, tmp, write};

const ALICE_KEY: &str = "EsTc LW2K PGiF wKEA 3As5 g5c4 BXwk qeeJ ZJV8 Q9fu gUMN UE4d";
// RFC 7748 Alice scalar, base64.
const ALICE_B64: &str = "dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo";

#[test]
fn decode_and_encode() {
    let out = run(&["recovery-key", "decode"], &format!("{ALICE_KEY}\n"));
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim_end(), ALICE_B64);

    let out = run(&["recovery-key", "encode"], &format!("{ALICE_B64}\r\n"));
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim_end(), ALICE_KEY);
}

#[test]
fn bad_key_exits_1_with_the_typed_message() {
    let out = run(
        &["recovery-key", "decode"],
        "EsTc LW2K PGiF wKEA 3As5 g5c4 BXwk qeeJ ZJV8 Q9fu gUMN UE4e\n",
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("check digit"), "{}", stderr(&out));
    assert!(stdout(&out).is_empty());

    let out = run(
        &["recovery-key", "decode"],
        "correct horse battery staple\n",
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("passphrase"), "{}", stderr(&out));
}

#[test]
fn generate_prints_a_decodable_grouped_key() {
    let out = run(&["recovery-key", "generate"], "");
    assert!(out.status.success());
    let key = stdout(&out);
    let key = key.trim_end();
    assert_eq!(key.len(), 59);
    assert_eq!(key.split(' ').count(), 12);
    let back = run(&["recovery-key", "decode"], key);
    assert!(back.status.success());
}

#[test]
fn from_passphrase_matches_the_mautrix_vector() {
    // mautrix crypto/ssss/meta_test.go key1 (spec "Deriving keys from passphrases").
    let out = run(
        &[
            "recovery-key",
            "from-passphrase",
            "--salt",
            "y863BOoqOadgDp8S3FtHXikDJEalsQ7d",
            "--iterations",
            "500000",
        ],
        "correct horse battery staple\n",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out).trim_end(),
        "EsTE s92N EtaX s2h6 VQYF 9Kao tHYL mkyL GKMh isZb KJ4E tvoC"
    );
    // A trailing space is part of the passphrase.
    let out = run(
        &[
            "recovery-key",
            "from-passphrase",
            "--salt",
            "y863BOoqOadgDp8S3FtHXikDJEalsQ7d",
            "--iterations",
            "1000",
        ],
        "correct horse battery staple \n",
    );
    assert!(out.status.success());
    assert_ne!(
        stdout(&out).trim_end(),
        "EsTE s92N EtaX s2h6 VQYF 9Kao tHYL mkyL GKMh isZb KJ4E tvoC"
    );
    let out = run(
        &[
            "recovery-key",
            "from-passphrase",
            "--salt",
            "s",
            "--iterations",
            "20000000",
        ],
        "x\n",
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("10,000,000"));
}

/// Built only with the `vectors` feature (`cargo test -p megolm-backup --features vectors`).
#[cfg(feature = "vectors")]
#[test]
fn vectors_command_prints_summary_and_sets_status() {
    let out = run(
        &[
            "vectors",
            "--kind",
            "base58",
            "--kind",
            "recovery_key",
            "--kind",
            "passphrase",
            "test-vectors",
        ],
        "",
    );
    assert!(out.status.success(), "{}", stdout(&out));
    let text = stdout(&out);
    let last = text.lines().last().unwrap();
    assert!(last.ends_with(" passed, 0 failed"), "{last}");

    let dir = std::env::temp_dir().join(format!("mkb-vec-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("one.json");
    std::fs::write(
        &file,
        r#"{"schema":"mkb-vectors/1","cases":[{"id":"x","kind":"base58.encode","input":{"bytes_hex":"00"},"expected":{"base58":"2"}}]}"#,
    )
    .unwrap();
    let out = run(&["vectors", file.to_str().unwrap()], "");
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(text.contains("one.json: x [base58.encode]"), "{text}");
    assert!(text.ends_with("0 passed, 1 failed\n"), "{text}");
}

const DEMO_KEY: &str = "EsTh Ui8g Fmsu ayK9 HV3d e2ev Qq2V rYCn 3i6N NFSm xym7 ZZBr";

/// Key files as people have them (issue 20): a BOM is dropped; dashes and the wrong case
/// are told as such, never tried as a passphrase.
#[test]
fn key_files_with_a_bom_dashes_or_the_wrong_case() {
    let dir = tmp("key-shapes");
    let restore = |key: &str| run(&["restore", "--key-file", key, "demo/backup.json"], "");
    let bom = write(&dir, "bom.txt", &format!("\u{feff}{DEMO_KEY}\r\n"));
    let o = restore(&bom);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("session_key"));

    let dashed = write(&dir, "dashed.txt", &DEMO_KEY.replace(' ', "-"));
    let lower = write(&dir, "lower.txt", &DEMO_KEY.to_lowercase());
    for (file, want) in [(&dashed, "written with dashes"), (&lower, "case-sensitive")] {
        let o = restore(file);
        assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
        assert!(stderr(&o).contains(want), "{}", stderr(&o));
        assert!(!stderr(&o).contains("passphrase"), "{}", stderr(&o));
        assert!(stdout(&o).is_empty());
    }
    let o = run(&["recovery-key", "decode"], &DEMO_KEY.to_uppercase());
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("uppercased"), "{}", stderr(&o));
    assert!(!stderr(&o).contains("this one has 48"), "{}", stderr(&o));
}

/// The key typed after `--key-file` is not echoed as a file name; empty input is "no key
/// given", not an empty passphrase.
#[test]
fn the_key_itself_as_a_file_name_and_empty_input() {
    let o = run(
        &["restore", "--key-file", "EsTh Ui8g Fm", "demo/backup.json"],
        "",
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("looks like the key itself"),
        "{}",
        stderr(&o)
    );
    assert!(!stderr(&o).contains("EsTh"), "{}", stderr(&o));

    let dir = tmp("empty-key");
    let empty = write(&dir, "empty.txt", "\n");
    for o in [
        run(&["restore", "--key-file", &empty, "demo/backup.json"], ""),
        run(&["restore", "--key-file", "-", "demo/backup.json"], ""),
    ] {
        assert_eq!(o.status.code(), Some(1));
        assert!(stderr(&o).contains("no key given"), "{}", stderr(&o));
        assert!(
            !stderr(&o).contains("passphrase is wrong"),
            "{}",
            stderr(&o)
        );
    }
}

/// A well-formed key from before a reset: the useful part first, the public keys last,
/// and the CLI's hint on its own line.
#[test]
fn a_key_from_before_a_reset_says_so_first() {
    let o = run(
        &[
            "restore",
            "--account-data",
            "crates/megolm-backup/tests/fixtures/account-data.json",
            "--backup-info",
            "demo/backup-info.json",
            "--key-file",
            "-",
            "demo/backup.json",
        ],
        ALICE_KEY,
    );
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let err = stderr(&o);
    let first = err.find("from before the backup was reset").expect(&err);
    let keys = err.find("its public key is").expect(&err);
    assert!(first < keys, "{err}");
    assert!(
        err.contains("hint: ") && err.contains("setup --reset"),
        "{err}"
    );
}
