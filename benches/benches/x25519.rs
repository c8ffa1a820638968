//! X25519: our backend boundary against the libraries it wraps, called directly.

use std::hint::black_box;

use aws_lc_rs::agreement::{self, PrivateKey, UnparsedPublicKey, X25519};
use backup_cipher::x25519::{BACKEND, LaneLimit, Scalar, set_lane_limit};
use criterion::{Criterion, criterion_group, criterion_main};
use rayon::prelude::*;

fn x25519(c: &mut Criterion) {
    let secret = [7u8; 32];
    let peer = Scalar::new(&[9u8; 32]).public_key();
    let mut g = c.benchmark_group("x25519_one_operation");
    let ours = Scalar::new(&secret);
    g.bench_function(format!("ours_{BACKEND}"), |b| {
        b.iter(|| ours.diffie_hellman(black_box(&peer)))
    });
    let aws = PrivateKey::from_private_key(&X25519, &secret).unwrap();
    g.bench_function("aws_lc_rs_agree_alone", |b| {
        b.iter(|| {
            agreement::agree(
                &aws,
                UnparsedPublicKey::new(&X25519, black_box(&peer)),
                (),
                |s| {
                    let mut out = [0u8; 32];
                    out.copy_from_slice(s);
                    Ok(out)
                },
            )
        })
    });
    let dalek = x25519_dalek::StaticSecret::from(secret);
    let dalek_peer = x25519_dalek::PublicKey::from(peer);
    g.bench_function("x25519_dalek_alone", |b| {
        b.iter(|| dalek.diffie_hellman(black_box(&dalek_peer)))
    });
    g.finish();

    // Many points with one scalar, as a restore does: per-operation cost, on every lane
    // path this CPU has (the limit narrows the choice; each path is named in the id).
    let mut g = c.benchmark_group("x25519_many_per_operation");
    let points: Vec<[u8; 32]> = (0..64u8)
        .map(|i| Scalar::new(&[i; 32]).public_key())
        .collect();
    let wide: Vec<[u8; 32]> = points.iter().cycle().take(1024).copied().collect();
    let mut seen = Vec::new();
    for limit in [LaneLimit::Any, LaneLimit::Avx2] {
        set_lane_limit(limit);
        let ours = Scalar::new(&secret);
        let path = ours.many_backend(points.len());
        if path == BACKEND || seen.contains(&path) {
            continue;
        }
        seen.push(path);
        g.throughput(criterion::Throughput::Elements(points.len() as u64));
        g.bench_function(format!("many_{path}"), |b| {
            b.iter(|| ours.diffie_hellman_many(black_box(&points)))
        });
        // The same on every core, as a restore runs it (groups of 64 points): what the
        // hardware gives when all cores compute X25519 at once (cores may share
        // execution units).
        g.throughput(criterion::Throughput::Elements(wide.len() as u64));
        g.bench_function(format!("many_all_cores_{path}"), |b| {
            b.iter(|| {
                wide.par_chunks(64)
                    .map(|c| ours.diffie_hellman_many(black_box(c)).len())
                    .sum::<usize>()
            })
        });
    }
    set_lane_limit(LaneLimit::Any);
    g.throughput(criterion::Throughput::Elements(points.len() as u64));
    g.bench_function(format!("one_by_one_{BACKEND}"), |b| {
        b.iter(|| {
            points
                .iter()
                .map(|p| ours.diffie_hellman(black_box(p)))
                .collect::<Vec<_>>()
        })
    });
    g.finish();
}

criterion_group!(benches, x25519);
criterion_main!(benches);
