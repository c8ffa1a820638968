//! The help as a user reads it: what the installed tool offers, and nothing it does not.

mod common;

/// The tool built without the `bench` and `vectors` features (`cargo install`) has neither
/// command, nor the measuring option `--lanes`, and its help does not offer them.
#[cfg(not(any(feature = "bench", feature = "vectors")))]
#[test]
fn the_installed_tool_has_no_bench_vectors_or_lanes() {
    use common::{run, stderr, stdout};
    let help = run(&["--help"], "");
    assert!(help.status.success(), "{}", stderr(&help));
    let text = stdout(&help);
    for word in ["bench", "vectors", "lanes"] {
        assert!(!text.contains(word), "{word} in:\n{text}");
    }
    let restore = stdout(&run(&["restore", "--help"], ""));
    assert!(!restore.contains("--lanes"), "{restore}");
    for args in [
        &["bench", "--sessions", "10"][..],
        &["vectors", "test-vectors"][..],
        &["restore", "--lanes", "none", "demo/backup.json"][..],
    ] {
        let o = run(args, "");
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains("unexpected") || stderr(&o).contains("unrecognized"));
    }
}
