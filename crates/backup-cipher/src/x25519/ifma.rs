//! Eight X25519 operations at once, one per 64-bit lane of AVX-512 registers, with the
//! 52-bit multiply-add instructions of AVX-512 IFMA: the ladder of `lanes.rs`
//! instantiated over `__m512i`.
//!
//! A restore computes one X25519 per session, every one with the same private scalar
//! (the backup key) and a different public point (each session's ephemeral key). The
//! Montgomery ladder's sequence of operations depends only on the scalar, so eight
//! ladders run in lock-step, lane `i` of every register belonging to point `i`.
//!
//! # Constant time
//!
//! Every lane executes the same instructions whatever the data; the conditional swap
//! is a masked blend whose mask comes from the scalar bit by arithmetic, not a branch.
//! The canonical encoding at the end is branch-free scalar code.

// The one place with `unsafe` in this crate (see SECURITY.md): entering the
// `#[target_feature]` code after run-time detection. Everything below it is safe code:
// intrinsics are safe to call inside functions compiled for their features.
#![allow(unsafe_code)]

use core::arch::x86_64::*;

use super::lanes::{lane_ladder, x25519_x8_with};

/// Proof that this CPU has AVX-512 F and IFMA: only [`detect`](Self::detect) makes one.
#[derive(Clone, Copy)]
pub(super) struct Ifma(());

impl Ifma {
    /// `Some` when the CPU running us has the instructions (checked by the standard
    /// library's run-time detection).
    pub(super) fn detect() -> Option<Self> {
        (is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512ifma"))
            .then_some(Self(()))
    }

    /// X25519(`scalar`, `points[i]`) for eight points, canonical little-endian bytes.
    pub(super) fn x25519_x8(self, scalar: &[u8; 32], points: &[[u8; 32]; 8]) -> [[u8; 32]; 8] {
        x25519_x8_with(scalar, points, |k, u| {
            // SAFETY: `ladder_x8` needs AVX-512 F and IFMA; `self` exists only when
            // `detect` found both on this CPU. It reads and writes only its arguments.
            unsafe { ladder_x8(k, u) }
        })
    }
}

/// Eight 64-bit lanes in one register.
type V = __m512i;

#[target_feature(enable = "avx512f")]
#[inline]
fn v_zero() -> V {
    _mm512_setzero_si512()
}
#[target_feature(enable = "avx512f")]
#[inline]
fn v_set1(x: u64) -> V {
    _mm512_set1_epi64(x as i64)
}
#[target_feature(enable = "avx512f")]
#[inline]
fn v_add(a: V, b: V) -> V {
    _mm512_add_epi64(a, b)
}
#[target_feature(enable = "avx512f")]
#[inline]
fn v_sub(a: V, b: V) -> V {
    _mm512_sub_epi64(a, b)
}
#[target_feature(enable = "avx512f")]
#[inline]
fn v_and(a: V, b: V) -> V {
    _mm512_and_si512(a, b)
}
#[target_feature(enable = "avx512f")]
#[inline]
fn v_srli51(a: V) -> V {
    _mm512_srli_epi64::<51>(a)
}
#[target_feature(enable = "avx512f")]
#[inline]
fn v_slli4(a: V) -> V {
    _mm512_slli_epi64::<4>(a)
}
#[target_feature(enable = "avx512f")]
#[inline]
fn v_slli1(a: V) -> V {
    _mm512_slli_epi64::<1>(a)
}
#[target_feature(enable = "avx512f,avx512ifma")]
#[inline]
fn v_madd52lo(acc: V, a: V, b: V) -> V {
    _mm512_madd52lo_epu64(acc, a, b)
}
#[target_feature(enable = "avx512f,avx512ifma")]
#[inline]
fn v_madd52hi(acc: V, a: V, b: V) -> V {
    _mm512_madd52hi_epu64(acc, a, b)
}
#[target_feature(enable = "avx512f")]
#[inline]
fn v_blend(mask: u8, a: V, b: V) -> V {
    _mm512_mask_blend_epi64(mask, a, b)
}

/// Eight lanes from memory, with a safe intrinsic (no raw pointer).
#[target_feature(enable = "avx512f")]
#[inline]
fn v_load(v: &[u64; 8]) -> V {
    let l = |i: usize| v[i] as i64;
    _mm512_set_epi64(l(7), l(6), l(5), l(4), l(3), l(2), l(1), l(0))
}

/// Eight lanes to memory, with safe intrinsics (no raw pointer); once per eight X25519.
#[target_feature(enable = "avx512f")]
#[inline]
fn v_store(v: V) -> [u64; 8] {
    let lo = _mm512_extracti64x4_epi64::<0>(v);
    let hi = _mm512_extracti64x4_epi64::<1>(v);
    [
        _mm256_extract_epi64::<0>(lo) as u64,
        _mm256_extract_epi64::<1>(lo) as u64,
        _mm256_extract_epi64::<2>(lo) as u64,
        _mm256_extract_epi64::<3>(lo) as u64,
        _mm256_extract_epi64::<0>(hi) as u64,
        _mm256_extract_epi64::<1>(hi) as u64,
        _mm256_extract_epi64::<2>(hi) as u64,
        _mm256_extract_epi64::<3>(hi) as u64,
    ]
}

lane_ladder!(#[target_feature(enable = "avx512f,avx512ifma")] #[inline]);

/// The same checks as the portable lanes (`lanes.rs`), in AVX-512 registers: only on a
/// CPU that has them, ignored with the reason elsewhere.
#[cfg(test)]
mod tests {
    use super::Ifma;
    use crate::x25519::lanes::tests as checks;

    fn ifma(k: &[u8; 32], p: &[[u8; 32]; 8]) -> [[u8; 32]; 8] {
        Ifma::detect()
            .expect("build.rs found AVX-512 IFMA on this CPU, but detection did not")
            .x25519_x8(k, p)
    }

    #[test]
    #[cfg_attr(not(mkb_host_ifma), ignore = "this CPU has no AVX-512 IFMA")]
    fn rfc7748_vectors_in_every_lane() {
        checks::rfc7748_vectors_in_every_lane(ifma);
    }
    #[test]
    #[cfg_attr(not(mkb_host_ifma), ignore = "this CPU has no AVX-512 IFMA")]
    fn rfc7748_iterated_1000() {
        checks::rfc7748_iterated_1000(ifma);
    }
    #[test]
    #[cfg_attr(not(mkb_host_ifma), ignore = "this CPU has no AVX-512 IFMA")]
    fn edge_points_match_dalek() {
        checks::edge_points_match_dalek(ifma);
    }
    #[test]
    #[cfg_attr(not(mkb_host_ifma), ignore = "this CPU has no AVX-512 IFMA")]
    fn random_batches_match_dalek() {
        checks::random_batches_match_dalek(ifma);
    }
}
