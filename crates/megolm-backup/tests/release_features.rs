//! What the shipped builds carry: the program (`megolm-backup`, default features) and the
//! Python package (`megolm-backup-py`) are built without the libraries' low-level pieces
//! (`hazmat`: recovery-key's bare PBKDF2, backup-cipher's X25519 internals, the
//! fixed-IV/ephemeral encryptions) and without backup-cipher's synthetic backups
//! (`test-fixtures`). Only the benches, the vector runner, the fuzzers and the program's
//! non-default `bench` feature enable them.

use std::process::Command;

/// The crates whose features are checked, by package name.
const LIBRARIES: [&str; 4] = [
    "recovery-key",
    "backup-cipher",
    "matrix-secret-storage",
    "key-export",
];

/// Features no shipped build may enable.
const FORBIDDEN: [&str; 2] = ["hazmat", "test-fixtures"];

/// `cargo tree -p <package> -e normal`, one line per package as `name version [features]`,
/// the lines of [`LIBRARIES`] only.
fn resolved(package: &str, extra: &[&str]) -> Vec<String> {
    let o = Command::new(env!("CARGO"))
        .args(["tree", "-p", package, "-e", "normal"])
        .args(extra)
        .args(["--prefix", "none", "--format", "{p} [{f}]"])
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter(|l| {
            l.split_whitespace()
                .next()
                .is_some_and(|name| LIBRARIES.contains(&name))
        })
        .map(str::to_owned)
        .collect()
}

/// The features of one line: the comma-separated list in its brackets.
fn features(line: &str) -> Vec<&str> {
    line.rsplit_once('[')
        .and_then(|(_, rest)| rest.split_once(']'))
        .map(|(list, _)| list.split(',').map(str::trim).collect())
        .unwrap_or_default()
}

fn assert_clean(package: &str) {
    let lines = resolved(package, &[]);
    for library in LIBRARIES {
        assert!(
            lines.iter().any(|l| l.starts_with(&format!("{library} "))),
            "{package} does not use {library}: {lines:?}"
        );
    }
    for line in &lines {
        for feature in FORBIDDEN {
            assert!(
                !features(line).contains(&feature),
                "{package} is built with {feature}: {line}"
            );
        }
    }
}

#[test]
fn the_program_is_built_without_hazmat_or_fixtures() {
    assert_clean("megolm-backup");
}

#[test]
fn the_python_package_is_built_without_hazmat_or_fixtures() {
    assert_clean("megolm-backup-py");
}

/// The check sees the features where they are on: the program's `bench` feature and the
/// benches.
#[test]
fn the_check_sees_the_features_where_they_are_on() {
    let bench = resolved("megolm-backup", &["--features", "bench"]);
    assert!(
        bench.iter().any(|l| l.starts_with("backup-cipher ")
            && features(l).contains(&"hazmat")
            && features(l).contains(&"test-fixtures")),
        "{bench:?}"
    );
    let benches = resolved("benches", &[]);
    assert!(
        benches
            .iter()
            .any(|l| l.starts_with("recovery-key ") && features(l).contains(&"hazmat")),
        "{benches:?}"
    );
}
