//! The field mod p = 2^255 − 19 in five limbs of radix 2^51, for lanes with the 52-bit
//! multiply-adds of AVX-512 IFMA (`vpmadd52luq`/`vpmadd52huq`): [`field51`], a macro
//! over the lane type, instantiated in `ifma.rs` and, for the tests, here over portable
//! `[u64; 8]` lanes.
//!
//! # Representation and bounds
//!
//! A field element is `Σ lᵢ·2^(51·i)`, one register per limb. The multiply-adds
//! multiply the low 52 bits of two lanes and add the low / high 52 bits of the 104-bit
//! product, so **every limb that enters a multiplication must be below 2^52**; the
//! radix leaves one bit of headroom for that. The bounds, checked by the tests at their
//! extremes:
//!
//! - `carry` takes limbs below 2^62 and returns limbs below 2^51 + 19·2^11 < 2^52.
//! - `mul`/`sqr` take limbs below 2^52: each column sums at most 5 low halves and 5
//!   doubled high halves, < 15·2^52 < 2^56; folding the top five columns in with ×19
//!   stays below 20·2^56 < 2^61; then `carry`.
//! - `add` and `sub` carry their results (`sub` adds 2p first so no lane goes
//!   negative), so every multiplication input is carried.

/// The field operations `lane_ladder!` needs, over lanes of type `V` with the
/// primitives `v_zero`, `v_set1`, `v_add`, `v_sub`, `v_and`, `v_srli`, `v_slli`,
/// `v_madd52lo`, `v_madd52hi` in scope, `$attr` on every function.
macro_rules! field51 {
    ($(#[$attr:meta])*) => {
        const LIMBS: usize = 5;
        /// A field element in every lane.
        type Fe = [V; LIMBS];

        fn limbs_from_bytes(b: &[u8; 32]) -> [u64; LIMBS] {
            $crate::x25519::lanes::from_bytes51(b)
        }
        fn limbs_to_bytes(l: &[u64; LIMBS]) -> [u8; 32] {
            $crate::x25519::lanes::to_bytes51(l)
        }

        $(#[$attr])*
        fn fe_one() -> Fe {
            let zero = v_zero();
            [v_set1(1), zero, zero, zero, zero]
        }

        /// 19·x as shifts and adds (x below 2^59).
        $(#[$attr])*
        fn times19(x: V) -> V {
            v_add(v_add(v_slli::<4>(x), v_slli::<1>(x)), x)
        }

        /// One parallel carry step: limbs below 2^62 in, below 2^51 + 19·2^11 out.
        $(#[$attr])*
        fn carry(a: Fe) -> Fe {
            let m = v_set1($crate::x25519::lanes::MASK51);
            let c: [V; 5] = [
                v_srli::<51>(a[0]),
                v_srli::<51>(a[1]),
                v_srli::<51>(a[2]),
                v_srli::<51>(a[3]),
                v_srli::<51>(a[4]),
            ];
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

        /// aa + 121665·e, carried (inputs carried).
        $(#[$attr])*
        fn a24(aa: Fe, e: Fe) -> Fe {
            let a24 = v_set1(121_665);
            let zero = v_zero();
            let mut lo = [zero; 5];
            let mut hi = [zero; 5];
            for i in 0..5 {
                lo[i] = v_madd52lo(zero, e[i], a24);
                hi[i] = v_madd52hi(zero, e[i], a24);
            }
            // 121665·e: limbs below 2^52 + 38·2^17; plus aa, below 2^62.
            carry(add_unreduced(aa, [
                v_add(lo[0], times19(v_add(hi[4], hi[4]))),
                v_add(lo[1], v_add(hi[0], hi[0])),
                v_add(lo[2], v_add(hi[1], hi[1])),
                v_add(lo[3], v_add(hi[2], hi[2])),
                v_add(lo[4], v_add(hi[3], hi[3])),
            ]))
        }
    };
}
pub(super) use field51;

/// The portable lanes: `[u64; 8]`, each primitive lane by lane, exactly as the
/// AVX-512 instructions compute it (for the tests, on every machine).
#[cfg(any(test, feature = "test-fixtures"))]
pub(super) mod portable {
    crate::x25519::lanes::portable_lanes!(8);
    const LOW52: u64 = (1 << 52) - 1;

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
    super::field51!(#[inline]);
    crate::x25519::lanes::lane_ladder!(#[inline]);

    /// The field operations, for the bounds tests.
    #[cfg(test)]
    pub(in crate::x25519) fn mul_limbs(a: [u64; 5], b: [u64; 5]) -> [u64; 5] {
        let r = mul(a.map(|x| [x; 8]), b.map(|x| [x; 8]));
        r.map(|l| l[0])
    }
    #[cfg(test)]
    pub(in crate::x25519) fn sqr_limbs(a: [u64; 5]) -> [u64; 5] {
        sqr(a.map(|x| [x; 8])).map(|l| l[0])
    }

    #[cfg(test)]
    mod tests {
        crate::x25519::lanes::tests::lane_checks!(super::many);
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::portable::{mul_limbs, sqr_limbs};
    use crate::x25519::lanes::{tests::value_mod_p, to_bytes51};

    const OFFSETS: [usize; 5] = [0, 51, 102, 153, 204];

    /// Products of limbs at the largest values a multiplication may take (2^52 − 1),
    /// and at the largest `carry` hands over, against slow big-number arithmetic.
    #[test]
    fn mul_and_sqr_at_the_limb_bounds() {
        for (a, b) in [
            ([(1u64 << 52) - 1; 5], [(1u64 << 52) - 1; 5]),
            ([(1u64 << 51) + 19 * (1 << 11); 5], [(1u64 << 52) - 1; 5]),
            (
                [(1u64 << 52) - 1, 0, (1 << 52) - 1, 0, (1 << 52) - 1],
                [(1u64 << 52) - 1; 5],
            ),
        ] {
            let want = reference_mul(&value_mod_p(&a, &OFFSETS), &value_mod_p(&b, &OFFSETS));
            assert_eq!(to_bytes51(&mul_limbs(a, b)), want);
            let want = reference_mul(&value_mod_p(&a, &OFFSETS), &value_mod_p(&a, &OFFSETS));
            assert_eq!(to_bytes51(&sqr_limbs(a)), want);
        }
    }

    /// a·b mod p for canonical encodings, by double-and-add over the bits of b (slow,
    /// obviously right).
    pub(in crate::x25519) fn reference_mul(a: &[u8; 32], b: &[u8; 32]) -> [u8; 32] {
        let add = |x: &[u8; 32], y: &[u8; 32]| {
            let (xl, yl) = (
                crate::x25519::lanes::from_bytes51(x),
                crate::x25519::lanes::from_bytes51(y),
            );
            let s: [u64; 5] = core::array::from_fn(|i| xl[i] + yl[i]);
            to_bytes51(&s)
        };
        let mut acc = [0u8; 32];
        for bit in (0..256).rev() {
            acc = add(&acc, &acc);
            if (b[bit / 8] >> (bit % 8)) & 1 == 1 {
                acc = add(&acc, a);
            }
        }
        acc
    }
}
