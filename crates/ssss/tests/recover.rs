//! Finding the backup key from whatever the user has. The account data was written by Node
//! WebCrypto (`tools/make-ssss-fixture.mjs`), the legacy passphrase key is Element Android's
//! vector, and public keys are computed with x25519-dalek: nothing here is produced by the
//! code under test.

use backup_cipher::BackupVersion;
use serde_json::{Value, json};
use ssss::{KeySource, RecoverError, SecretStore, recover_backup_key};

fn fixture() -> (SecretStore, Value) {
    let dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../megolm-backup/tests/fixtures"
    );
    let data: Value =
        serde_json::from_str(&std::fs::read_to_string(format!("{dir}/account-data.json")).unwrap())
            .unwrap();
    let expected: Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{dir}/account-data.expected.json")).unwrap(),
    )
    .unwrap();
    (SecretStore::from_json(&data).unwrap(), expected)
}

fn version(public_key: &str, extra: Value) -> BackupVersion {
    let mut auth = json!({ "public_key": public_key });
    auth.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    serde_json::from_value(json!({
        "algorithm": "m.megolm_backup.v1.curve25519-aes-sha2",
        "version": "7",
        "auth_data": auth,
    }))
    .unwrap()
}

fn public_of(secret: [u8; 32]) -> String {
    let public = x25519_dalek::PublicKey::from(&x25519_dalek::StaticSecret::from(secret));
    recovery_key::encode_base64(public.as_bytes())
}

fn stored_backup_key(expected: &Value) -> [u8; 32] {
    *recovery_key::encoding::decode_base64_array::<32>(
        expected["secrets"]["m.megolm_backup.v1"].as_str().unwrap(),
    )
    .unwrap()
}

#[test]
fn the_security_key_and_the_security_phrase_open_secret_storage() {
    let (store, exp) = fixture();
    let key = stored_backup_key(&exp);
    let current = version(&public_of(key), json!({}));
    for (input, source) in [
        (
            exp["recovery_key"].as_str().unwrap(),
            KeySource::SecurityKey,
        ),
        (
            exp["passphrase"].as_str().unwrap(),
            KeySource::SecurityPhrase,
        ),
    ] {
        let found = recover_backup_key(input, Some(&store), Some(&current)).unwrap();
        assert_eq!(found.source, source);
        assert_eq!(found.backup_key.as_bytes(), &key);
        assert_eq!(found.checked_version.as_deref(), Some("7"));
        let unlocked = found.secret_storage.unwrap();
        assert_eq!(unlocked.key.key_id(), exp["key_id"].as_str().unwrap());
        assert!(found_describes(input, &store, &current).contains("unlocked secret storage"));
    }
    // Without a version to check against, the same, unchecked.
    let found =
        recover_backup_key(exp["recovery_key"].as_str().unwrap(), Some(&store), None).unwrap();
    assert_eq!(found.source, KeySource::SecurityKey);
    assert!(found.describe().contains("not checked"));
}

fn found_describes(input: &str, store: &SecretStore, v: &BackupVersion) -> String {
    recover_backup_key(input, Some(store), Some(v))
        .unwrap()
        .describe()
}

#[test]
fn the_backup_key_itself_is_recognised_in_both_forms() {
    let (store, exp) = fixture();
    let key = stored_backup_key(&exp);
    let current = version(&public_of(key), json!({}));
    let as_base64 = exp["secrets"]["m.megolm_backup.v1"].as_str().unwrap();
    let found = recover_backup_key(as_base64, Some(&store), Some(&current)).unwrap();
    assert_eq!(found.source, KeySource::BackupKeyBase64);
    assert!(found.secret_storage.is_none());
    let mut bytes = key;
    let as_recovery_key = recovery_key::RecoveryKey::from_bytes(&mut bytes).to_base58_grouped();
    for store in [Some(&store), None] {
        let found = recover_backup_key(&as_recovery_key, store, Some(&current)).unwrap();
        assert_eq!(found.source, KeySource::BackupRecoveryKey);
        assert_eq!(found.backup_key.as_bytes(), &key);
    }
}

#[test]
fn stale_only_when_secret_storage_opens_and_its_key_is_not_the_backups() {
    let (store, exp) = fixture();
    let other = version(&public_of([9; 32]), json!({}));
    let err = recover_backup_key(
        exp["passphrase"].as_str().unwrap(),
        Some(&store),
        Some(&other),
    )
    .unwrap_err();
    assert_eq!(err.class(), "stale");
    let text = err.to_string();
    assert!(
        text.contains("your Security Phrase unlocked secret storage"),
        "{text}"
    );
    assert!(
        text.contains(exp["backup_public_key"].as_str().unwrap()),
        "{text}"
    );

    // A well-formed key that opens nothing is never called stale: it is a key from before
    // a reset, said first; the message lists every try, the public keys last.
    let alice = "EsTc LW2K PGiF wKEA 3As5 g5c4 BXwk qeeJ ZJV8 Q9fu gUMN UE4d";
    let err = recover_backup_key(alice, Some(&store), Some(&other)).unwrap_err();
    assert!(
        matches!(err, RecoverError::KeyFromBeforeReset { .. }),
        "{err}"
    );
    let text = err.to_string();
    assert!(!text.contains("stale"), "{text}");
    assert!(
        text.starts_with("this is a Security Key or backup key from before the backup was reset"),
        "{text}"
    );
    let keys_at = text.find("its public key is").unwrap();
    assert!(
        keys_at
            > text
                .find("not the one for this account's secret storage")
                .unwrap(),
        "{text}"
    );
    assert!(
        text.ends_with(&format!("{})", public_of([9; 32]))),
        "{text}"
    );
    assert!(
        text.contains("not the one for this account's secret storage"),
        "{text}"
    );
}

#[test]
fn a_phrase_without_secret_storage_says_what_is_missing() {
    let current = version(&public_of([3; 32]), json!({}));
    let err = recover_backup_key("my long security phrase", None, Some(&current)).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("there was no secret storage to try (no account data was given)"),
        "{text}"
    );
    assert!(
        matches!(
            err,
            RecoverError::NoMatch {
                secret_storage_missing: true,
                input_is_key: false,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(text.contains("it reads like a passphrase"), "{text}");
    let err = recover_backup_key(
        "my long security phrase",
        Some(&SecretStore::default()),
        None,
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("secret storage is not set up on this account"),
        "{err}"
    );
}

#[test]
fn a_legacy_passphrase_backup_opens_with_its_passphrase() {
    // Element Android's KeysBackupPasswordTest "Data from RiotWeb".
    let key: [u8; 32] =
        hex::decode("74e0e5e00903b2a278176cda163df1c8ebadec6473f72184c39a409eb8941455")
            .unwrap()
            .try_into()
            .unwrap();
    let legacy = version(
        &public_of(key),
        json!({"private_key_salt": "TO0lxhQ9aYgGfMsclVWPIAublg8h9Nlu", "private_key_iterations": 500000}),
    );
    let found = recover_backup_key("This is a passphrase!", None, Some(&legacy)).unwrap();
    assert_eq!(found.source, KeySource::LegacyBackupPassphrase);
    assert_eq!(found.backup_key.as_bytes(), &key);
    let err = recover_backup_key("This is a passphrase", None, Some(&legacy)).unwrap_err();
    assert!(
        err.to_string().contains("it is not that passphrase"),
        "{err}"
    );
}

#[test]
fn another_algorithm_is_refused_before_any_work() {
    let mut v = version(&public_of([1; 32]), json!({}));
    v.algorithm = "org.example.other".into();
    let err = recover_backup_key("anything", None, Some(&v)).unwrap_err();
    assert_eq!(err.class(), "algorithm");
}

/// Library messages speak the library's words: no command-line flag in any of them
/// (the CLI adds its own hints from the typed variants).
#[test]
fn no_message_names_a_command_line_flag() {
    let (store, exp) = fixture();
    let other = version(&public_of([9; 32]), json!({}));
    let alice = "EsTc LW2K PGiF wKEA 3As5 g5c4 BXwk qeeJ ZJV8 Q9fu gUMN UE4d";
    let mut empty = SecretStore::default();
    let (key, _) = empty.create_key(None, None).unwrap();
    let rk = key.to_recovery_key().to_base58_grouped();
    let errors = [
        recover_backup_key("my long security phrase", None, Some(&other)).unwrap_err(),
        recover_backup_key(alice, Some(&store), Some(&other)).unwrap_err(),
        recover_backup_key(
            exp["passphrase"].as_str().unwrap(),
            Some(&store),
            Some(&other),
        )
        .unwrap_err(),
        recover_backup_key(&rk, Some(&empty), Some(&other)).unwrap_err(),
    ];
    let classes: Vec<&str> = errors.iter().map(RecoverError::class).collect();
    assert_eq!(
        classes,
        ["no_match", "before_reset", "stale", "no_backup_key"]
    );
    for e in &errors {
        let text = e.to_string();
        assert!(!text.contains("--"), "{text}");
        assert!(!text.contains('`'), "{text}");
    }
}

/// A Security Key in the wrong case or grouped with dashes is told as such at once: it
/// is not tried as a Security Phrase (no key derivation, no "wrong passphrase").
#[test]
fn a_damaged_security_key_is_not_tried_as_a_phrase() {
    let (store, exp) = fixture();
    let rk = exp["recovery_key"].as_str().unwrap();
    for (text, want) in [
        (rk.to_lowercase(), "case-sensitive"),
        (rk.replace(' ', "-"), "dashes"),
    ] {
        let err = recover_backup_key(&text, Some(&store), None).unwrap_err();
        assert_eq!(err.class(), "malformed_key", "{err}");
        assert!(err.to_string().contains(want), "{err}");
        let unlock = store.unlock(&text).unwrap_err();
        assert!(
            matches!(unlock, ssss::UnlockError::MalformedKey(_)),
            "{unlock}"
        );
    }
}

/// Review5: `recover_backup_key` documents "a Security Phrase costs one PBKDF2 derivation"
/// (`RecoveryFlow` likewise). Through `SecretStore::unlock_for` it now costs one for the
/// default key and one more for each of up to `UNLOCK_TRIES` (4) other keys that
/// `m.megolm_backup.v1`'s `encrypted` map names, even on an ordinary account whose
/// default key holds the secret: a wrong phrase (a typo) is retried against every key
/// the server lists, each derivation at the iterations its description asks (capped only
/// per description, at 10,000,000). A server that adds four described keys to the map
/// makes one unlock cost 5 × 10,000,000 iterations (the setup's plan unlocks twice:
/// 100,000,000), where the default key alone could ask for 10,000,000. Here four extra
/// keys at Element's 500,000 iterations, against the fixture's default key at 100,000.
/// What should happen: when the default key holds a copy of the secret, only the default
/// key is tried (the other keys matter only when it holds none: a setup stopped before
/// its pointer), or the iterations of all the keys tried are capped together.
#[test]
fn a_wrong_phrase_costs_one_derivation_when_the_default_key_holds_the_backup_key() {
    let (store, _) = fixture();
    let mut data = store.to_json();
    let default_id = store.default_key_id().unwrap().to_owned();
    let mut described = data[format!("m.secret_storage.key.{default_id}")].clone();
    described["passphrase"]["iterations"] = json!(500_000);
    let copy = data["m.megolm_backup.v1"]["encrypted"][&default_id].clone();
    for id in ["k1", "k2", "k3", "k4"] {
        data[format!("m.secret_storage.key.{id}")] = described.clone();
        data["m.megolm_backup.v1"]["encrypted"][id] = copy.clone();
    }
    let listed = SecretStore::from_json(&data).unwrap();
    let wrong = "  fixture: correct horse battery stapel ";

    // One derivation at the default key's iterations (the best of three).
    let one = (0..3)
        .map(|_| {
            let t = std::time::Instant::now();
            assert!(listed.unlock(wrong).is_err());
            t.elapsed()
        })
        .min()
        .unwrap();
    let t = std::time::Instant::now();
    let err = recover_backup_key(wrong, Some(&listed), None).unwrap_err();
    let took = t.elapsed();
    assert!(
        took < one * 3,
        "a wrong Security Phrase took {took:?}, one derivation {one:?} ({err})"
    );
}
