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
