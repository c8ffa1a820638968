//! Eight X25519 at once, one per 64-bit lane of AVX-512 registers, with the 52-bit
//! multiply-add instructions of AVX-512 IFMA: the ladder of `lanes.rs` over the
//! radix-2^51 field of `field51.rs`, instantiated over `__m512i`.
//!
//! Every function here is compiled for AVX-512 F and IFMA and is entered only through
//! `simd.rs`, after run-time detection.

use core::arch::x86_64::*;

use super::{field51::field51, lanes::lane_ladder};

/// Eight 64-bit lanes in one register.
type V = __m512i;
const LANES: usize = 8;

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
fn v_xor(a: V, b: V) -> V {
    _mm512_xor_si512(a, b)
}
#[target_feature(enable = "avx512f")]
#[inline]
fn v_srli<const N: u32>(a: V) -> V {
    _mm512_srli_epi64::<N>(a)
}
#[target_feature(enable = "avx512f")]
#[inline]
fn v_slli<const N: u32>(a: V) -> V {
    _mm512_slli_epi64::<N>(a)
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

/// Eight lanes from memory, with a safe intrinsic (no raw pointer).
#[target_feature(enable = "avx512f")]
#[inline]
fn v_load(v: &[u64; 8]) -> V {
    let l = |i: usize| v[i] as i64;
    _mm512_set_epi64(l(7), l(6), l(5), l(4), l(3), l(2), l(1), l(0))
}

/// Eight lanes to memory, with safe intrinsics (no raw pointer); a few times per group.
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

field51!(#[target_feature(enable = "avx512f,avx512ifma")] #[inline]);
lane_ladder!(#[target_feature(enable = "avx512f,avx512ifma")] #[inline]);

/// The same checks as the portable lanes, in AVX-512 registers: only on a CPU that has
/// them, ignored with the reason elsewhere.
#[cfg(test)]
mod tests {
    fn many(k: &[u8; 32], p: &[[u8; 32]]) -> Vec<[u8; 32]> {
        crate::x25519::simd::Lanes::detect_exactly(crate::x25519::simd::Kind::Ifma)
            .expect("build.rs found AVX-512 IFMA on this CPU, but detection did not")
            .many(k, p)
    }
    crate::x25519::lanes::tests::lane_checks!(
        many,
        #[cfg_attr(not(mkb_host_ifma), ignore = "this CPU has no AVX-512 IFMA")]
    );
}
