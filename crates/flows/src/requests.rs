//! Every request of the client-server API this workspace sends, one constructor each: the
//! one home of the paths, their percent-encoding, their query and whether a request may
//! be repeated. Flows build on these; a client sends them (`homeserver::Client` does).

use backup_cipher::{BackupVersion, KeyBackupData, KeysBackup, RoomKeyBackup};
use serde_json::{Value, json};

use crate::{FlowError, Method, Request, Response};

/// The client-server API prefix of every request.
const API_PREFIX: &str = "/_matrix/client/v3";

fn url(path: &str) -> String {
    format!("{API_PREFIX}{path}")
}

fn version_query(version: &str) -> String {
    format!("?version={}", path_segment(version))
}

/// `GET /devices`: the user's devices (id, display name). A GET: repeatable.
pub fn devices() -> Request {
    Request::new(Method::Get, url("/devices"), None)
}

/// `POST /delete_devices`: logs the devices out (their access tokens stop working). The
/// server usually asks for the account password: answer its 401 with
/// [`with_password`](crate::with_password). Deleting twice does no harm: repeatable.
pub fn delete_devices(device_ids: &[String]) -> Request {
    Request {
        repeatable: true,
        ..Request::new(
            Method::Post,
            url("/delete_devices"),
            Some(json!({ "devices": device_ids })),
        )
    }
}

/// `GET /account/whoami`: who the access token belongs to.
pub fn whoami() -> Request {
    Request::new(Method::Get, url("/account/whoami"), None)
}

/// The display name of the device a [`login_password`] makes: how a later look at the
/// account's devices tells this workspace's logins.
pub const TOOL_DEVICE_NAME: &str = "megolm-backup";

/// `POST /login` with `m.login.password`, naming the new device [`TOOL_DEVICE_NAME`]. Not
/// repeatable: a repeated login makes a second device. The body holds the password: wipe
/// it once sent.
pub fn login_password(user: &str, password: &str) -> Request {
    Request::new(
        Method::Post,
        url("/login"),
        Some(json!({
            "type": "m.login.password",
            "identifier": {"type": "m.id.user", "user": user},
            "password": password,
            "initial_device_display_name": TOOL_DEVICE_NAME,
        })),
    )
}

/// `POST /logout`: ends the session (device and access token) the request is sent with.
/// Repeatable: a second logout of the same token is answered 401 `M_UNKNOWN_TOKEN`, which
/// [`logout_done`] counts as done.
pub fn logout() -> Request {
    Request {
        repeatable: true,
        ..Request::new(Method::Post, url("/logout"), Some(json!({})))
    }
}

/// Whether the answer to [`logout`] means the session is over: 200, or 401
/// `M_UNKNOWN_TOKEN` (it was already logged out, e.g. by a retried logout). Anything else
/// is the server's error.
pub fn logout_done(response: &Response) -> Result<(), FlowError> {
    if response.is_success() || (response.status == 401 && response.errcode() == "M_UNKNOWN_TOKEN")
    {
        Ok(())
    } else {
        Err(response.error())
    }
}

/// `GET /room_keys/version[/{version}]`: the current backup version, or a given one.
pub fn backup_version(version: Option<&str>) -> Request {
    Request::new(
        Method::Get,
        match version {
            Some(v) => url(&format!("/room_keys/version/{}", path_segment(v))),
            None => url("/room_keys/version"),
        },
        None,
    )
}

/// `POST /room_keys/version`: creates a backup version (not repeatable: a repeat makes
/// another version).
pub fn create_backup_version(version: &BackupVersion) -> Request {
    Request::new(
        Method::Post,
        url("/room_keys/version"),
        Some(json!({"algorithm": version.algorithm, "auth_data": version.auth_data})),
    )
}

/// `PUT /room_keys/version/{version}`: replaces a version's `auth_data`.
pub fn update_backup_version(version_id: &str, version: &BackupVersion) -> Request {
    Request::new(
        Method::Put,
        url(&format!("/room_keys/version/{}", path_segment(version_id))),
        Some(json!({
            "algorithm": version.algorithm,
            "auth_data": version.auth_data,
            "version": version_id,
        })),
    )
}

/// `DELETE /room_keys/version/{version}`: deletes a backup version and its keys.
pub fn delete_backup_version(version_id: &str) -> Request {
    Request::new(
        Method::Delete,
        url(&format!("/room_keys/version/{}", path_segment(version_id))),
        None,
    )
}

/// `GET /room_keys/keys?version=V`: every key of a backup version (large: stream it).
/// Its answer is wanted as bytes ([`Request::wants_bytes`]): a flow reads it with the
/// backup body's grammar.
pub fn room_keys(version: &str) -> Request {
    Request {
        wants_bytes: true,
        ..Request::new(
            Method::Get,
            url(&format!("/room_keys/keys{}", version_query(version))),
            None,
        )
    }
}

/// `GET /room_keys/keys/{roomId}?version=V`: the keys of one room of a backup version
/// (`{"sessions": {…}}`), e.g. to fetch again the rooms a cut download did not bring.
pub fn room_keys_for_room(version: &str, room_id: &str) -> Request {
    Request::new(
        Method::Get,
        url(&format!(
            "/room_keys/keys/{}{}",
            path_segment(room_id),
            version_query(version)
        )),
        None,
    )
}

/// `GET /room_keys/keys/{roomId}/{sessionId}?version=V`: one session's backup entry.
pub fn room_key(version: &str, room_id: &str, session_id: &str) -> Request {
    Request::new(
        Method::Get,
        url(&format!(
            "/room_keys/keys/{}/{}{}",
            path_segment(room_id),
            path_segment(session_id),
            version_query(version)
        )),
        None,
    )
}

/// `PUT /room_keys/keys?version=V`: uploads keys (answered with `etag` and `count`).
pub fn put_room_keys(version: &str, body: &KeysBackup) -> Result<Request, serde_json::Error> {
    Ok(Request::new(
        Method::Put,
        url(&format!("/room_keys/keys{}", version_query(version))),
        Some(serde_json::to_value(body)?),
    ))
}

/// `PUT /room_keys/keys/{roomId}?version=V`: uploads the keys of one room.
pub fn put_room_keys_for_room(
    version: &str,
    room_id: &str,
    body: &RoomKeyBackup,
) -> Result<Request, serde_json::Error> {
    Ok(Request::new(
        Method::Put,
        url(&format!(
            "/room_keys/keys/{}{}",
            path_segment(room_id),
            version_query(version)
        )),
        Some(serde_json::to_value(body)?),
    ))
}

/// `PUT /room_keys/keys/{roomId}/{sessionId}?version=V`: uploads one session.
pub fn put_room_key(
    version: &str,
    room_id: &str,
    session_id: &str,
    data: &KeyBackupData,
) -> Result<Request, serde_json::Error> {
    Ok(Request::new(
        Method::Put,
        url(&format!(
            "/room_keys/keys/{}/{}{}",
            path_segment(room_id),
            path_segment(session_id),
            version_query(version)
        )),
        Some(serde_json::to_value(data)?),
    ))
}

/// `GET /user/{userId}/account_data/{type}`: one account-data event of the user.
pub fn account_data(user_id: &str, event_type: &str) -> Request {
    Request::new(Method::Get, account_data_path(user_id, event_type), None)
}

/// `PUT /user/{userId}/account_data/{type}`: sets one account-data event.
pub fn set_account_data(user_id: &str, event_type: &str, content: Value) -> Request {
    Request::new(
        Method::Put,
        account_data_path(user_id, event_type),
        Some(content),
    )
}

fn account_data_path(user_id: &str, event_type: &str) -> String {
    url(&format!(
        "/user/{}/account_data/{}",
        path_segment(user_id),
        path_segment(event_type)
    ))
}

/// `POST /keys/query` for the user's own keys (its cross-signing master key). A query:
/// repeatable.
pub fn keys_query(user_id: &str) -> Request {
    Request {
        repeatable: true,
        ..Request::new(
            Method::Post,
            url("/keys/query"),
            Some(json!({ "device_keys": { user_id: [] } })),
        )
    }
}

/// `POST /keys/device_signing/upload`: uploads cross-signing keys (`body` from
/// `ssss::CrossSigningKeys::upload_body`; the server may ask for the password, see
/// [`with_password`](crate::with_password)). Not repeatable.
pub fn upload_cross_signing(body: Value) -> Request {
    Request::new(Method::Post, url("/keys/device_signing/upload"), Some(body))
}

/// Percent-encodes one path segment (user ids, event types, version ids).
fn path_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_queries_and_repeatability() {
        let r = room_keys_for_room("v/1", "!room:example.org");
        assert_eq!(
            (r.method, r.path.as_str(), r.repeatable),
            (
                Method::Get,
                "/_matrix/client/v3/room_keys/keys/%21room%3Aexample.org?version=v%2F1",
                true
            )
        );
        assert_eq!(
            room_keys("7").path,
            "/_matrix/client/v3/room_keys/keys?version=7"
        );
        assert_eq!(
            room_key("7", "!r:x", "s/1").path,
            "/_matrix/client/v3/room_keys/keys/%21r%3Ax/s%2F1?version=7"
        );
        assert_eq!(
            account_data("@a b:x", "m.secret_storage.default_key").path,
            "/_matrix/client/v3/user/%40a%20b%3Ax/account_data/m.secret_storage.default_key"
        );
        let out = logout();
        assert_eq!(
            (out.method, out.path.as_str()),
            (Method::Post, "/_matrix/client/v3/logout")
        );
        assert!(out.repeatable && keys_query("@a:x").repeatable);
        // A POST that creates something is not repeatable.
        let login = login_password("alice", "pw");
        assert!(!login.repeatable);
        assert_eq!(
            login.body.as_ref().unwrap()["initial_device_display_name"],
            "megolm-backup"
        );
        assert!(!upload_cross_signing(json!({})).repeatable);
        assert!(logout_done(&Response::ok(json!({}))).is_ok());
        assert!(logout_done(&Response::new(401, json!({"errcode": "M_UNKNOWN_TOKEN"}))).is_ok());
        assert!(logout_done(&Response::new(500, json!({"errcode": "M_UNKNOWN"}))).is_err());
    }
}
