//! The constant-time decoders against an independent implementation, and the diagnoses
//! of keys that are damaged in recognisable ways (issue 20).

use proptest::prelude::*;
use recovery_key::{DecodeError, RecoveryKey, decode_base64, decode_base64_public, encoding};

const ALICE: &str = "EsTc LW2K PGiF wKEA 3As5 g5c4 BXwk qeeJ ZJV8 Q9fu gUMN UE4d";
const ALPHABET: &str = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

/// What the reference decoder (bs58, variable time) makes of a 48-character text: the
/// key when it is one, else `None`.
fn reference(text: &str) -> Option<[u8; 32]> {
    let bytes = bs58::decode(text).into_vec().ok()?;
    let parity = bytes.iter().fold(0u8, |a, b| a ^ b);
    (bytes.len() == 35 && bytes[..2] == [0x8b, 0x01] && parity == 0)
        .then(|| bytes[2..34].try_into().unwrap())
}

proptest! {
    #[test]
    fn encoding_matches_bs58(bytes in proptest::array::uniform32(any::<u8>())) {
        let mut payload = vec![0x8b, 0x01];
        payload.extend_from_slice(&bytes);
        payload.push(payload.iter().fold(0, |a, b| a ^ b));
        let key = RecoveryKey::from_slice(&bytes).unwrap();
        let ours = key.to_base58();
        prop_assert_eq!(ours.as_str(), bs58::encode(&payload).into_string());
    }

    /// Any 48 alphabet characters: a key exactly when bs58 says so, with the same bytes.
    #[test]
    fn decoding_matches_bs58(digits in proptest::collection::vec(0usize..58, 48)) {
        let text: String = digits.iter().map(|&d| ALPHABET.as_bytes()[d] as char).collect();
        let ours = RecoveryKey::from_base58(&text).ok().map(|k| *k.as_bytes());
        prop_assert_eq!(ours, reference(&text));
    }

    /// Keys with one character changed: the same verdict as bs58.
    #[test]
    fn near_keys_match_bs58(bytes in proptest::array::uniform32(any::<u8>()), at in 0usize..48, d in 0usize..58) {
        let mut text: Vec<u8> = RecoveryKey::from_slice(&bytes).unwrap().to_base58().as_bytes().to_vec();
        text[at] = ALPHABET.as_bytes()[d];
        let text = String::from_utf8(text).unwrap();
        let ours = RecoveryKey::from_base58(&text).ok().map(|k| *k.as_bytes());
        prop_assert_eq!(ours, reference(&text));
    }

    #[test]
    fn base64_decoders_agree(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let unpadded = recovery_key::encode_base64(&bytes);
        let padded = encoding::encode_base64_padded(&bytes);
        for text in [unpadded, padded] {
            let ours = decode_base64(&text).unwrap();
            prop_assert_eq!(ours.as_slice(), bytes.as_slice());
            prop_assert_eq!(decode_base64_public(&text).unwrap(), bytes.clone());
        }
    }
}

#[test]
fn a_lowercased_or_uppercased_key_is_told_so() {
    for (text, lowercase) in [
        (ALICE.to_lowercase(), true),
        (ALICE.to_uppercase(), false),
        (ALICE.replace(' ', "").to_lowercase(), true),
    ] {
        let err = RecoveryKey::from_base58(&text).unwrap_err();
        assert_eq!(err, DecodeError::Case { lowercase }, "{text}");
        assert!(!err.looks_like_passphrase());
        let msg = err.to_string();
        assert!(msg.contains("case-sensitive"), "{msg}");
        assert!(!msg.contains("this one has 48"), "{msg}");
    }
    // A phrase of 48 small letters is not a lowercased key.
    let phrase = "every good boy deserves fudge and some more text";
    assert!(!matches!(
        RecoveryKey::from_base58(phrase),
        Err(DecodeError::Case { .. })
    ));
}

#[test]
fn a_key_grouped_with_dashes_is_told_so() {
    let dashed = ALICE.replace(' ', "-");
    let err = RecoveryKey::from_base58(&dashed).unwrap_err();
    assert_eq!(err, DecodeError::Dashes);
    assert!(!err.looks_like_passphrase());
    assert!(!recovery_key::looks_like_passphrase(&dashed));
    assert!(err.to_string().contains("dashes"), "{err}");
}

#[test]
fn a_leading_byte_order_mark_is_dropped() {
    let key: RecoveryKey = format!("\u{feff}{ALICE}\n").parse().unwrap();
    assert_eq!(key, ALICE.parse().unwrap());
}

#[test]
fn a_key_pasted_twice_is_a_length_error_that_says_so() {
    let twice = format!("{ALICE} {ALICE}");
    let err = RecoveryKey::from_base58(&twice).unwrap_err();
    assert_eq!(err.class(), "length");
    assert!(err.to_string().contains("pasted twice"), "{err}");
    for extra in ["x", "xyz", "EsTcLW2KPGiFwKEA3As5g5c4BXwkqeeJZJV8Q9fu"] {
        let err = RecoveryKey::from_base58(&format!("{ALICE}{extra}")).unwrap_err();
        assert_eq!(err.class(), "length", "{extra}");
    }
}

#[test]
fn non_zero_trailing_bits_are_accepted_in_secrets_too() {
    // Project decision (SPEC §8): 32 bytes end in 4 trailing bits; "B" sets one of them.
    let canonical = recovery_key::encode_base64(&[7u8; 32]);
    let mut odd = canonical.clone();
    odd.pop();
    let last = canonical.chars().last().unwrap();
    odd.push(char::from(last as u8 + 1));
    let a = encoding::decode_base64_array::<32>(&canonical).unwrap();
    let b = encoding::decode_base64_array::<32>(&odd).unwrap();
    assert_eq!(*a, *b);
    assert_eq!(*a, [7u8; 32]);
    assert_eq!(
        decode_base64(&format!("{odd}=")).unwrap().as_slice(),
        &[7u8; 32]
    );
}

#[test]
fn base64_errors_name_no_character_of_the_secret() {
    let err = decode_base64("c2VjcmV0$c2VjcmV0").unwrap_err().to_string();
    assert!(
        !err.contains('$') && !err.contains("36") && !err.contains("offset"),
        "{err}"
    );
    assert!(decode_base64("c2Vjc-V0").is_err());
    assert!(decode_base64("c2Vjc_V0").is_err());
    assert!(decode_base64("c2Vjc V0").is_err());
    assert!(encoding::decode_base64_array::<32>("c2VjcmV0").is_err());
}

#[test]
fn a_bom_does_not_make_a_mistyped_key_a_passphrase() {
    let short = format!("\u{feff}{}", &ALICE[..ALICE.len() - 1]);
    let err = RecoveryKey::from_base58(&short).unwrap_err();
    assert_eq!(err.class(), "length");
    assert!(!err.looks_like_passphrase(), "{err}");
}
