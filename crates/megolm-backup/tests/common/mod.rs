//! Running the built `megolm-backup` binary in tests.
#![allow(dead_code, unreachable_pub)]

use std::{
    io::Write,
    path::PathBuf,
    process::{Command, Output, Stdio},
};

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
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
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

/// The shipped demo backup restored to JSON in `dir`: the reference that every path
/// through the tool must reproduce. Returns the file and its text.
pub fn demo_sessions(dir: &std::path::Path) -> (PathBuf, String) {
    let out = dir.join("sessions.json");
    let o = run(
        &[
            "restore",
            "--key-file",
            "demo/recovery-key.txt",
            "--out",
            p(&out),
            "demo/backup.json",
        ],
        "",
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = std::fs::read_to_string(&out).unwrap();
    (out, text)
}
