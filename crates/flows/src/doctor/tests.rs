//! The doctor without a network: its flow driven by hand, its diagnosis of accounts made
//! with the ssss and backup-cipher crates.

use std::collections::BTreeMap;

use backup_cipher::{
    BackupDecryptionKey, BackupVersion, SignatureStatus, canonical_json, sign_auth_data,
    verify_auth_data,
};
use ed25519_dalek::{Signer, SigningKey};
use recovery_key::encode_base64;
use serde_json::{Map, Value, json};
use ssss::{CROSS_SIGNING_SECRETS, SecretStore};

use super::*;
use crate::{Flow, Response};

/// The prefix the requests are built with (private to `requests`).
const API_PREFIX: &str = "/_matrix/client/v3";

const USER: &str = "@a:x";

fn public(key: &SigningKey) -> String {
    encode_base64(key.verifying_key().as_bytes())
}

/// A device's keys, signed by the device itself and, if given, by `ssk`.
fn device_keys(id: &str, device: &SigningKey, ssk: Option<&SigningKey>) -> Value {
    let mut keys = json!({
        "user_id": USER,
        "device_id": id,
        "algorithms": ["m.megolm.v1.aes-sha2"],
        "keys": {(format!("ed25519:{id}")): public(device)},
    });
    let message = canonical_json(&keys).unwrap();
    let mut sigs = Map::new();
    sigs.insert(
        format!("ed25519:{id}"),
        json!(encode_base64(&device.sign(message.as_bytes()).to_bytes())),
    );
    if let Some(ssk) = ssk {
        sigs.insert(
            format!("ed25519:{}", public(ssk)),
            json!(encode_base64(&ssk.sign(message.as_bytes()).to_bytes())),
        );
    }
    keys["signatures"] = json!({ USER: sigs });
    keys
}

#[test]
fn out_of_order_is_an_error_not_a_panic() {
    let mut flow = DoctorFlow::new(USER, None, DoctorOptions::default());
    assert!(flow.receive(Response::ok(json!({}))).is_err());
    assert!(
        DoctorFlow::new(USER, None, DoctorOptions::default())
            .finish()
            .is_err()
    );
}

/// The flow probes the versions below the current one and downloads the entries;
/// a deleted version (404) is not reported, a kept one is.
#[test]
fn the_flow_probes_old_versions_and_reads_the_entries() {
    let key = BackupDecryptionKey::generate().unwrap();
    let mut current = BackupVersion::new(key.public_key());
    current.version = Some("3".into());
    let mut kept = current.clone();
    kept.version = Some("1".into());
    kept.count = Some(5);
    let mut flow = DoctorFlow::new(USER, None, DoctorOptions::default());
    let mut paths = Vec::new();
    while let Some(request) = flow.next_request() {
        let path = request.path.trim_start_matches(API_PREFIX).to_owned();
        let response = match path.as_str() {
            "/room_keys/version" => Response::ok(serde_json::to_value(&current).unwrap()),
            "/room_keys/version/1" => Response::ok(serde_json::to_value(&kept).unwrap()),
            "/room_keys/keys?version=3" => Response::ok(json!({"rooms": {}})),
            "/devices" => Response::ok(json!({"devices": []})),
            "/keys/query" => Response::ok(json!({})),
            _ => Response::new(404, json!({"errcode": "M_NOT_FOUND"})),
        };
        paths.push(path);
        flow.receive(response).unwrap();
    }
    for expected in [
        "/room_keys/version/2",
        "/room_keys/version/1",
        "/room_keys/keys?version=3",
        "/devices",
        "/keys/query",
    ] {
        assert!(paths.iter().any(|p| p == expected), "{expected}: {paths:?}");
    }
    let diagnosis = flow.finish().unwrap();
    let old: Vec<&Finding> = diagnosis
        .findings
        .iter()
        .filter(|f| f.code == FindingCode::OldBackupVersions)
        .collect();
    assert_eq!(old.len(), 1);
    assert_eq!(old[0].detail, "older versions on the server: 1 (5 keys)");
    assert_eq!(diagnosis.version.as_deref(), Some("3"));
}

/// Element trusts a backup signed by a device the self-signing key signed; an
/// unverified device's signature is not enough, and that device is named.
#[test]
fn trust_follows_the_self_signing_key() {
    let master = SigningKey::from_bytes(&[1; 32]);
    let ssk = SigningKey::from_bytes(&[2; 32]);
    let verified = SigningKey::from_bytes(&[3; 32]);
    let unverified = SigningKey::from_bytes(&[4; 32]);
    let mut account = AccountSnapshot::new(USER);
    account.keys_query = json!({
        "master_keys": {USER: {"keys": {(format!("ed25519:{}", public(&master))): public(&master)}}},
        "self_signing_keys": {USER: {"keys": {(format!("ed25519:{}", public(&ssk))): public(&ssk)}}},
        "device_keys": {USER: {
            "VERIFIED": device_keys("VERIFIED", &verified, Some(&ssk)),
            "UNVERIFIED": device_keys("UNVERIFIED", &unverified, None),
        }},
    });
    let backup = BackupDecryptionKey::generate().unwrap();
    let signed_by = |id: &str, key: &SigningKey| {
        let mut v = BackupVersion::new(backup.public_key());
        v.version = Some("1".into());
        sign_auth_data(&mut v.auth_data, USER, &format!("ed25519:{id}"), key).unwrap();
        v
    };
    let options = DoctorOptions::default();

    account.version = Some(signed_by("VERIFIED", &verified));
    let d = diagnose(&account, None, &options);
    assert!(!d.has(FindingCode::BackupNotSignedByMasterKey), "{d:?}");
    let unsigned: Vec<&Finding> = d
        .findings
        .iter()
        .filter(|f| f.code == FindingCode::DevicesNotCrossSigned)
        .collect();
    assert_eq!(unsigned.len(), 1);
    assert!(
        unsigned[0].detail.contains("UNVERIFIED") && !unsigned[0].detail.contains(" VERIFIED"),
        "{}",
        unsigned[0].detail
    );

    account.version = Some(signed_by("UNVERIFIED", &unverified));
    assert!(diagnose(&account, None, &options).has(FindingCode::BackupNotSignedByMasterKey));

    let master_id = public(&master);
    account.version = Some(signed_by(&master_id, &master));
    assert!(!diagnose(&account, None, &options).has(FindingCode::BackupNotSignedByMasterKey));
}

/// Secret storage made by the ssss crate: the right key finds it in order, another key
/// is incorrect, and no key given checks nothing that needs one.
#[test]
fn secret_storage_with_the_right_key_the_wrong_one_and_none() {
    let mut store = SecretStore::default();
    let (sskey, _) = store.create_key(None, None).unwrap();
    let backup_rk = recovery_key::RecoveryKey::generate().unwrap();
    let backup = BackupDecryptionKey::from_recovery_key(&backup_rk);
    store.set_backup_key(&sskey, &backup).unwrap();
    let mut account = AccountSnapshot::new(USER);
    account.secret_storage = store;
    let mut v = BackupVersion::new(backup.public_key());
    v.version = Some("1".into());
    account.version = Some(v);
    account.key_backup_event = Some(json!({"enabled": true}));
    let options = DoctorOptions::default();
    let right = sskey.to_recovery_key().to_base58_grouped();

    let d = diagnose(&account, Some(right.as_str()), &options);
    assert!(!d.has(FindingCode::RecoveryKeyIncorrect));
    assert!(!d.has(FindingCode::BackupKeyNotStored) && !d.has(FindingCode::BackupKeyStale));

    let other = recovery_key::RecoveryKey::generate()
        .unwrap()
        .to_base58_grouped();
    let d = diagnose(&account, Some(other.as_str()), &options);
    assert!(d.has(FindingCode::RecoveryKeyIncorrect), "{d:?}");

    // The backup's own key opens the backup, not secret storage: both are said.
    let own = backup_rk.to_base58_grouped();
    let d = diagnose(&account, Some(own.as_str()), &options);
    let refused = d
        .findings
        .iter()
        .find(|f| f.code == FindingCode::RecoveryKeyIncorrect)
        .unwrap();
    assert!(
        refused
            .detail
            .contains("it opens backup version 1 but not secret storage"),
        "{}",
        refused.detail
    );

    let d = diagnose(&account, None, &options);
    assert!(!d.has(FindingCode::RecoveryKeyIncorrect));
    assert!(d.entries.is_none());
}

#[test]
fn the_doctors_own_device_is_not_a_login_left_behind() {
    let mut account = AccountSnapshot::new(USER);
    account.devices = ["OWN", "LEFT"]
        .iter()
        .map(|id| Device {
            device_id: (*id).to_owned(),
            display_name: Some(crate::requests::TOOL_DEVICE_NAME.to_owned()),
        })
        .collect();
    account.keys_query = json!({"device_keys": {USER: {}}});
    let options = DoctorOptions::default().own_device_id(Some("OWN".into()));
    let d = diagnose(&account, None, &options);
    let left: Vec<&Finding> = d
        .findings
        .iter()
        .filter(|f| f.code == FindingCode::ToolLoginsLeft)
        .collect();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].detail, "devices named \"megolm-backup\": LEFT");
}

/// A device named as this tool names its logins but with published device keys is a
/// real device (renamed, or another program's): never a tool login to log out. Without
/// a keys query answer, no device is one.
#[test]
fn a_device_with_keys_is_never_a_tool_login() {
    let mut account = AccountSnapshot::new(USER);
    account.devices = ["REAL", "LEFT"]
        .iter()
        .map(|id| Device {
            device_id: (*id).to_owned(),
            display_name: Some(crate::requests::TOOL_DEVICE_NAME.to_owned()),
        })
        .collect();
    let real = SigningKey::from_bytes(&[9; 32]);
    account.keys_query = json!({"device_keys": {USER: {"REAL": device_keys("REAL", &real, None)}}});
    let d = diagnose(&account, None, &DoctorOptions::default());
    assert_eq!(d.tool_logins_left, ["LEFT"]);

    // A server that leaves out a user with no device keys: none has any.
    account.keys_query = json!({"device_keys": {}});
    let d = diagnose(&account, None, &DoctorOptions::default());
    assert_eq!(d.tool_logins_left, ["REAL", "LEFT"]);

    for unanswered in [json!({}), json!({"device_keys": {USER: []}})] {
        account.keys_query = unanswered;
        let d = diagnose(&account, None, &DoctorOptions::default());
        assert!(d.tool_logins_left.is_empty(), "{:?}", account.keys_query);
        assert!(!d.has(FindingCode::ToolLoginsLeft));
    }
}

/// A version no key of the user opens is never signed with the master key (it may be
/// the server's); with the version's own key it is, and the signature verifies.
#[test]
fn repairs_sign_only_a_version_the_user_can_open() {
    let master = SigningKey::from_bytes(&[5; 32]);
    let mut store = SecretStore::default();
    let (sskey, _) = store.create_key(None, None).unwrap();
    store
        .set_secret(
            &sskey,
            CROSS_SIGNING_SECRETS[0],
            &encode_base64(master.as_bytes()),
        )
        .unwrap();
    let backup_rk = recovery_key::RecoveryKey::generate().unwrap();
    let backup = BackupDecryptionKey::from_recovery_key(&backup_rk);
    let mut account = AccountSnapshot::new(USER);
    account.secret_storage = store;
    account.keys_query = json!({
        "master_keys": {USER: {"keys": {(format!("ed25519:{}", public(&master))): public(&master)}}},
    });
    let mut v = BackupVersion::new(backup.public_key());
    v.version = Some("1".into());
    account.version = Some(v);
    let input = sskey.to_recovery_key().to_base58_grouped();
    let d = diagnose(&account, Some(input.as_str()), &DoctorOptions::default());
    assert!(d.has(FindingCode::BackupNotSignedByMasterKey), "{d:?}");
    assert!(d.has(FindingCode::BackupKeyNotStored), "{d:?}");

    let plan = plan_repairs(&d, &input, None);
    assert!(
        plan.repairs
            .iter()
            .all(|r| r.fixes != FindingCode::BackupNotSignedByMasterKey
                && r.fixes != FindingCode::BackupKeyNotStored),
        "{plan:?}"
    );
    assert!(
        plan.not_repaired
            .iter()
            .any(|(c, _)| *c == FindingCode::BackupNotSignedByMasterKey)
    );

    let given = backup_rk.to_base58_grouped();
    let plan = plan_repairs(&d, &input, Some(given.as_str()));
    let order: Vec<FindingCode> = plan.repairs.iter().map(|r| r.fixes).collect();
    assert_eq!(
        order,
        [
            FindingCode::BackupKeyNotStored,
            FindingCode::BackupNotSignedByMasterKey,
            FindingCode::KeyBackupEventMissing
        ]
    );
    let body = plan.repairs[1].request.body.clone().unwrap();
    let signed: BackupVersion = serde_json::from_value(body).unwrap();
    let keys = BTreeMap::from([(
        format!("ed25519:{}", public(&master)),
        master.verifying_key(),
    )]);
    let checks = verify_auth_data(&signed.auth_data, USER, &keys).unwrap();
    assert!(
        checks.iter().any(|c| c.status == SignatureStatus::Valid),
        "{checks:?}"
    );
}
