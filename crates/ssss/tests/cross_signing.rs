//! Cross-signing keys as `setup` uploads them: the shape of
//! `POST /keys/device_signing/upload` and the master key's signatures, checked with
//! ed25519-dalek over canonical JSON written out by hand here. (Element accepting them is
//! checked against the real client in crates/megolm-backup/tests/element_client.rs.)

use ed25519_dalek::{Signature, SigningKey, Verifier};
use recovery_key::{decode_base64, encode_base64};
use ssss::{CrossSigningKeys, SecretStorageKey, SecretStore};

const USER: &str = "@alice:example.org";

#[test]
fn upload_body_is_signed_by_the_master_key() {
    let (m, s, u) = ([1u8; 32], [2u8; 32], [3u8; 32]);
    let keys = CrossSigningKeys::from_seeds(&m, &s, &u);
    let public =
        |seed: &[u8; 32]| encode_base64(SigningKey::from_bytes(seed).verifying_key().as_bytes());
    let (mp, sp) = (public(&m), public(&s));
    assert_eq!(keys.master_public_key(), mp);
    let body = keys.upload_body(USER).unwrap();
    assert_eq!(
        body["master_key"]["keys"][format!("ed25519:{mp}")],
        mp.as_str()
    );
    assert_eq!(body["master_key"]["usage"][0], "master");
    assert_eq!(body["user_signing_key"]["usage"][0], "user_signing");
    // Canonical JSON of the self-signing key without its signatures, by hand.
    let message = format!(
        r#"{{"keys":{{"ed25519:{sp}":"{sp}"}},"usage":["self_signing"],"user_id":"{USER}"}}"#
    );
    let sig = body["self_signing_key"]["signatures"][USER][format!("ed25519:{mp}")]
        .as_str()
        .unwrap();
    let sig = Signature::from_slice(&decode_base64(sig).unwrap()).unwrap();
    SigningKey::from_bytes(&m)
        .verifying_key()
        .verify(message.as_bytes(), &sig)
        .unwrap();
    assert!(format!("{keys:?}").contains(&mp));
    assert!(!format!("{keys:?}").contains(&encode_base64(&m)));
}

#[test]
fn seeds_round_trip_through_secret_storage() {
    let keys = CrossSigningKeys::generate().unwrap();
    let ssk = SecretStorageKey::generate().unwrap();
    let mut store = SecretStore::default();
    for (name, value) in keys.secrets() {
        store.set_secret(&ssk, name, &value).unwrap();
    }
    let back = CrossSigningKeys::from_secret_store(&store, &ssk).unwrap();
    assert_eq!(back.master_public_key(), keys.master_public_key());
    assert_eq!(
        back.upload_body(USER).unwrap(),
        keys.upload_body(USER).unwrap()
    );
    let other = SecretStorageKey::generate().unwrap();
    assert!(CrossSigningKeys::from_secret_store(&store, &other).is_err());
}

/// AES-CTR (secret storage, key exports) wipes its key schedule and counter when dropped:
/// the `ctr` crate is built with its `zeroize` feature, or this does not compile.
#[test]
fn ctr_state_is_wiped_on_drop() {
    fn wiped_on_drop<T: zeroize::ZeroizeOnDrop>() {}
    wiped_on_drop::<ctr::Ctr64BE<aes::Aes256>>();
}
