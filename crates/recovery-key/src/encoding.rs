//! Base64 as Matrix uses it (spec appendix "Unpadded Base64"): standard alphabet, written unpadded, read
//! padded or unpadded, with non-zero trailing bits accepted (real libolm MACs carry
//! them; project decision). Keys decoded from base64 are compared as bytes, never as
//! strings.

use base64::{
    Engine, alphabet,
    engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig},
};

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

/// Decodes padded or unpadded standard base64.
pub fn decode_base64(text: &str) -> Result<Vec<u8>, Base64Error> {
    READ.decode(text.as_bytes()).map_err(|e| Base64Error {
        reason: e.to_string(),
    })
}

/// Decodes base64 into `out`, returning the decoded length; fails when it does not fit.
/// Lets hot paths decode into stack buffers.
pub fn decode_base64_into(text: &str, out: &mut [u8]) -> Result<usize, Base64Error> {
    READ.decode_slice(text.as_bytes(), out)
        .map_err(|e| Base64Error {
            reason: e.to_string(),
        })
}

/// Decodes base64 that must hold exactly `N` bytes.
pub fn decode_base64_array<const N: usize>(text: &str) -> Result<[u8; N], Base64Error> {
    let mut buf = [0u8; N];
    // Decode into one spare byte beyond N so an over-long input is told as such.
    let mut wide = vec![0u8; N + 3];
    let len = decode_base64_into(text, &mut wide)?;
    if len != N {
        return Err(Base64Error {
            reason: format!("expected {N} bytes, got {len}"),
        });
    }
    buf.copy_from_slice(&wide[..N]);
    zeroize::Zeroize::zeroize(&mut wide);
    Ok(buf)
}

/// Encodes as unpadded standard base64 (what Matrix writers should emit).
pub fn encode_base64(bytes: &[u8]) -> String {
    WRITE.encode(bytes)
}

/// Encodes as padded standard base64 (for formats that need it, such as key exports).
pub fn encode_base64_padded(bytes: &[u8]) -> String {
    WRITE_PADDED.encode(bytes)
}
