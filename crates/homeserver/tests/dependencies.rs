//! One C crypto library: TLS runs on aws-lc-rs, which the fast X25519 backend already
//! uses; `ring` (rustls' other provider, which ureq's default features pull in) must not
//! be built. (It stays listed in Cargo.lock as an optional dependency of rustls-webpki
//! that nothing enables, so the resolved tree is what is checked.)

use std::process::Command;

#[test]
fn tls_brings_no_second_c_crypto_library() {
    let o = Command::new(env!("CARGO"))
        .args(["tree", "--workspace"])
        .args([
            "-e",
            "normal,build,dev",
            "--prefix",
            "none",
            "--format",
            "{p}",
        ])
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let tree = String::from_utf8_lossy(&o.stdout);
    let built: Vec<&str> = tree
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert!(built.contains(&"aws-lc-sys"), "{tree}");
    assert!(built.contains(&"rustls"), "{tree}");
    assert!(!built.contains(&"ring"), "ring is built again:\n{tree}");
}

/// The program's own build carries no test helpers: this library's `test-util` feature
/// (the scripted server, user registration, canned bodies) is enabled by the program's
/// dev-dependency only, never by its normal one.
#[test]
fn the_program_is_built_without_test_helpers() {
    let tree = |edges: &str| {
        let o = Command::new(env!("CARGO"))
            .args(["tree", "-p", "megolm-backup", "-e", edges])
            .args(["--prefix", "none", "--format", "{p} [{f}]"])
            .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .filter(|l| l.starts_with("megolm-backup-homeserver "))
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    let built = tree("normal");
    assert!(!built.is_empty(), "the program does not use this library");
    for line in &built {
        assert!(!line.contains("test-util"), "{line}");
    }
    // The check sees the feature where it is on: the program's tests.
    assert!(tree("normal,dev").iter().any(|l| l.contains("test-util")));
}
