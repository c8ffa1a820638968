//! Behaviour of the recovery-key type that the vector files do not pin down.

use proptest::prelude::*;
use recovery_key::{DecodeError, PassphraseError, PassphraseInfo, RecoveryKey};

const ALICE: &str = "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a";

fn alice() -> RecoveryKey {
    RecoveryKey::from_slice(&hex::decode(ALICE).unwrap()).unwrap()
}

#[test]
fn debug_prints_no_secret_byte() {
    let key = alice();
    let shown = format!("{key:?} {key:#?}");
    assert_eq!(format!("{key:?}"), "RecoveryKey([redacted])");
    for needle in [ALICE, &ALICE[..8], "EsTc", "119", "0x77", "[119"] {
        assert!(!shown.contains(needle), "{shown} leaks {needle}");
    }
}

#[test]
fn grouped_and_compact_forms() {
    let key = alice();
    assert_eq!(
        key.to_base58().as_str(),
        "EsTcLW2KPGiFwKEA3As5g5c4BXwkqeeJZJV8Q9fugUMNUE4d"
    );
    assert_eq!(
        key.to_base58_grouped().as_str(),
        "EsTc LW2K PGiF wKEA 3As5 g5c4 BXwk qeeJ ZJV8 Q9fu gUMN UE4d"
    );
}

#[test]
fn generated_keys_differ_and_round_trip() {
    let a = RecoveryKey::generate().unwrap();
    let b = RecoveryKey::generate().unwrap();
    assert_ne!(a, b);
    assert_eq!(a, a.to_base58_grouped().parse::<RecoveryKey>().unwrap());
}

#[test]
fn passphrase_typed_as_key_is_told_apart() {
    for phrase in [
        "correct horse battery staple",
        "Hunter2!",
        "my dog's name is Olli",
        "0000 1111 2222",
    ] {
        let err = RecoveryKey::from_base58(phrase).unwrap_err();
        assert!(err.looks_like_passphrase(), "{phrase}: {err:?}");
        assert!(err.to_string().contains("passphrase"), "{phrase}: {err}");
    }
    // A mistyped key is not called a passphrase.
    let err =
        RecoveryKey::from_base58("EsTc LW2K PGiF wKEA 3As5 g5c4 BXwk qeeJ ZJV8 Q9fu gUMN UE4e")
            .unwrap_err();
    assert_eq!(err, DecodeError::Parity);
    assert!(!err.looks_like_passphrase());
    let err = RecoveryKey::from_base58("EsTc LW2K PGiF wKEA 3As5 g5c4 BXwk qeeJ ZJV8 Q9fu gUMN")
        .unwrap_err();
    assert_eq!(err.class(), "length");
    assert!(!err.looks_like_passphrase(), "{err}");
    assert!(err.to_string().contains("44"), "{err}");
}

#[test]
fn base58_error_names_the_character() {
    let err =
        RecoveryKey::from_base58("EsTc LW2K PGiF wKEA 3As5 g5c4 BXwk qeeJ ZJV8 Q9fu gUMN UE40")
            .unwrap_err();
    assert_eq!(err.class(), "base58");
    let msg = err.to_string();
    assert!(msg.contains("'0'") && msg.contains("position 48"), "{msg}");
}

#[test]
fn iteration_cap_is_checked_before_work() {
    let mut info: PassphraseInfo =
        serde_json::from_str(r#"{"algorithm":"m.pbkdf2","salt":"s","iterations":4294967295}"#)
            .unwrap();
    // Would take hours if derived; must return at once.
    assert!(matches!(
        info.derive_key("x"),
        Err(PassphraseError::Iterations { .. })
    ));
    info.iterations = 0;
    assert!(matches!(
        info.derive_key("x"),
        Err(PassphraseError::Iterations { .. })
    ));
    info.iterations = 10;
    info.bits = Some(512);
    assert_eq!(
        info.derive_key("x").unwrap_err(),
        PassphraseError::Bits { bits: 512 }
    );
    info.bits = None;
    info.algorithm = "m.argon2".into();
    assert_eq!(info.derive_key("x").unwrap_err().class(), "algorithm");
}

#[test]
fn passphrase_info_serde_round_trips_exactly() {
    for text in [
        r#"{"algorithm":"m.pbkdf2","salt":"MmMsAlty","iterations":100000}"#,
        r#"{"algorithm":"m.pbkdf2","salt":"MmMsAlty","iterations":100000,"bits":256}"#,
        r#"{"algorithm":"m.pbkdf2","salt":"x","iterations":1,"bits":256,"org.example":[1]}"#,
    ] {
        let info: PassphraseInfo = serde_json::from_str(text).unwrap();
        assert_eq!(serde_json::to_string(&info).unwrap(), text);
    }
}

#[test]
fn generated_parameters_follow_element() {
    let info = PassphraseInfo::generate().unwrap();
    assert_eq!(info.salt.len(), 32);
    assert!(info.salt.chars().all(|c| c.is_ascii_alphanumeric()));
    assert_eq!(info.iterations, 500_000);
    assert_eq!(info.bits(), 256);
    assert_ne!(info.salt, PassphraseInfo::generate().unwrap().salt);
}

#[test]
fn legacy_auth_data_parameters() {
    let auth: serde_json::Value = serde_json::json!({
        "public_key": "x", "private_key_salt": "abc", "private_key_iterations": 1000
    });
    let info = PassphraseInfo::from_legacy_auth_data(&auth).unwrap();
    assert_eq!(
        (info.salt.as_str(), info.iterations, info.bits()),
        ("abc", 1000, 256)
    );
    let expected = recovery_key::derive_bits(b"pw", b"abc", 1000, 256).unwrap();
    assert_eq!(
        info.derive_key("pw").unwrap().as_bytes().as_slice(),
        expected.as_slice()
    );
    let err = PassphraseInfo::from_legacy_auth_data(&serde_json::json!({"public_key": "x"}));
    assert_eq!(err.unwrap_err(), PassphraseError::MissingLegacyParameters);
}

proptest! {
    #[test]
    fn any_32_bytes_round_trip(bytes in proptest::array::uniform32(any::<u8>())) {
        let key = RecoveryKey::from_slice(&bytes).unwrap();
        let compact = key.to_base58();
        prop_assert_eq!(compact.len(), 48);
        prop_assert!(compact.starts_with("Es"));
        let back: RecoveryKey = key.to_base58_grouped().parse().unwrap();
        prop_assert_eq!(back.as_bytes(), &bytes);
    }

    #[test]
    fn decoding_never_panics(s in "\\PC*") {
        let _ = RecoveryKey::from_base58(&s);
    }

    #[test]
    fn decoding_never_panics_near_keys(s in "[1-9A-HJ-NP-Za-km-z \\t\\n0OIl]{40,60}") {
        let _ = RecoveryKey::from_base58(&s);
    }
}

/// A Security Phrase typed where a key is expected is a secret: the error says what it
/// looks like, but holds none of its characters (it named the first odd one before).
#[test]
fn a_passphrase_leaves_nothing_of_itself_in_the_error() {
    let phrase = "correct horse battery staple!";
    let err = RecoveryKey::from_base58(phrase).unwrap_err();
    assert!(err.looks_like_passphrase());
    let shown = format!("{err} {err:?}");
    assert!(shown.contains("looks like a passphrase"), "{shown}");
    assert!(!shown.contains('!'), "{shown}");
    assert!(!shown.contains("position 1"), "{shown}");
    assert!(!shown.contains("'l'") && !shown.contains("'0'"), "{shown}");
    // A mistyped key is not a secret in the same way: its bad character is named.
    let err =
        RecoveryKey::from_base58("EsTc LW2K PGiF wKEA 3As5 g5c4 BXwk qeeJ ZJV8 Q9fu gUMN UE40")
            .unwrap_err();
    assert!(err.to_string().contains("character '0'"), "{err}");
}
