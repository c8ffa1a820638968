//! Run-time choice of a multi-lane X25519 path, and the crate's one `unsafe` block:
//! the call into the `#[target_feature]` code of `ifma.rs` or `avx2.rs` after the
//! standard library's detection found the CPU features it is compiled for.

// The one place with `unsafe` in this crate (SECURITY.md). Everything behind it is safe
// code: intrinsics are safe to call inside functions compiled for their features.
#![allow(unsafe_code)]

use super::LaneLimit;

/// The multi-lane paths compiled into this build.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    /// Eight lanes, AVX-512 F + IFMA (`ifma.rs`).
    #[cfg(feature = "ifma")]
    Ifma,
    /// Four lanes, AVX2 (`avx2.rs`).
    #[cfg(feature = "avx2")]
    Avx2,
}

/// Proof that this CPU has the features of one path: only [`detect`](Self::detect) and
/// [`detect_exactly`](Self::detect_exactly) make one, after checking them.
#[derive(Clone, Copy, Debug)]
pub(super) struct Lanes(Kind);

impl Lanes {
    /// The fastest path this CPU has, within `limit`.
    pub(super) fn detect(limit: LaneLimit) -> Option<Self> {
        let order: &[Kind] = &[
            #[cfg(feature = "ifma")]
            Kind::Ifma,
            #[cfg(feature = "avx2")]
            Kind::Avx2,
        ];
        order
            .iter()
            .filter(|k| allowed(**k, limit))
            .find_map(|k| Self::detect_exactly(*k))
    }

    /// `kind`, when this CPU has its features.
    pub(super) fn detect_exactly(kind: Kind) -> Option<Self> {
        let present = match kind {
            #[cfg(feature = "ifma")]
            Kind::Ifma => {
                is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512ifma")
            }
            #[cfg(feature = "avx2")]
            Kind::Avx2 => is_x86_feature_detected!("avx2"),
        };
        present.then_some(Self(kind))
    }

    /// For reports and benches.
    pub(super) fn name(self) -> &'static str {
        match self.0 {
            #[cfg(feature = "ifma")]
            Kind::Ifma => "AVX-512 IFMA, 8 lanes",
            #[cfg(feature = "avx2")]
            Kind::Avx2 => "AVX2, 4 lanes",
        }
    }

    /// Below this many points the lanes (padded to a full group, one unbatched
    /// inversion) cost more than one call each through aws-lc-rs: from the per-operation
    /// figures of the `x25519` bench (machine in docs/performance.md: IFMA 8 × 6.2 µs + ~10% vs 21.4 µs
    /// per point one by one; AVX2 4 × 17.6 µs + ~10% vs 21.4 µs).
    pub(super) fn min_points(self) -> usize {
        match self.0 {
            #[cfg(feature = "ifma")]
            Kind::Ifma => 3,
            #[cfg(feature = "avx2")]
            Kind::Avx2 => 4,
        }
    }

    /// X25519(`scalar`, `points[i]`) for every point, canonical bytes (`lanes.rs`).
    pub(super) fn many(self, scalar: &[u8; 32], points: &[[u8; 32]]) -> Vec<[u8; 32]> {
        // SAFETY: each function called below is `#[target_feature]` code compiled for
        // exactly the features `detect_exactly` checked on this CPU before making
        // `self` (a `Lanes` is made nowhere else), and it only reads and writes its
        // arguments and the vector it returns.
        unsafe {
            match self.0 {
                #[cfg(feature = "ifma")]
                Kind::Ifma => super::ifma::many(scalar, points),
                #[cfg(feature = "avx2")]
                Kind::Avx2 => super::avx2::many(scalar, points),
            }
        }
    }
}

fn allowed(kind: Kind, limit: LaneLimit) -> bool {
    match (kind, limit) {
        (_, LaneLimit::Any) => true,
        (_, LaneLimit::None) => false,
        #[cfg(feature = "ifma")]
        (Kind::Ifma, LaneLimit::Avx2) => false,
        #[cfg(feature = "avx2")]
        (Kind::Avx2, LaneLimit::Avx2) => true,
        // The portable test lanes are chosen before any SIMD path is considered.
        #[cfg(feature = "test-fixtures")]
        (_, LaneLimit::PortableIfma | LaneLimit::PortableAvx2) => false,
    }
}
