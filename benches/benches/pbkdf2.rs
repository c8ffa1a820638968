//! PBKDF2-HMAC-SHA-512 at 500,000 iterations: ours against the `pbkdf2` crate and against
//! the bound of 1,000,000 bare SHA-512 compressions, in one group.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use recovery_key::kdf::pbkdf2_hmac_sha512;

const ROUNDS: u32 = 500_000;

fn pbkdf2_500k(c: &mut Criterion) {
    let mut g = c.benchmark_group("pbkdf2_sha512_500k");
    g.sample_size(10);
    type Pbkdf2 = fn(&[u8], &[u8], u32, &mut [u8]);
    let cases: [(&str, usize, Pbkdf2); 3] = [
        ("ours_32_bytes", 32, pbkdf2_hmac_sha512),
        ("ours_64_bytes", 64, pbkdf2_hmac_sha512),
        (
            "pbkdf2_crate_32_bytes",
            32,
            pbkdf2::pbkdf2_hmac::<sha2::Sha512>,
        ),
    ];
    for (name, len, derive) in cases {
        g.bench_function(name, |b| {
            b.iter(|| {
                let mut out = [0u8; 64];
                derive(
                    black_box(b"correct horse battery staple"),
                    b"salt",
                    ROUNDS,
                    &mut out[..len],
                );
                out
            })
        });
    }
    g.bench_function("bound_1m_sha512_compressions", |b| {
        b.iter(|| {
            let mut state = [0u64; 8];
            let block = [[0x5au8; 128]];
            for _ in 0..2 * ROUNDS {
                sha2::block_api::compress512(&mut state, black_box(&block));
            }
            state
        })
    });
    g.finish();
}

criterion_group!(benches, pbkdf2_500k);
criterion_main!(benches);
