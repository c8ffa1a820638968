//! Base64 as Matrix uses it (spec appendix "Unpadded Base64"): standard alphabet, written
//! unpadded, read padded or unpadded, with non-zero trailing bits accepted (real libolm
//! MACs carry them; SPEC.md project decision, applied to secrets too so that one value
//! never decodes under one decoder and fails under the other). Keys decoded from base64
//! are compared as bytes, never as strings.
//!
//! # Two decoders: which is which
//!
//! - **Secrets** — backup keys, secret-storage secrets, cross-signing seeds, session keys,
//!   private keys: [`decode_base64`], [`decode_base64_into`], [`decode_base64_array`].
//!   Constant time over the characters (`base64ct`: each character is mapped to its
//!   value with arithmetic, no table look-up, no branch and no early exit on its value;
//!   validity is collected and looked at once, at the end). The output goes into a buffer
//!   allocated once at its exact size (or the caller's array) and is wiped on drop. An
//!   error never names the offending character. This is the class of vodozemac's
//!   CVE-2024-40640, where a table-driven decoder leaked key bits through the cache.
//! - **Public data on the hot path** — backup ciphertexts, MACs, ephemeral keys,
//!   signatures, an export file's body: [`decode_base64_public`] and
//!   [`decode_base64_public_into`], the faster table-driven `base64` crate.
//!
//! What both leak, by design: the input's length and where padding starts (public: every
//! key of one kind has the same length), and whether the input was valid.

use base64::{
    Engine, alphabet,
    engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig},
};
use base64ct::{Base64Unpadded, Encoding};
use zeroize::Zeroizing;

const READ: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);
const WRITE: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_encode_padding(false),
);
const WRITE_PADDED: GeneralPurpose =
    GeneralPurpose::new(&alphabet::STANDARD, GeneralPurposeConfig::new());

/// Text that is not base64.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not valid base64: {reason}")]
pub struct Base64Error {
    reason: String,
}

impl Base64Error {
    fn new(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
        }
    }
}

/// The text without its padding, and the number of bytes it decodes to. Looks only at
/// the length and the trailing `=` characters (public).
fn unpadded(text: &[u8]) -> Result<(&[u8], usize), Base64Error> {
    let pad = text
        .iter()
        .rev()
        .take(3)
        .take_while(|&&c| c == b'=')
        .count();
    if pad > 2 || (pad > 0 && !text.len().is_multiple_of(4)) {
        return Err(Base64Error::new("misplaced padding"));
    }
    let body = &text[..text.len() - pad];
    if body.len() % 4 == 1 {
        return Err(Base64Error::new(format!(
            "{} characters cannot be base64",
            body.len()
        )));
    }
    Ok((body, body.len() / 4 * 3 + (body.len() % 4) * 3 / 4))
}

/// Decodes padded or unpadded standard base64 of a **secret** in constant time over its
/// characters, into a buffer allocated once at the exact decoded size and wiped on drop.
pub fn decode_base64(text: &str) -> Result<Zeroizing<Vec<u8>>, Base64Error> {
    let (_, len) = unpadded(text.as_bytes())?;
    let mut out = Zeroizing::new(vec![0u8; len]);
    decode_base64_into(text, &mut out)?;
    Ok(out)
}

/// Decodes base64 of a **secret** into `out` in constant time over its characters,
/// returning the decoded length; fails (before decoding) when it does not fit.
pub fn decode_base64_into(text: &str, out: &mut [u8]) -> Result<usize, Base64Error> {
    let (body, len) = unpadded(text.as_bytes())?;
    if len > out.len() {
        return Err(Base64Error::new(format!(
            "{len} bytes, at most {} expected",
            out.len()
        )));
    }
    let full = body.len() / 4 * 4;
    let whole = full / 4 * 3;
    // Whole groups of four: every bit is used, so base64ct's canonical-form check passes
    // for any valid input.
    let head_ok = Base64Unpadded::decode(&body[..full], &mut out[..whole]).is_ok();
    // The last group of 2 or 3 characters is completed with 'A' (zero bits) and decoded
    // as a whole group: the trailing bits land in the bytes that are dropped, so
    // non-zero trailing bits are accepted (project decision) without a branch on them.
    let mut tail_ok = true;
    let rest = &body[full..];
    if !rest.is_empty() {
        let mut group = Zeroizing::new([b'A'; 4]);
        group[..rest.len()].copy_from_slice(rest);
        let mut bytes = Zeroizing::new([0u8; 3]);
        tail_ok = Base64Unpadded::decode(group.as_slice(), bytes.as_mut_slice()).is_ok();
        out[whole..len].copy_from_slice(&bytes[..len - whole]);
    }
    if head_ok & tail_ok {
        Ok(len)
    } else {
        zeroize::Zeroize::zeroize(&mut out[..len]);
        Err(Base64Error::new(
            "a character outside the standard base64 alphabet",
        ))
    }
}

/// Decodes base64 of a **secret** that must hold exactly `N` bytes, in constant time,
/// straight into a wiped array (no heap buffer).
pub fn decode_base64_array<const N: usize>(text: &str) -> Result<Zeroizing<[u8; N]>, Base64Error> {
    let (_, len) = unpadded(text.as_bytes())?;
    if len != N {
        return Err(Base64Error::new(format!("expected {N} bytes, got {len}")));
    }
    let mut out = Zeroizing::new([0u8; N]);
    decode_base64_into(text, out.as_mut_slice())?;
    Ok(out)
}

/// Decodes padded or unpadded standard base64 of **public** data (ciphertexts, MACs,
/// public keys, signatures) with the faster table-driven decoder. Not for secrets: its
/// timing depends on the characters.
pub fn decode_base64_public(text: &str) -> Result<Vec<u8>, Base64Error> {
    READ.decode(text.as_bytes())
        .map_err(|e| Base64Error::new(e.to_string()))
}

/// Decodes base64 of **public** data into `out` (table-driven, variable time), returning
/// the decoded length; fails when it does not fit. Lets hot paths decode into stack
/// buffers.
pub fn decode_base64_public_into(text: &str, out: &mut [u8]) -> Result<usize, Base64Error> {
    READ.decode_slice(text.as_bytes(), out)
        .map_err(|e| Base64Error::new(e.to_string()))
}

/// Encodes as unpadded standard base64 (what Matrix writers should emit).
pub fn encode_base64(bytes: &[u8]) -> String {
    WRITE.encode(bytes)
}

/// Encodes as padded standard base64 (for formats that need it, such as key exports).
pub fn encode_base64_padded(bytes: &[u8]) -> String {
    WRITE_PADDED.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_time_decoder_agrees_with_the_public_one() {
        for len in 0..70usize {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            for text in [encode_base64(&bytes), encode_base64_padded(&bytes)] {
                assert_eq!(decode_base64(&text).unwrap().as_slice(), bytes.as_slice());
                assert_eq!(decode_base64_public(&text).unwrap(), bytes);
            }
        }
    }

    #[test]
    fn trailing_bits_are_accepted_by_both() {
        // "AB" carries 4 trailing bits (0b0001), "AAB" 2 (0b01): project decision.
        for (text, want) in [("AB", vec![0u8]), ("AAB", vec![0, 0]), ("AB==", vec![0])] {
            assert_eq!(decode_base64(text).unwrap().as_slice(), want.as_slice());
            assert_eq!(decode_base64_public(text).unwrap(), want);
        }
    }

    #[test]
    fn bad_input_is_refused_without_naming_it() {
        for text in [
            "A", "AA=A", "AAA==", "AA===", "ab$d", "abc\n", "=AAA", "ab-_",
        ] {
            let err = decode_base64(text).unwrap_err().to_string();
            assert!(!err.contains('$') && !err.contains('-'), "{err}");
        }
    }
}
