//! The backup cipher: one session against vodozemac, and whole restores against the way
//! SDKs restore today (serde_json parse, then vodozemac `PkDecryption` in a loop).

use std::hint::black_box;

use backup_cipher::{KeysBackup, RestoreOptions, restore_slice};
use benches::{backup_json, bench_key};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use serde_json::{Map, Value};
use vodozemac::{
    Curve25519SecretKey,
    pk_encryption::{Message, PkDecryption},
};

/// The SDK way: parse the whole body with serde_json, then decrypt each session with
/// vodozemac and parse its plaintext.
fn sdk_restore(pk: &PkDecryption, text: &[u8]) -> Vec<Map<String, Value>> {
    let body: KeysBackup = serde_json::from_slice(text).unwrap();
    let mut out = Vec::new();
    for (room, r) in &body.rooms {
        for (sid, d) in &r.sessions {
            let s = &d.session_data;
            let msg = Message::from_base64(&s.ciphertext, &s.mac, &s.ephemeral).unwrap();
            let pt = pk.decrypt(&msg).unwrap();
            let mut m: Map<String, Value> = serde_json::from_slice(&pt).unwrap();
            m.insert("room_id".into(), room.clone().into());
            m.insert("session_id".into(), sid.clone().into());
            out.push(m);
        }
    }
    out
}

fn one_session(c: &mut Criterion) {
    let key = bench_key();
    let pk = PkDecryption::from_key(Curve25519SecretKey::from_slice(key.as_bytes()));
    let body: KeysBackup = serde_json::from_slice(&backup_json(&key, 1)).unwrap();
    let data = body.entries().next().unwrap().2.session_data.clone();
    let msg = Message::from_base64(&data.ciphertext, &data.mac, &data.ephemeral).unwrap();

    let mut g = c.benchmark_group("decrypt_one_session");
    // Both start from the wire strings: base64 decoding is part of the work.
    g.bench_function(format!("ours_{}", backup_cipher::x25519::BACKEND), |b| {
        b.iter(|| key.decrypt(black_box(&data)).unwrap())
    });
    g.bench_function("vodozemac_pk_decryption", |b| {
        b.iter(|| {
            let msg = Message::from_base64(&data.ciphertext, &data.mac, &data.ephemeral).unwrap();
            pk.decrypt(black_box(&msg)).unwrap()
        })
    });
    let _ = msg;
    g.finish();
}

/// 10,000 sessions; set `MKB_BENCH_LARGE=1` to add 100,000 (about ten minutes).
fn sizes() -> Vec<usize> {
    let mut v = vec![10_000];
    if std::env::var_os("MKB_BENCH_LARGE").is_some() {
        v.push(100_000);
    }
    v
}

fn whole_restore(c: &mut Criterion) {
    let key = bench_key();
    let pk = PkDecryption::from_key(Curve25519SecretKey::from_slice(key.as_bytes()));
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut g = c.benchmark_group("restore_json_to_sessions");
    g.sample_size(10);
    for n in sizes() {
        let text = backup_json(&key, n);
        g.throughput(Throughput::Elements(n as u64));
        g.bench_with_input(BenchmarkId::new("ours_all_cores", n), &text, |b, t| {
            b.iter_with_large_drop(|| {
                restore_slice(&key, t, &RestoreOptions::default().with_jobs(Some(cores))).unwrap()
            })
        });
        g.bench_with_input(BenchmarkId::new("ours_1_thread", n), &text, |b, t| {
            b.iter_with_large_drop(|| {
                restore_slice(&key, t, &RestoreOptions::default().with_jobs(Some(1))).unwrap()
            })
        });
        g.bench_with_input(
            BenchmarkId::new("sdk_serde_then_vodozemac_loop", n),
            &text,
            |b, t| b.iter_with_large_drop(|| sdk_restore(&pk, t)),
        );
    }
    g.finish();
}

criterion_group!(benches, one_session, whole_restore);
criterion_main!(benches);
