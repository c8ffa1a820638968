//! The one boundary between this crate and an X25519 implementation.
//!
//! Everything else in the crate calls [`Scalar::diffie_hellman`](crate::x25519::Scalar::diffie_hellman) and
//! [`Scalar::public_key`](crate::x25519::Scalar::public_key); which library computes them is decided in this file alone:
//!
//! - default: `x25519-dalek` (pure Rust, any target);
//! - feature `aws-lc`: `aws-lc-rs`, whose X25519 is s2n-bignum's formally verified
//!   assembly, about 2× faster on x86-64 (docs/performance.md).
//!
//! Both reject a non-contributory (all-zero) result through the same check below, and
//! both run the whole vector suite and the vodozemac interop tests in CI.
//!
//! For bulk work, [`Scalar::diffie_hellman_many`](crate::x25519::Scalar::diffie_hellman_many) computes many X25519 with one scalar
//! several at a time, one point per SIMD lane (`lanes.rs`), on the fastest path the CPU
//! has (checked at run time): with the `ifma` feature, eight lanes of AVX-512 IFMA
//! (`ifma.rs`); with the `avx2` feature, four lanes of AVX2 (`avx2.rs`). Everywhere
//! else it calls the backend above once per point. Its results are checked against
//! x25519-dalek by the tests (every path's arithmetic also runs in portable lanes on
//! every machine) and by a fuzz target. [`set_lane_limit`](crate::x25519::set_lane_limit) narrows the choice, to
//! measure or compare the paths on one machine.

use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop};

#[cfg(all(feature = "avx2", target_arch = "x86_64"))]
mod avx2;
#[cfg(any(
    test,
    feature = "test-fixtures",
    all(feature = "avx2", target_arch = "x86_64")
))]
mod field25;
#[cfg(any(
    test,
    feature = "test-fixtures",
    all(feature = "ifma", target_arch = "x86_64")
))]
mod field51;
#[cfg(all(feature = "ifma", target_arch = "x86_64"))]
mod ifma;
#[cfg(any(
    test,
    feature = "test-fixtures",
    all(any(feature = "ifma", feature = "avx2"), target_arch = "x86_64")
))]
mod lanes;
#[cfg(all(any(feature = "ifma", feature = "avx2"), target_arch = "x86_64"))]
mod simd;

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

/// The fastest multi-lane path [`Scalar::diffie_hellman_many`] may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LaneLimit {
    /// Whatever the CPU has among the paths compiled in (the default).
    Any,
    /// Nothing that needs AVX-512: AVX2 at most, as on a CPU without AVX-512.
    Avx2,
    /// No lanes: one X25519 at a time through the backend.
    None,
    /// Test-only (feature `test-fixtures`): the ladder of the IFMA path in portable
    /// lanes that compute exactly what its instructions compute, on any CPU (slow).
    #[cfg(feature = "test-fixtures")]
    PortableIfma,
    /// Test-only (feature `test-fixtures`): the ladder of the AVX2 path in portable
    /// lanes, on any CPU (slow).
    #[cfg(feature = "test-fixtures")]
    PortableAvx2,
}

static LANE_LIMIT: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(0);

/// Sets, for the whole process, the fastest multi-lane path that [`Scalar`]s made
/// afterwards may use. Every path computes the same results; this exists to measure
/// and compare them on one machine (the CLI's `--lanes`, the criterion benches).
pub fn set_lane_limit(limit: LaneLimit) {
    let v = match limit {
        LaneLimit::Any => 0,
        LaneLimit::Avx2 => 1,
        LaneLimit::None => 2,
        #[cfg(feature = "test-fixtures")]
        LaneLimit::PortableIfma => 3,
        #[cfg(feature = "test-fixtures")]
        LaneLimit::PortableAvx2 => 4,
    };
    LANE_LIMIT.store(v, std::sync::atomic::Ordering::Relaxed);
}

/// The limit [`set_lane_limit`] set last ([`LaneLimit::Any`] if never).
pub fn lane_limit() -> LaneLimit {
    match LANE_LIMIT.load(std::sync::atomic::Ordering::Relaxed) {
        0 => LaneLimit::Any,
        1 => LaneLimit::Avx2,
        #[cfg(feature = "test-fixtures")]
        3 => LaneLimit::PortableIfma,
        #[cfg(feature = "test-fixtures")]
        4 => LaneLimit::PortableAvx2,
        _ => LaneLimit::None,
    }
}

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
    /// [`diffie_hellman`](Self::diffie_hellman)`(&points[i])` returns, computed several
    /// at a time where the CPU allows (see the module documentation).
    pub fn diffie_hellman_many(&self, points: &[[u8; 32]]) -> Vec<Option<SharedSecret>> {
        if let Some(out) = self.wide.many(points) {
            return out.into_iter().map(contributory).collect();
        }
        points.iter().map(|p| self.diffie_hellman(p)).collect()
    }

    /// The implementation [`diffie_hellman_many`](Self::diffie_hellman_many) uses on
    /// this CPU for a batch of `n` points, for reports and benches.
    pub fn many_backend(&self, n: usize) -> &'static str {
        self.wide.used_for(n).unwrap_or(BACKEND)
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

mod wide {
    use zeroize::Zeroizing;

    use super::{LaneLimit, SharedSecret};

    /// Many X25519 with one scalar (`lanes.rs`'s `many`).
    #[cfg(feature = "test-fixtures")]
    type ManyFn = fn(&[u8; 32], &[[u8; 32]]) -> Vec<[u8; 32]>;

    /// A multi-lane path: SIMD after run-time detection, or (tests) portable lanes.
    #[derive(Clone, Copy)]
    enum Path {
        #[cfg(all(any(feature = "ifma", feature = "avx2"), target_arch = "x86_64"))]
        Simd(super::simd::Lanes),
        #[cfg(feature = "test-fixtures")]
        Portable(&'static str, ManyFn),
    }

    impl Path {
        fn choose(limit: LaneLimit) -> Option<Self> {
            #[cfg(feature = "test-fixtures")]
            match limit {
                LaneLimit::PortableIfma => {
                    return Some(Self::Portable(
                        "portable lanes (the IFMA ladder), 8 lanes",
                        super::field51::portable::many,
                    ));
                }
                LaneLimit::PortableAvx2 => {
                    return Some(Self::Portable(
                        "portable lanes (the AVX2 ladder), 4 lanes",
                        super::field25::portable::many,
                    ));
                }
                _ => {}
            }
            #[cfg(all(any(feature = "ifma", feature = "avx2"), target_arch = "x86_64"))]
            return super::simd::Lanes::detect(limit).map(Self::Simd);
            #[allow(unreachable_code)]
            {
                let _ = limit;
                None
            }
        }

        fn name(self) -> &'static str {
            match self {
                #[cfg(all(any(feature = "ifma", feature = "avx2"), target_arch = "x86_64"))]
                Self::Simd(l) => l.name(),
                #[cfg(feature = "test-fixtures")]
                Self::Portable(name, _) => name,
            }
        }

        fn min_points(self) -> usize {
            match self {
                #[cfg(all(any(feature = "ifma", feature = "avx2"), target_arch = "x86_64"))]
                Self::Simd(l) => l.min_points(),
                #[cfg(feature = "test-fixtures")]
                Self::Portable(..) => 1,
            }
        }

        // Both unused when no path is compiled in (the enum is then empty).
        #[allow(unused_variables)]
        fn many(self, scalar: &[u8; 32], points: &[[u8; 32]]) -> Vec<[u8; 32]> {
            match self {
                #[cfg(all(any(feature = "ifma", feature = "avx2"), target_arch = "x86_64"))]
                Self::Simd(l) => l.many(scalar, points),
                #[cfg(feature = "test-fixtures")]
                Self::Portable(_, many) => many(scalar, points),
            }
        }
    }

    /// The scalar again, for the lanes, when there is a path.
    #[derive(Clone)]
    pub(super) struct Wide(Option<(Path, Box<Zeroizing<[u8; 32]>>)>);

    impl Wide {
        pub(super) fn new(bytes: &[u8; 32]) -> Self {
            Self(Path::choose(super::lane_limit()).map(|p| (p, Box::new(Zeroizing::new(*bytes)))))
        }

        pub(super) fn used_for(&self, n: usize) -> Option<&'static str> {
            let (path, _) = self.0.as_ref()?;
            (n >= path.min_points()).then(|| path.name())
        }

        pub(super) fn many(&self, points: &[[u8; 32]]) -> Option<Vec<SharedSecret>> {
            self.used_for(points.len())?;
            let (path, scalar) = self.0.as_ref()?;
            Some(
                path.many(scalar, points)
                    .into_iter()
                    .map(SharedSecret)
                    .collect(),
            )
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
