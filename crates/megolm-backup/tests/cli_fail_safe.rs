//! The CLI never destroys what is there: outputs are checked against inputs and each
//! other before any work, an existing FIFO or device is written in place, a run that
//! restored nothing replaces nothing, and no decrypted file outlives a killed run.
#![cfg(target_os = "linux")]

mod common;
use std::{
    io::{BufRead, BufReader, Read, Write},
    os::unix::fs::{FileTypeExt, PermissionsExt},
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

use common::{bin, p, repo, run, stderr, stdout, tmp};

/// The demo backup body, copied into `dir`.
fn demo_body(dir: &Path) -> PathBuf {
    let body = dir.join("b.json");
    std::fs::copy(repo().join("demo/backup.json"), &body).unwrap();
    body
}

/// The names in `dir`, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Runs the tool and checks that it refused (exit 1) with a message holding every
/// part of `said`.
fn refused(args: &[&str], said: &[&str]) {
    let o = run(args, "");
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{args:?}: {err}");
    for part in said {
        assert!(err.contains(part), "{args:?}: {part:?} not in {err}");
    }
}

const KEY: &str = "demo/recovery-key.txt";

#[test]
fn an_output_that_is_also_an_input_is_refused_and_nothing_changes() {
    let dir = tmp("same-file");
    let body = demo_body(&dir);
    let original = std::fs::read(&body).unwrap();
    let key = dir.join("key.txt");
    std::fs::copy(repo().join(KEY), &key).unwrap();
    let key_text = std::fs::read(&key).unwrap();

    // The body as the output.
    refused(
        &["restore", "--key-file", KEY, "--out", p(&body), p(&body)],
        &["--out", "the backup body", "same file"],
    );
    // Through a symlink, and through a hard link.
    let link = dir.join("link.json");
    std::os::unix::fs::symlink(&body, &link).unwrap();
    refused(
        &["restore", "--key-file", KEY, "--out", p(&link), p(&body)],
        &["--out", "the backup body", "same file"],
    );
    let hard = dir.join("hard.json");
    std::fs::hard_link(&body, &hard).unwrap();
    refused(
        &["restore", "--key-file", KEY, "--out", p(&hard), p(&body)],
        &["same file"],
    );
    // The same file by another spelling, not yet existing: two outputs.
    let out = dir.join("o.json");
    let other_spelling = dir.join(".").join("o.json");
    refused(
        &[
            "restore",
            "--key-file",
            KEY,
            "--out",
            p(&out),
            "--failures",
            p(&other_spelling),
            p(&body),
        ],
        &["--out", "--failures", "same file"],
    );
    // The Security Key file as the output.
    refused(
        &["restore", "--key-file", p(&key), "--out", p(&key), p(&body)],
        &["--out", "the key file", "same file"],
    );
    // The export passphrase file as the export.
    let pass = dir.join("pass.txt");
    std::fs::write(&pass, "export pass\n").unwrap();
    refused(
        &[
            "restore",
            "--key-file",
            KEY,
            "--export-file",
            p(&pass),
            "--export-passphrase-file",
            p(&pass),
            p(&body),
        ],
        &["--export-file", "the export passphrase file", "same file"],
    );
    // encrypt: its input as its output.
    let sessions = dir.join("sessions.json");
    std::fs::write(&sessions, "[]").unwrap();
    refused(
        &[
            "encrypt",
            "--public-key",
            "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo",
            "--out",
            p(&sessions),
            p(&sessions),
        ],
        &["--out", "same file"],
    );

    assert_eq!(std::fs::read(&body).unwrap(), original);
    assert_eq!(std::fs::read(&key).unwrap(), key_text);
    assert_eq!(std::fs::read_to_string(&pass).unwrap(), "export pass\n");
    assert_eq!(std::fs::read_to_string(&sessions).unwrap(), "[]");
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(
        names(&dir),
        [
            "b.json",
            "hard.json",
            "key.txt",
            "link.json",
            "pass.txt",
            "sessions.json"
        ]
    );
}

#[test]
fn a_bad_output_is_refused_before_any_work() {
    let dir = tmp("bad-out");
    let body = demo_body(&dir);
    // The key comes from stdin and is not a key at all: a refusal about the output shows
    // that the output was checked first.
    for (out, said) in [
        (dir.join("missing").join("o.json"), "missing"),
        (dir.clone(), "folder"),
        (body.with_file_name("b.json").join("o.json"), "not a folder"),
    ] {
        let o = run(
            &["restore", "--key-stdin", "--out", p(&out), p(&body)],
            "not a key\n",
        );
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(1), "{err}");
        assert!(
            err.contains("cannot write --out") && err.contains(said),
            "{err}"
        );
    }
}

#[test]
fn an_output_that_is_not_a_regular_file_is_written_in_place() {
    let dir = tmp("in-place");
    let body = demo_body(&dir);
    // The reference output, to a regular file.
    let reference = dir.join("reference.json");
    let o = run(
        &[
            "restore",
            "--key-file",
            KEY,
            "--out",
            p(&reference),
            p(&body),
        ],
        "",
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let expected = std::fs::read(&reference).unwrap();

    // A FIFO: its reader gets the sessions, and it stays a FIFO.
    let fifo = dir.join("fifo");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || {
            let mut got = Vec::new();
            std::fs::File::open(&fifo)
                .unwrap()
                .read_to_end(&mut got)
                .unwrap();
            got
        })
    };
    let o = run(
        &["restore", "--key-file", KEY, "--out", p(&fifo), p(&body)],
        "",
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    // Still a FIFO (checked first: if it was replaced, the reader waits forever).
    assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo());
    assert_eq!(reader.join().unwrap(), expected);

    // A symlink to a character device (/dev/null): written through, the link and the
    // device stay what they were.
    let null = dir.join("null");
    std::os::unix::fs::symlink("/dev/null", &null).unwrap();
    let o = run(
        &["restore", "--key-file", KEY, "--out", p(&null), p(&body)],
        "",
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        std::fs::symlink_metadata(&null)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert!(
        std::fs::metadata(&null)
            .unwrap()
            .file_type()
            .is_char_device()
    );

    // A symlink to /dev/stdout: the sessions come out on the tool's standard output.
    let to_stdout = dir.join("to-stdout");
    std::os::unix::fs::symlink("/dev/stdout", &to_stdout).unwrap();
    let o = run(
        &[
            "restore",
            "--key-file",
            KEY,
            "--out",
            p(&to_stdout),
            p(&body),
        ],
        "",
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(o.stdout, expected);
    assert!(
        std::fs::symlink_metadata(&to_stdout)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(
        names(&dir),
        ["b.json", "fifo", "null", "reference.json", "to-stdout"]
    );
}

/// A fresh recovery key made by the tool (not the demo backup's).
fn another_key(dir: &Path) -> PathBuf {
    let o = run(&["recovery-key", "generate"], "");
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let key = dir.join("other-key.txt");
    std::fs::write(&key, stdout(&o)).unwrap();
    key
}

#[test]
fn a_wrong_key_without_backup_info_writes_nothing_and_exits_3() {
    let dir = tmp("wrong-key");
    let body = demo_body(&dir);
    let key = another_key(&dir);
    let out = dir.join("earlier.json");
    std::fs::write(&out, "an earlier, good output").unwrap();
    let failures = dir.join("failures.json");
    let o = run(
        &[
            "restore",
            "--key-file",
            p(&key),
            "--out",
            p(&out),
            "--failures",
            p(&failures),
            p(&body),
        ],
        "",
    );
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(3), "{err}");
    assert!(
        err.contains("this key does not open this backup")
            && err.contains("recovery key")
            && !err.contains("still restored"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        "an earlier, good output"
    );
    assert!(!failures.exists());
    assert!(stdout(&o).is_empty());
}

#[test]
fn a_backup_of_only_broken_entries_writes_nothing_and_exits_4() {
    let dir = tmp("nothing-restored");
    let body = dir.join("broken.json");
    std::fs::write(
        &body,
        r#"{"rooms":{"!a:x":{"sessions":{"s1":{},"s2":{"session_data":1}}},"!b:x":{"sessions":{"s3":{"session_data":{"ephemeral":"!","ciphertext":"!","mac":"!"}}}}}}"#,
    )
    .unwrap();
    let out = dir.join("earlier.json");
    std::fs::write(&out, "an earlier, good output").unwrap();
    let o = run(
        &["restore", "--key-file", KEY, "--out", p(&out), p(&body)],
        "",
    );
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(4), "{err}");
    assert!(
        err.contains("nothing could be restored") && err.contains("3 entries failed"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        "an earlier, good output"
    );
}

#[test]
fn core_dumps_are_off() {
    let dir = tmp("core");
    // Children inherit this process's limits: let them dump cores, as far as allowed, so
    // that the tool's own limit is what the test sees.
    let limit = rustix::process::getrlimit(rustix::process::Resource::Core);
    rustix::process::setrlimit(
        rustix::process::Resource::Core,
        rustix::process::Rlimit {
            current: limit.maximum,
            maximum: limit.maximum,
        },
    )
    .unwrap();
    // The key from a file, the body from a pipe that stays open: the tool says what the
    // key is, then waits for the body.
    let mut child = bin()
        .args(["restore", "--key-file", KEY, "-"])
        .current_dir(repo())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    err.read_line(&mut line).unwrap();
    assert!(line.contains("recovery key"), "{line}");
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", child.id())).unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    let core = limits
        .lines()
        .find(|l| l.starts_with("Max core file size"))
        .unwrap();
    let fields: Vec<&str> = core.split_whitespace().collect();
    assert_eq!(fields[4..6], ["0", "0"], "{core}");
    drop(dir);
}

#[test]
fn a_killed_restore_leaves_no_decrypted_file() {
    let dir = tmp("sigkill");
    let out = dir.join("restored.json");
    std::fs::write(&out, "the previous file").unwrap();
    let body = std::fs::read(repo().join("demo/backup.json")).unwrap();
    let mut child = bin()
        .args(["restore", "--key-file", KEY, "--out", p(&out)])
        .args(["--sort-memory", "1", "--jobs", "1", "-"])
        .current_dir(repo())
        .stdin(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    // Most of the body, not all: the restore spills what it has and waits for the rest.
    stdin.write_all(&body[..body.len() * 3 / 4]).unwrap();
    stdin.flush().unwrap();
    // Until it holds spill files open in the output's folder (a bounded wait).
    let mut spills = Vec::new();
    for _ in 0..6000 {
        spills = common::temp_files_open_in(child.id(), &dir);
        if !spills.is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(!spills.is_empty(), "no spill file appeared");
    child.kill().unwrap();
    child.wait().unwrap();
    drop(stdin);
    assert_eq!(names(&dir), ["restored.json"]);
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "the previous file");
}

#[test]
fn a_leftover_of_a_killed_run_is_removed_and_said() {
    let dir = tmp("leftover");
    let body = demo_body(&dir);
    let ours = dir.join(".megolm-backup-AbCdEf.tmp");
    std::fs::write(&ours, "decrypted keys").unwrap();
    std::fs::set_permissions(&ours, std::fs::Permissions::from_mode(0o600)).unwrap();
    // Not ours: another mode.
    let other = dir.join(".megolm-backup-XyZ123.tmp");
    std::fs::write(&other, "someone's").unwrap();
    std::fs::set_permissions(&other, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = dir.join("o.json");
    let o = run(
        &["restore", "--key-file", KEY, "--out", p(&out), p(&body)],
        "",
    );
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(
        err.contains("removed") && err.contains(".megolm-backup-AbCdEf.tmp"),
        "{err}"
    );
    assert_eq!(
        names(&dir),
        [".megolm-backup-XyZ123.tmp", "b.json", "o.json"]
    );
}

/// A terminal as standard output: the pseudo-terminal's reading end (drained on a thread
/// into what it returns when the tool ends) and the writing end to give the tool.
fn terminal() -> (std::thread::JoinHandle<Vec<u8>>, std::fs::File) {
    use rustix::pty::{OpenptFlags, grantpt, openpt, ptsname, unlockpt};
    let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY).unwrap();
    grantpt(&master).unwrap();
    unlockpt(&master).unwrap();
    let name = ptsname(&master, Vec::new()).unwrap();
    let slave = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(name.to_str().unwrap())
        .unwrap();
    let mut master = std::fs::File::from(master);
    let reader = std::thread::spawn(move || {
        let mut seen = Vec::new();
        let mut buf = [0u8; 4096];
        // EIO once the tool (the last holder of the writing end) has exited.
        while let Ok(n) = master.read(&mut buf) {
            if n == 0 {
                break;
            }
            seen.extend_from_slice(&buf[..n]);
        }
        seen
    });
    (reader, slave)
}

/// Runs the tool with a terminal as standard output: how it ended, and what the terminal
/// showed.
fn on_a_terminal(args: &[&str]) -> (std::process::Output, Vec<u8>) {
    let (reader, tty) = terminal();
    let o = bin()
        .args(args)
        .current_dir(repo())
        .stdin(Stdio::null())
        .stdout(tty)
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    (o, reader.join().unwrap())
}

/// `--out` forgotten with a terminal as standard output: decrypted session keys are not
/// printed there (they would stay in its scrollback); the message says what to give.
/// `--out -` writes them there all the same; `export decrypt` is held to the same.
#[test]
fn decrypted_keys_are_not_printed_on_a_terminal_unless_asked() {
    let dir = tmp("terminal");
    let body = demo_body(&dir);
    let export = dir.join("keys.txt");
    let phrase = dir.join("phrase.txt");
    std::fs::write(&phrase, "a long passphrase for the test\n").unwrap();
    let key = repo().join("demo/recovery-key.txt");
    let made = run(
        &[
            "restore",
            "--key-file",
            p(&key),
            "--export-file",
            p(&export),
            "--export-passphrase-file",
            p(&phrase),
            p(&body),
        ],
        "",
    );
    assert!(made.status.success(), "{}", stderr(&made));
    let restore = ["restore", "--key-file", p(&key), p(&body)];
    let decrypt = [
        "export",
        "decrypt",
        "--passphrase-file",
        p(&phrase),
        p(&export),
    ];
    for (args, instead) in [
        (&restore[..], "--export-file FILE"),
        (&decrypt[..], "--out FILE"),
    ] {
        let (o, shown) = on_a_terminal(args);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {err}");
        assert!(
            err.contains("not writing decrypted session keys to the terminal"),
            "{err}"
        );
        assert!(err.contains(instead) && err.contains("--out -"), "{err}");
        assert!(
            !String::from_utf8_lossy(&shown).contains("session_key"),
            "{args:?}"
        );

        let (o, shown) = on_a_terminal(&[args, &["--out", "-"][..]].concat());
        assert!(o.status.success(), "{args:?}: {}", stderr(&o));
        assert!(
            String::from_utf8_lossy(&shown).contains("session_key"),
            "{args:?}"
        );
    }
}

/// The exit status says what happened whichever way it is found out: a key that does not
/// open the backup is 3 with `--backup-info` (checked first) as without (found out by
/// decrypting); a mistyped option, or a server option without `--homeserver` (it would
/// be ignored offline), is an error (1), never clap's 2, which means "partly restored".
#[test]
fn statuses_are_the_same_however_a_mistake_is_found() {
    let dir = tmp("statuses");
    let body = demo_body(&dir);
    let wrong = dir.join("wrong.txt");
    std::fs::write(
        &wrong,
        "EsTc LW2K PGiF wKEA 3As5 g5c4 BXwk qeeJ ZJV8 Q9fu gUMN UE4d\n",
    )
    .unwrap();
    let out = dir.join("o.json");
    let info = repo().join("demo/backup-info.json");
    let key = repo().join("demo/recovery-key.txt");
    for extra in [&[][..], &["--backup-info", p(&info)][..]] {
        let args = [
            &["restore", "--key-file", p(&wrong), "--out", p(&out)][..],
            extra,
            &[p(&body)][..],
        ]
        .concat();
        let o = run(&args, "");
        assert_eq!(o.status.code(), Some(3), "{args:?}: {}", stderr(&o));
        assert!(!out.exists());
    }
    for (args, said) in [
        (
            vec!["restore", "--key", p(&key), p(&body)],
            "unexpected argument",
        ),
        (
            vec![
                "restore",
                "--key-file",
                p(&key),
                "--backup-version",
                "3",
                p(&body),
            ],
            "--homeserver",
        ),
        (
            vec![
                "restore",
                "--key-file",
                p(&key),
                "--user",
                "@a:example.org",
                p(&body),
            ],
            "--homeserver",
        ),
    ] {
        let o = run(&args, "");
        assert_eq!(o.status.code(), Some(1), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(said), "{said}: {}", stderr(&o));
        assert!(!out.exists());
    }
}

/// A missing folder for an output, and a secret's file that does not exist, are said in
/// plain words before any work: which folder to create, which option named no file (the
/// name itself is not shown: it may be the secret).
#[test]
fn a_missing_folder_and_a_missing_secret_file_are_named() {
    let dir = tmp("missing");
    let body = demo_body(&dir);
    let key = repo().join("demo/recovery-key.txt");
    let nowhere = dir.join("nodir/x.json");
    refused(
        &[
            "restore",
            "--key-file",
            p(&key),
            "--out",
            p(&nowhere),
            p(&body),
        ],
        &["the folder", "nodir", "does not exist: create it"],
    );
    let export = dir.join("keys.txt");
    let o = run(
        &[
            "restore",
            "--key-file",
            p(&key),
            "--export-file",
            p(&export),
            "--export-passphrase-file",
            "hunter2-SECRET",
            p(&body),
        ],
        "",
    );
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("--export-passphrase-file: no file has the name given"),
        "{err}"
    );
    assert!(!err.contains("SECRET"), "{err}");
    assert!(!export.exists());
}
