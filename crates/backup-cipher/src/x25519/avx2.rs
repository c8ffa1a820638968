//! Four X25519 at once, one per 64-bit lane of AVX2 registers, with the 32×32→64-bit
//! multiply `vpmuludq`: the ladder of `lanes.rs` over the radix-2^25.5 field of
//! `field25.rs`, instantiated over `__m256i`.
//!
//! Every function here is compiled for AVX2 and is entered only through `simd.rs`,
//! after run-time detection.

use core::arch::x86_64::*;

use super::{field25::field25, lanes::lane_ladder};

/// Four 64-bit lanes in one register.
type V = __m256i;
const LANES: usize = 4;

#[target_feature(enable = "avx2")]
#[inline]
fn v_zero() -> V {
    _mm256_setzero_si256()
}
#[target_feature(enable = "avx2")]
#[inline]
fn v_set1(x: u64) -> V {
    _mm256_set1_epi64x(x as i64)
}
#[target_feature(enable = "avx2")]
#[inline]
fn v_add(a: V, b: V) -> V {
    _mm256_add_epi64(a, b)
}
#[target_feature(enable = "avx2")]
#[inline]
fn v_sub(a: V, b: V) -> V {
    _mm256_sub_epi64(a, b)
}
#[target_feature(enable = "avx2")]
#[inline]
fn v_and(a: V, b: V) -> V {
    _mm256_and_si256(a, b)
}
#[target_feature(enable = "avx2")]
#[inline]
fn v_xor(a: V, b: V) -> V {
    _mm256_xor_si256(a, b)
}
#[target_feature(enable = "avx2")]
#[inline]
fn v_srli<const N: i32>(a: V) -> V {
    _mm256_srli_epi64::<N>(a)
}
#[target_feature(enable = "avx2")]
#[inline]
fn v_slli<const N: i32>(a: V) -> V {
    _mm256_slli_epi64::<N>(a)
}
/// `vpaddd`: 32-bit lanes.
#[target_feature(enable = "avx2")]
#[inline]
fn v_add32(a: V, b: V) -> V {
    _mm256_add_epi32(a, b)
}
/// `vpslld`: 32-bit lanes.
#[target_feature(enable = "avx2")]
#[inline]
fn v_slli32<const N: i32>(a: V) -> V {
    _mm256_slli_epi32::<N>(a)
}
/// `vpmuludq`: the 64-bit product of the low 32 bits of each lane.
#[target_feature(enable = "avx2")]
#[inline]
fn v_mul32(a: V, b: V) -> V {
    _mm256_mul_epu32(a, b)
}

/// Four lanes from memory, with a safe intrinsic (no raw pointer).
#[target_feature(enable = "avx2")]
#[inline]
fn v_load(v: &[u64; 4]) -> V {
    _mm256_set_epi64x(v[3] as i64, v[2] as i64, v[1] as i64, v[0] as i64)
}

/// Four lanes to memory, with safe intrinsics (no raw pointer); a few times per group.
#[target_feature(enable = "avx2")]
#[inline]
fn v_store(v: V) -> [u64; 4] {
    [
        _mm256_extract_epi64::<0>(v) as u64,
        _mm256_extract_epi64::<1>(v) as u64,
        _mm256_extract_epi64::<2>(v) as u64,
        _mm256_extract_epi64::<3>(v) as u64,
    ]
}

field25!(#[target_feature(enable = "avx2")] #[inline]);
lane_ladder!(#[target_feature(enable = "avx2")] #[inline]);

/// The same checks as the portable lanes, in AVX2 registers: only on a CPU that has
/// them, ignored with the reason elsewhere.
#[cfg(test)]
mod tests {
    fn many(k: &[u8; 32], p: &[[u8; 32]]) -> Vec<[u8; 32]> {
        crate::x25519::simd::Lanes::detect_exactly(crate::x25519::simd::Kind::Avx2)
            .expect("build.rs found AVX2 on this CPU, but detection did not")
            .many(k, p)
    }
    crate::x25519::lanes::tests::lane_checks!(
        many,
        #[cfg_attr(not(mkb_host_avx2), ignore = "this CPU has no AVX2")]
    );
}
