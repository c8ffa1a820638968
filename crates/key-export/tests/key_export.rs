//! The export format beyond the vectors: layout, leniency, limits, streaming.

use key_export::{
    ExportError, ExportOptions, ExportWriter, ExportedRoomKey, HEADER, TRAILER, dearmor,
    decrypt_export, decrypt_sessions, encrypt_body_with, encrypt_export,
};

/// Few rounds, for speed: explicitly allowed.
fn low(rounds: u32) -> ExportOptions {
    ExportOptions::new(rounds).allow_low_rounds()
}
use proptest::prelude::*;
use serde_json::json;

#[test]
fn element_layout() {
    let pt = vec![b'x'; 1000];
    let armored = encrypt_export(&pt, "pw", low(10)).unwrap();
    let lines: Vec<&str> = armored.split('\n').collect();
    assert_eq!(lines[0], HEADER);
    assert_eq!(lines[lines.len() - 2], TRAILER);
    assert_eq!(
        lines[lines.len() - 1],
        "",
        "trailing newline after the trailer"
    );
    let body = &lines[1..lines.len() - 2];
    for l in &body[..body.len() - 1] {
        assert_eq!(l.len(), 128);
        assert!(!l.contains('='));
    }
    assert_eq!(body.join("").len() % 4, 0, "padded");
    let bytes = dearmor(&armored).unwrap();
    assert_eq!(bytes.len(), 37 + 1000 + 32);
    assert_eq!(bytes[0], 1);
    assert_eq!(bytes[25] & 0x80, 0, "IV bit 63 cleared");
    assert_eq!(u32::from_be_bytes(bytes[33..37].try_into().unwrap()), 10);
}

#[test]
fn streaming_writer_equals_the_one_shot_body() {
    let complete = json!({"forwarding_curve25519_key_chain": [], "sender_claimed_keys": {}});
    let mut sessions = vec![json!({"a": 1, "room_id": "!r"}), json!({"b": [1, 2]})];
    for s in &mut sessions {
        s.as_object_mut()
            .unwrap()
            .extend(complete.as_object().unwrap().clone());
    }
    let (salt, iv) = ([7u8; 16], [9u8; 16]);
    let mut out = Vec::new();
    let mut w = ExportWriter::with_parameters(&mut out, "pw", &salt, &iv, low(5)).unwrap();
    for s in &sessions {
        w.write_session(s).unwrap();
    }
    assert_eq!(w.sessions(), 2);
    w.finish().unwrap();
    let text = String::from_utf8(out).unwrap();
    let plaintext = format!("[\n{},\n{}\n]\n", sessions[0], sessions[1]);
    let body = encrypt_body_with(plaintext.as_bytes(), "pw", &salt, &iv, 5).unwrap();
    assert_eq!(dearmor(&text).unwrap(), body);
    assert_eq!(
        decrypt_export(&text, "pw").unwrap().as_slice(),
        plaintext.as_bytes()
    );
}

#[test]
fn armour_variants_real_files_have() {
    let armored = encrypt_export(b"[]", "pw", low(3)).unwrap();
    let body = dearmor(&armored).unwrap();
    let b64 = recovery_key::encode_base64(&body);
    let variants = [
        armored.replace('\n', "\r\n"),
        format!("  \n{HEADER}\n{b64}\n{TRAILER}"),
        format!(
            "{HEADER}\n{}\n{}\n  {TRAILER}  \n\n",
            &b64[..10],
            &b64[10..]
        ),
        format!(
            "garbage before\n{HEADER}\n{}\n{TRAILER}\ngarbage after",
            b64.chars()
                .collect::<Vec<_>>()
                .chunks(7)
                .map(|c| c.iter().collect::<String>())
                .collect::<Vec<_>>()
                .join("\n")
        ),
    ];
    for v in &variants {
        assert_eq!(decrypt_export(v, "pw").unwrap().as_slice(), b"[]", "{v:?}");
    }
    assert!(matches!(
        decrypt_export(&format!("{TRAILER}\n{b64}\n{HEADER}"), "pw").unwrap_err(),
        ExportError::Armor
    ));
    assert!(matches!(
        decrypt_export(&format!("{HEADER}\n{b64}!\n{TRAILER}"), "pw").unwrap_err(),
        ExportError::Base64
    ));
    assert!(matches!(
        decrypt_export(&armored, "PW").unwrap_err(),
        ExportError::Mac
    ));
    assert!(ExportError::Mac.to_string().contains("wrong passphrase"));
}

#[test]
fn rounds_are_capped_before_any_work() {
    // u32::MAX rounds would take hours: it must be refused at once.
    let mut body = encrypt_body_with(b"[]", "pw", &[0; 16], &[0; 16], 1).unwrap();
    body[33..37].copy_from_slice(&u32::MAX.to_be_bytes());
    let armored = format!(
        "{HEADER}\n{}\n{TRAILER}\n",
        recovery_key::encode_base64(&body)
    );
    assert!(matches!(
        decrypt_export(&armored, "pw").unwrap_err(),
        ExportError::Rounds(u32::MAX)
    ));
    assert!(encrypt_export(b"", "pw", low(0)).is_err());
    assert!(encrypt_export(b"", "pw", low(10_000_001)).is_err());
}

#[test]
fn typed_room_keys_keep_everything() {
    let entries = json!([{
        "algorithm": "m.megolm.v1.aes-sha2", "room_id": "!r:x", "session_id": "s",
        "sender_key": "k", "session_key": "AQ", "untrusted": true, "m.shared_history": true
    }, {
        "algorithm": "m.megolm.v1.aes-sha2", "room_id": "!r:x", "session_id": "t",
        "sender_key": "k", "session_key": "AQ", "sender_claimed_keys": {"ed25519": "e"},
        "forwarding_curve25519_key_chain": []
    }]);
    let armored = encrypt_export(entries.to_string().as_bytes(), "pw", low(2)).unwrap();
    let keys: Vec<ExportedRoomKey> = decrypt_sessions(&armored, "pw").unwrap();
    assert_eq!(keys[0].extra["untrusted"], true);
    assert!(keys[0].forwarding_curve25519_key_chain.is_none());
    assert_eq!(serde_json::to_value(&keys).unwrap(), entries);
    let not_keys = encrypt_export(b"{}", "pw", low(2)).unwrap();
    assert_eq!(
        decrypt_sessions(&not_keys, "pw").unwrap_err().class(),
        "json"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn round_trips(pt in proptest::collection::vec(any::<u8>(), 0..3000), pass in "\\PC{0,20}\\S", rounds in 1u32..20) {
        let armored = encrypt_export(&pt, &pass, low(rounds)).unwrap();
        prop_assert_eq!(decrypt_export(&armored, &pass).unwrap().to_vec(), pt);
    }

    #[test]
    fn never_panics(text in "\\PC{0,300}") {
        let _ = decrypt_export(&format!("{HEADER}\n{text}\n{TRAILER}"), "pw");
        let _ = decrypt_export(&text, "pw");
    }
}
