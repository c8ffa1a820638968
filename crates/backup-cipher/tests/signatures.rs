//! Canonical JSON and Ed25519 signatures on auth_data.

use std::collections::BTreeMap;

use backup_cipher::{
    AuthData, BackupDecryptionKey, SignatureStatus, canonical_json, sign_auth_data, signed_bytes,
    verify_auth_data,
};
use ed25519_dalek::{SigningKey, Verifier};
use serde_json::json;

#[test]
fn canonical_json_matches_the_spec_examples() {
    // Examples from the Matrix spec appendix "Canonical JSON".
    let cases = [
        (json!({}), "{}"),
        (json!({"one": 1, "two": "Two"}), r#"{"one":1,"two":"Two"}"#),
        (json!({"b": "2", "a": "1"}), r#"{"a":"1","b":"2"}"#),
        (
            json!({"auth": {"success": true, "mxid": "@john.doe:example.com", "profile": {"display_name": "John Doe", "three_pids": [{"medium": "email", "address": "john.doe@example.org"}, {"medium": "msisdn", "address": "123456789"}]}}}),
            r#"{"auth":{"mxid":"@john.doe:example.com","profile":{"display_name":"John Doe","three_pids":[{"address":"john.doe@example.org","medium":"email"},{"address":"123456789","medium":"msisdn"}]},"success":true}}"#,
        ),
        (json!({"a": "日本語"}), r#"{"a":"日本語"}"#),
        (json!({"本": 2, "日": 1}), r#"{"日":1,"本":2}"#),
        (json!({"a": "\u{1F}"}), r#"{"a":"\u001f"}"#),
        (json!({"a": null}), r#"{"a":null}"#),
    ];
    for (value, expected) in cases {
        assert_eq!(canonical_json(&value).unwrap(), expected);
    }
    assert!(canonical_json(&json!({"a": 1.5})).is_err());
}

fn signing_key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

#[test]
fn signatures_cover_unknown_fields_and_report_each_key() {
    let key = BackupDecryptionKey::generate().unwrap();
    let mut auth = AuthData::new(key.public_key());
    auth.extra
        .insert("private_key_salt".into(), json!("legacy"));
    let device = signing_key(1);
    let master = signing_key(2);
    sign_auth_data(&mut auth, "@a:x", "ed25519:DEVICE", &device).unwrap();
    sign_auth_data(&mut auth, "@a:x", "ed25519:MASTERKEY", &master).unwrap();
    // The signature is over canonical JSON without `signatures`: check it independently.
    let msg = signed_bytes(&auth).unwrap();
    assert!(!msg.contains("signatures"));
    assert!(msg.contains("private_key_salt"));
    let sig = &auth.signatures["@a:x"]["ed25519:DEVICE"];
    let sig =
        ed25519_dalek::Signature::from_slice(&recovery_key::decode_base64(sig).unwrap()).unwrap();
    device.verifying_key().verify(msg.as_bytes(), &sig).unwrap();

    let mut keys = BTreeMap::new();
    keys.insert("ed25519:DEVICE".to_owned(), device.verifying_key());
    let report = verify_auth_data(&auth, "@a:x", &keys).unwrap();
    let by_id: BTreeMap<_, _> = report
        .iter()
        .map(|c| (c.key_id.as_str(), c.status.clone()))
        .collect();
    assert_eq!(by_id["ed25519:DEVICE"], SignatureStatus::Valid);
    assert_eq!(by_id["ed25519:MASTERKEY"], SignatureStatus::UnknownKey);

    // Changing a signed unknown field breaks the signature.
    auth.extra
        .insert("private_key_salt".into(), json!("tampered"));
    let report = verify_auth_data(&auth, "@a:x", &keys).unwrap();
    assert_eq!(
        report
            .iter()
            .find(|c| c.key_id == "ed25519:DEVICE")
            .unwrap()
            .status,
        SignatureStatus::Invalid
    );

    // A key given under the wrong id does not verify.
    keys.insert("ed25519:MASTERKEY".to_owned(), device.verifying_key());
    auth.extra
        .insert("private_key_salt".into(), json!("legacy"));
    let report = verify_auth_data(&auth, "@a:x", &keys).unwrap();
    assert_eq!(
        report
            .iter()
            .find(|c| c.key_id == "ed25519:MASTERKEY")
            .unwrap()
            .status,
        SignatureStatus::Invalid
    );
    assert!(verify_auth_data(&auth, "@b:x", &keys).unwrap().is_empty());
}

/// Signatures checked against bytes written by hand, not by `signed_bytes`: ours verify
/// over the canonical JSON a person writes from the spec, and a signature made by
/// ed25519-dalek directly over that text verifies through `verify_auth_data`.
#[test]
fn signatures_agree_with_canonical_json_written_by_hand() {
    let public = "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo";
    let by_hand = format!(r#"{{"private_key_iterations":500000,"public_key":"{public}"}}"#);
    let mut auth: AuthData = serde_json::from_value(json!({
        "public_key": public,
        "private_key_iterations": 500000,
    }))
    .unwrap();
    let device = signing_key(3);

    // Ours, verified by ed25519-dalek over the hand-written text.
    sign_auth_data(&mut auth, "@a:x", "ed25519:DEV", &device).unwrap();
    let sig = &auth.signatures["@a:x"]["ed25519:DEV"];
    let sig =
        ed25519_dalek::Signature::from_slice(&recovery_key::decode_base64(sig).unwrap()).unwrap();
    device
        .verifying_key()
        .verify(by_hand.as_bytes(), &sig)
        .unwrap();

    // Theirs: ed25519-dalek signs the hand-written text; we must accept it, and reject it
    // once a signed field changes.
    use ed25519_dalek::Signer;
    let theirs = recovery_key::encode_base64(&signing_key(4).sign(by_hand.as_bytes()).to_bytes());
    let mut other: AuthData = serde_json::from_value(json!({
        "public_key": public,
        "private_key_iterations": 500000,
        "signatures": {"@a:x": {"ed25519:OTHER": theirs}},
    }))
    .unwrap();
    let keys = BTreeMap::from([("ed25519:OTHER".to_owned(), signing_key(4).verifying_key())]);
    let status = |a: &AuthData| {
        verify_auth_data(a, "@a:x", &keys).unwrap()[0]
            .status
            .clone()
    };
    assert_eq!(status(&other), SignatureStatus::Valid);
    other
        .extra
        .insert("private_key_iterations".into(), json!(500001));
    assert_eq!(status(&other), SignatureStatus::Invalid);
}
