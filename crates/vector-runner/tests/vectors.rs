//! Runs every file in `test-vectors/` for every implemented kind.

use std::path::PathBuf;

use vector_runner::{Filter, IMPLEMENTED_KINDS, run_paths};

fn vectors_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../test-vectors")
}

#[test]
fn every_implemented_kind_passes_every_file() {
    let report = run_paths(&[vectors_dir()], &Filter::implemented()).unwrap();
    assert_eq!(report.failed(), 0, "\n{}", report.render_failures());
    // Count the selected cases independently of the runner: none may go missing.
    let filter = Filter::implemented();
    let mut selected = 0;
    for path in vector_runner::collect_files(&[vectors_dir()]).unwrap() {
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        selected += v["cases"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| filter.matches(c["kind"].as_str().unwrap()))
            .count();
    }
    assert_eq!(report.passed, selected);
    assert!(selected >= 50);
    eprintln!("{}", report.summary());
}

#[test]
fn each_implemented_kind_has_cases() {
    for kind in IMPLEMENTED_KINDS {
        let report = run_paths(&[vectors_dir()], &Filter::kinds([*kind])).unwrap();
        assert!(report.passed > 0, "no case of {kind} ran");
    }
}

#[test]
fn unknown_kinds_fail_rather_than_skip() {
    let file = vector_runner::parse_file(
        r#"{"schema":"mkb-vectors/1","cases":[{"id":"x","kind":"teleport.decode","input":{},"expected":{}}]}"#,
    )
    .unwrap();
    let mut report = vector_runner::Report::default();
    vector_runner::run_file("mem".as_ref(), &file, &Filter::all(), &mut report);
    assert_eq!(report.failed(), 1);
    assert!(report.failures[0].message.contains("unsupported kind"));
}

#[test]
fn a_wrong_expectation_fails() {
    // The runner must be able to fail: flip one expected byte of a real case.
    let file = vector_runner::parse_file(
        r#"{"schema":"mkb-vectors/1","cases":[
          {"id":"good","kind":"recovery_key.decode","input":{"recovery_key":"EsTc LW2K PGiF wKEA 3As5 g5c4 BXwk qeeJ ZJV8 Q9fu gUMN UE4d"},"expected":{"key_hex":"77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"}},
          {"id":"bad","kind":"recovery_key.decode","input":{"recovery_key":"EsTc LW2K PGiF wKEA 3As5 g5c4 BXwk qeeJ ZJV8 Q9fu gUMN UE4d"},"expected":{"key_hex":"77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2b"}},
          {"id":"wrong-class","kind":"recovery_key.decode","input":{"recovery_key":"EsTc LW2K PGiF wKEA 3As5 g5c4 BXwk qeeJ ZJV8 Q9fu gUMN UE4e"},"expected":{"error":"prefix"}},
          {"id":"any","kind":"recovery_key.decode","input":{"recovery_key":"EsTc LW2K PGiF wKEA 3As5 g5c4 BXwk qeeJ ZJV8 Q9fu gUMN UE4e"},"expected":{"error":"any"}}
        ]}"#,
    )
    .unwrap();
    let mut report = vector_runner::Report::default();
    vector_runner::run_file("mem".as_ref(), &file, &Filter::all(), &mut report);
    assert_eq!(report.passed, 2);
    let ids: Vec<_> = report.failures.iter().map(|f| f.id.as_str()).collect();
    assert_eq!(ids, ["bad", "wrong-class"]);
    assert_eq!(report.summary(), "2 passed, 2 failed");
}

/// The X25519 backend this run exercises computes RFC 7748 §6.1 (Alice's public key from
/// her private key), and is the one `scripts/test.sh` says this run must use
/// (`MKB_EXPECT_X25519`): aws-lc-rs when the workspace is built with the CLI, x25519-dalek
/// when the crypto crates are built alone.
#[test]
fn the_x25519_backend_is_the_expected_one_and_computes_rfc7748() {
    let mut alice = [0u8; 32];
    for (i, b) in alice.iter_mut().enumerate() {
        let hex = "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a";
        *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap();
    }
    let key = backup_cipher::BackupDecryptionKey::from_bytes(&alice);
    let public: String = key
        .public_key()
        .as_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(
        public,
        "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"
    );
    let backend = backup_cipher::x25519::BACKEND;
    eprintln!("X25519 backend: {backend}");
    if let Ok(expected) = std::env::var("MKB_EXPECT_X25519") {
        assert_eq!(backend, expected, "this run was meant to use {expected}");
    }
}
