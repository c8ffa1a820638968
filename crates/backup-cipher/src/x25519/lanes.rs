//! The eight-lane Montgomery ladder, written once (a macro over a lane type and its
//! primitives) and instantiated twice: with AVX-512 IFMA in `ifma.rs`, and here with
//! portable lanes (`[u64; 8]`) that compute exactly what `vpmadd52luq`/`vpmadd52huq`
//! compute (the low and high 52 bits of the 104-bit product of the low 52 bits of two
//! lanes). The portable lanes exist so the ladder — its carries, bounds and canonical
//! encoding — is tested on every machine against x25519-dalek; the IFMA instantiation
//! runs the same arithmetic in registers.
//!
//! # Representation
//!
//! A field element mod p = 2^255 − 19 is five limbs in radix 2^51, `Σ lᵢ·2^(51·i)`, one
//! register per limb. `vpmadd52luq`/`vpmadd52huq` multiply the low 52 bits of two lanes
//! and add the low / high 52 bits of the 104-bit product, so **every limb that enters a
//! multiplication must be below 2^52**; the radix leaves one bit of headroom for that.
//! The bounds, checked by the tests at their extremes:
//!
//! - [`carry`] takes limbs below 2^62 and returns limbs below 2^51 + 19·2^11 < 2^52.
//! - [`mul`]/[`sqr`] take limbs below 2^52: each column sums at most 5 low halves and 5
//!   doubled high halves, < 15·2^52 < 2^56; folding the top five columns in with ×19
//!   stays below 20·2^56 < 2^61; then [`carry`].
//! - Sums and differences of carried values are carried again before any multiplication
//!   ([`add`], [`sub`], which adds 2p first so no lane goes negative).
//!
//! # Constant time
//!
//! Every lane executes the same instructions whatever the data; the conditional swap
//! is a masked blend whose mask comes from the scalar bit by arithmetic, not a branch.
//! The canonical encoding at the end ([`to_bytes`]) is branch-free scalar code.

use zeroize::Zeroize;

pub(super) const MASK51: u64 = (1 << 51) - 1;

/// The field arithmetic and the ladder over lanes of type `V`, given the primitives
/// `v_zero`, `v_set1`, `v_add`, `v_sub`, `v_and`, `v_srli51`, `v_slli4`, `v_slli1`,
/// `v_madd52lo`, `v_madd52hi`, `v_blend`, `v_load`, `v_store` in scope, with `$attr` on
/// every function (the IFMA instantiation compiles them for its CPU features).
macro_rules! lane_ladder {
    ($(#[$attr:meta])*) => {
        /// A field element in each of eight lanes.
        type Fe = [V; 5];

        /// The ladder for eight points; returns x₂/z₂ in limbs (lane-major per limb),
        /// not yet canonical.
        $(#[$attr])*
        pub(super) fn ladder_x8(k: &[u8; 32], u: &[[u64; 8]; 5]) -> [[u64; 8]; 5] {
            let zero = v_zero();
            let one = [v_set1(1), zero, zero, zero, zero];
            let x1: Fe = [v_load(&u[0]), v_load(&u[1]), v_load(&u[2]), v_load(&u[3]), v_load(&u[4])];
            let mut x2 = one;
            let mut z2 = [zero; 5];
            let mut x3 = x1;
            let mut z3 = one;
            let mut swap = 0u8;
            for t in (0..255).rev() {
                let bit = (k[t >> 3] >> (t & 7)) & 1;
                swap ^= bit;
                cswap(swap, &mut x2, &mut x3);
                cswap(swap, &mut z2, &mut z3);
                swap = bit;

                let a = add(x2, z2);
                let aa = sqr(a);
                let b = sub(x2, z2);
                let bb = sqr(b);
                let e = sub(aa, bb);
                let c = add(x3, z3);
                let d = sub(x3, z3);
                let da = mul(d, a);
                let cb = mul(c, b);
                x3 = sqr(add(da, cb));
                z3 = mul(x1, sqr(sub(da, cb)));
                x2 = mul(aa, bb);
                z2 = mul(e, carry(add_unreduced(aa, mul_a24_unreduced(e))));
            }
            cswap(swap, &mut x2, &mut x3);
            cswap(swap, &mut z2, &mut z3);
            let r = mul(x2, invert(z2));
            let mut out = [[0u64; 8]; 5];
            for (o, limb) in out.iter_mut().zip(r) {
                *o = v_store(limb);
            }
            out
        }

        /// Swaps `a` and `b` in every lane when `swap` is 1, without branching on it.
        $(#[$attr])*
        fn cswap(swap: u8, a: &mut Fe, b: &mut Fe) {
            // 0 → 0x00, 1 → 0xFF; black_box keeps the optimiser from making it a branch.
            let mask: u8 = core::hint::black_box(0u8.wrapping_sub(swap));
            for i in 0..5 {
                let x = v_blend(mask, a[i], b[i]);
                let y = v_blend(mask, b[i], a[i]);
                a[i] = x;
                b[i] = y;
            }
        }

        /// 19·x as shifts and adds (x below 2^59).
        $(#[$attr])*
        fn times19(x: V) -> V {
            v_add(v_add(v_slli4(x), v_slli1(x)), x)
        }

        /// One parallel carry step: limbs below 2^62 in, below 2^51 + 19·2^11 out.
        $(#[$attr])*
        fn carry(a: Fe) -> Fe {
            let m = v_set1($crate::x25519::lanes::MASK51);
            let c: [V; 5] = [v_srli51(a[0]), v_srli51(a[1]), v_srli51(a[2]), v_srli51(a[3]), v_srli51(a[4])];
            [
                v_add(v_and(a[0], m), times19(c[4])),
                v_add(v_and(a[1], m), c[0]),
                v_add(v_and(a[2], m), c[1]),
                v_add(v_and(a[3], m), c[2]),
                v_add(v_and(a[4], m), c[3]),
            ]
        }

        /// a + b, limb by limb, not carried.
        $(#[$attr])*
        fn add_unreduced(a: Fe, b: Fe) -> Fe {
            [v_add(a[0], b[0]), v_add(a[1], b[1]), v_add(a[2], b[2]), v_add(a[3], b[3]), v_add(a[4], b[4])]
        }

        /// a + b, carried (inputs carried).
        $(#[$attr])*
        fn add(a: Fe, b: Fe) -> Fe {
            carry(add_unreduced(a, b))
        }

        /// a − b as a + 2p − b, carried. `b`'s limbs must be at most 2p's (2^52 − 38 and
        /// 2^52 − 2), which every carried value is.
        $(#[$attr])*
        fn sub(a: Fe, b: Fe) -> Fe {
            let p0 = v_set1((1u64 << 52) - 38);
            let pi = v_set1((1u64 << 52) - 2);
            carry([
                v_sub(v_add(a[0], p0), b[0]),
                v_sub(v_add(a[1], pi), b[1]),
                v_sub(v_add(a[2], pi), b[2]),
                v_sub(v_add(a[3], pi), b[3]),
                v_sub(v_add(a[4], pi), b[4]),
            ])
        }

        /// Folds the ten product columns (low halves `lo[k]` of weight 2^(51k), high
        /// halves `hi[k]` of weight 2^52·2^(51k) = 2·2^(51(k+1))) into five limbs mod p,
        /// carried.
        $(#[$attr])*
        fn reduce(lo: [V; 9], hi: [V; 9]) -> Fe {
            let mut z = [v_zero(); 10];
            z[0] = lo[0];
            for k in 1..9 {
                z[k] = v_add(lo[k], v_add(hi[k - 1], hi[k - 1]));
            }
            z[9] = v_add(hi[8], hi[8]);
            // 2^255 ≡ 19 (mod p): column k + 5 comes back as 19 × column k.
            carry([
                v_add(z[0], times19(z[5])),
                v_add(z[1], times19(z[6])),
                v_add(z[2], times19(z[7])),
                v_add(z[3], times19(z[8])),
                v_add(z[4], times19(z[9])),
            ])
        }

        /// a·b mod p (limbs below 2^52 in, carried out).
        $(#[$attr])*
        fn mul(a: Fe, b: Fe) -> Fe {
            let mut lo = [v_zero(); 9];
            let mut hi = [v_zero(); 9];
            for i in 0..5 {
                for j in 0..5 {
                    lo[i + j] = v_madd52lo(lo[i + j], a[i], b[j]);
                    hi[i + j] = v_madd52hi(hi[i + j], a[i], b[j]);
                }
            }
            reduce(lo, hi)
        }

        /// a² mod p: the ten cross products once, doubled, plus the five squares.
        $(#[$attr])*
        fn sqr(a: Fe) -> Fe {
            let mut lo = [v_zero(); 9];
            let mut hi = [v_zero(); 9];
            for i in 0..5 {
                for j in i + 1..5 {
                    lo[i + j] = v_madd52lo(lo[i + j], a[i], a[j]);
                    hi[i + j] = v_madd52hi(hi[i + j], a[i], a[j]);
                }
            }
            for k in 0..9 {
                lo[k] = v_add(lo[k], lo[k]);
                hi[k] = v_add(hi[k], hi[k]);
            }
            for i in 0..5 {
                lo[2 * i] = v_madd52lo(lo[2 * i], a[i], a[i]);
                hi[2 * i] = v_madd52hi(hi[2 * i], a[i], a[i]);
            }
            reduce(lo, hi)
        }

        /// a^(2^n).
        $(#[$attr])*
        fn sqr_n(mut a: Fe, n: u32) -> Fe {
            for _ in 0..n {
                a = sqr(a);
            }
            a
        }

        /// 121665·e, not carried: limbs below 2^52 + 38·2^17.
        $(#[$attr])*
        fn mul_a24_unreduced(e: Fe) -> Fe {
            let a24 = v_set1(121_665);
            let zero = v_zero();
            let mut lo = [zero; 5];
            let mut hi = [zero; 5];
            for i in 0..5 {
                lo[i] = v_madd52lo(zero, e[i], a24);
                hi[i] = v_madd52hi(zero, e[i], a24);
            }
            [
                v_add(lo[0], times19(v_add(hi[4], hi[4]))),
                v_add(lo[1], v_add(hi[0], hi[0])),
                v_add(lo[2], v_add(hi[1], hi[1])),
                v_add(lo[3], v_add(hi[2], hi[2])),
                v_add(lo[4], v_add(hi[3], hi[3])),
            ]
        }

        /// z^(p−2) = z^(2^255 − 21), the usual chain of 254 squarings and 11
        /// multiplications.
        $(#[$attr])*
        fn invert(z: Fe) -> Fe {
            let z2 = sqr(z);
            let z9 = mul(sqr_n(z2, 2), z);
            let z11 = mul(z9, z2);
            let z_5_0 = mul(sqr(z11), z9);
            let z_10_0 = mul(sqr_n(z_5_0, 5), z_5_0);
            let z_20_0 = mul(sqr_n(z_10_0, 10), z_10_0);
            let z_40_0 = mul(sqr_n(z_20_0, 20), z_20_0);
            let z_50_0 = mul(sqr_n(z_40_0, 10), z_10_0);
            let z_100_0 = mul(sqr_n(z_50_0, 50), z_50_0);
            let z_200_0 = mul(sqr_n(z_100_0, 100), z_100_0);
            let z_250_0 = mul(sqr_n(z_200_0, 50), z_50_0);
            mul(sqr_n(z_250_0, 5), z11)
        }
    };
}
pub(super) use lane_ladder;

/// X25519(`scalar`, `points[i]`) for eight points through `ladder` (one of the two
/// instantiations), canonical little-endian bytes. The scalar is clamped here and the
/// top bit of each point ignored (RFC 7748).
pub(super) fn x25519_x8_with(
    scalar: &[u8; 32],
    points: &[[u8; 32]; 8],
    ladder: impl FnOnce(&[u8; 32], &[[u64; 8]; 5]) -> [[u64; 8]; 5],
) -> [[u8; 32]; 8] {
    let mut k = *scalar;
    k[0] &= 248;
    k[31] &= 127;
    k[31] |= 64;
    let mut u = [[0u64; 8]; 5];
    for (lane, p) in points.iter().enumerate() {
        for (limb, v) in from_bytes(p).into_iter().enumerate() {
            u[limb][lane] = v;
        }
    }
    let mut out_limbs = ladder(&k, &u);
    k.zeroize();
    let mut out = [[0u8; 32]; 8];
    for (lane, o) in out.iter_mut().enumerate() {
        let mut l = [0u64; 5];
        for (limb, v) in l.iter_mut().enumerate() {
            *v = out_limbs[limb][lane];
        }
        *o = to_bytes(&l);
        l.zeroize();
    }
    out_limbs.zeroize();
    out
}

/// The portable lanes: `[u64; 8]`, each primitive lane by lane (for the tests).
#[cfg(test)]
pub(super) mod portable {
    /// Eight 64-bit lanes.
    type V = [u64; 8];
    const LOW52: u64 = (1 << 52) - 1;

    fn lanes(f: impl Fn(usize) -> u64) -> V {
        core::array::from_fn(f)
    }
    fn v_zero() -> V {
        [0; 8]
    }
    fn v_set1(x: u64) -> V {
        [x; 8]
    }
    fn v_add(a: V, b: V) -> V {
        lanes(|i| a[i].wrapping_add(b[i]))
    }
    fn v_sub(a: V, b: V) -> V {
        lanes(|i| a[i].wrapping_sub(b[i]))
    }
    fn v_and(a: V, b: V) -> V {
        lanes(|i| a[i] & b[i])
    }
    fn v_srli51(a: V) -> V {
        lanes(|i| a[i] >> 51)
    }
    fn v_slli4(a: V) -> V {
        lanes(|i| a[i] << 4)
    }
    fn v_slli1(a: V) -> V {
        lanes(|i| a[i] << 1)
    }
    /// `vpmadd52luq`: acc + low 52 bits of (a mod 2^52)·(b mod 2^52).
    fn v_madd52lo(acc: V, a: V, b: V) -> V {
        lanes(|i| {
            let p = u128::from(a[i] & LOW52) * u128::from(b[i] & LOW52);
            acc[i].wrapping_add(p as u64 & LOW52)
        })
    }
    /// `vpmadd52huq`: acc + bits 52..104 of (a mod 2^52)·(b mod 2^52).
    fn v_madd52hi(acc: V, a: V, b: V) -> V {
        lanes(|i| {
            let p = u128::from(a[i] & LOW52) * u128::from(b[i] & LOW52);
            acc[i].wrapping_add((p >> 52) as u64)
        })
    }
    /// `vpblendmq`: lane i of `b` where bit i of `mask` is set, else of `a`.
    fn v_blend(mask: u8, a: V, b: V) -> V {
        lanes(|i| {
            let take = 0u64.wrapping_sub(u64::from((mask >> i) & 1));
            (a[i] & !take) | (b[i] & take)
        })
    }
    fn v_load(v: &[u64; 8]) -> V {
        *v
    }
    fn v_store(v: V) -> [u64; 8] {
        v
    }

    super::lane_ladder!(#[inline]);
}

/// Eight X25519 at once in the portable lanes (as many instructions as eight ladders
/// one after another: for testing the lane arithmetic on any CPU).
#[cfg(test)]
pub(crate) fn x25519_x8_portable(scalar: &[u8; 32], points: &[[u8; 32]; 8]) -> [[u8; 32]; 8] {
    x25519_x8_with(scalar, points, portable::ladder_x8)
}

/// 32 little-endian bytes → five 51-bit limbs, the top bit ignored.
pub(super) fn from_bytes(b: &[u8; 32]) -> [u64; 5] {
    let w = |i: usize| {
        let mut x = [0u8; 8];
        x.copy_from_slice(&b[8 * i..8 * i + 8]);
        u64::from_le_bytes(x)
    };
    let (w0, w1, w2, w3) = (w(0), w(1), w(2), w(3));
    [
        w0 & MASK51,
        ((w0 >> 51) | (w1 << 13)) & MASK51,
        ((w1 >> 38) | (w2 << 26)) & MASK51,
        ((w2 >> 25) | (w3 << 39)) & MASK51,
        (w3 >> 12) & MASK51,
    ]
}

/// Limbs below 2^52 → the canonical 32-byte encoding (fully reduced mod p).
pub(super) fn to_bytes(limbs: &[u64; 5]) -> [u8; 32] {
    let mut l = *limbs;
    // Two sequential carries: limbs below 2^51 except l[0] < 2^51 + 19, so the value
    // is below 2p.
    for _ in 0..2 {
        for i in 0..4 {
            l[i + 1] += l[i] >> 51;
            l[i] &= MASK51;
        }
        let c = l[4] >> 51;
        l[4] &= MASK51;
        l[0] += 19 * c;
    }
    // q = 1 exactly when value ≥ p, i.e. value + 19 ≥ 2^255; then add 19 and drop 2^255.
    let mut q = (l[0] + 19) >> 51;
    for v in &l[1..] {
        q = (v + q) >> 51;
    }
    l[0] += 19 * q;
    for i in 0..4 {
        l[i + 1] += l[i] >> 51;
        l[i] &= MASK51;
    }
    l[4] &= MASK51;
    let words = [
        l[0] | (l[1] << 51),
        (l[1] >> 13) | (l[2] << 38),
        (l[2] >> 26) | (l[3] << 25),
        (l[3] >> 39) | (l[4] << 12),
    ];
    let mut out = [0u8; 32];
    for (chunk, w) in out.chunks_exact_mut(8).zip(words) {
        chunk.copy_from_slice(&w.to_le_bytes());
    }
    l.zeroize();
    out
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    fn dalek(k: &[u8; 32], u: &[u8; 32]) -> [u8; 32] {
        x25519_dalek::x25519(*k, *u)
    }

    /// Eight X25519 at once, by one of the two instantiations.
    pub(in crate::x25519) trait X8:
        Fn(&[u8; 32], &[[u8; 32]; 8]) -> [[u8; 32]; 8]
    {
    }
    impl<F: Fn(&[u8; 32], &[[u8; 32]; 8]) -> [[u8; 32]; 8]> X8 for F {}

    #[test]
    fn limbs_round_trip_and_reduce() {
        // p − 1, p, p + 1, 2^255 − 1 (top bit is ignored), and 2^256 − 1.
        let mut p = [0xffu8; 32];
        p[0] = 0xed;
        p[31] = 0x7f;
        let canon = |b: &[u8; 32]| to_bytes(&from_bytes(b));
        let mut pm1 = p;
        pm1[0] = 0xec;
        assert_eq!(canon(&pm1), pm1);
        assert_eq!(canon(&p), [0u8; 32]);
        let mut pp1 = p;
        pp1[0] = 0xee;
        let mut one = [0u8; 32];
        one[0] = 1;
        assert_eq!(canon(&pp1), one);
        let mut two55m1 = [0xffu8; 32];
        two55m1[31] = 0x7f;
        let mut eighteen = [0u8; 32];
        eighteen[0] = 18;
        assert_eq!(canon(&two55m1), eighteen);
        assert_eq!(canon(&[0xff; 32]), eighteen);
        // Limbs at the largest values `carry` hands over (2^51 + 19·2^11), and just
        // below 2^52, against a slow reference reduction.
        for big in [[(1u64 << 51) + 19 * (1 << 11); 5], [(1u64 << 52) - 1; 5]] {
            let n = big
                .iter()
                .enumerate()
                .fold([0u64; 5], |acc, (i, &x)| add_shifted(acc, x, 51 * i));
            assert_eq!(to_bytes(&big), mod_p(n));
        }
    }

    // Little big-number helpers (u64 words, little-endian) for the reference reduction.
    fn add_shifted(mut acc: [u64; 5], x: u64, shift: usize) -> [u64; 5] {
        let (w, b) = (shift / 64, shift % 64);
        let part = (x as u128) << b;
        let mut carry = 0u128;
        for (i, limb) in [part as u64, (part >> 64) as u64].into_iter().enumerate() {
            if w + i < 5 {
                let s = acc[w + i] as u128 + limb as u128 + carry;
                acc[w + i] = s as u64;
                carry = s >> 64;
            }
        }
        let mut i = w + 2;
        while carry != 0 && i < 5 {
            let s = acc[i] as u128 + carry;
            acc[i] = s as u64;
            carry = s >> 64;
            i += 1;
        }
        acc
    }
    fn mod_p(mut n: [u64; 5]) -> [u8; 32] {
        // p = 2^255 − 19, as words.
        let p = [
            0xffff_ffff_ffff_ffed,
            0xffff_ffff_ffff_ffff,
            0xffff_ffff_ffff_ffff,
            0x7fff_ffff_ffff_ffff,
            0,
        ];
        let ge = |a: &[u64; 5]| {
            for i in (0..5).rev() {
                if a[i] != p[i] {
                    return a[i] > p[i];
                }
            }
            true
        };
        while ge(&n) {
            let mut borrow = 0i128;
            for i in 0..5 {
                let d = n[i] as i128 - p[i] as i128 - borrow;
                borrow = i128::from(d < 0);
                n[i] = d.rem_euclid(1 << 64) as u64;
            }
        }
        let mut out = [0u8; 32];
        for i in 0..4 {
            out[8 * i..8 * i + 8].copy_from_slice(&n[i].to_le_bytes());
        }
        out
    }

    pub(in crate::x25519) fn rfc7748_vectors_in_every_lane(x8: impl X8) {
        // RFC 7748 §5.2, the two single-shot vectors.
        let cases = [
            (
                "a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4",
                "e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c",
                "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552",
            ),
            (
                "4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d",
                "e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493",
                "95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957",
            ),
        ];
        for (k, u, r) in cases {
            let k: [u8; 32] = hex::decode(k).unwrap().try_into().unwrap();
            let u: [u8; 32] = hex::decode(u).unwrap().try_into().unwrap();
            let out = x8(&k, &[u; 8]);
            for o in out {
                assert_eq!(hex::encode(o), r);
            }
        }
    }

    pub(in crate::x25519) fn rfc7748_iterated_1000(x8: impl X8) {
        let mut k = [0u8; 32];
        k[0] = 9;
        let mut u = k;
        for i in 1..=1000 {
            let out = x8(&k, &[u; 8]);
            assert!(out.iter().all(|o| *o == out[0]));
            u = k;
            k = out[0];
            if i == 1 {
                assert_eq!(
                    hex::encode(k),
                    "422c8e7a6227d7bca1350b3e2bb7279f7897b87bb6854b783c60e80311ae3079"
                );
            }
        }
        assert_eq!(
            hex::encode(k),
            "684cf59ba83309552800ef566f2f4d3c1c3887c49360e3875f2eb94d99532c51"
        );
    }

    pub(in crate::x25519) fn edge_points_match_dalek(x8: impl X8) {
        let mut pts = Vec::new();
        let with = |lo: u8, top: u8, fill: u8| {
            let mut b = [fill; 32];
            b[0] = lo;
            b[31] = top;
            b
        };
        // 0, 1, p−1, p, p+1, 2^255−1 and the same with the top bit set, all 0xff,
        // low-order points (order 1, 2, 4, 8) and their non-canonical forms.
        pts.push([0u8; 32]);
        pts.push(with(1, 0, 0));
        pts.push(with(0xec, 0x7f, 0xff));
        pts.push(with(0xed, 0x7f, 0xff));
        pts.push(with(0xee, 0x7f, 0xff));
        pts.push(with(0xff, 0x7f, 0xff));
        pts.push(with(0xec, 0xff, 0xff));
        pts.push(with(0xed, 0xff, 0xff));
        pts.push([0xff; 32]);
        for h in [
            "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
            "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
        ] {
            pts.push(hex::decode(h).unwrap().try_into().unwrap());
        }
        let mut scalars = vec![[0u8; 32], [0xffu8; 32]];
        scalars.push(with(8, 0x40, 0x55));
        for k in &scalars {
            for chunk in pts.chunks(8) {
                let mut batch = [[9u8; 32]; 8];
                batch[..chunk.len()].copy_from_slice(chunk);
                let out = x8(k, &batch);
                for (p, o) in batch.iter().zip(out) {
                    assert_eq!(o, dalek(k, p), "k={} u={}", hex::encode(k), hex::encode(p));
                }
            }
        }
    }

    /// Random scalars and batches of points against x25519-dalek.
    pub(in crate::x25519) fn random_batches_match_dalek(x8: impl X8) {
        use proptest::{prelude::*, test_runner::TestRunner};
        let mut runner = TestRunner::new(ProptestConfig::with_cases(64));
        runner
            .run(&(any::<[u8; 32]>(), any::<[[u8; 32]; 8]>()), |(k, pts)| {
                let out = x8(&k, &pts);
                for (p, o) in pts.iter().zip(out) {
                    prop_assert_eq!(o, dalek(&k, p));
                }
                Ok(())
            })
            .unwrap();
    }

    // The portable lanes, on every machine.
    #[test]
    fn portable_rfc7748_vectors_in_every_lane() {
        rfc7748_vectors_in_every_lane(x25519_x8_portable);
    }
    #[test]
    fn portable_rfc7748_iterated_1000() {
        rfc7748_iterated_1000(x25519_x8_portable);
    }
    #[test]
    fn portable_edge_points_match_dalek() {
        edge_points_match_dalek(x25519_x8_portable);
    }
    #[test]
    fn portable_random_batches_match_dalek() {
        random_batches_match_dalek(x25519_x8_portable);
    }
}
