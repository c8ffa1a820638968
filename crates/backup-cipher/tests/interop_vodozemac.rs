//! Interop with vodozemac, an independent implementation of the same algorithm.

use backup_cipher::{
    BackupDecryptionKey, BackupPublicKey, EncryptedSessionData, RestoreOptions, encrypt_sessions,
    restore_slice,
};
use proptest::prelude::*;
use serde_json::json;
use vodozemac::{
    Curve25519PublicKey, Curve25519SecretKey,
    megolm::{ExportedSessionKey, GroupSession, InboundGroupSession, SessionConfig},
    pk_encryption::{Message, PkDecryption, PkEncryption},
};

fn b64(bytes: &[u8]) -> String {
    recovery_key::encode_base64(bytes)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn vodozemac_encrypts_we_decrypt(secret in proptest::array::uniform32(any::<u8>()),
                                     plaintext in proptest::collection::vec(any::<u8>(), 0..600)) {
        let ours = BackupDecryptionKey::from_slice(&secret).unwrap();
        let theirs = PkDecryption::from_key(Curve25519SecretKey::from_slice(&secret));
        prop_assert_eq!(theirs.public_key().to_bytes(), *ours.public_key().as_bytes());

        let msg = PkEncryption::from_key(theirs.public_key()).encrypt(&plaintext).unwrap();
        let data = EncryptedSessionData {
            ephemeral: msg.ephemeral_key.to_base64(),
            ciphertext: b64(&msg.ciphertext),
            mac: b64(&msg.mac),
        };
        let decrypted = ours.decrypt(&data).unwrap();
        prop_assert_eq!(decrypted.as_slice(), plaintext.as_slice());
    }

    #[test]
    fn we_encrypt_vodozemac_decrypts(secret in proptest::array::uniform32(any::<u8>()),
                                     plaintext in proptest::collection::vec(any::<u8>(), 0..600)) {
        let theirs = PkDecryption::from_key(Curve25519SecretKey::from_slice(&secret));
        let public = BackupPublicKey::from_bytes(theirs.public_key().to_bytes());
        let data = public.encrypt(&plaintext).unwrap();
        let msg = Message::from_base64(&data.ciphertext, &data.mac, &data.ephemeral).unwrap();
        prop_assert_eq!(theirs.decrypt(&msg).unwrap(), plaintext);
    }

    #[test]
    fn both_reject_what_the_other_rejects(secret in proptest::array::uniform32(any::<u8>()),
                                          flip in 0usize..8) {
        // A wrong MAC byte: both refuse.
        let theirs = PkDecryption::from_key(Curve25519SecretKey::from_slice(&secret));
        let ours = BackupDecryptionKey::from_slice(&secret).unwrap();
        let mut msg = PkEncryption::from_key(theirs.public_key()).encrypt(b"{}").unwrap();
        msg.mac[flip] ^= 1;
        let data = EncryptedSessionData {
            ephemeral: msg.ephemeral_key.to_base64(),
            ciphertext: b64(&msg.ciphertext),
            mac: b64(&msg.mac),
        };
        prop_assert!(theirs.decrypt(&msg).is_err());
        prop_assert_eq!(ours.decrypt(&data).unwrap_err().class().as_str(), "mac");
    }
}

#[test]
fn restored_megolm_sessions_decrypt_real_messages() {
    let key = BackupDecryptionKey::generate().unwrap();
    let mut outbound = Vec::new();
    let mut sessions = Vec::new();
    for i in 0..5 {
        let mut group = GroupSession::new(SessionConfig::version_1());
        // Advance some sessions so the export is not at index 0.
        for _ in 0..i {
            group.encrypt("earlier");
        }
        let inbound = InboundGroupSession::new(&group.session_key(), SessionConfig::version_1());
        let exported = inbound.export_at_first_known_index();
        let obj = json!({
            "algorithm": "m.megolm.v1.aes-sha2",
            "forwarding_curve25519_key_chain": [],
            "room_id": format!("!r{}:example.org", i % 2),
            "sender_claimed_keys": {"ed25519": "AAAA"},
            "sender_key": Curve25519PublicKey::from_bytes([9; 32]).to_base64(),
            "session_id": group.session_id(),
            "session_key": exported.to_base64(),
            "m.shared_history": true,
        });
        sessions.push(serde_json::from_value::<backup_cipher::RoomKey>(obj).unwrap());
        outbound.push(group);
    }
    let (body, errors) = encrypt_sessions(key.public_key(), &sessions);
    assert!(errors.is_empty());
    // Every session backed up at its own first message index.
    for (i, group) in outbound.iter().enumerate() {
        let room = format!("!r{}:example.org", i % 2);
        assert_eq!(
            body.rooms[&room].sessions[&group.session_id()].first_message_index,
            i as u64
        );
    }

    let text = serde_json::to_vec(&body).unwrap();
    let restored = restore_slice(&key, &text, &RestoreOptions::default()).unwrap();
    assert!(restored.failures.is_empty(), "{:?}", restored.failures);
    assert_eq!(restored.sessions.len(), 5);

    for group in &mut outbound {
        let message = group.encrypt("hello from the original session");
        let session = restored
            .sessions
            .iter()
            .find(|s| s.session_id() == group.session_id())
            .unwrap();
        let original = sessions
            .iter()
            .find(|s| s.session_id == group.session_id())
            .unwrap();
        // Byte for byte what was backed up (unknown fields included, members in their
        // order), with the ids written in front.
        let plain = original.plaintext_json().unwrap();
        let expected = format!(
            "{{\"room_id\":{},\"session_id\":{},{}",
            serde_json::to_string(&original.room_id).unwrap(),
            serde_json::to_string(&original.session_id).unwrap(),
            std::str::from_utf8(&plain[1..]).unwrap()
        );
        assert_eq!(session.json_text(), expected);
        assert_eq!(&session.room_key().unwrap(), original);
        let exported =
            ExportedSessionKey::from_base64(session.to_json()["session_key"].as_str().unwrap())
                .unwrap();
        let mut imported = InboundGroupSession::import(&exported, SessionConfig::version_1());
        assert_eq!(imported.session_id(), group.session_id());
        let decrypted = imported.decrypt(&message).unwrap();
        assert_eq!(decrypted.plaintext, b"hello from the original session");
    }
}
