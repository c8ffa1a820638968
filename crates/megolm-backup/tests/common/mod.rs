//! Running the built `megolm-backup` binary in tests.
#![allow(dead_code, unreachable_pub)]

mod account;

use std::{
    io::Write,
    path::PathBuf,
    process::{Command, Output, Stdio},
};

// Not every test binary uses it.
#[allow(unused_imports)]
pub use account::Account;

pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_megolm-backup"))
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Runs the tool with `args`, feeding `stdin`.
pub fn run(args: &[&str], stdin: &str) -> Output {
    let mut child = bin()
        .args(args)
        .current_dir(repo())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The tool may finish without reading stdin (the key came from a file, or it failed
    // first): a closed pipe is not the test's failure.
    if let Err(e) = child.stdin.take().unwrap().write_all(stdin.as_bytes()) {
        assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "{e}");
    }
    child.wait_with_output().unwrap()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A scratch folder unique to this test binary and `name`.
pub fn tmp(name: &str) -> PathBuf {
    let exe = std::env::current_exe().ok();
    let binary = exe
        .as_deref()
        .and_then(|p| p.file_stem())
        .and_then(|s| s.to_str())
        .unwrap_or("t");
    let dir = std::env::temp_dir().join(format!("mkb-{binary}-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A path as a command-line argument.
pub fn p(path: &std::path::Path) -> &str {
    path.to_str().unwrap()
}

/// Writes `text` to `dir/name` and returns the path as an argument.
pub fn write(dir: &std::path::Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_owned()
}

/// `restore --key-file demo/recovery-key.txt [EXTRA…] --out OUT BODY`: a body restored
/// with the demo backup's own key.
pub fn restore_with_demo_key(body: &str, out: &std::path::Path, extra: &[&str]) -> Output {
    let mut args = vec!["restore", "--key-file", "demo/recovery-key.txt"];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["--out", p(out), body]);
    run(&args, "")
}

/// The shipped demo backup restored to JSON in `dir`: the reference that every path
/// through the tool must reproduce. Returns the file and its text.
pub fn demo_sessions(dir: &std::path::Path) -> (PathBuf, String) {
    let out = dir.join("sessions.json");
    let o = restore_with_demo_key("demo/backup.json", &out, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = std::fs::read_to_string(&out).unwrap();
    (out, text)
}

/// Restores the demo key's backup from `source` (`["demo/backup.json"]`, or homeserver
/// arguments) into an Element export file protected by `passphrase`; returns the export
/// and the passphrase file.
pub fn restore_demo_to_export(
    dir: &std::path::Path,
    passphrase: &str,
    source: &[&str],
) -> (PathBuf, PathBuf) {
    let pass = dir.join("export-pass.txt");
    std::fs::write(&pass, format!("{passphrase}\n")).unwrap();
    let export = dir.join("element-keys.txt");
    let mut args = vec![
        "restore",
        "--key-file",
        "demo/recovery-key.txt",
        "--export-file",
        p(&export),
        "--export-passphrase-file",
        p(&pass),
        "--export-rounds",
        "100000",
    ];
    args.extend_from_slice(source);
    let o = run(&args, "");
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    (export, pass)
}

/// Runs the Element-equivalent export reader/writer (tools/element-export.mjs, Node
/// WebCrypto) and returns its stdout.
pub fn element_export(args: &[&str]) -> Vec<u8> {
    let out = Command::new("node")
        .arg(repo().join("tools/element-export.mjs"))
        .args(args)
        .output()
        .expect(
            "Node.js is needed for the Element interop tests (it is on the project's machines)",
        );
    assert!(
        out.status.success(),
        "node: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// The temporary files the running process `pid` holds open in `dir`: named ones of
/// this tool (`.megolm-backup-*`) and unnamed ones (an `O_TMPFILE` or unlinked file,
/// which /proc shows as `dir/#123 (deleted)`).
#[cfg(target_os = "linux")]
pub fn temp_files_open_in(pid: u32, dir: &std::path::Path) -> Vec<PathBuf> {
    let dir = std::fs::canonicalize(dir).unwrap();
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return Vec::new();
    };
    fds.flatten()
        .filter_map(|fd| std::fs::read_link(fd.path()).ok())
        .filter(|target| {
            let name = target.to_string_lossy();
            target.parent() == Some(dir.as_path())
                && (name.ends_with(" (deleted)")
                    || target
                        .file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with(".megolm-backup")))
        })
        .collect()
}

/// Whether Element's code (`tools/element/setup.sh`: matrix-js-sdk, Element's export code)
/// and Node.js are here. Without them a test says so and skips, except under `CI`, where
/// it fails.
pub fn element_installed() -> bool {
    let dir = repo().join("tools/element");
    let ok = dir.join("node_modules/matrix-js-sdk/package.json").exists()
        && dir.join(".cache/MegolmExportEncryption.js").exists()
        && Command::new("node").arg("--version").output().is_ok();
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "Element's code is not installed in CI: scripts/test.sh must run tools/element/setup.sh \
             (Node.js and npm are needed)"
        );
        eprintln!("\n*** SKIPPED: run `bash tools/element/setup.sh` (needs Node.js and npm) ***\n");
    }
    ok
}

/// Runs Element's client (`tools/element/element-client.mjs CMD`) as `user` on the
/// homeserver at `url`, its report written to `dir/element-CMD.json`; returns the report.
pub fn run_element(
    url: &str,
    user: &str,
    password: &str,
    dir: &std::path::Path,
    cmd: &str,
    args: &[&str],
) -> serde_json::Value {
    // A later run of the same command in `dir` replaces it (tests read `element-setup.json`
    // as the messages a `recover --expect` checks).
    let out = dir.join(format!("element-{cmd}.json"));
    let o = Command::new("node")
        .arg(repo().join("tools/element/element-client.mjs"))
        .arg(cmd)
        .args(["--homeserver", url, "--user", user])
        .args(["--password", password])
        .args(args)
        .args(["--out", p(&out)])
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&o.stderr);
    let tail: Vec<&str> = log.lines().rev().take(40).collect();
    assert!(
        o.status.success(),
        "element-client {cmd} failed:\n{}",
        tail.into_iter().rev().collect::<Vec<_>>().join("\n")
    );
    serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap()
}
