//! Files that hold secrets are written atomically with mode 0600, never through a
//! symlink, and an interrupted restore leaves neither a temporary file nor a
//! half-written destination behind.
#![cfg(unix)]

mod common;
use std::{
    io::Write,
    os::unix::fs::PermissionsExt,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use common::{bin, demo_sessions, p, repo, run, stderr, tmp};

fn mode(path: &std::path::Path) -> u32 {
    std::fs::symlink_metadata(path)
        .unwrap()
        .permissions()
        .mode()
        & 0o777
}

fn leftovers(dir: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".megolm-backup"))
        .collect()
}

#[test]
fn an_existing_world_readable_output_becomes_private() {
    let dir = tmp("mode");
    // Where `demo_sessions` restores to.
    let out = dir.join("sessions.json");
    std::fs::write(&out, "old").unwrap();
    std::fs::set_permissions(&out, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (restored, text) = demo_sessions(&dir);
    assert_eq!(restored, out);
    assert_eq!(mode(&out), 0o600);
    assert!(text.starts_with('['));
    assert!(leftovers(&dir).is_empty(), "{:?}", leftovers(&dir));
}

#[test]
fn a_symlinked_output_is_replaced_not_followed() {
    let dir = tmp("symlink");
    let target = dir.join("elsewhere.txt");
    std::fs::write(&target, "not yours").unwrap();
    std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = dir.join("restored.json");
    std::os::unix::fs::symlink(&target, &out).unwrap();
    let pass = dir.join("pass.txt");
    std::fs::write(&pass, "export pass\n").unwrap();
    let o = run(
        &[
            "restore",
            "--key-file",
            "demo/recovery-key.txt",
            "--export-file",
            p(&out),
            "--export-passphrase-file",
            p(&pass),
            "--export-rounds",
            "100000",
            "demo/backup.json",
        ],
        "",
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        !std::fs::symlink_metadata(&out)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(mode(&out), 0o600);
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "not yours");
    assert_eq!(mode(&target), 0o644);
}

/// A restore reading its body from a pipe is interrupted while sort spill files exist
/// (open, without a name): it exits 130, leaves no file behind, and leaves the
/// destination as it was.
#[test]
fn an_interrupted_restore_leaves_nothing_behind() {
    let dir = tmp("interrupt");
    let out = dir.join("restored.json");
    std::fs::write(&out, "the previous file").unwrap();
    let body = std::fs::read(repo().join("demo/backup.json")).unwrap();
    let mut child = bin()
        .args([
            "restore",
            "--key-file",
            "demo/recovery-key.txt",
            "--out",
            p(&out),
        ])
        .args(["--sort-memory", "1", "--jobs", "1", "-"])
        .current_dir(repo())
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    // Most of the body, not all: the restore spills what it has and waits for the rest.
    stdin.write_all(&body[..body.len() * 3 / 4]).unwrap();
    stdin.flush().unwrap();
    let started = Instant::now();
    while common::temp_files_open_in(child.id(), &dir).is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no spill file appeared"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let killed = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let o = child.wait_with_output().unwrap();
    drop(stdin);
    assert_eq!(
        o.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(leftovers(&dir).is_empty(), "{:?}", leftovers(&dir));
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "the previous file");
}
