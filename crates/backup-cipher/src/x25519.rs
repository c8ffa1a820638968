//! The one boundary between this crate and an X25519 implementation.
//!
//! Everything else in the crate calls [`Scalar::diffie_hellman`] and
//! [`Scalar::public_key`]; which library computes them is decided in this file alone:
//!
//! - default: `x25519-dalek` (pure Rust, any target);
//! - feature `aws-lc`: `aws-lc-rs`, whose X25519 is s2n-bignum's formally verified
//!   assembly, about 2× faster on x86-64 (README performance table).
//!
//! Both reject a non-contributory (all-zero) result through the same check below, and
//! both run the whole vector suite and the vodozemac interop tests in CI.
//!
//! For bulk work, [`Scalar::diffie_hellman_many`] computes many X25519 with one scalar.
//! With the `ifma` feature, on a CPU that has AVX-512 IFMA (checked at run time), it
//! runs eight Montgomery ladders at once in the lanes of AVX-512 registers
//! (`ifma.rs`); everywhere else it calls the backend above once per point. Its results
//! are checked against x25519-dalek by the tests and by a fuzz target.

use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop};

#[cfg(all(feature = "ifma", target_arch = "x86_64"))]
mod ifma;
#[cfg(any(test, all(feature = "ifma", target_arch = "x86_64")))]
mod lanes;

/// A 32-byte X25519 shared secret, wiped on drop.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct SharedSecret(pub(crate) [u8; 32]);

impl SharedSecret {
    /// The secret bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

/// The name of the X25519 implementation compiled in, for reports and benches.
pub const BACKEND: &str = backend::NAME;

/// A prepared private scalar: whatever the backend can precompute once per key.
///
/// Hazmat: exposed for benchmarks and for callers building their own constructions.
/// The bytes are used unclamped; X25519 clamps internally.
#[derive(Clone)]
pub struct Scalar {
    secret: backend::Secret,
    wide: wide::Wide,
}

impl Scalar {
    /// Prepares a private scalar.
    pub fn new(bytes: &[u8; 32]) -> Self {
        Self {
            secret: backend::Secret::new(bytes),
            wide: wide::Wide::new(bytes),
        }
    }

    /// X25519(scalar, 9): the public key.
    pub fn public_key(&self) -> [u8; 32] {
        self.secret.public_key()
    }

    /// X25519 with `their_public`; `None` when the result is all zero (a low-order or
    /// zero point: non-contributory, docs/interop.md P11), or when the backend refuses the point.
    pub fn diffie_hellman(&self, their_public: &[u8; 32]) -> Option<SharedSecret> {
        contributory(self.secret.diffie_hellman(their_public)?)
    }

    /// X25519 with each of `points`: element `i` is exactly what
    /// [`diffie_hellman`](Self::diffie_hellman)`(&points[i])` returns, computed eight at a
    /// time where the CPU allows (see the module documentation).
    pub fn diffie_hellman_many(&self, points: &[[u8; 32]]) -> Vec<Option<SharedSecret>> {
        if let Some(out) = self.wide.many(points) {
            return out.into_iter().map(contributory).collect();
        }
        points.iter().map(|p| self.diffie_hellman(p)).collect()
    }

    /// The implementation [`diffie_hellman_many`](Self::diffie_hellman_many) uses on
    /// this CPU for a batch of `n` points, for reports and benches.
    pub fn many_backend(&self, n: usize) -> &'static str {
        if self.wide.used_for(n) {
            wide::NAME
        } else {
            BACKEND
        }
    }
}

/// `None` for the all-zero (non-contributory) result, whichever code computed it.
fn contributory(out: SharedSecret) -> Option<SharedSecret> {
    if bool::from(out.0.ct_eq(&[0u8; 32])) {
        None
    } else {
        Some(out)
    }
}

#[cfg(all(feature = "ifma", target_arch = "x86_64"))]
mod wide {
    use zeroize::{Zeroize, Zeroizing};

    use super::{SharedSecret, ifma::Ifma};

    pub(super) const NAME: &str = "AVX-512 IFMA, 8 lanes";

    /// Below this many points, eight lanes (padded) cost more than one call each.
    const MIN_POINTS: usize = 2;

    /// The scalar again, for the eight-lane ladder, when the CPU has IFMA.
    #[derive(Clone)]
    pub(super) struct Wide(Option<(Ifma, Box<Zeroizing<[u8; 32]>>)>);

    impl Wide {
        pub(super) fn new(bytes: &[u8; 32]) -> Self {
            Self(Ifma::detect().map(|t| (t, Box::new(Zeroizing::new(*bytes)))))
        }

        pub(super) fn used_for(&self, n: usize) -> bool {
            self.0.is_some() && n >= MIN_POINTS
        }

        pub(super) fn many(&self, points: &[[u8; 32]]) -> Option<Vec<SharedSecret>> {
            let (ifma, scalar) = self.0.as_ref().filter(|_| self.used_for(points.len()))?;
            let mut out = Vec::with_capacity(points.len());
            for chunk in points.chunks(8) {
                // A short last chunk is padded with the base point; those lanes are
                // computed and dropped.
                let mut base = [0u8; 32];
                base[0] = 9;
                let mut lanes = [base; 8];
                lanes[..chunk.len()].copy_from_slice(chunk);
                let mut results = ifma.x25519_x8(scalar, &lanes);
                out.extend(results.iter().take(chunk.len()).map(|r| SharedSecret(*r)));
                results.zeroize();
            }
            Some(out)
        }
    }
}

#[cfg(not(all(feature = "ifma", target_arch = "x86_64")))]
mod wide {
    use super::SharedSecret;

    pub(super) const NAME: &str = super::BACKEND;

    /// Nothing to keep: the batch path is not compiled in.
    #[derive(Clone)]
    pub(super) struct Wide;

    impl Wide {
        pub(super) fn new(_: &[u8; 32]) -> Self {
            Self
        }
        pub(super) fn used_for(&self, _: usize) -> bool {
            false
        }
        pub(super) fn many(&self, _: &[[u8; 32]]) -> Option<Vec<SharedSecret>> {
            None
        }
    }
}

#[cfg(not(feature = "aws-lc"))]
mod backend {
    use super::SharedSecret;

    pub(super) const NAME: &str = "x25519-dalek";

    #[derive(Clone)]
    pub(super) struct Secret(x25519_dalek::StaticSecret);

    impl Secret {
        pub(super) fn new(bytes: &[u8; 32]) -> Self {
            Self(x25519_dalek::StaticSecret::from(*bytes))
        }
        pub(super) fn public_key(&self) -> [u8; 32] {
            x25519_dalek::PublicKey::from(&self.0).to_bytes()
        }
        pub(super) fn diffie_hellman(&self, their_public: &[u8; 32]) -> Option<SharedSecret> {
            let shared = self
                .0
                .diffie_hellman(&x25519_dalek::PublicKey::from(*their_public));
            Some(SharedSecret(*shared.as_bytes()))
        }
    }
}

#[cfg(feature = "aws-lc")]
mod backend {
    use std::sync::Arc;

    use aws_lc_rs::agreement::{self, PrivateKey, UnparsedPublicKey, X25519};

    use super::SharedSecret;

    pub(super) const NAME: &str = "aws-lc-rs";

    #[derive(Clone)]
    pub(super) struct Secret {
        key: Option<Arc<PrivateKey>>,
        public: [u8; 32],
    }

    impl Secret {
        pub(super) fn new(bytes: &[u8; 32]) -> Self {
            // aws-lc clamps internally, exactly like RFC 7748 and x25519-dalek; the raw
            // unclamped bytes are what we keep (docs/interop.md P18). Any 32 bytes are accepted,
            // so `key` is `None` only if the library itself fails.
            let key = PrivateKey::from_private_key(&X25519, bytes).ok();
            let public = key
                .as_ref()
                .and_then(|k| k.compute_public_key().ok())
                .and_then(|p| <[u8; 32]>::try_from(p.as_ref()).ok())
                .unwrap_or([0; 32]);
            Self {
                key: key.map(Arc::new),
                public,
            }
        }
        pub(super) fn public_key(&self) -> [u8; 32] {
            self.public
        }
        pub(super) fn diffie_hellman(&self, their_public: &[u8; 32]) -> Option<SharedSecret> {
            let key = self.key.as_ref()?;
            let peer = UnparsedPublicKey::new(&X25519, their_public);
            // aws-lc refuses an all-zero result itself; the caller checks again so both
            // backends reject exactly the same inputs.
            agreement::agree(key, peer, (), |s| {
                <[u8; 32]>::try_from(s).map(SharedSecret).map_err(|_| ())
            })
            .ok()
        }
    }
}
