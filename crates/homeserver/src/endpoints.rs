//! The typed calls: one method per request of `flows::requests`, its answer parsed and
//! its error answers typed.

use backup_cipher::{BackupVersion, KeyBackupData, KeysBackup, RoomKeyBackup};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{Client, ClientError};

/// Who a login or token belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct LoginInfo {
    /// The full user id.
    pub user_id: String,
    /// The device the token belongs to, when the server says.
    #[serde(default)]
    pub device_id: Option<String>,
}

/// The answer to a keys upload: the backup's new `etag` and key `count`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomKeysUpdate {
    /// Changes whenever the stored keys change.
    pub etag: String,
    /// Keys stored in the backup.
    pub count: u64,
}

impl Client {
    /// Ends the session of this client's access token ([`flows::requests::logout`]): the device the
    /// login made disappears from the account, and the token stops working. A token that
    /// is already logged out counts as done.
    pub fn logout(&self) -> Result<(), ClientError> {
        let response = self.send_request(&flows::requests::logout())?;
        flows::requests::logout_done(&response).map_err(ClientError::Flow)
    }

    /// Who the token belongs to ([`flows::requests::whoami`]).
    pub fn whoami(&self) -> Result<LoginInfo, ClientError> {
        self.call_json(&flows::requests::whoami())
    }

    /// The current backup version, or a given one ([`flows::requests::backup_version`]).
    pub fn backup_version(&self, version: Option<&str>) -> Result<BackupVersion, ClientError> {
        // Here, and only here, M_NOT_FOUND means "this account has no backup".
        self.call_json(&flows::requests::backup_version(version))
            .map_err(|e| match e {
                ClientError::Matrix { errcode, .. } if errcode == "M_NOT_FOUND" => {
                    ClientError::NoBackup
                }
                e => e,
            })
    }

    /// Creates a backup version ([`flows::requests::create_backup_version`]); returns its id.
    pub fn create_backup_version(&self, version: &BackupVersion) -> Result<String, ClientError> {
        #[derive(Deserialize)]
        struct Created {
            version: String,
        }
        let c: Created = self.call_json(&flows::requests::create_backup_version(version))?;
        Ok(c.version)
    }

    /// Replaces a version's `auth_data` ([`flows::requests::update_backup_version`]).
    pub fn update_backup_version(
        &self,
        version_id: &str,
        version: &BackupVersion,
    ) -> Result<(), ClientError> {
        let _: Value =
            self.call_json(&flows::requests::update_backup_version(version_id, version))?;
        Ok(())
    }

    /// Deletes a backup version and its keys ([`flows::requests::delete_backup_version`]).
    pub fn delete_backup_version(&self, version_id: &str) -> Result<(), ClientError> {
        let _: Value = self.call_json(&flows::requests::delete_backup_version(version_id))?;
        Ok(())
    }

    /// All keys of a version, parsed.
    pub fn room_keys(&self, version: &str) -> Result<KeysBackup, ClientError> {
        self.call_json(&flows::requests::room_keys(version))
    }

    /// The keys of one room.
    pub fn room_keys_for_room(
        &self,
        version: &str,
        room_id: &str,
    ) -> Result<RoomKeyBackup, ClientError> {
        self.call_json(&flows::requests::room_keys_for_room(version, room_id))
    }

    /// One session's backup entry.
    pub fn room_key(
        &self,
        version: &str,
        room_id: &str,
        session_id: &str,
    ) -> Result<KeyBackupData, ClientError> {
        self.call_json(&flows::requests::room_key(version, room_id, session_id))
    }

    /// Uploads keys ([`flows::requests::put_room_keys`]) in one request.
    pub fn put_room_keys(
        &self,
        version: &str,
        body: &KeysBackup,
    ) -> Result<RoomKeysUpdate, ClientError> {
        let request = flows::requests::put_room_keys(version, body)
            .map_err(|e| ClientError::Json(e.into()))?;
        self.call_json(&request)
    }

    /// Uploads keys of one room ([`flows::requests::put_room_keys_for_room`]).
    pub fn put_room_keys_for_room(
        &self,
        version: &str,
        room_id: &str,
        body: &RoomKeyBackup,
    ) -> Result<RoomKeysUpdate, ClientError> {
        let request = flows::requests::put_room_keys_for_room(version, room_id, body)
            .map_err(|e| ClientError::Json(e.into()))?;
        self.call_json(&request)
    }

    /// Uploads one session ([`flows::requests::put_room_key`]).
    pub fn put_room_key(
        &self,
        version: &str,
        room_id: &str,
        session_id: &str,
        data: &KeyBackupData,
    ) -> Result<RoomKeysUpdate, ClientError> {
        let request = flows::requests::put_room_key(version, room_id, session_id, data)
            .map_err(|e| ClientError::Json(e.into()))?;
        self.call_json(&request)
    }

    /// One account-data event of the user ([`flows::requests::account_data`]);
    /// `None` when it is not set.
    pub fn account_data(
        &self,
        user_id: &str,
        event_type: &str,
    ) -> Result<Option<Value>, ClientError> {
        match self.call_json(&flows::requests::account_data(user_id, event_type)) {
            Ok(v) => Ok(Some(v)),
            Err(ClientError::Matrix { errcode, .. }) if errcode == "M_NOT_FOUND" => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The user's cross-signing master public key ([`flows::requests::keys_query`]), or `None` when
    /// the account has no cross-signing keys.
    pub fn master_key(&self, user_id: &str) -> Result<Option<String>, ClientError> {
        let response: Value = self.call_json(&flows::requests::keys_query(user_id))?;
        Ok(flows::master_key_in_query(&response, user_id))
    }

    /// Sets one account-data event ([`flows::requests::set_account_data`]).
    pub fn set_account_data(
        &self,
        user_id: &str,
        event_type: &str,
        content: &Value,
    ) -> Result<(), ClientError> {
        let request = flows::requests::set_account_data(user_id, event_type, content.clone());
        let _: Value = self.call_json(&request)?;
        Ok(())
    }
}
