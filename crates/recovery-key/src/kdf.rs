//! PBKDF2-HMAC-SHA-512 at the SHA-512 compression bound.
//!
//! Every unlock of secret storage or a passphrase backup, and every key export, runs
//! 100,000–500,000 iterations of this, so it is the hot path a user waits on. The HMAC
//! inner and outer states are computed once from the password; after the first iteration
//! each iteration is exactly two calls to the SHA-512 compression function on one 128-byte
//! block, with no hashing-API overhead. The result is checked against the `pbkdf2` crate
//! in this crate's tests.

use hmac::{Hmac, KeyInit, Mac, digest::Key};
use sha2::{Digest, Sha512, block_api::compress512};
use zeroize::{Zeroize, Zeroizing};

const BLOCK: usize = 128;
const OUT: usize = 64;
const IV: [u64; 8] = [
    0x6a09e667f3bcc908,
    0xbb67ae8584caa73b,
    0x3c6ef372fe94f82b,
    0xa54ff53a5f1d36f1,
    0x510e527fade682d1,
    0x9b05688c2b3e6c1f,
    0x1f83d9abfb41bd6b,
    0x5be0cd19137e2179,
];

/// PBKDF2 with HMAC-SHA-512: fills `out` (any length) from `password`, `salt` and
/// `rounds`. A `rounds` of 0 is treated as 1, as RFC 8018 leaves it undefined; callers
/// enforce their own caps before calling.
pub fn pbkdf2_hmac_sha512(password: &[u8], salt: &[u8], rounds: u32, out: &mut [u8]) {
    let mut key_block = Zeroizing::new([0u8; BLOCK]);
    if password.len() > BLOCK {
        key_block[..OUT].copy_from_slice(&Sha512::digest(password));
    } else {
        key_block[..password.len()].copy_from_slice(password);
    }
    let inner = Zeroizing::new(pad_state(&key_block, 0x36));
    let outer = Zeroizing::new(pad_state(&key_block, 0x5c));

    // HMAC for U1 (salt of any length) through the ordinary API, keyed with the key block
    // itself: the password zero-padded to the block, or its hash when longer (RFC 2104
    // §2), which is the same HMAC key, through the constructor that cannot fail.
    let prf = {
        let mut key = Key::<Hmac<Sha512>>::default();
        key.copy_from_slice(key_block.as_slice());
        let prf = <Hmac<Sha512> as KeyInit>::new(&key);
        key.as_mut_slice().zeroize();
        prf
    };

    for (i, chunk) in out.chunks_mut(OUT).enumerate() {
        let mut mac = prf.clone();
        mac.update(salt);
        mac.update(&((i as u32).wrapping_add(1)).to_be_bytes());
        let mut u = Zeroizing::new([0u8; OUT]);
        u.copy_from_slice(&mac.finalize().into_bytes());
        let mut acc = Zeroizing::new(*u);

        // Both blocks carry a 64-byte message after a 128-byte key block: length
        // (128 + 64) * 8 = 1536 bits, padded per FIPS 180-4.
        let mut block = Zeroizing::new([0u8; BLOCK]);
        block[OUT] = 0x80;
        block[BLOCK - 2..].copy_from_slice(&1536u16.to_be_bytes());
        for _ in 1..rounds.max(1) {
            block[..OUT].copy_from_slice(u.as_slice());
            let mut st = *inner;
            compress512(&mut st, std::slice::from_ref(&*block));
            write_state(&st, &mut block[..OUT]);
            st = *outer;
            compress512(&mut st, std::slice::from_ref(&*block));
            write_state(&st, u.as_mut_slice());
            st.zeroize();
            for (a, b) in acc.iter_mut().zip(u.iter()) {
                *a ^= b;
            }
        }
        chunk.copy_from_slice(&acc[..chunk.len()]);
    }
}

fn pad_state(key_block: &[u8; BLOCK], pad: u8) -> [u64; 8] {
    let mut b = Zeroizing::new([0u8; BLOCK]);
    for (d, k) in b.iter_mut().zip(key_block.iter()) {
        *d = k ^ pad;
    }
    let mut st = IV;
    compress512(&mut st, std::slice::from_ref(&*b));
    st
}

fn write_state(st: &[u64; 8], out: &mut [u8]) {
    for (dst, w) in out.chunks_exact_mut(8).zip(st.iter()) {
        dst.copy_from_slice(&w.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn rfc_style_known_answer() {
        // PBKDF2-HMAC-SHA512("password", "salt", 1, 64) from RFC 7914-era test sets
        // (published by many implementations, e.g. Python's hashlib docs).
        let mut out = [0u8; 64];
        pbkdf2_hmac_sha512(b"password", b"salt", 1, &mut out);
        assert_eq!(
            hex::encode(out),
            "867f70cf1ade02cff3752599a3a53dc4af34c7a669815ae5d513554e1c8cf252\
             c02d470a285a0501bad999bfe943c08f050235d7d68b1da55e63f73b60a57fce"
        );
        pbkdf2_hmac_sha512(b"password", b"salt", 2, &mut out);
        assert_eq!(
            hex::encode(out),
            "e1d9c16aa681708a45f5c7c4e215ceb66e011a2e9f0040713f18aefdb866d53c\
             f76cab2868a39b9f7840edce4fef5a82be67335c77a6068e04112754f27ccf4e"
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn matches_pbkdf2_crate(
            password in proptest::collection::vec(any::<u8>(), 0..300),
            salt in proptest::collection::vec(any::<u8>(), 0..200),
            rounds in 1u32..50,
            len in 1usize..200,
        ) {
            let mut ours = vec![0u8; len];
            let mut theirs = vec![0u8; len];
            pbkdf2_hmac_sha512(&password, &salt, rounds, &mut ours);
            pbkdf2::pbkdf2_hmac::<sha2::Sha512>(&password, &salt, rounds, &mut theirs);
            prop_assert_eq!(ours, theirs);
        }
    }
}
