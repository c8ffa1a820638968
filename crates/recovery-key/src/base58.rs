//! Bitcoin-alphabet base58: the recovery key's fixed 35 bytes ↔ 48 characters in constant
//! time, plain base58 for public data, and the heuristics that turn a failed decode into
//! advice a person can act on.
//!
//! # Constant time, and what is not secret
//!
//! A recovery key's characters are its secret. Decoding maps each character to its digit
//! by comparing it with all 58 characters of the alphabet (`subtle`, no table look-up, no
//! branch on the value), converts the 48 digits with a fixed number of multiply-adds
//! over fixed-width limbs, and checks the prefix and parity with `subtle`; encoding
//! divides by 58 a fixed 48 times (a multiply by a reciprocal, never a `div` instruction,
//! whose latency depends on its operands on many CPUs) and picks each character from
//! the alphabet the same way. Nothing beyond the 48th character is kept, so no buffer
//! grows whatever is pasted.
//!
//! Some facts are not secret and may steer branches, because no key shares them:
//! - which characters are whitespace (a key is the same whatever its spacing);
//! - the number of other characters (every key has 48);
//! - which characters are outside the alphabet (a key has none; the error names them,
//!   unless the input reads like a passphrase);
//! - the class of the failure (length, prefix, parity, case), found at the end from
//!   flags gathered without branches. It is what the caller is told anyway.

use subtle::{
    Choice, ConditionallySelectable, ConstantTimeEq, ConstantTimeGreater, ConstantTimeLess,
};
use zeroize::Zeroizing;

/// The Bitcoin base58 alphabet used by the Matrix "cryptographic key representation".
pub(crate) const ALPHABET: &[u8; 58] =
    b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

/// Characters of every recovery key.
pub(crate) const CHARS: usize = 48;
/// Bytes a 48-character value can need: 58^48 < 2^282, so 36 bytes (the top byte is
/// zero for every 35-byte value).
pub(crate) const WIDE: usize = 36;
/// Bytes of a recovery key's payload: prefix, key, parity.
pub(crate) const PAYLOAD: usize = 35;
const LIMBS: usize = WIDE / 4;

/// Is `b` in `lo..=hi`, in constant time?
pub(crate) fn ct_in_range(b: u8, lo: u8, hi: u8) -> Choice {
    !b.ct_lt(&lo) & !b.ct_gt(&hi)
}

/// The digit of an ASCII character and whether it is in the alphabet, comparing it with
/// every character of the alphabet.
pub(crate) fn ct_digit(c: u8) -> (u8, Choice) {
    let mut digit = 0u8;
    let mut valid = Choice::from(0);
    for (i, a) in (0u8..).zip(ALPHABET.iter()) {
        let hit = c.ct_eq(a);
        digit.conditional_assign(&i, hit);
        valid |= hit;
    }
    (digit, valid)
}

/// The character of a digit (0..58), picked from the alphabet without indexing by it.
fn ct_char(digit: u8) -> u8 {
    let mut c = 0u8;
    for (i, a) in (0u8..).zip(ALPHABET.iter()) {
        c.conditional_assign(a, digit.ct_eq(&i));
    }
    c
}

/// `n / 58` and `n % 58` for `n < 58 · 2^32`, by a multiply with the rounded-up
/// reciprocal 2^64/58: exact because `n · (58m − 2^64) < 2^38 · 58 < 2^64`.
fn div58(n: u64) -> (u64, u64) {
    const M: u128 = (1u128 << 64) / 58 + 1;
    let q = ((u128::from(n) * M) >> 64) as u64;
    (q, n - q * 58)
}

/// 48 digits → the 36-byte big-endian value, with the same work for every input.
pub(crate) fn ct_decode(digits: &[u8; CHARS]) -> Zeroizing<[u8; WIDE]> {
    // Little-endian 32-bit limbs.
    let mut limbs = Zeroizing::new([0u32; LIMBS]);
    for &d in digits.iter() {
        let mut carry = u64::from(d);
        for limb in limbs.iter_mut() {
            let v = u64::from(*limb) * 58 + carry;
            *limb = v as u32;
            carry = v >> 32;
        }
    }
    let mut out = Zeroizing::new([0u8; WIDE]);
    for (chunk, limb) in out.chunks_exact_mut(4).rev().zip(limbs.iter()) {
        chunk.copy_from_slice(&limb.to_be_bytes());
    }
    out
}

/// The 35-byte payload → its 48 characters, with the same work for every input. Every
/// payload starting `8B 01` needs exactly 48 (docs: SPEC §1).
pub(crate) fn ct_encode(payload: &[u8; PAYLOAD]) -> Zeroizing<[u8; CHARS]> {
    let mut wide = Zeroizing::new([0u8; WIDE]);
    wide[WIDE - PAYLOAD..].copy_from_slice(payload);
    let mut limbs = Zeroizing::new([0u32; LIMBS]);
    for (limb, chunk) in limbs.iter_mut().rev().zip(wide.chunks_exact(4)) {
        *limb = u32::from_be_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
    }
    let mut out = Zeroizing::new([0u8; CHARS]);
    for slot in out.iter_mut().rev() {
        let mut rem = 0u64;
        for limb in limbs.iter_mut().rev() {
            let (q, r) = div58((rem << 32) | u64::from(*limb));
            *limb = q as u32;
            rem = r;
        }
        *slot = ct_char(rem as u8);
    }
    out
}

/// Encodes bytes as plain base58 (Bitcoin alphabet, each leading zero byte → `1`).
///
/// For **public** data (its timing depends on the bytes): a recovery key is encoded in
/// constant time by [`RecoveryKey::to_base58`](crate::RecoveryKey::to_base58).
pub fn encode_base58(bytes: &[u8]) -> String {
    let zeros = bytes.iter().take_while(|&&b| b == 0).count();
    // Little-endian base58 digits; log(256)/log(58) < 1.37.
    let mut digits: Vec<u8> = Vec::with_capacity(bytes.len() * 137 / 100 + 1);
    for &b in &bytes[zeros..] {
        let mut carry = u32::from(b);
        for d in digits.iter_mut() {
            carry += u32::from(*d) << 8;
            *d = (carry % 58) as u8;
            carry /= 58;
        }
        while carry > 0 {
            digits.push((carry % 58) as u8);
            carry /= 58;
        }
    }
    let mut out = String::with_capacity(zeros + digits.len());
    out.extend(std::iter::repeat_n('1', zeros));
    out.extend(
        digits
            .iter()
            .rev()
            .map(|&d| char::from(ALPHABET[usize::from(d)])),
    );
    out
}

/// The Bitcoin alphabet is the ASCII letters and digits without `0 O I l`.
pub(crate) fn is_base58_char(c: char) -> bool {
    c.is_ascii_alphanumeric() && !matches!(c, '0' | 'O' | 'I' | 'l')
}

/// Whitespace that a key may carry: Unicode whitespace, decided for ASCII characters
/// (every key character) in constant time.
pub(crate) fn is_space(c: char) -> bool {
    match u8::try_from(c) {
        Ok(b) if b < 0x80 => bool::from(b.ct_eq(&b' ') | ct_in_range(b, b'\t', b'\r')),
        _ => c.is_whitespace(),
    }
}

/// Does `input` look like a passphrase (Element's "Security Phrase") rather than a
/// recovery key (Element's "Security Key")?
///
/// False for key-shaped text (48 characters starting "Es", any spacing or case, with
/// dashes or not): that is a mistyped key. Otherwise true when the text has a character
/// outside the base58 alphabet other than whitespace (`0 O I l`, punctuation, non-ASCII
/// letters), or when it is several words whose lengths are not the groups of four a
/// displayed key has. Used to word error messages, and to keep a phrase's characters out
/// of them.
pub fn looks_like_passphrase(input: &str) -> bool {
    // Key-shaped (48 characters starting "Es", whatever the spacing): a mistyped key,
    // not a phrase, even with a look-alike character in it.
    let mut key_chars = input
        .chars()
        .filter(|&c| !is_space(c) && c != '-' && c != '\u{feff}')
        .take(CHARS + 1);
    let starts_like_a_key = key_chars
        .next()
        .is_some_and(|c| c.eq_ignore_ascii_case(&'e'))
        && key_chars
            .next()
            .is_some_and(|c| c.eq_ignore_ascii_case(&'s'));
    if starts_like_a_key && key_chars.count() + 2 == CHARS {
        return false;
    }
    if input
        .chars()
        .any(|c| !c.is_whitespace() && !is_base58_char(c))
    {
        return true;
    }
    // Bounded work on huge input: a phrase is short, only look at its start.
    let words: Vec<&str> = input.split_whitespace().take(64).collect();
    if words.len() < 3 {
        return false;
    }
    // A displayed key is groups of four; a key copied with stray line breaks has a few
    // long runs. Several short words of other lengths read as a phrase.
    let odd = words[..words.len() - 1]
        .iter()
        .filter(|w| w.chars().count() != 4)
        .count();
    let compact: usize = words.iter().map(|w| w.chars().count()).sum();
    odd * 2 >= words.len() && compact != CHARS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alphabet_check_matches_the_alphabet() {
        for c in '\0'..='\u{2FF}' {
            let in_alphabet = c.is_ascii() && ALPHABET.contains(&(c as u8));
            assert_eq!(is_base58_char(c), in_alphabet, "{c:?}");
            if let Ok(b) = u8::try_from(c) {
                let (digit, valid) = ct_digit(b);
                assert_eq!(bool::from(valid), in_alphabet, "{c:?}");
                if in_alphabet {
                    assert_eq!(ALPHABET[usize::from(digit)], b);
                    assert_eq!(ct_char(digit), b);
                }
            }
            assert_eq!(is_space(c), c.is_whitespace(), "{c:?}");
        }
    }

    #[test]
    fn division_by_58_is_exact_over_its_range() {
        let top = 58u64 << 32;
        let mut n = 0u64;
        while n < top {
            for m in [n, n + 1, n + 57, top - 1 - n] {
                assert_eq!(div58(m), (m / 58, m % 58), "{m}");
            }
            n += 65_555;
        }
    }
}
