//! The key-backup endpoints against a real Synapse.

use homeserver::testing as common;

use backup_cipher::{
    BackupDecryptionKey, BackupVersion, RestoreOptions, RestoreResult, fixtures, restore_reader,
};
use homeserver::{Client, ClientError};

#[test]
fn no_backup_is_told_clearly() {
    let Some(url) = common::homeserver_url() else {
        return;
    };
    let (client, _, _) = common::new_user(&url);
    let err = client.backup_version(None).unwrap_err();
    assert!(matches!(err, ClientError::NoBackup), "{err:?}");
    assert!(err.to_string().contains("no key backup"));
    assert_eq!(err.errcode(), Some("M_NOT_FOUND"));
}

#[test]
fn invalid_token_is_a_clear_error() {
    let Some(url) = common::homeserver_url() else {
        return;
    };
    let client = Client::new(&url, "syt_not_a_real_token").unwrap();
    let err = client.backup_version(None).unwrap_err();
    assert!(matches!(err, ClientError::Unauthorized { .. }), "{err:?}");
    assert!(err.to_string().contains("log in again"));
    assert!(!format!("{client:?}").contains("syt_not"), "token in Debug");
}

#[test]
fn create_upload_2000_fetch_and_restore_byte_for_byte() {
    let Some(url) = common::homeserver_url() else {
        return;
    };
    let (client, user, _) = common::new_user(&url);
    let key = BackupDecryptionKey::generate().unwrap();
    let version = client
        .create_backup_version(&BackupVersion::new(key.public_key()))
        .unwrap();
    let info = client.backup_version(None).unwrap();
    assert_eq!(info.version.as_deref(), Some(version.as_str()));
    assert!(key.matches(&info.auth_data));
    assert_eq!(info.count, Some(0));

    let sessions = fixtures::synthetic_sessions(2000, 11);
    let (body, errors) = backup_cipher::encrypt_sessions(key.public_key(), &sessions);
    assert!(errors.is_empty());
    let report = client
        .upload_room_keys(&version, &body, 500, &mut ())
        .unwrap();
    assert_eq!(report.uploaded, 2000);
    assert_eq!(report.last_update.as_ref().unwrap().count, 2000);
    assert_eq!(
        client.backup_version(Some(&version)).unwrap().count,
        Some(2000)
    );

    let mut restored = RestoreResult::default();
    let reader = client.room_keys_reader(&version).unwrap();
    restore_reader(&key, reader, &RestoreOptions::default(), &mut restored).unwrap();
    restored.sort();
    assert!(restored.failures.is_empty());
    let mut expected = sessions.clone();
    expected.sort_by(|a, b| (&a.room_id, &a.session_id).cmp(&(&b.room_id, &b.session_id)));
    let got: Vec<_> = restored
        .sessions
        .into_iter()
        .map(|s| s.room_key().unwrap())
        .collect();
    assert_eq!(got, expected);

    // Per-room and per-session reads agree with the bulk download.
    let (room, r) = body.rooms.iter().next().unwrap();
    assert_eq!(
        client
            .room_keys_for_room(&version, room)
            .unwrap()
            .sessions
            .len(),
        r.sessions.len()
    );
    let (sid, data) = r.sessions.iter().next().unwrap();
    assert_eq!(&client.room_key(&version, room, sid).unwrap(), data);
    let _ = user;
}

#[test]
fn a_stale_version_reports_the_current_one() {
    let Some(url) = common::homeserver_url() else {
        return;
    };
    let (client, _, _) = common::new_user(&url);
    let key = BackupDecryptionKey::generate().unwrap();
    let old = client
        .create_backup_version(&BackupVersion::new(key.public_key()))
        .unwrap();
    let new = client
        .create_backup_version(&BackupVersion::new(key.public_key()))
        .unwrap();
    let body = fixtures::synthetic_backup(key.public_key(), 3, 5);
    let err = client.put_room_keys(&old, &body).unwrap_err();
    match &err {
        ClientError::WrongVersion {
            given,
            current_version,
        } => {
            assert_eq!(given, &old);
            assert_eq!(current_version, &new);
        }
        other => panic!("{other:?}"),
    }
    assert!(
        err.to_string()
            .contains(&format!("current version is {new}"))
    );
    client.delete_backup_version(&new).unwrap();
}

#[test]
fn an_interrupted_upload_resumes_and_every_session_is_there_once() {
    let Some(url) = common::homeserver_url() else {
        return;
    };
    let (client, _, _) = common::new_user(&url);
    let key = BackupDecryptionKey::generate().unwrap();
    let version = client
        .create_backup_version(&BackupVersion::new(key.public_key()))
        .unwrap();
    let body = fixtures::synthetic_backup(key.public_key(), 2000, 21);
    // Interrupted after three chunks of 200.
    struct StopAfter(u32);
    impl homeserver::UploadSink for StopAfter {
        fn progress(&mut self, _: homeserver::UploadProgress) {
            self.0 = self.0.saturating_sub(1);
        }
        fn cancelled(&self) -> bool {
            self.0 == 0
        }
    }
    let first = client
        .upload_room_keys(
            &version,
            &body,
            200,
            &mut StopAfter(3) as &mut dyn homeserver::UploadSink,
        )
        .unwrap();
    assert_eq!(first.uploaded, 600);
    assert_eq!(client.backup_version(None).unwrap().count, Some(600));
    // The rerun sends only the rest.
    let second = client
        .upload_room_keys(&version, &body, 200, &mut ())
        .unwrap();
    assert_eq!((second.skipped, second.uploaded), (600, 1400));
    assert_eq!(second.last_update.unwrap().count, 2000);
    let stored = client.stored_session_ids(&version).unwrap();
    assert_eq!(stored.len(), 2000);
    let expected: std::collections::BTreeSet<_> = body
        .rooms
        .iter()
        .flat_map(|(r, s)| s.sessions.keys().map(move |k| (r.clone(), k.clone())))
        .collect();
    assert_eq!(stored, expected);
    // A third run has nothing to do.
    let third = client
        .upload_room_keys(&version, &body, 200, &mut ())
        .unwrap();
    assert_eq!((third.skipped, third.uploaded), (2000, 0));
}

#[test]
fn account_data_round_trips() {
    let Some(url) = common::homeserver_url() else {
        return;
    };
    let (client, user, _) = common::new_user(&url);
    assert_eq!(
        client
            .account_data(&user, "m.secret_storage.default_key")
            .unwrap(),
        None
    );
    client
        .set_account_data(
            &user,
            "m.secret_storage.default_key",
            &serde_json::json!({"key": "abc"}),
        )
        .unwrap();
    assert_eq!(
        client
            .account_data(&user, "m.secret_storage.default_key")
            .unwrap(),
        Some(serde_json::json!({"key": "abc"}))
    );
    assert_eq!(client.whoami().unwrap().user_id, user);
}
