//! The bodies of the fuzz targets. Each `fuzz_targets/*.rs` calls one of these, and
//! `tests/replay.rs` feeds them every committed corpus file, so `cargo test` exercises
//! the corpus without a fuzzer. Where a target is structure-aware, the raw bytes are
//! turned into typed input with `arbitrary`, so the fuzzer reaches the crypto instead of
//! dying in a parser.
#![forbid(unsafe_code)]

use std::sync::LazyLock;

use arbitrary::{Arbitrary, Unstructured};
use backup_cipher::{BackupDecryptionKey, EncryptedSessionData, KeysBackup, RestoreOptions};
use recovery_key::{PassphraseInfo, RecoveryKey, encode_base64};
use ssss::{EncryptedSecret, KeyDescription, SecretStorageKey};

/// Inputs asking for more PBKDF2 work than this are cut short in the fuzzer (the cap
/// itself is tested by unit tests); a fuzzer must stay fast.
const FUZZ_MAX_ROUNDS: u64 = 64;

static BACKUP_KEY: LazyLock<BackupDecryptionKey> =
    LazyLock::new(|| BackupDecryptionKey::from_bytes(&[7u8; 32]));

/// Recovery-key decoding of arbitrary bytes (as lossy UTF-8): never panics, and every
/// key it accepts re-encodes to the same bytes.
pub fn recovery_key_decode(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    match RecoveryKey::from_base58(&text) {
        Ok(key) => {
            let again = RecoveryKey::from_base58(&key.to_base58_grouped());
            assert!(
                again.is_ok_and(|k| k == key),
                "accepted key does not round-trip"
            );
        }
        Err(e) => {
            // Messages are built for every error; they must not panic either.
            let _ = e.to_string();
        }
    }
}

/// The `m.pbkdf2` object and the legacy `auth_data` form from JSON; derivation when the
/// parameters are cheap enough.
pub fn passphrase_info_json(data: &[u8]) {
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) {
        if let Ok(info) = serde_json::from_value::<PassphraseInfo>(value.clone()) {
            let _ = serde_json::to_string(&info);
            if info.iterations <= FUZZ_MAX_ROUNDS {
                let _ = info.derive_key("fuzz");
            }
        }
        if let Ok(info) = PassphraseInfo::from_legacy_auth_data(&value)
            && info.iterations <= FUZZ_MAX_ROUNDS
        {
            let _ = info.derive_key("fuzz");
        }
    }
}

/// A key description from JSON, and its key check against a fixed key.
pub fn key_description_json(data: &[u8]) {
    let key = SecretStorageKey::from_recovery_key(&RecoveryKey::from_bytes(&mut [3u8; 32]), "k");
    if let Ok(desc) = serde_json::from_slice::<KeyDescription>(data) {
        let _ = desc.check(&key);
        let _ = serde_json::to_string(&desc);
    }
}

/// `session_data` in any shape the wire allows: text fields from the fuzzer (any base64
/// or not), or raw bytes encoded canonically.
#[derive(Debug, Arbitrary)]
enum SessionDataInput {
    Text {
        ephemeral: String,
        ciphertext: String,
        mac: String,
    },
    Bytes {
        ephemeral: [u8; 32],
        ciphertext: Vec<u8>,
        mac: [u8; 8],
    },
    Json(String),
}

/// Backup `session_data` decryption with a fixed key.
pub fn backup_decrypt(data: &[u8]) {
    let Ok(input) = SessionDataInput::arbitrary(&mut Unstructured::new(data)) else {
        return;
    };
    let sd = match input {
        SessionDataInput::Text {
            ephemeral,
            ciphertext,
            mac,
        } => EncryptedSessionData {
            ephemeral,
            ciphertext,
            mac,
        },
        SessionDataInput::Bytes {
            ephemeral,
            ciphertext,
            mac,
        } => EncryptedSessionData {
            ephemeral: encode_base64(&ephemeral),
            ciphertext: encode_base64(&ciphertext),
            mac: encode_base64(&mac),
        },
        SessionDataInput::Json(text) => match serde_json::from_str(&text) {
            Ok(sd) => sd,
            Err(_) => return,
        },
    };
    if let Err(e) = BACKUP_KEY.decrypt(&sd) {
        let _ = (e.class(), e.to_string());
    }
}

/// A valid encryption whose ciphertext the fuzzer then damages, so decryption reaches
/// AES-CBC and the padding check.
#[derive(Debug, Arbitrary)]
struct DifferentialInput {
    ephemeral_secret: [u8; 32],
    plaintext: Vec<u8>,
    flips: Vec<(u16, u8)>,
    truncate: u8,
    mac_flip: Option<(u8, u8)>,
}

/// Differential: our decrypt against vodozemac's `PkDecryption` on canonical encodings
/// (8-byte MAC, canonical base64): they must agree on success or failure, and on the
/// plaintext.
pub fn backup_decrypt_differential(data: &[u8]) {
    use vodozemac::{
        Curve25519SecretKey,
        pk_encryption::{Message, PkDecryption},
    };
    let Ok(input) = DifferentialInput::arbitrary(&mut Unstructured::new(data)) else {
        return;
    };
    let Ok(sd) = BACKUP_KEY
        .public_key()
        .encrypt_with_ephemeral_key(&input.plaintext, &input.ephemeral_secret)
    else {
        return;
    };
    let mut ct = recovery_key::decode_base64(&sd.ciphertext).unwrap_or_default();
    for (pos, x) in &input.flips {
        if !ct.is_empty() {
            let i = *pos as usize % ct.len();
            ct[i] ^= x;
        }
    }
    let keep = ct.len().saturating_sub(input.truncate as usize % 17);
    ct.truncate(keep);
    let mut mac = recovery_key::decode_base64(&sd.mac).unwrap_or_default();
    if let Some((i, x)) = input.mac_flip {
        mac[i as usize % 8] ^= x;
    }
    let ephemeral = recovery_key::decode_base64(&sd.ephemeral).unwrap_or_default();
    let ours = BACKUP_KEY.decrypt(&EncryptedSessionData {
        ephemeral: encode_base64(&ephemeral),
        ciphertext: encode_base64(&ct),
        mac: encode_base64(&mac),
    });
    let theirs = PkDecryption::from_key(Curve25519SecretKey::from_slice(BACKUP_KEY.as_bytes()));
    let msg = Message::from_base64(
        &encode_base64(&ct),
        &encode_base64(&mac),
        &encode_base64(&ephemeral),
    );
    let theirs = msg.ok().map(|m| theirs.decrypt(&m));
    match (ours, theirs) {
        (Ok(a), Some(Ok(b))) => assert_eq!(a.as_slice(), b.as_slice(), "plaintexts differ"),
        (Err(_), Some(Err(_)) | None) => {}
        (ours, theirs) => panic!(
            "disagreement: ours {:?}, vodozemac {:?}",
            ours.map(|_| ()),
            theirs.map(|r| r.map(|_| ()))
        ),
    }
}

/// The one grammar of backup bodies, on any input: it never panics, `restore_slice`,
/// `restore_reader` (in reads of 7 bytes) and `check_body` walk it alike, and where
/// serde_json reads the input as a `KeysBackup` (the oracle) the restore gives exactly
/// what `restore_keys` gives for serde_json's reading. Damaged copies of such a body (a
/// byte removed or replaced at places the input picks) never restore a session under
/// one of the body's rooms that the undamaged body does not file there.
pub fn restore_body(data: &[u8]) {
    let opts = RestoreOptions::default()
        .with_jobs(Some(1))
        .with_batch_size(7)
        .with_max_body_bytes(1 << 20);
    let walked = backup_cipher::restore_slice(&BACKUP_KEY, data, &opts);
    let mut sink = backup_cipher::RestoreResult::default();
    let streamed = backup_cipher::restore_reader(&BACKUP_KEY, Trickle(data), &opts, &mut sink);
    let checked = backup_cipher::check_body(data, 1 << 20);
    match (&walked, &streamed, &checked) {
        (Ok(w), Ok(_), Ok(c)) => {
            sink.sort();
            assert_eq!(w.sessions, sink.sessions);
            assert_eq!(w.failures, sink.failures);
            let cut = w
                .failures
                .iter()
                .any(|f| f.error == backup_cipher::RestoreErrorClass::Truncated);
            assert_eq!(c.truncated_at.is_some(), cut);
            assert!(c.entries <= (w.sessions.len() + w.failures.len()) as u64);
        }
        (Err(a), Err(b), Err(_)) => assert_eq!(
            std::mem::discriminant(a),
            std::mem::discriminant(b),
            "{a:?} vs {b:?}"
        ),
        (a, b, c) => panic!("slice {a:?}, streaming {b:?}, check {c:?}"),
    }
    // The oracle: serde_json's own reading of the body.
    let Ok(parsed) = serde_json::from_slice::<KeysBackup>(data) else {
        return;
    };
    let Ok(walked) = walked else {
        panic!("serde_json reads the body, the walk refuses it: {walked:?}");
    };
    let raw_entries = data
        .windows(b"\"session_data\"".len())
        .filter(|w| *w == b"\"session_data\"")
        .count();
    let within_caps = data.len() <= backup_cipher::MAX_ENTRY_BYTES
        && parsed.rooms.iter().all(|(room, r)| {
            room.len() <= backup_cipher::MAX_ID_BYTES
                && r.sessions
                    .keys()
                    .all(|s| s.len() <= backup_cipher::MAX_ID_BYTES)
        });
    if raw_entries == parsed.session_count() && within_caps {
        // Every "session_data" in the text is one of serde_json's entries: no
        // duplicates, nothing held in unknown members. The same results exactly.
        let typed = backup_cipher::restore_keys(&BACKUP_KEY, &parsed, &opts)
            .unwrap_or_else(|e| panic!("restore_keys: {e}"));
        assert_eq!(walked.sessions, typed.sessions);
        assert_eq!(walked.failures, typed.failures);
    }
    // Damaged copies: nothing filed under a room of the body that it does not hold.
    let pairs: std::collections::BTreeSet<(&str, &str)> =
        parsed.entries().map(|(r, s, _)| (r, s)).collect();
    let seed = data
        .iter()
        .fold(0u64, |h, &b| h.wrapping_mul(31).wrapping_add(b as u64));
    for i in 0..3u64 {
        if data.is_empty() {
            break;
        }
        let at = (seed.wrapping_add(i.wrapping_mul(0x9e37_79b9)) % data.len() as u64) as usize;
        let mut damaged = data.to_vec();
        match i {
            0 => {
                damaged.remove(at);
            }
            1 => damaged[at] = b'"',
            _ => damaged[at] = b'}',
        }
        let Ok(r) = backup_cipher::restore_slice(&BACKUP_KEY, &damaged, &opts) else {
            continue;
        };
        for s in &r.sessions {
            if parsed.rooms.contains_key(s.room_id()) {
                assert!(
                    pairs.contains(&(s.room_id(), s.session_id())),
                    "{} filed under {} after damage at {at}",
                    s.session_id(),
                    s.room_id()
                );
            }
        }
    }
}

/// A reader that hands out at most 7 bytes per call.
struct Trickle<'a>(&'a [u8]);

impl std::io::Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let k = buf.len().min(self.0.len()).min(7);
        buf[..k].copy_from_slice(&self.0[..k]);
        self.0 = &self.0[k..];
        Ok(k)
    }
}

#[derive(Debug, Arbitrary)]
struct SecretInput {
    name: String,
    iv: String,
    ciphertext: String,
    mac: String,
    description: Option<(Option<String>, Option<String>)>,
}

/// SSSS secret decryption and the key check with a fixed key.
pub fn ssss_secret(data: &[u8]) {
    let Ok(input) = SecretInput::arbitrary(&mut Unstructured::new(data)) else {
        return;
    };
    let key = SecretStorageKey::from_recovery_key(&RecoveryKey::from_bytes(&mut [5u8; 32]), "k");
    let sealed = EncryptedSecret {
        iv: input.iv,
        ciphertext: input.ciphertext,
        mac: input.mac,
    };
    if let Err(e) = ssss::decrypt_secret(&key, &input.name, &sealed) {
        let _ = (e.class(), e.to_string());
    }
    if let Some((iv, mac)) = input.description {
        let desc = KeyDescription {
            name: None,
            algorithm: ssss::SECRET_STORAGE_ALGORITHM.into(),
            passphrase: None,
            iv,
            mac,
            extra: Default::default(),
        };
        let _ = desc.check(&key);
    }
}

/// Key-export armour and decryption (rounds above the fuzz limit stop after the header
/// checks, which run before any derivation anyway).
pub fn key_export_decrypt(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Ok(body) = key_export::dearmor(&text)
        && body.len() >= 37
        && u64::from(u32::from_be_bytes([body[33], body[34], body[35], body[36]])) > FUZZ_MAX_ROUNDS
        && body[0] == 1
        && (1..=10_000_000).contains(&u32::from_be_bytes([
            body[33], body[34], body[35], body[36],
        ]))
    {
        return;
    }
    if let Err(e) = key_export::decrypt_export(&text, "fuzz") {
        let _ = (e.class(), e.to_string());
    }
}

/// The vector-file loader, and running the cheap cases of what it loads.
pub fn vector_file(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(file) = vector_runner::parse_file(text) else {
        return;
    };
    for case in &file.cases {
        let cheap = !case.input.to_string().contains("iterations")
            && !case.input.to_string().contains("armored");
        if cheap {
            let _ = vector_runner::run_case(case);
        }
    }
}

/// A fuzz target's body.
pub type Target = fn(&[u8]);

/// Every target by name, for the replay test.
/// The bulk X25519 on every lane path this CPU has (eight AVX-512 IFMA lanes, four AVX2
/// lanes, and one at a time), against x25519-dalek one point at a time: a 32-byte
/// scalar, then up to 40 points (several groups, so batched inversions, and a padded
/// last group).
pub fn x25519_many(data: &[u8]) {
    use backup_cipher::x25519::{LaneLimit, Scalar, set_lane_limit};
    let Some((k, rest)) = data.split_first_chunk::<32>() else {
        return;
    };
    let points: Vec<[u8; 32]> = rest
        .chunks_exact(32)
        .take(40)
        .filter_map(|c| <[u8; 32]>::try_from(c).ok())
        .collect();
    for limit in [LaneLimit::Any, LaneLimit::Avx2, LaneLimit::None] {
        set_lane_limit(limit);
        let scalar = Scalar::new(k);
        let got = scalar.diffie_hellman_many(&points);
        assert_eq!(got.len(), points.len());
        for (p, g) in points.iter().zip(&got) {
            let want = x25519_dalek::x25519(*k, *p);
            let want = (want != [0u8; 32]).then_some(want);
            assert_eq!(
                g.as_ref().map(|s| *s.as_bytes()),
                want,
                "point {p:02x?} on {}",
                scalar.many_backend(points.len())
            );
        }
    }
    set_lane_limit(LaneLimit::Any);
}

pub const TARGETS: &[(&str, Target)] = &[
    ("recovery_key_decode", recovery_key_decode),
    ("passphrase_info_json", passphrase_info_json),
    ("key_description_json", key_description_json),
    ("backup_decrypt", backup_decrypt),
    ("backup_decrypt_differential", backup_decrypt_differential),
    ("restore_body", restore_body),
    ("ssss_secret", ssss_secret),
    ("key_export_decrypt", key_export_decrypt),
    ("vector_file", vector_file),
    ("x25519_many", x25519_many),
];
