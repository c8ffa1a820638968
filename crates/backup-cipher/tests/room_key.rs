//! The one room-key type: real room keys (matrix-rust-sdk's export vector, from
//! test-vectors/) read and written back byte for byte, unknown fields and member order
//! kept, the session key redacted; the same value is a restore's output, an upload's
//! input and an export's entry.

use backup_cipher::{BackupDecryptionKey, RestoreOptions, RoomKey, encrypt_sessions, restore_keys};
use serde_json::Value;

fn rust_sdk_export_keys() -> Vec<Value> {
    let file: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../test-vectors/matrix-rust-sdk.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let case = file["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "rust-key-export-real-decrypt")
        .unwrap();
    case["expected"]["plaintext_json"]
        .as_array()
        .unwrap()
        .clone()
}

#[test]
fn real_keys_round_trip_byte_for_byte_and_hide_the_session_key() {
    for original in rust_sdk_export_keys() {
        let mut with_extra = original.clone();
        with_extra["org.example.unknown"] = serde_json::json!({"kept": [1, 2]});
        for value in [original, with_extra] {
            let text = serde_json::to_string(&value).unwrap();
            let key: RoomKey = serde_json::from_str(&text).unwrap();
            assert_eq!(serde_json::to_string(&key).unwrap(), text);
            assert!(key.session_id_matches());
            let shown = format!("{key:?}");
            let session_key = value["session_key"].as_str().unwrap();
            assert!(!shown.contains(&session_key[..16]), "{shown}");
            assert!(shown.contains(&key.session_id));
        }
    }
}

#[test]
fn the_same_key_goes_from_upload_to_restore() {
    let keys: Vec<RoomKey> = rust_sdk_export_keys()
        .into_iter()
        .map(|v| serde_json::from_value(v).unwrap())
        .collect();
    let backup = BackupDecryptionKey::from_bytes(&[8; 32]);
    let (body, errors) = encrypt_sessions(backup.public_key(), &keys);
    assert!(errors.is_empty(), "{errors:?}");
    let restored = restore_keys(&backup, &body, &RestoreOptions::default()).unwrap();
    let back: Vec<RoomKey> = restored
        .sessions
        .iter()
        .map(|s| s.room_key().unwrap())
        .collect();
    assert_eq!(back, keys);
    // And through the backup plaintext type.
    let plain = keys[0].to_backed_up();
    let again = RoomKey::from_backed_up(&keys[0].room_id, &keys[0].session_id, plain);
    assert_eq!(again.session_key, keys[0].session_key);
    assert_eq!(again.first_message_index(), keys[0].first_message_index());
}
