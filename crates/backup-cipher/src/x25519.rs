//! The one boundary between this crate and an X25519 implementation.
//!
//! Everything else in the crate calls [`Scalar::diffie_hellman`] and
//! [`Scalar::public_key`]; the implementation behind them is chosen here and nowhere
//! else. The portable default is `x25519-dalek` (pure Rust, any target).

use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop};

/// A 32-byte X25519 shared secret, wiped on drop.
#[derive(Zeroize, ZeroizeOnDrop)]
pub(crate) struct SharedSecret(pub(crate) [u8; 32]);

/// A prepared private scalar: whatever the backend can precompute once per key.
#[derive(Clone)]
pub(crate) struct Scalar {
    secret: x25519_dalek::StaticSecret,
}

impl Scalar {
    pub(crate) fn new(bytes: &[u8; 32]) -> Self {
        Self {
            secret: x25519_dalek::StaticSecret::from(*bytes),
        }
    }

    pub(crate) fn public_key(&self) -> [u8; 32] {
        x25519_dalek::PublicKey::from(&self.secret).to_bytes()
    }

    /// X25519 with `their_public`; `None` when the result is all zero (a low-order or
    /// zero point: non-contributory, SPEC.md P11). Checked the same way for every backend.
    pub(crate) fn diffie_hellman(&self, their_public: &[u8; 32]) -> Option<SharedSecret> {
        let shared = self
            .secret
            .diffie_hellman(&x25519_dalek::PublicKey::from(*their_public));
        let out = SharedSecret(*shared.as_bytes());
        if bool::from(out.0.ct_eq(&[0u8; 32])) {
            None
        } else {
            Some(out)
        }
    }
}
