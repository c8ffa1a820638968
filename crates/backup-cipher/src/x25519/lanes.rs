//! Many X25519 with one scalar, several at a time: one point per lane of a SIMD register.
//!
//! A restore computes one X25519 per session, every one with the same private scalar
//! (the backup key) and a different public point (each session's ephemeral key). The
//! Montgomery ladder's sequence of operations depends only on the scalar, so the ladders
//! of several points run in lock-step, lane `i` of every register belonging to point `i`.
//!
//! The ladder, the inversion and the batching are written once here ([`lane_ladder`], a
//! macro over a lane type and a field representation) and instantiated four times:
//!
//! | field ([`field51`](super::field51) / [`field25`](super::field25)) | lanes | where |
//! |---|---|---|
//! | five limbs, radix 2^51, 52-bit multiply-adds | `__m512i`, 8 lanes | `ifma.rs` (AVX-512 IFMA) |
//! | same | portable `[u64; 8]` computing exactly what `vpmadd52luq`/`vpmadd52huq` compute | tests, every machine |
//! | ten limbs, radix 2^25.5, 32×32→64-bit multiplies | `__m256i`, 4 lanes | `avx2.rs` (AVX2) |
//! | same | portable `[u64; 4]` computing exactly what `vpmuludq` computes | tests, every machine |
//!
//! The portable lanes exist so the ladder — its carries, bounds, batching and canonical
//! encoding — is tested on every machine against x25519-dalek; the SIMD instantiations
//! run the same source in registers.
//!
//! # Batched inversion
//!
//! A ladder ends with x₂/z₂. Instead of one inversion per group of lanes, [`many`] runs
//! every group's ladder, then inverts all the z₂ of a call with one inversion
//! (Montgomery's trick: prefix products, one inversion, three multiplications per group
//! back). A z₂ of zero (a low-order or zero point, whose X25519 is zero) would zero
//! every lane it shares a product with, so such a lane's z₂ is replaced by 1 before the
//! products and its result set to zero after — both with masks, not branches.
//!
//! # Constant time
//!
//! Every lane executes the same instructions whatever the data; the conditional swap
//! is a masked exchange whose mask comes from the scalar bit by arithmetic, not a
//! branch. The zero tests and the canonical encoding are branch-free scalar code.

use subtle::ConstantTimeEq;
use zeroize::{Zeroize, Zeroizing};

pub(super) const MASK51: u64 = (1 << 51) - 1;

/// The base point's u-coordinate: what pads a short last group (those lanes are
/// computed and dropped).
pub(super) const BASE: [u8; 32] = {
    let mut b = [0u8; 32];
    b[0] = 9;
    b
};

/// The scalar as X25519 uses it (RFC 7748 §5: clamped).
pub(super) fn clamp(scalar: &[u8; 32]) -> Zeroizing<[u8; 32]> {
    let mut k = Zeroizing::new(*scalar);
    k[0] &= 248;
    k[31] &= 127;
    k[31] |= 64;
    k
}

/// All ones when the encoded value is zero mod p, else zero (constant time).
pub(super) fn zero_mask(encoded: &[u8; 32]) -> u64 {
    0u64.wrapping_sub(u64::from(encoded.ct_eq(&[0u8; 32]).unwrap_u8()))
}

/// Lane `lane` of a lane-major field element, encoded by `to_bytes` (the limbs copied
/// out for it are wiped).
pub(super) fn lane_bytes<const L: usize, const N: usize>(
    fe: &[[u64; L]; N],
    lane: usize,
    to_bytes: fn(&[u64; N]) -> [u8; 32],
) -> [u8; 32] {
    let mut limbs: [u64; N] = core::array::from_fn(|i| fe[i][lane]);
    let out = to_bytes(&limbs);
    limbs.zeroize();
    out
}

/// Wipes a vector of lane-major field elements.
pub(super) fn wipe<const L: usize, const N: usize>(v: &mut [[[u64; L]; N]]) {
    for fe in v {
        for limb in fe.iter_mut() {
            limb.zeroize();
        }
    }
}

/// The ladder, the inversion and [`many`] over lanes of type `V`, with `$attr` on every
/// function (the SIMD instantiations compile them for their CPU features).
///
/// Expects in scope: `type V`, `const LANES`, `const LIMBS`, `type Fe = [V; LIMBS]`;
/// the primitives `v_zero`, `v_set1`, `v_and`, `v_xor`, `v_load`, `v_store`; and the
/// field operations of one representation (`field51!` or `field25!`): `fe_one`, `add`,
/// `sub`, `mul`, `sqr`, `a24` (AA + 121665·E, carried), `limbs_from_bytes`,
/// `limbs_to_bytes`.
macro_rules! lane_ladder {
    ($(#[$attr:meta])*) => {
        /// Swaps `a` and `b` in every lane where `mask` is all ones (it is all ones or
        /// all zeros in every lane), without branching.
        $(#[$attr])*
        fn cswap(mask: V, a: &mut Fe, b: &mut Fe) {
            for i in 0..LIMBS {
                let t = v_and(v_xor(a[i], b[i]), mask);
                a[i] = v_xor(a[i], t);
                b[i] = v_xor(b[i], t);
            }
        }

        /// The Montgomery ladder (RFC 7748 §5) in every lane, with the clamped scalar
        /// `k`; returns x₂ and z₂ (the result is x₂/z₂).
        $(#[$attr])*
        fn ladder(k: &[u8; 32], x1: Fe) -> (Fe, Fe) {
            let mut x2 = fe_one();
            let mut z2 = [v_zero(); LIMBS];
            let mut x3 = x1;
            let mut z3 = fe_one();
            let mut swap = 0u8;
            for t in (0..255).rev() {
                let bit = (k[t >> 3] >> (t & 7)) & 1;
                swap ^= bit;
                // 0 → 0, 1 → all ones; black_box keeps the optimiser from making it a
                // branch.
                let mask = v_set1(core::hint::black_box(0u64.wrapping_sub(u64::from(swap))));
                cswap(mask, &mut x2, &mut x3);
                cswap(mask, &mut z2, &mut z3);
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
                z2 = mul(e, a24(aa, e));
            }
            let mask = v_set1(0u64.wrapping_sub(u64::from(swap)));
            cswap(mask, &mut x2, &mut x3);
            cswap(mask, &mut z2, &mut z3);
            (x2, z2)
        }

        /// a^(2^n).
        $(#[$attr])*
        fn sqr_n(mut a: Fe, n: u32) -> Fe {
            for _ in 0..n {
                a = sqr(a);
            }
            a
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

        $(#[$attr])*
        fn load(u: &[[u64; LANES]; LIMBS]) -> Fe {
            let mut f = [v_zero(); LIMBS];
            for i in 0..LIMBS {
                f[i] = v_load(&u[i]);
            }
            f
        }

        $(#[$attr])*
        fn store(f: Fe) -> [[u64; LANES]; LIMBS] {
            let mut u = [[0u64; LANES]; LIMBS];
            for i in 0..LIMBS {
                u[i] = v_store(f[i]);
            }
            u
        }

        /// X25519(`scalar`, `points[i]`) for every point, canonical little-endian bytes:
        /// `LANES` ladders at a time, one inversion for the whole call (module
        /// documentation of `lanes.rs`). The scalar is clamped here and the top bit of
        /// each point ignored (RFC 7748).
        $(#[$attr])*
        pub(in crate::x25519) fn many(scalar: &[u8; 32], points: &[[u8; 32]]) -> Vec<[u8; 32]> {
            use $crate::x25519::lanes::{BASE, clamp, lane_bytes, wipe, zero_mask};
            use zeroize::Zeroize;
            let k = clamp(scalar);
            let groups = points.len().div_ceil(LANES);
            let mut xs: Vec<[[u64; LANES]; LIMBS]> = Vec::with_capacity(groups);
            let mut zs: Vec<[[u64; LANES]; LIMBS]> = Vec::with_capacity(groups);
            for chunk in points.chunks(LANES) {
                let mut u = [[0u64; LANES]; LIMBS];
                for lane in 0..LANES {
                    let limbs = limbs_from_bytes(chunk.get(lane).unwrap_or(&BASE));
                    for i in 0..LIMBS {
                        u[i][lane] = limbs[i];
                    }
                }
                let (x, z) = ladder(&k, load(&u));
                xs.push(store(x));
                zs.push(store(z));
            }
            // A zero z₂ becomes 1 (its lane's result is zeroed below).
            let mut zero = Vec::with_capacity(groups);
            for z in zs.iter_mut() {
                let mut flags = [0u64; LANES];
                for lane in 0..LANES {
                    let mut bytes = lane_bytes(z, lane, limbs_to_bytes);
                    flags[lane] = zero_mask(&bytes);
                    z[0][lane] += flags[lane] & 1;
                    bytes.zeroize();
                }
                zero.push(flags);
            }
            // Montgomery's trick: prefix[g] = z₀·…·z_g; one inversion; back.
            let mut prefix: Vec<[[u64; LANES]; LIMBS]> = Vec::with_capacity(groups);
            let mut out = Vec::with_capacity(points.len());
            if let Some(first) = zs.first() {
                let mut acc = load(first);
                prefix.push(store(acc));
                for z in &zs[1..] {
                    acc = mul(acc, load(z));
                    prefix.push(store(acc));
                }
                let mut inv = invert(acc);
                let mut results = vec![[[0u64; LANES]; LIMBS]; groups];
                for g in (0..groups).rev() {
                    let inv_g = if g > 0 {
                        let inv_g = mul(inv, load(&prefix[g - 1]));
                        inv = mul(inv, load(&zs[g]));
                        inv_g
                    } else {
                        inv
                    };
                    let mut r = mul(load(&xs[g]), inv_g);
                    // Zero where z₂ was zero: all ones in the mask means "zero".
                    let keep = v_xor(v_load(&zero[g]), v_set1(u64::MAX));
                    for limb in r.iter_mut() {
                        *limb = v_and(*limb, keep);
                    }
                    results[g] = store(r);
                }
                for (g, chunk) in points.chunks(LANES).enumerate() {
                    for lane in 0..chunk.len() {
                        out.push(lane_bytes(&results[g], lane, limbs_to_bytes));
                    }
                }
                wipe(&mut results);
            }
            wipe(&mut xs);
            wipe(&mut zs);
            wipe(&mut prefix);
            out
        }
    };
}
pub(super) use lane_ladder;

/// The primitives both kinds of portable lanes share, over `[u64; $n]`: each lane by
/// lane, wrapping, exactly as the SIMD instructions compute it.
#[cfg(any(test, feature = "test-fixtures"))]
macro_rules! portable_lanes {
    ($n:literal) => {
        /// `$n` 64-bit lanes.
        type V = [u64; $n];
        const LANES: usize = $n;

        fn lanes(f: impl Fn(usize) -> u64) -> V {
            core::array::from_fn(f)
        }
        fn v_zero() -> V {
            [0; $n]
        }
        fn v_set1(x: u64) -> V {
            [x; $n]
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
        fn v_xor(a: V, b: V) -> V {
            lanes(|i| a[i] ^ b[i])
        }
        fn v_srli<const N: u32>(a: V) -> V {
            lanes(|i| a[i] >> N)
        }
        fn v_slli<const N: u32>(a: V) -> V {
            lanes(|i| a[i] << N)
        }
        fn v_load(v: &[u64; $n]) -> V {
            *v
        }
        fn v_store(v: V) -> [u64; $n] {
            v
        }
    };
}
#[cfg(any(test, feature = "test-fixtures"))]
pub(super) use portable_lanes;

/// 32 little-endian bytes → five 51-bit limbs, the top bit ignored.
pub(super) fn from_bytes51(b: &[u8; 32]) -> [u64; 5] {
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

/// Five limbs in radix 2^51, each below 2^52 → the canonical 32-byte encoding (fully
/// reduced mod p).
pub(super) fn to_bytes51(limbs: &[u64; 5]) -> [u8; 32] {
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

    /// Many X25519 with one scalar, by one of the instantiations.
    pub(in crate::x25519) trait Many:
        Fn(&[u8; 32], &[[u8; 32]]) -> Vec<[u8; 32]>
    {
    }
    impl<F: Fn(&[u8; 32], &[[u8; 32]]) -> Vec<[u8; 32]>> Many for F {}

    #[test]
    fn limbs_round_trip_and_reduce() {
        // p − 1, p, p + 1, 2^255 − 1 (top bit is ignored), and 2^256 − 1.
        let mut p = [0xffu8; 32];
        p[0] = 0xed;
        p[31] = 0x7f;
        let canon = |b: &[u8; 32]| to_bytes51(&from_bytes51(b));
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
        // Limbs at the largest values the radix-2^51 carry hands over (2^51 + 19·2^11),
        // and just below 2^52, against a slow reference reduction.
        for big in [[(1u64 << 51) + 19 * (1 << 11); 5], [(1u64 << 52) - 1; 5]] {
            assert_eq!(to_bytes51(&big), value_mod_p(&big, &[0, 51, 102, 153, 204]));
        }
    }

    /// Σ limbs[i]·2^offsets[i] mod p, canonical bytes, by slow big-number arithmetic:
    /// the reference the limb bounds are checked against.
    pub(in crate::x25519) fn value_mod_p(limbs: &[u64], offsets: &[usize]) -> [u8; 32] {
        let n = limbs
            .iter()
            .zip(offsets)
            .fold([0u64; 5], |acc, (&x, &o)| add_shifted(acc, x, o));
        mod_p(n)
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

    pub(in crate::x25519) fn rfc7748_vectors_in_every_lane(many: impl Many) {
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
            // Two full groups of eight lanes, or four of four, and one padded lane.
            let out = many(&k, &[u; 17]);
            assert_eq!(out.len(), 17);
            for o in out {
                assert_eq!(hex::encode(o), r);
            }
        }
    }

    pub(in crate::x25519) fn rfc7748_iterated_1000(many: impl Many) {
        let mut k = [0u8; 32];
        k[0] = 9;
        let mut u = k;
        for i in 1..=1000 {
            let out = many(&k, &[u; 2]);
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

    pub(in crate::x25519) fn edge_points_match_dalek(many: impl Many) {
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
        // Ordinary points around them, so a zero result shares its lane's batched
        // inversion with non-zero ones in other groups.
        let ordinary: Vec<[u8; 32]> = (1..=8u8).map(|i| dalek(&[i; 32], &BASE)).collect();
        let mut mixed = Vec::new();
        for (p, q) in pts.iter().zip(ordinary.iter().cycle()) {
            mixed.push(*q);
            mixed.push(*p);
            mixed.push(*q);
        }
        for k in &scalars {
            for batch in [&pts[..], &mixed[..]] {
                let out = many(k, batch);
                assert_eq!(out.len(), batch.len());
                for (p, o) in batch.iter().zip(out) {
                    assert_eq!(o, dalek(k, p), "k={} u={}", hex::encode(k), hex::encode(p));
                }
            }
        }
    }

    /// Random scalars and batches of points (one to five groups) against x25519-dalek.
    pub(in crate::x25519) fn random_batches_match_dalek(many: impl Many) {
        use proptest::{collection::vec, prelude::*, test_runner::TestRunner};
        let mut runner = TestRunner::new(ProptestConfig::with_cases(48));
        runner
            .run(
                &(any::<[u8; 32]>(), vec(any::<[u8; 32]>(), 1..40)),
                |(k, pts)| {
                    let out = many(&k, &pts);
                    prop_assert_eq!(out.len(), pts.len());
                    for (p, o) in pts.iter().zip(out) {
                        prop_assert_eq!(o, dalek(&k, p));
                    }
                    Ok(())
                },
            )
            .unwrap();
    }

    /// Every check above, for one instantiation.
    macro_rules! lane_checks {
        ($many:expr $(, #[$attr:meta])*) => {
            #[test]
            $(#[$attr])*
            fn rfc7748_vectors_in_every_lane() {
                $crate::x25519::lanes::tests::rfc7748_vectors_in_every_lane($many);
            }
            #[test]
            $(#[$attr])*
            fn rfc7748_iterated_1000() {
                $crate::x25519::lanes::tests::rfc7748_iterated_1000($many);
            }
            #[test]
            $(#[$attr])*
            fn edge_points_match_dalek() {
                $crate::x25519::lanes::tests::edge_points_match_dalek($many);
            }
            #[test]
            $(#[$attr])*
            fn random_batches_match_dalek() {
                $crate::x25519::lanes::tests::random_batches_match_dalek($many);
            }
        };
    }
    pub(in crate::x25519) use lane_checks;
}
