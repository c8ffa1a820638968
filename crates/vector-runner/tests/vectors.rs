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

#[test]
fn report_backend() {
    // Which X25519 implementation this run exercised (see scripts/test.sh).
    eprintln!("X25519 backend: {}", backup_cipher::x25519::BACKEND);
}
