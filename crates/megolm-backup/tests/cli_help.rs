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
        // A mistyped command line is an error (1), never "partly restored" (2).
        assert_eq!(o.status.code(), Some(1), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains("unexpected") || stderr(&o).contains("unrecognized"));
    }
}

/// The sections of a `--help` text: heading → the lines under it.
fn sections(help: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in help.lines() {
        if !line.starts_with(' ') && line.ends_with(':') {
            out.push((line.trim_end_matches(':').to_owned(), String::new()));
        } else if let Some((_, body)) = out.last_mut() {
            body.push_str(line);
            body.push('\n');
        }
    }
    out
}

/// The heading an option is listed under.
fn heading_of(help: &str, option: &str) -> Option<String> {
    let needle = format!("--{option} ");
    let bare = format!("--{option}\n");
    sections(help)
        .into_iter()
        .find(|(_, body)| {
            body.lines()
                .any(|l| l.trim_start().starts_with(&needle) || format!("{}\n", l.trim()) == bare)
        })
        .map(|(heading, _)| heading)
}

/// Each command says what it does for a user, without the API's words.
#[test]
fn commands_are_described_in_a_users_words() {
    let help = common::stdout(&common::run(&["--help"], ""));
    for api_word in ["GET /room_keys", "PUT /room_keys", "SSSS", "etag"] {
        assert!(!help.contains(api_word), "{api_word} in:\n{help}");
    }
    let restore = help
        .lines()
        .find(|l| l.trim_start().starts_with("restore "))
        .unwrap();
    assert!(restore.contains("Security Key"), "{restore}");
}

/// `restore --help` groups its options: what you have, where it goes, the homeserver,
/// tuning, in that order.
#[test]
fn restore_options_are_grouped() {
    let help = common::stdout(&common::run(&["restore", "--help"], ""));
    let expected = [
        ("key-file", "What you have"),
        ("key-stdin", "What you have"),
        ("account-data", "What you have"),
        ("backup-info", "What you have"),
        ("out", "Where it goes"),
        ("export-file", "Where it goes"),
        ("failures", "Where it goes"),
        ("homeserver", "The homeserver"),
        ("user", "The homeserver"),
        ("access-token-file", "The homeserver"),
        ("password-file", "The homeserver"),
        ("backup-version", "The homeserver"),
        ("jobs", "Tuning"),
        ("max-body-bytes", "Tuning"),
        ("sort-memory", "Tuning"),
        ("idle-timeout", "Tuning"),
    ];
    for (option, heading) in expected {
        assert_eq!(
            heading_of(&help, option).as_deref(),
            Some(heading),
            "--{option} in:\n{help}"
        );
    }
    let order: Vec<String> = sections(&help).into_iter().map(|(h, _)| h).collect();
    let place = |h: &str| order.iter().position(|x| x == h).unwrap();
    assert!(place("What you have") < place("Where it goes"), "{order:?}");
    assert!(
        place("Where it goes") < place("The homeserver"),
        "{order:?}"
    );
    assert!(place("The homeserver") < place("Tuning"), "{order:?}");
}

/// `doctor --help` groups its own options as restore's are, with its repairs between
/// what you have and the homeserver; nothing is left under the plain "Options" but help.
#[test]
fn doctor_options_are_grouped() {
    let help = common::stdout(&common::run(&["doctor", "--help"], ""));
    let expected = [
        ("key-file", "What you have"),
        ("backup-key-file", "What you have"),
        ("old-key-file", "What you have"),
        ("fix", "Repairs"),
        ("yes", "Repairs"),
        ("homeserver", "The homeserver"),
        ("password-file", "The homeserver"),
        ("sample", "Tuning"),
        ("all-entries", "Tuning"),
        ("no-entries", "Tuning"),
        ("idle-timeout", "Tuning"),
    ];
    for (option, heading) in expected {
        assert_eq!(
            heading_of(&help, option).as_deref(),
            Some(heading),
            "--{option} in:\n{help}"
        );
    }
    let order: Vec<String> = sections(&help).into_iter().map(|(h, _)| h).collect();
    let place = |h: &str| order.iter().position(|x| x == h).unwrap();
    assert!(place("What you have") < place("Repairs"), "{order:?}");
    assert!(place("Repairs") < place("The homeserver"), "{order:?}");
    assert!(place("The homeserver") < place("Tuning"), "{order:?}");
}

/// `setup` and `status` group their options as the other commands do: what you have,
/// what to do, where it goes, the homeserver, tuning (none left under "Options" but help).
#[test]
fn setup_and_status_options_are_grouped() {
    for (command, expected) in [
        (
            "setup",
            &[
                ("old-key-file", "What you have"),
                ("signing-key-file", "What you have"),
                ("passphrase", "What to do"),
                ("reset", "What to do"),
                ("replace-cross-signing", "What to do"),
                ("delete-old-version", "What to do"),
                ("discard-stale-backup-key", "What to do"),
                ("key-out", "Where it goes"),
                ("homeserver", "The homeserver"),
                ("idle-timeout", "Tuning"),
            ][..],
        ),
        (
            "status",
            &[
                ("check", "What you have"),
                ("key-file", "What you have"),
                ("homeserver", "The homeserver"),
            ][..],
        ),
    ] {
        let help = common::stdout(&common::run(&[command, "--help"], ""));
        for (option, heading) in expected {
            assert_eq!(
                heading_of(&help, option).as_deref(),
                Some(*heading),
                "{command} --{option} in:\n{help}"
            );
        }
        let order: Vec<String> = sections(&help).into_iter().map(|(h, _)| h).collect();
        let place = |h: &str| order.iter().position(|x| x == h).unwrap();
        assert!(
            place("What you have") < place("The homeserver"),
            "{order:?}"
        );
        assert!(place("The homeserver") < place("Tuning"), "{order:?}");
    }
}

/// The backup version is `--backup-version` beside the tool's own `-V/--version`; the old
/// spelling still means it but is no longer offered. Both name a version on the
/// homeserver: offline (a body from a file) they are refused rather than ignored.
#[test]
fn the_backup_version_is_named_unambiguously() {
    for command in ["restore", "fetch", "info", "upload"] {
        let help = common::stdout(&common::run(&[command, "--help"], ""));
        assert!(
            help.contains("--backup-version <VERSION>"),
            "{command}:\n{help}"
        );
        assert!(!help.contains("--version <"), "{command}:\n{help}");
    }
    let dir = common::tmp("backup-version");
    let out = dir.join("keys.json");
    for spelling in ["--backup-version", "--version"] {
        let o = common::restore_with_demo_key("demo/backup.json", &out, &[spelling, "1"]);
        let err = common::stderr(&o);
        assert_eq!(o.status.code(), Some(1), "{spelling}: {err}");
        assert!(
            err.contains("--homeserver") && err.contains("--backup-version <VERSION>"),
            "{spelling}: {err}"
        );
        assert!(!out.exists());
    }
}

/// The long options a `--help` text lists (`--help` and `--version` left out).
fn long_options(help: &str) -> Vec<String> {
    help.lines()
        .filter_map(|l| {
            let l = l.trim_start();
            let l = l
                .strip_prefix('-')
                .filter(|rest| !rest.starts_with('-'))
                .and_then(|rest| rest.get(3..))
                .unwrap_or(l);
            let name: String = l
                .strip_prefix("--")?
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                .collect();
            (!name.is_empty() && name != "help" && name != "version").then(|| format!("--{name}"))
        })
        .collect()
}

/// Whether `text` names `option` as a whole word (`--export` is not `--export-file`).
fn names(text: &str, option: &str) -> bool {
    text.match_indices(option).any(|(at, _)| {
        !text[at + option.len()..]
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '-')
    })
}

/// docs/cli.md documents every option every command's `--help` lists.
#[test]
fn every_option_in_the_help_is_in_the_cli_reference() {
    let docs = std::fs::read_to_string(common::repo().join("docs/cli.md")).unwrap();
    let mut missing = Vec::new();
    let mut checked = Vec::new();
    // The developer commands exist only in builds with their feature.
    let developer: Vec<&[&str]> = [
        (cfg!(feature = "bench"), &["bench"][..]),
        (cfg!(feature = "vectors"), &["vectors"][..]),
    ]
    .into_iter()
    .filter_map(|(built, command)| built.then_some(command))
    .collect();
    for command in [
        &["restore"][..],
        &["fetch"],
        &["upload"],
        &["info"],
        &["setup"],
        &["status"],
        &["doctor"],
        &["encrypt"],
        &["export", "decrypt"],
        &["export", "encrypt"],
        &["ssss", "unlock"],
        &["ssss", "get"],
        &["recovery-key", "generate"],
        &["recovery-key", "decode"],
        &["recovery-key", "encode"],
        &["recovery-key", "from-passphrase"],
    ]
    .into_iter()
    .chain(developer)
    {
        checked.push(command[0]);
        let o = common::run(&[command, &["--help"]].concat(), "");
        assert!(o.status.success(), "{command:?}: {}", common::stderr(&o));
        let help = common::stdout(&o);
        let options = long_options(&help);
        assert!(
            command[0] == "recovery-key" || !options.is_empty(),
            "{command:?}: no options read from:\n{help}"
        );
        for option in options {
            if !names(&docs, &option) {
                missing.push(format!("{} {option}", command.join(" ")));
            }
        }
    }
    // A command added to the tool must be added above.
    let top = common::stdout(&common::run(&["--help"], ""));
    let (_, listed) = sections(&top)
        .into_iter()
        .find(|(heading, _)| heading == "Commands")
        .unwrap();
    for line in listed.lines() {
        let name = line.split_whitespace().next().unwrap_or("help");
        assert!(
            name == "help" || checked.contains(&name),
            "{name} is not checked against docs/cli.md"
        );
    }
    assert!(
        missing.is_empty(),
        "not in docs/cli.md:\n{}",
        missing.join("\n")
    );
}
