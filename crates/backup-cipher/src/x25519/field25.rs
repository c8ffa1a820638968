//! The field mod p = 2^255 − 19 in ten limbs of radix 2^25.5, for lanes with only a
//! 32×32→64-bit multiply (AVX2 `vpmuludq`): [`field25`], a macro over the lane type,
//! instantiated in `avx2.rs` and, for the tests, here over portable `[u64; 4]` lanes.
//!
//! # Representation and bounds
//!
//! A field element is `Σ hᵢ·2^⌈25.5·i⌉`: limbs of 26 bits at even positions and 25 at
//! odd ones (offsets 0, 26, 51, 77, …, 230), one register per limb. `vpmuludq`
//! multiplies the low 32 bits of two lanes, so **every factor must be below 2^32**. A
//! product of limbs `i` and `j` has weight 2^(o(i)+o(j)), which is 2^o(i+j) — twice
//! that when both are odd — and 2^255 ≡ 19 folds limbs past the top back in.
//!
//! - "Carried": even limbs below 2^26, odd limbs below 2^25 + 2^16 (`carry`'s output).
//! - `add` does not carry: limbs below 2 × carried. `sub` computes a + 2p − b without
//!   carrying (`b` carried, so no lane goes negative): limbs below 3 × carried.
//! - `mul`/`sqr` take limbs below 3 × carried (even < 3·2^26 + 2^12, odd < 3·2^25 +
//!   2^17). The largest factor is 19·(3·2^26 + 2^12) < 2^32 (the ×19 and ×38 fold
//!   factors) or 2·(3·2^25 + 2^17) (odd×odd doubling); the largest column, column 0,
//!   sums 1,121·2^52 < 2^63, the odd columns at most 693·2^52 < 2^62; then `carry`.
//! - `carry` takes even limbs below 2^63 and odd ones below 2^62 and carries in two
//!   interleaved chains (0→1→…→5 and 4→5→…→9→0→1, as in ref10), so each limb is masked
//!   after the carry into it; limb 1 last gets at most (19·2^37 + 2^26) >> 26 < 2^15.
//!
//! The tests check these bounds at their extremes against slow big-number arithmetic,
//! in the portable lanes, where an overflow wraps exactly as in a register.

/// The field operations `lane_ladder!` needs, over lanes of type `V` with the
/// primitives `v_zero`, `v_set1`, `v_add`, `v_sub`, `v_and`, `v_srli`, `v_slli`,
/// `v_mul32`, and the 32-bit-lane `v_add32`, `v_slli32` in scope, `$attr` on every function.
macro_rules! field25 {
    ($(#[$attr:meta])*) => {
        const LIMBS: usize = 10;
        /// A field element in every lane.
        type Fe = [V; LIMBS];

        fn limbs_from_bytes(b: &[u8; 32]) -> [u64; LIMBS] {
            $crate::x25519::field25::from_bytes25(b)
        }
        fn limbs_to_bytes(l: &[u64; LIMBS]) -> [u8; 32] {
            $crate::x25519::field25::to_bytes25(l)
        }

        /// 19·x as shifts and adds (64-bit lanes).
        $(#[$attr])*
        fn times19(x: V) -> V {
            v_add(v_add(v_slli::<4>(x), v_slli::<1>(x)), x)
        }

        /// 19·x for a factor of the next `vpmuludq` (x below 2^32/19), as shifts and
        /// adds in 32-bit lanes. In 64-bit lanes (or as `vpmuludq` by 19) LLVM sees that
        /// only the low 32 bits are used, drops the bound on `x` and computes a full
        /// 64-bit product instead: two multiplies, two shifts and an add.
        $(#[$attr])*
        fn factor19(x: V) -> V {
            v_add32(v_add32(v_slli32::<4>(x), v_slli32::<1>(x)), x)
        }

        $(#[$attr])*
        fn fe_one() -> Fe {
            let mut f = [v_zero(); LIMBS];
            f[0] = v_set1(1);
            f
        }

        /// Moves limb `I`'s bits above its width into limb `I + 1` (from limb 9, ×19 into
        /// limb 0).
        $(#[$attr])*
        fn carry_step<const I: usize>(h: &mut Fe) {
            let (c, m) = if I % 2 == 0 {
                (v_srli::<26>(h[I]), v_set1((1 << 26) - 1))
            } else {
                (v_srli::<25>(h[I]), v_set1((1 << 25) - 1))
            };
            h[I] = v_and(h[I], m);
            if I == 9 {
                // c may exceed 32 bits here.
                h[0] = v_add(h[0], times19(c));
            } else {
                h[(I + 1) % LIMBS] = v_add(h[(I + 1) % LIMBS], c);
            }
        }

        /// Even limbs below 2^63 and odd ones below 2^62 in, carried out (module
        /// documentation).
        $(#[$attr])*
        fn carry(mut h: Fe) -> Fe {
            carry_step::<0>(&mut h);
            carry_step::<4>(&mut h);
            carry_step::<1>(&mut h);
            carry_step::<5>(&mut h);
            carry_step::<2>(&mut h);
            carry_step::<6>(&mut h);
            carry_step::<3>(&mut h);
            carry_step::<7>(&mut h);
            carry_step::<4>(&mut h);
            carry_step::<8>(&mut h);
            carry_step::<9>(&mut h);
            carry_step::<0>(&mut h);
            h
        }

        /// a + b, not carried.
        $(#[$attr])*
        fn add(a: Fe, b: Fe) -> Fe {
            let mut r = a;
            for i in 0..LIMBS {
                r[i] = v_add(a[i], b[i]);
            }
            r
        }

        /// a + 2p − b, not carried (`b` carried).
        $(#[$attr])*
        fn sub(a: Fe, b: Fe) -> Fe {
            let mut r = a;
            for i in 0..LIMBS {
                let two_p = match i {
                    0 => (1u64 << 27) - 38,
                    _ if i % 2 == 0 => (1u64 << 27) - 2,
                    _ => (1u64 << 26) - 2,
                };
                r[i] = v_sub(v_add(a[i], v_set1(two_p)), b[i]);
            }
            r
        }

        /// f·g mod p, carried.
        $(#[$attr])*
        fn mul(f: Fe, g: Fe) -> Fe {
            let mut g19 = g;
            let mut f2 = f;
            let mut h = [v_zero(); LIMBS];
            // Unrolled with constant indices, so every choice below is made at compile
            // time and the hundred products are straight-line code.
            $crate::x25519::field25::each_limb!(I => {
                g19[I] = factor19(g[I]);
                f2[I] = v_add(f[I], f[I]);
            });
            $crate::x25519::field25::each_limb!(I => {
                $crate::x25519::field25::each_limb!(J => {
                    let a = if I % 2 == 1 && J % 2 == 1 { f2[I] } else { f[I] };
                    let b = if I + J >= LIMBS { g19[J] } else { g[J] };
                    h[(I + J) % LIMBS] = v_add(h[(I + J) % LIMBS], v_mul32(a, b));
                });
            });
            carry(h)
        }

        /// f² mod p: each cross product once, doubled; carried.
        $(#[$attr])*
        fn sqr(f: Fe) -> Fe {
            let mut f2 = f;
            let mut f19 = f;
            let mut f38 = f;
            let mut h = [v_zero(); LIMBS];
            $crate::x25519::field25::each_limb!(I => {
                f2[I] = v_add(f[I], f[I]);
                f19[I] = factor19(f[I]);
                f38[I] = v_add32(f19[I], f19[I]);
            });
            $crate::x25519::field25::each_limb!(I => {
                $crate::x25519::field25::each_limb!(J => {
                    if J >= I {
                        let a = if I == J { f[I] } else { f2[I] };
                        let b = match (I % 2 == 1 && J % 2 == 1, I + J >= LIMBS) {
                            (false, false) => f[J],
                            (true, false) => f2[J],
                            (false, true) => f19[J],
                            (true, true) => f38[J],
                        };
                        h[(I + J) % LIMBS] = v_add(h[(I + J) % LIMBS], v_mul32(a, b));
                    }
                });
            });
            carry(h)
        }

        /// aa + 121665·e, carried (`aa` carried, `e` a difference).
        $(#[$attr])*
        fn a24(aa: Fe, e: Fe) -> Fe {
            let a24 = v_set1(121_665);
            let mut h = aa;
            for i in 0..LIMBS {
                h[i] = v_add(aa[i], v_mul32(e[i], a24));
            }
            carry(h)
        }
    };
}
pub(super) use field25;

/// `$body` ten times, with `$i` a constant 0 to 9: loops over limbs unrolled at the
/// source, so choices on the index are made at compile time.
macro_rules! each_limb {
    ($i:ident => $body:block) => {
        $crate::x25519::field25::each_limb!(@ $i $body; 0 1 2 3 4 5 6 7 8 9)
    };
    (@ $i:ident $body:block; $($n:literal)*) => {{
        $({
            const $i: usize = $n;
            $body
        })*
    }};
}
pub(super) use each_limb;

/// 32 little-endian bytes → ten limbs of 26 and 25 bits, the top bit ignored.
pub(super) fn from_bytes25(b: &[u8; 32]) -> [u64; 10] {
    let l = super::lanes::from_bytes51(b);
    core::array::from_fn(|i| {
        if i % 2 == 0 {
            l[i / 2] & ((1 << 26) - 1)
        } else {
            l[i / 2] >> 26
        }
    })
}

/// Carried limbs → the canonical 32-byte encoding: pairs of limbs make radix-2^51 limbs
/// below 2^26 + (2^25 + 2^16)·2^26 < 2^52, which `to_bytes51` takes.
pub(super) fn to_bytes25(h: &[u64; 10]) -> [u8; 32] {
    let mut l: [u64; 5] = core::array::from_fn(|i| h[2 * i] + (h[2 * i + 1] << 26));
    let out = super::lanes::to_bytes51(&l);
    zeroize::Zeroize::zeroize(&mut l);
    out
}

/// The portable lanes: `[u64; 4]`, each primitive lane by lane, exactly as the AVX2
/// instructions compute it (for the tests, on every machine).
#[cfg(any(test, feature = "test-fixtures"))]
pub(super) mod portable {
    crate::x25519::lanes::portable_lanes!(4);

    /// `vpaddd`: each 32-bit half of a lane on its own, wrapping.
    fn v_add32(a: V, b: V) -> V {
        lanes(|i| {
            let lo = (a[i] as u32).wrapping_add(b[i] as u32);
            let hi = ((a[i] >> 32) as u32).wrapping_add((b[i] >> 32) as u32);
            u64::from(lo) | (u64::from(hi) << 32)
        })
    }
    /// `vpslld`: each 32-bit half of a lane shifted on its own.
    fn v_slli32<const N: u32>(a: V) -> V {
        lanes(|i| {
            let lo = (a[i] as u32) << N;
            let hi = ((a[i] >> 32) as u32) << N;
            u64::from(lo) | (u64::from(hi) << 32)
        })
    }
    /// `vpmuludq`: (a mod 2^32)·(b mod 2^32), the full 64-bit product.
    fn v_mul32(a: V, b: V) -> V {
        lanes(|i| (a[i] & 0xffff_ffff) * (b[i] & 0xffff_ffff))
    }
    super::field25!(#[inline]);
    crate::x25519::lanes::lane_ladder!(#[inline]);

    /// The field operations, for the bounds tests.
    #[cfg(test)]
    pub(in crate::x25519) fn mul_limbs(a: [u64; 10], b: [u64; 10]) -> [u64; 10] {
        mul(a.map(|x| [x; 4]), b.map(|x| [x; 4])).map(|l| l[0])
    }
    #[cfg(test)]
    pub(in crate::x25519) fn sqr_limbs(a: [u64; 10]) -> [u64; 10] {
        sqr(a.map(|x| [x; 4])).map(|l| l[0])
    }
    #[cfg(test)]
    pub(in crate::x25519) fn sub_limbs(a: [u64; 10], b: [u64; 10]) -> [u64; 10] {
        sub(a.map(|x| [x; 4]), b.map(|x| [x; 4])).map(|l| l[0])
    }
    #[cfg(test)]
    pub(in crate::x25519) fn a24_limbs(aa: [u64; 10], e: [u64; 10]) -> [u64; 10] {
        a24(aa.map(|x| [x; 4]), e.map(|x| [x; 4])).map(|l| l[0])
    }

    #[cfg(test)]
    mod tests {
        crate::x25519::lanes::tests::lane_checks!(super::many);
    }
}

#[cfg(test)]
mod tests {
    use super::portable::{a24_limbs, mul_limbs, sqr_limbs, sub_limbs};
    use super::*;
    use crate::x25519::{field51::tests::reference_mul, lanes::tests::value_mod_p};

    const OFFSETS: [usize; 10] = [0, 26, 51, 77, 102, 128, 153, 179, 204, 230];

    fn value(h: &[u64; 10]) -> [u8; 32] {
        value_mod_p(h, &OFFSETS)
    }

    /// The largest carried limbs, and the largest a multiplication may take (3 ×
    /// carried: a + 2p − b with `a` at the carried maximum and `b` zero).
    fn carried_max() -> [u64; 10] {
        core::array::from_fn(|i| {
            if i % 2 == 0 {
                (1 << 26) - 1
            } else {
                (1 << 25) + (1 << 16)
            }
        })
    }
    fn mul_input_max() -> [u64; 10] {
        sub_limbs(carried_max(), [0; 10])
    }

    /// Carried output really is carried, and every multiplication at its extremes
    /// agrees with slow big-number arithmetic (an overflow in a lane would not).
    #[test]
    fn mul_and_sqr_at_the_limb_bounds() {
        let big = mul_input_max();
        for (i, &l) in big.iter().enumerate() {
            let bound = if i % 2 == 0 { 3 << 26 } else { 3 << 25 };
            assert!(
                l >= bound - (1 << 12) && l < bound + (1 << 17),
                "limb {i}: {l}"
            );
        }
        let mut odd_only = [0u64; 10];
        let mut even_only = [0u64; 10];
        for i in 0..10 {
            if i % 2 == 1 {
                odd_only[i] = big[i]
            } else {
                even_only[i] = big[i]
            }
        }
        for (a, b) in [
            (big, big),
            (big, carried_max()),
            (odd_only, big),
            (even_only, odd_only),
        ] {
            for out in [mul_limbs(a, b), sqr_limbs(a)] {
                assert_carried(&out);
            }
            assert_eq!(
                to_bytes25(&mul_limbs(a, b)),
                reference_mul(&value(&a), &value(&b))
            );
            assert_eq!(
                to_bytes25(&sqr_limbs(a)),
                reference_mul(&value(&a), &value(&a))
            );
        }
        // aa + 121665·e with e at the multiplication bound.
        let mut a24 = [0u8; 32];
        a24[..4].copy_from_slice(&121_665u32.to_le_bytes());
        let out = a24_limbs(carried_max(), big);
        assert_carried(&out);
        let prod = reference_mul(&value(&big), &a24);
        let sum: [u64; 5] = core::array::from_fn(|i| {
            crate::x25519::lanes::from_bytes51(&prod)[i]
                + crate::x25519::lanes::from_bytes51(&value(&carried_max()))[i]
        });
        assert_eq!(to_bytes25(&out), crate::x25519::lanes::to_bytes51(&sum));
    }

    fn assert_carried(h: &[u64; 10]) {
        for (i, &l) in h.iter().enumerate() {
            let bound = if i % 2 == 0 {
                1 << 26
            } else {
                (1 << 25) + (1 << 16)
            };
            assert!(l < bound, "limb {i} = {l} is not carried");
        }
    }

    #[test]
    fn bytes_round_trip_through_ten_limbs() {
        let mut p = [0xffu8; 32];
        p[0] = 0xed;
        p[31] = 0x7f;
        let mut pm1 = p;
        pm1[0] = 0xec;
        assert_eq!(to_bytes25(&from_bytes25(&pm1)), pm1);
        assert_eq!(to_bytes25(&from_bytes25(&p)), [0u8; 32]);
        let x: [u8; 32] = core::array::from_fn(|i| (i as u8).wrapping_mul(37));
        let mut canon = x;
        canon[31] &= 0x7f;
        assert_eq!(to_bytes25(&from_bytes25(&x)), canon);
        assert_eq!(value(&from_bytes25(&x)), canon);
        assert_eq!(to_bytes25(&carried_max()), value(&carried_max()));
    }
}
