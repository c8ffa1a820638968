//! Files this crate writes are files every importer reads, and a new export is protected
//! by a real passphrase (issue 20).

use key_export::{
    ExportError, ExportOptions, ExportWriter, HEADER, MIN_ROUNDS, TRAILER, check_export_params,
    decrypt_export, decrypt_sessions, encrypt_export,
};
use serde_json::{Value, json};

fn low() -> ExportOptions {
    ExportOptions::new(3).allow_low_rounds()
}

fn plaintext(file: &str) -> Value {
    serde_json::from_slice(&decrypt_export(file, "pw").unwrap()).unwrap()
}

#[test]
fn an_export_of_no_sessions_is_an_empty_list() {
    let w = ExportWriter::new(Vec::new(), "pw", low()).unwrap();
    let file = String::from_utf8(w.finish().unwrap()).unwrap();
    assert_eq!(decrypt_export(&file, "pw").unwrap().as_slice(), b"[]");
    assert!(decrypt_sessions(&file, "pw").unwrap().is_empty());
}

#[test]
fn an_empty_plaintext_written_by_earlier_versions_reads_as_no_sessions() {
    let file = encrypt_export(b"", "pw", low()).unwrap();
    assert!(decrypt_sessions(&file, "pw").unwrap().is_empty());
}

#[test]
fn sessions_get_a_forwarding_chain_and_keep_everything_else() {
    let full = json!({
        "algorithm": "m.megolm.v1.aes-sha2", "room_id": "!r:x", "session_id": "s1",
        "sender_key": "k", "session_key": "AQ",
        "sender_claimed_keys": {"ed25519": "e"}, "forwarding_curve25519_key_chain": ["c"],
        "untrusted": true
    });
    let no_chain = json!({
        "algorithm": "m.megolm.v1.aes-sha2", "room_id": "!r:x", "session_id": "s2",
        "sender_key": "k", "session_key": "AQ", "sender_claimed_keys": {"ed25519": "e"}
    });
    let neither = json!({
        "algorithm": "m.megolm.v1.aes-sha2", "room_id": "!r:x", "session_id": "s3",
        "sender_key": "k", "session_key": "AQ", "m.shared_history": true
    });
    let nulls = json!({
        "algorithm": "m.megolm.v1.aes-sha2", "room_id": "!r:x", "session_id": "s4",
        "sender_key": "k", "session_key": "AQ", "sender_claimed_keys": null,
        "forwarding_curve25519_key_chain": null
    });
    let mut w = ExportWriter::new(Vec::new(), "pw", low()).unwrap();
    for s in [&full, &no_chain, &neither] {
        w.write_session_json(s.to_string().as_bytes()).unwrap();
    }
    // Pretty-printed text is handled as well.
    w.write_session_json(serde_json::to_string_pretty(&nulls).unwrap().as_bytes())
        .unwrap();
    assert_eq!(
        (w.sessions(), w.completed(), w.without_claimed_keys()),
        (4, 3, 2)
    );
    let file = String::from_utf8(w.finish().unwrap()).unwrap();
    let got = plaintext(&file);
    let got = got.as_array().unwrap();
    assert_eq!(got[0], full, "a complete entry is written as it was");
    for (entry, given) in got.iter().zip([&full, &no_chain, &neither, &nulls]) {
        assert!(
            entry["forwarding_curve25519_key_chain"].is_array(),
            "{entry}"
        );
        // Never `{}` or `null`: matrix-nio refuses a whole file over either.
        assert!(
            entry
                .get("sender_claimed_keys")
                .is_none_or(|v| v["ed25519"].is_string()),
            "{entry}"
        );
        for (name, value) in given.as_object().unwrap() {
            if !value.is_null() {
                assert_eq!(&entry[name], value, "{name} kept");
            }
        }
    }
    assert_eq!(got[1]["forwarding_curve25519_key_chain"], json!([]));
    assert!(got[2].get("sender_claimed_keys").is_none());
    assert!(got[3].get("sender_claimed_keys").is_none());
    // The typed reader takes them all.
    assert_eq!(decrypt_sessions(&file, "pw").unwrap().len(), 4);
}

#[test]
fn an_empty_passphrase_and_low_rounds_are_refused_before_any_work() {
    for phrase in ["", "\n", "  \t"] {
        assert!(matches!(
            ExportWriter::new(Vec::new(), phrase, MIN_ROUNDS),
            Err(ExportError::EmptyPassphrase)
        ));
        assert!(matches!(
            check_export_params(phrase, MIN_ROUNDS, false),
            Err(ExportError::EmptyPassphrase)
        ));
    }
    for rounds in [1, 1000, MIN_ROUNDS - 1] {
        let err = ExportWriter::new(Vec::new(), "pw", rounds).unwrap_err();
        assert!(
            matches!(err, ExportError::LowRounds(r) if r == rounds),
            "{err}"
        );
        assert!(err.to_string().contains("100,000"), "{err}");
        assert!(check_export_params("pw", rounds, false).is_err());
        assert!(check_export_params("pw", rounds, true).is_ok());
    }
    assert!(check_export_params("pw", MIN_ROUNDS, false).is_ok());
    assert!(check_export_params("pw", 0, true).is_err());
    // A passphrase with spaces around it is a passphrase (never trimmed).
    assert!(check_export_params(" pw ", MIN_ROUNDS, false).is_ok());
}

#[test]
fn a_bom_is_accepted_and_a_cut_file_is_told_so() {
    let file = encrypt_export(b"[]", "pw", low()).unwrap();
    let with_bom = format!("\u{feff}{file}");
    assert!(key_export::looks_like_export(&with_bom));
    assert_eq!(decrypt_export(&with_bom, "pw").unwrap().as_slice(), b"[]");

    let cut = &file[..file.find(TRAILER).unwrap() - 20];
    let err = decrypt_export(cut, "pw").unwrap_err();
    assert!(matches!(err, ExportError::Truncated), "{err}");
    assert!(err.to_string().contains("cut off"), "{err}");
    assert!(err.to_string().contains("no END line"), "{err}");
    assert_eq!(err.class(), "armor");
    let err = decrypt_export("hello", "pw").unwrap_err();
    assert!(matches!(err, ExportError::Armor), "{err}");
    assert!(file.starts_with(HEADER));
}
