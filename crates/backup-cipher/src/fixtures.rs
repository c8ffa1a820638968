//! Synthetic but realistic backups, for benchmarks, demos and tests: real encryption of
//! real-sized session plaintexts (~450 bytes) whose session keys have the export form and
//! whose session ids match them. The session keys are random bytes, not usable Megolm
//! ratchets.

use serde_json::json;

use crate::{BackupPublicKey, KeysBackup, RoomKey, encrypt::encrypt_sessions};

/// `n` exported room keys spread over `n / 20 + 1` rooms, from a deterministic seed.
pub fn synthetic_sessions(n: usize, seed: u64) -> Vec<RoomKey> {
    let mut rng = SplitMix(seed);
    let rooms = n / 20 + 1;
    (0..n)
        .map(|i| {
            let mut key = [0u8; 165];
            rng.fill(&mut key);
            key[0] = 1;
            let session_id = recovery_key::encode_base64(&key[133..165]);
            let mut sender = [0u8; 32];
            rng.fill(&mut sender);
            let mut ed = [0u8; 32];
            rng.fill(&mut ed);
            let obj = json!({
                "algorithm": crate::MEGOLM_ALGORITHM,
                "forwarding_curve25519_key_chain": [],
                "room_id": format!("!room{:05}:example.org", i % rooms),
                "sender_claimed_keys": {"ed25519": recovery_key::encode_base64(&ed)},
                "sender_key": recovery_key::encode_base64(&sender),
                "session_id": session_id,
                "session_key": recovery_key::encode_base64(&key),
                "shared_history": false,
            });
            serde_json::from_value(obj)
        })
        .collect::<Result<_, _>>()
        .unwrap_or_default()
}

/// A `GET /room_keys/keys` body of `n` synthetic sessions encrypted to `public_key`.
pub fn synthetic_backup(public_key: &BackupPublicKey, n: usize, seed: u64) -> KeysBackup {
    encrypt_sessions(public_key, &synthetic_sessions(n, seed)).0
}

/// The entries of `bodies` as one `GET /room_keys/keys` body in which every entry is in a
/// listing of its own: a room with two sessions is listed twice (a JSON parser keeps only
/// the last listing of a room; this crate's grammar reads both).
pub fn listed_apart(bodies: &[&KeysBackup]) -> String {
    let listings: Vec<String> = bodies
        .iter()
        .flat_map(|body| body.entries())
        .map(|(room, sid, data)| {
            format!(
                r#"{}: {{"sessions": {{{}: {}}}}}"#,
                json!(room),
                json!(sid),
                json!(data)
            )
        })
        .collect();
    format!(r#"{{"rooms": {{{}}}}}"#, listings.join(", "))
}

/// SplitMix64: a tiny deterministic generator for fixture bytes (not for secrets).
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e3779b97f4a7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58476d1ce4e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d049bb133111eb);
        z ^ (z >> 31)
    }
    fn fill(&mut self, out: &mut [u8]) {
        for chunk in out.chunks_mut(8) {
            let v = self.next().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
}
