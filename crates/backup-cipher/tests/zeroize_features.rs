//! The RustCrypto state that holds key material wipes itself when dropped: AES key
//! schedules, CBC modes and HMAC pad states. That needs the crates' `zeroize` features
//! (workspace `Cargo.toml`); without them these bounds do not hold and this file does not
//! compile. (AES-CTR, used by secret storage and exports, is checked in the `ssss` tests.)

fn wiped_on_drop<T: zeroize::ZeroizeOnDrop>() {}

#[test]
fn key_schedules_and_mac_states_are_wiped_on_drop() {
    wiped_on_drop::<aes::Aes256>();
    wiped_on_drop::<cbc::Encryptor<aes::Aes256>>();
    wiped_on_drop::<cbc::Decryptor<aes::Aes256>>();
    // An HMAC's state is two SHA-2 cores, the inner and outer pad states (hmac 0.13
    // `HmacCore`); they wipe themselves when dropped (hmac has no marker of its own).
    wiped_on_drop::<sha2::block_api::Sha256VarCore>();
    wiped_on_drop::<sha2::block_api::Sha512VarCore>();
    wiped_on_drop::<sha2::Sha256>();
}
