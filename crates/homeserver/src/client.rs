//! The blocking client.

use std::{collections::BTreeSet, fmt, io::Read, time::Duration};

use backup_cipher::{BackupVersion, KeyBackupData, KeysBackup, RoomKeyBackup};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use serde_json::{Value, json};
use ureq::{
    Agent, Body, RequestBuilder,
    http::Response,
    tls::{Certificate, PemItem, RootCerts, TlsConfig, TlsProvider},
};
use url::{Host, Url};
use zeroize::{Zeroize, Zeroizing};

use flows::{Flow as _, path_segment};

use crate::{ClientError, TokenProblem};

const API: &str = "/_matrix/client/v3";
const MAX_RATE_LIMIT_RETRIES: u32 = 8;
const MAX_TRANSPORT_RETRIES: u32 = 3;
/// Error bodies are small; never read more than this of one.
const ERROR_BODY_LIMIT: u64 = 64 * 1024;

/// How to reach the homeserver: which certificates to trust, and whether plain `http://`
/// to a host other than this machine is allowed.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct ConnectOptions {
    /// Trust only the certificate authorities in this PEM text (a homeserver behind a
    /// private CA) instead of the system trust store.
    pub ca_pem: Option<Vec<u8>>,
    /// Send the access token or password over plain `http://` to a host that is not this
    /// machine. Anyone on the path can read them then.
    pub allow_insecure_http: bool,
}

impl ConnectOptions {
    /// The defaults: the system trust store, `http://` only to loopback.
    pub fn new() -> Self {
        Self::default()
    }
}

/// Hears of an upload's progress, chunk by chunk, and may stop it: the same style as a
/// restore's `backup_cipher::RestoreSink`. `()` is a sink that listens to nothing.
pub trait UploadSink {
    /// Called after each chunk the server accepted.
    fn progress(&mut self, _progress: UploadProgress) {}
    /// Asked after each chunk: `true` stops the upload (a rerun resumes).
    fn cancelled(&self) -> bool {
        false
    }
}

impl UploadSink for () {}

/// A logged-in client for one homeserver.
pub struct Client {
    agent: Agent,
    /// The homeserver URL, parsed and checked once (http(s), no user-info, plain http
    /// only to loopback unless allowed); request URLs are built from it.
    base: Url,
    /// The same, as text without a trailing slash (what [`Client::homeserver`] shows).
    base_text: String,
    /// `Bearer <access token>`, built once and wiped on drop; `None` before a login.
    authorization: Option<Zeroizing<String>>,
}

const BEARER: &str = "Bearer ";

/// Wipes the string values of `fields` in a JSON object (a request body that carried a
/// password) once it has been sent.
fn wipe_fields(body: &mut Value, fields: &[&str]) {
    if let Value::Object(map) = body {
        for (k, v) in map.iter_mut() {
            match v {
                Value::String(s) if fields.contains(&k.as_str()) => s.zeroize(),
                Value::Object(_) => wipe_fields(v, fields),
                _ => {}
            }
        }
    }
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("homeserver", &self.base_text)
            .finish_non_exhaustive()
    }
}

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

/// Progress of a chunked upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UploadProgress {
    /// Sessions sent so far in this run.
    pub sent: u64,
    /// Sessions this run has to send.
    pub to_send: u64,
    /// Sessions skipped because the server already holds them.
    pub skipped: u64,
}

/// The outcome of [`Client::upload_room_keys`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadReport {
    /// Sessions uploaded in this run.
    pub uploaded: u64,
    /// Sessions skipped because the server already had them (resume).
    pub skipped: u64,
    /// The server's answer to the last chunk (`None` when nothing was sent).
    pub last_update: Option<RoomKeysUpdate>,
}

#[derive(Clone, Copy)]
enum Method {
    Get,
    Post,
    Put,
    Delete,
}

impl Client {
    /// A client for `homeserver` (e.g. `https://matrix.example.org`) with an access token,
    /// trusting the system's certificate authorities. The URL and the token are checked
    /// here, before anything is sent (see [`with_options`](Self::with_options)).
    pub fn new(homeserver: &str, access_token: &str) -> Result<Self, ClientError> {
        Self::with_options(homeserver, access_token, &ConnectOptions::default())
    }

    /// A client with [`ConnectOptions`] (a private CA, plain `http://`).
    ///
    /// The homeserver URL is parsed once, here: it must be `http://` or `https://`, carry
    /// no user-info (`user:password@`), and be `http://` only to this machine (127.0.0.0/8,
    /// `::1`, `localhost`) unless [`ConnectOptions::allow_insecure_http`] is set. The
    /// access token must be one line of visible ASCII. Errors never show the user-info or
    /// the token.
    pub fn with_options(
        homeserver: &str,
        access_token: &str,
        options: &ConnectOptions,
    ) -> Result<Self, ClientError> {
        check_access_token(access_token)?;
        Self::build(homeserver, Some(access_token.trim()), options)
    }

    fn build(
        homeserver: &str,
        access_token: Option<&str>,
        options: &ConnectOptions,
    ) -> Result<Self, ClientError> {
        let base = homeserver_url(homeserver, options.allow_insecure_http)?;
        let roots = match &options.ca_pem {
            None => RootCerts::PlatformVerifier,
            Some(pem) => {
                let certs: Vec<Certificate<'static>> = ureq::tls::parse_pem(pem)
                    .filter_map(|item| match item {
                        Ok(PemItem::Certificate(c)) => Some(Ok(c)),
                        Ok(_) => None,
                        Err(e) => Some(Err(e)),
                    })
                    .collect::<Result<_, _>>()
                    .map_err(|e| ClientError::CaFile(e.to_string()))?;
                if certs.is_empty() {
                    return Err(ClientError::CaFile(
                        "it holds no PEM certificate (-----BEGIN CERTIFICATE-----)".into(),
                    ));
                }
                RootCerts::new_with_certs(&certs)
            }
        };
        let tls = TlsConfig::builder()
            .provider(TlsProvider::Rustls)
            .root_certs(roots)
            .unversioned_rustls_crypto_provider(std::sync::Arc::new(
                rustls::crypto::aws_lc_rs::default_provider(),
            ))
            .build();
        let config = Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(600)))
            .tls_config(tls)
            .build();
        let base_text = base.as_str().trim_end_matches('/').to_owned();
        Ok(Self {
            agent: Agent::new_with_config(config),
            base,
            base_text,
            authorization: access_token.map(|token| {
                let mut header = Zeroizing::new(String::with_capacity(BEARER.len() + token.len()));
                header.push_str(BEARER);
                header.push_str(token);
                header
            }),
        })
    }

    /// Logs in with `m.login.password` and returns a client holding the new token.
    pub fn login_password(
        homeserver: &str,
        user: &str,
        password: &str,
    ) -> Result<(Self, LoginInfo), ClientError> {
        Self::login_password_with(homeserver, user, password, &ConnectOptions::default())
    }

    /// [`login_password`](Self::login_password) with [`ConnectOptions`].
    pub fn login_password_with(
        homeserver: &str,
        user: &str,
        password: &str,
        options: &ConnectOptions,
    ) -> Result<(Self, LoginInfo), ClientError> {
        let anon = Self::build(homeserver, None, options)?;
        let mut body = json!({
            "type": "m.login.password",
            "identifier": {"type": "m.id.user", "user": user},
            "password": password,
            "initial_device_display_name": "megolm-backup",
        });
        #[derive(Deserialize)]
        struct Login {
            access_token: String,
            user_id: String,
            #[serde(default)]
            device_id: Option<String>,
        }
        let result: Result<Login, _> = anon.json(Method::Post, "/login", &[], Some(&body));
        wipe_fields(&mut body, &["password"]);
        let mut login = result?;
        let client = Self::with_options(homeserver, &login.access_token, options)?;
        login.access_token.zeroize();
        let info = LoginInfo {
            user_id: login.user_id,
            device_id: login.device_id,
        };
        Ok((client, info))
    }

    /// The homeserver URL.
    pub fn homeserver(&self) -> &str {
        &self.base_text
    }

    /// The access token (empty before a login). This exposes the secret.
    pub fn access_token(&self) -> &str {
        self.authorization
            .as_ref()
            .and_then(|a| a.get(BEARER.len()..))
            .unwrap_or_default()
    }

    /// The URL of `path` (below the client-server API prefix, percent-encoded, with an
    /// optional `?query`) and `query` pairs, built from the parsed homeserver URL.
    fn url_for(&self, path: &str, query: &[(&str, &str)]) -> Url {
        let (path, given_query) = match path.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (path, None),
        };
        let mut url = self.base.clone();
        let prefix = self.base.path().trim_end_matches('/');
        url.set_path(&format!("{prefix}{API}{path}"));
        url.set_query(given_query);
        if !query.is_empty() {
            let mut pairs = url.query_pairs_mut();
            for (k, v) in query {
                pairs.append_pair(k, v);
            }
        }
        url
    }

    /// Who the token belongs to (`GET /account/whoami`).
    pub fn whoami(&self) -> Result<LoginInfo, ClientError> {
        self.json(Method::Get, "/account/whoami", &[], None)
    }

    /// Adds the access token, when there is one (none before a login: an empty
    /// `Authorization` header is not sent).
    fn authorize<B>(&self, request: RequestBuilder<B>) -> RequestBuilder<B> {
        match &self.authorization {
            Some(a) => request.header("Authorization", a.as_str()),
            None => request,
        }
    }

    fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Result<Response<Body>, ClientError> {
        self.send_inner(method, path, query, body, false)
    }

    /// Runs a flow of the `flows` crate to its end over this client: each request it asks
    /// for is sent, and each answer (errors included) fed back.
    pub fn run<F: flows::Flow>(&self, mut flow: F) -> Result<F::Output, ClientError> {
        while let Some(request) = flow.next_request() {
            let response = self.send_request(&request)?;
            flow.receive(response).map_err(ClientError::Flow)?;
        }
        flow.finish().map_err(ClientError::Flow)
    }

    /// Sends one request a flow or a plan of the `flows` crate made, and returns the
    /// server's answer whatever its status (rate limits are waited out; a connection that
    /// cannot be made is an error).
    pub fn send_request(&self, request: &flows::Request) -> Result<flows::Response, ClientError> {
        let method = match request.method {
            flows::Method::Get => Method::Get,
            flows::Method::Post => Method::Post,
            flows::Method::Put => Method::Put,
            _ => Method::Delete,
        };
        let path = request.path.strip_prefix(API).ok_or_else(|| {
            ClientError::Json(format!("a flow asked for {}", request.path).into())
        })?;
        let mut response = self.send_inner(method, path, &[], request.body.as_ref(), true)?;
        let status = response.status().as_u16();
        let text = response
            .body_mut()
            .with_config()
            .limit(256 * 1024 * 1024)
            .read_to_string()
            .map_err(|e| ClientError::Json(e.into()))?;
        let body = if text.trim().is_empty() {
            json!({})
        } else {
            serde_json::from_str(&text).map_err(|e| ClientError::Json(e.into()))?
        };
        Ok(flows::Response::new(status, body))
    }

    fn send_inner(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
        errors_are_answers: bool,
    ) -> Result<Response<Body>, ClientError> {
        let url = self.url_for(path, query);
        let mut rate_limited = 0;
        let mut transport = 0;
        loop {
            let result = match method {
                Method::Get => self.authorize(self.agent.get(url.as_str())).call(),
                Method::Delete => self.authorize(self.agent.delete(url.as_str())).call(),
                Method::Post => self
                    .authorize(self.agent.post(url.as_str()))
                    .send_json(body.unwrap_or(&json!({}))),
                Method::Put => self
                    .authorize(self.agent.put(url.as_str()))
                    .send_json(body.unwrap_or(&json!({}))),
            };
            let response = match result {
                Ok(r) => r,
                Err(e) => {
                    transport += 1;
                    if transport > MAX_TRANSPORT_RETRIES
                        || !matches!(method, Method::Get | Method::Put)
                    {
                        return Err(ClientError::Transport {
                            url: url.to_string(),
                            reason: e,
                        });
                    }
                    std::thread::sleep(Duration::from_millis(250 * u64::from(transport)));
                    continue;
                }
            };
            let status = response.status().as_u16();
            if (200..300).contains(&status) || (errors_are_answers && status != 429) {
                return Ok(response);
            }
            let mut err = error_from(status, response, query);
            // Synapse (seen with 1.163.2) answers M_WRONG_ROOM_KEYS_VERSION with the
            // *requested* version as `current_version`; ask for the real one.
            if let ClientError::WrongVersion {
                given,
                current_version,
            } = &mut err
                && (current_version.is_empty() || current_version == given)
                && let Ok(current) = self.backup_version(None)
                && let Some(v) = current.version
            {
                *current_version = v;
            }
            if let ClientError::RateLimited { retry_after_ms } = &err {
                rate_limited += 1;
                if rate_limited <= MAX_RATE_LIMIT_RETRIES {
                    let wait = retry_after_ms.unwrap_or(1000).clamp(50, 30_000);
                    std::thread::sleep(Duration::from_millis(wait));
                    continue;
                }
            }
            return Err(err);
        }
    }

    fn json<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Result<T, ClientError> {
        let mut response = self.send(method, path, query, body)?;
        response
            .body_mut()
            .with_config()
            .limit(256 * 1024 * 1024)
            .read_json()
            .map_err(|e| ClientError::Json(e.into()))
    }

    /// The current backup version, or a given one (`GET /room_keys/version[/{v}]`).
    pub fn backup_version(&self, version: Option<&str>) -> Result<BackupVersion, ClientError> {
        let path = match version {
            Some(v) => format!("/room_keys/version/{}", path_segment(v)),
            None => "/room_keys/version".to_owned(),
        };
        // Here, and only here, M_NOT_FOUND means "this account has no backup".
        self.json(Method::Get, &path, &[], None)
            .map_err(|e| match e {
                ClientError::Matrix { errcode, .. } if errcode == "M_NOT_FOUND" => {
                    ClientError::NoBackup
                }
                e => e,
            })
    }

    /// Creates a backup version (`POST /room_keys/version`); returns its id.
    pub fn create_backup_version(&self, version: &BackupVersion) -> Result<String, ClientError> {
        let body = json!({"algorithm": version.algorithm, "auth_data": version.auth_data});
        #[derive(Deserialize)]
        struct Created {
            version: String,
        }
        let c: Created = self.json(Method::Post, "/room_keys/version", &[], Some(&body))?;
        Ok(c.version)
    }

    /// Replaces a version's `auth_data` (`PUT /room_keys/version/{v}`).
    pub fn update_backup_version(
        &self,
        version_id: &str,
        version: &BackupVersion,
    ) -> Result<(), ClientError> {
        let body = json!({"algorithm": version.algorithm, "auth_data": version.auth_data, "version": version_id});
        let _: Value = self.json(
            Method::Put,
            &format!("/room_keys/version/{}", path_segment(version_id)),
            &[],
            Some(&body),
        )?;
        Ok(())
    }

    /// Deletes a backup version and its keys (`DELETE /room_keys/version/{v}`).
    pub fn delete_backup_version(&self, version_id: &str) -> Result<(), ClientError> {
        let _: Value = self.json(
            Method::Delete,
            &format!("/room_keys/version/{}", path_segment(version_id)),
            &[],
            None,
        )?;
        Ok(())
    }

    /// Streams the whole keys download (`GET /room_keys/keys?version=V`), for
    /// `backup_cipher::restore_reader`; nothing is buffered beyond the reader.
    pub fn room_keys_reader(&self, version: &str) -> Result<impl Read + Send + use<>, ClientError> {
        let response = self.send(
            Method::Get,
            "/room_keys/keys",
            &[("version", version)],
            None,
        )?;
        Ok(response.into_body().into_reader())
    }

    /// All keys of a version, parsed.
    pub fn room_keys(&self, version: &str) -> Result<KeysBackup, ClientError> {
        self.json(
            Method::Get,
            "/room_keys/keys",
            &[("version", version)],
            None,
        )
    }

    /// The keys of one room.
    pub fn room_keys_for_room(
        &self,
        version: &str,
        room_id: &str,
    ) -> Result<RoomKeyBackup, ClientError> {
        self.json(
            Method::Get,
            &format!("/room_keys/keys/{}", path_segment(room_id)),
            &[("version", version)],
            None,
        )
    }

    /// One session's backup entry.
    pub fn room_key(
        &self,
        version: &str,
        room_id: &str,
        session_id: &str,
    ) -> Result<KeyBackupData, ClientError> {
        let path = format!(
            "/room_keys/keys/{}/{}",
            path_segment(room_id),
            path_segment(session_id)
        );
        self.json(Method::Get, &path, &[("version", version)], None)
    }

    /// Uploads keys (`PUT /room_keys/keys?version=V`) in one request.
    pub fn put_room_keys(
        &self,
        version: &str,
        body: &KeysBackup,
    ) -> Result<RoomKeysUpdate, ClientError> {
        let value = serde_json::to_value(body).map_err(|e| ClientError::Json(e.into()))?;
        self.json(
            Method::Put,
            "/room_keys/keys",
            &[("version", version)],
            Some(&value),
        )
    }

    /// Uploads keys of one room (`PUT /room_keys/keys/{roomId}`).
    pub fn put_room_keys_for_room(
        &self,
        version: &str,
        room_id: &str,
        body: &RoomKeyBackup,
    ) -> Result<RoomKeysUpdate, ClientError> {
        let value = serde_json::to_value(body).map_err(|e| ClientError::Json(e.into()))?;
        self.json(
            Method::Put,
            &format!("/room_keys/keys/{}", path_segment(room_id)),
            &[("version", version)],
            Some(&value),
        )
    }

    /// Uploads one session (`PUT /room_keys/keys/{roomId}/{sessionId}`).
    pub fn put_room_key(
        &self,
        version: &str,
        room_id: &str,
        session_id: &str,
        data: &KeyBackupData,
    ) -> Result<RoomKeysUpdate, ClientError> {
        let value = serde_json::to_value(data).map_err(|e| ClientError::Json(e.into()))?;
        let path = format!(
            "/room_keys/keys/{}/{}",
            path_segment(room_id),
            path_segment(session_id)
        );
        self.json(Method::Put, &path, &[("version", version)], Some(&value))
    }

    /// The (room, session) ids a version already holds, from the keys download.
    pub fn stored_session_ids(
        &self,
        version: &str,
    ) -> Result<BTreeSet<(String, String)>, ClientError> {
        #[derive(Deserialize)]
        struct Ids {
            rooms: std::collections::BTreeMap<String, RoomIds>,
        }
        #[derive(Deserialize)]
        struct RoomIds {
            sessions: std::collections::BTreeMap<String, serde::de::IgnoredAny>,
        }
        let reader = self.room_keys_reader(version)?;
        let ids: Ids = serde_json::from_reader(std::io::BufReader::new(reader))
            .map_err(|e| ClientError::Json(e.into()))?;
        Ok(ids
            .rooms
            .into_iter()
            .flat_map(|(room, r)| r.sessions.into_keys().map(move |s| (room.clone(), s)))
            .collect())
    }

    /// Uploads a backup body in chunks of `chunk_size` sessions, retrying transient
    /// failures. Resumes: sessions the server already holds are skipped, so a rerun after
    /// an interruption sends only the rest. `sink` hears of each chunk and may cancel
    /// after it (the next run resumes) — the same style as a restore's `RestoreSink`.
    pub fn upload_room_keys<S: UploadSink + ?Sized>(
        &self,
        version: &str,
        body: &KeysBackup,
        chunk_size: usize,
        sink: &mut S,
    ) -> Result<UploadReport, ClientError> {
        // What the server holds is streamed (it can be large); the library's flow plans
        // the chunks from it.
        let present = self.stored_session_ids(version)?;
        let mut flow = flows::UploadFlow::new(version, body, chunk_size).skipping(&present);
        while let Some(request) = flow.next_request() {
            let path = request.path.strip_prefix(API).unwrap_or(&request.path);
            let path = path.split('?').next().unwrap_or(path);
            // Typed errors (a replaced backup version, …) through the ordinary path.
            let update: RoomKeysUpdate = self.json(
                Method::Put,
                path,
                &[("version", version)],
                request.body.as_ref(),
            )?;
            flow.receive(flows::Response::ok(
                serde_json::json!({"etag": update.etag, "count": update.count}),
            ))
            .map_err(ClientError::Flow)?;
            let o = flow.outcome();
            sink.progress(UploadProgress {
                sent: o.uploaded,
                to_send: o.to_send,
                skipped: o.skipped,
            });
            if sink.cancelled() {
                flow.cancel();
            }
        }
        let outcome = flow.finish().map_err(ClientError::Flow)?;
        Ok(UploadReport {
            uploaded: outcome.uploaded,
            skipped: outcome.skipped,
            last_update: match (outcome.etag, outcome.count) {
                (Some(etag), Some(count)) => Some(RoomKeysUpdate { etag, count }),
                _ => None,
            },
        })
    }

    /// One account-data event of the user (`GET /user/{userId}/account_data/{type}`);
    /// `None` when it is not set.
    pub fn account_data(
        &self,
        user_id: &str,
        event_type: &str,
    ) -> Result<Option<Value>, ClientError> {
        let path = format!(
            "/user/{}/account_data/{}",
            path_segment(user_id),
            path_segment(event_type)
        );
        match self.json(Method::Get, &path, &[], None) {
            Ok(v) => Ok(Some(v)),
            Err(ClientError::Matrix { errcode, .. }) if errcode == "M_NOT_FOUND" => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The user's cross-signing master public key (`POST /keys/query`), or `None` when
    /// the account has no cross-signing keys.
    pub fn master_key(&self, user_id: &str) -> Result<Option<String>, ClientError> {
        let body = json!({ "device_keys": { user_id: [] } });
        let response: Value = self.json(Method::Post, "/keys/query", &[], Some(&body))?;
        Ok(flows::master_key_in_query(&response, user_id))
    }

    /// Sets one account-data event (`PUT /user/{userId}/account_data/{type}`).
    pub fn set_account_data(
        &self,
        user_id: &str,
        event_type: &str,
        content: &Value,
    ) -> Result<(), ClientError> {
        let path = format!(
            "/user/{}/account_data/{}",
            path_segment(user_id),
            path_segment(event_type)
        );
        let _: Value = self.json(Method::Put, &path, &[], Some(content))?;
        Ok(())
    }
}

fn error_from(status: u16, mut response: Response<Body>, query: &[(&str, &str)]) -> ClientError {
    #[derive(Deserialize, Default)]
    struct MatrixError {
        #[serde(default)]
        errcode: String,
        #[serde(default)]
        error: String,
        #[serde(default)]
        retry_after_ms: Option<u64>,
        #[serde(default)]
        current_version: Option<String>,
        #[serde(default)]
        session: Option<String>,
        #[serde(default)]
        flows: Option<Vec<Flow>>,
    }
    #[derive(Deserialize, Default)]
    struct Flow {
        #[serde(default)]
        stages: Vec<String>,
    }
    let e: MatrixError = response
        .body_mut()
        .with_config()
        .limit(ERROR_BODY_LIMIT)
        .read_json()
        .unwrap_or_default();
    if status == 401
        && let Some(flows) = &e.flows
        && e.errcode != "M_FORBIDDEN"
    {
        let flows = flows
            .iter()
            .map(|f| f.stages.join(" then "))
            .collect::<Vec<_>>()
            .join(", or ");
        return ClientError::AuthRequired {
            session: e.session,
            flows,
        };
    }
    match e.errcode.as_str() {
        "M_WRONG_ROOM_KEYS_VERSION" => ClientError::WrongVersion {
            given: query
                .iter()
                .find(|(k, _)| *k == "version")
                .map(|(_, v)| (*v).to_owned())
                .unwrap_or_default(),
            current_version: e.current_version.unwrap_or_default(),
        },
        "M_UNKNOWN_TOKEN" | "M_MISSING_TOKEN" => ClientError::Unauthorized { errcode: e.errcode },
        "M_FORBIDDEN" => ClientError::Forbidden(e.error),
        "M_LIMIT_EXCEEDED" => ClientError::RateLimited {
            retry_after_ms: e.retry_after_ms,
        },
        _ if status == 429 => ClientError::RateLimited {
            retry_after_ms: e.retry_after_ms,
        },
        _ => ClientError::Matrix {
            status,
            errcode: e.errcode,
            error: e.error,
        },
    }
}

/// Parses and checks the homeserver URL: `http(s)://` only, no user-info, and plain
/// `http://` only to this machine unless `allow_insecure_http`. Nothing is resolved or
/// contacted here, so a refused URL never reaches DNS.
fn homeserver_url(text: &str, allow_insecure_http: bool) -> Result<Url, ClientError> {
    let url = Url::parse(text.trim()).map_err(|e| ClientError::InvalidUrl {
        url: redact_user_info(text.trim()),
        reason: e.to_string(),
    })?;
    let shown = || {
        let mut bare = url.clone();
        // Both succeed on http(s) URLs, which have a host.
        let _ = bare.set_username("");
        let _ = bare.set_password(None);
        bare.to_string()
    };
    match url.scheme() {
        "http" | "https" => {}
        other => {
            return Err(ClientError::UnsupportedScheme {
                url: redact_user_info(text.trim()),
                scheme: other.to_owned(),
            });
        }
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(ClientError::UrlUserInfo(shown()));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(ClientError::InvalidUrl {
            url: shown(),
            reason: "a homeserver URL has no query (?…) or fragment (#…)".into(),
        });
    }
    if url.scheme() == "http" && !allow_insecure_http && !is_loopback(&url) {
        return Err(ClientError::InsecureHttp(shown()));
    }
    Ok(url)
}

/// The host is this machine: 127.0.0.0/8, `::1` or `localhost` (the URL parser has
/// already lower-cased a domain and decoded numeric forms such as `127.1`).
fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        Some(Host::Domain(d)) => d == "localhost",
        None => false,
    }
}

/// A URL that could not be parsed, for an error message: whatever stands before the
/// last `@` of its authority (user-info, maybe a password) is replaced by `…`.
fn redact_user_info(text: &str) -> String {
    let (scheme, rest) = match text.split_once("://") {
        Some((s, r)) => (Some(s), r),
        None => (None, text),
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let authority = match authority.rsplit_once('@') {
        Some((_, host)) => format!("…@{host}"),
        None => authority.to_owned(),
    };
    match scheme {
        Some(s) => format!("{s}://{authority}{tail}"),
        None => format!("{authority}{tail}"),
    }
}

/// An access token is one line of visible ASCII (it goes into an HTTP header).
fn check_access_token(token: &str) -> Result<(), ClientError> {
    let token = token.trim();
    let problem = if token.is_empty() {
        TokenProblem::Empty
    } else if token.contains(['\n', '\r']) {
        TokenProblem::MultiLine
    } else if let Some(position) = token.bytes().position(|b| !b.is_ascii_graphic()) {
        TokenProblem::BadCharacter {
            position: position + 1,
        }
    } else {
        return Ok(());
    };
    Err(ClientError::InvalidAccessToken(problem))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Errors keep their cause: an answer that is not JSON carries serde_json's error.
    #[test]
    fn a_bad_answer_keeps_its_cause() {
        let e = super::ClientError::Json(serde_json::from_str::<u8>("x").unwrap_err().into());
        let source = std::error::Error::source(&e).expect("a source");
        assert!(source.is::<serde_json::Error>());
    }

    #[test]
    fn only_loopback_may_be_plain_http_whatever_the_case() {
        for ok in [
            "https://matrix.example.org",
            "HTTPS://Matrix.Example.org/",
            "http://127.0.0.1:8008",
            "HTTP://127.0.0.1:8008",
            "http://127.5.6.7",
            "http://127.1",
            "http://localhost:8008/",
            "http://LOCALHOST",
            "Http://LocalHost:1/prefix",
            "http://[::1]:8008",
        ] {
            assert!(homeserver_url(ok, false).is_ok(), "{ok}");
        }
        for refused in [
            "http://matrix.example.org",
            "HTTP://matrix.example.org",
            "hTtP://name",
            "http://192.168.1.10:8008",
            "http://[2001:db8::1]:80",
            "http://[::ffff:127.0.0.1]",
            "http://0.0.0.0:9",
            "http://localhost.example.org",
            "http://localhost.",
            "http://127.0.0.1.example.org",
        ] {
            assert!(
                matches!(
                    homeserver_url(refused, false),
                    Err(ClientError::InsecureHttp(_))
                ),
                "{refused}"
            );
            assert!(homeserver_url(refused, true).is_ok(), "{refused}");
        }
    }

    #[test]
    fn user_info_is_refused_and_never_shown() {
        for url in [
            "http://localhost:1@name",
            "http://[::1]@name",
            "https://alice:PASSWORD@matrix.example.org",
            "HTTP://alice:PASSWORD@127.0.0.1:8008",
            "https://PASSWORD@matrix.example.org",
        ] {
            let e = homeserver_url(url, true).unwrap_err();
            assert!(matches!(e, ClientError::UrlUserInfo(_)), "{url}: {e}");
            let text = e.to_string();
            for secret in ["PASSWORD", "alice", "localhost:1", "[::1]"] {
                assert!(!text.contains(secret), "{url}: {text}");
            }
        }
        // Unparsable or of another scheme: still not shown.
        for url in [
            "https://alice:PASSWORD@exa mple.org",
            "ftp://alice:PASSWORD@example.org",
            "https://alice:PASSWORD@[::1",
        ] {
            let e = homeserver_url(url, true).unwrap_err();
            assert!(!e.to_string().contains("PASSWORD"), "{url}: {e}");
        }
        assert!(matches!(
            homeserver_url("ftp://example.org", true),
            Err(ClientError::UnsupportedScheme { .. })
        ));
        assert!(matches!(
            homeserver_url("matrix.example.org", true),
            Err(ClientError::InvalidUrl { .. })
        ));
    }

    #[test]
    fn a_token_is_one_line_of_visible_ascii() {
        assert!(check_access_token("syt_abc_123\n").is_ok());
        for (bad, want) in [
            ("", TokenProblem::Empty),
            (" \n", TokenProblem::Empty),
            ("syt_a\nsyt_b", TokenProblem::MultiLine),
            ("syt a", TokenProblem::BadCharacter { position: 4 }),
            ("syt_é", TokenProblem::BadCharacter { position: 5 }),
        ] {
            match check_access_token(bad) {
                Err(ClientError::InvalidAccessToken(p)) => assert_eq!(p, want, "{bad:?}"),
                other => panic!("{bad:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn request_urls_are_built_from_the_parsed_base() {
        let c = Client::new("HTTP://LocalHost:8008/prefix/", "t").unwrap();
        assert_eq!(c.homeserver(), "http://localhost:8008/prefix");
        assert_eq!(
            c.url_for("/room_keys/keys/%21r%3Ax?version=1", &[])
                .as_str(),
            "http://localhost:8008/prefix/_matrix/client/v3/room_keys/keys/%21r%3Ax?version=1"
        );
        assert_eq!(
            c.url_for("/room_keys/keys", &[("version", "7")]).as_str(),
            "http://localhost:8008/prefix/_matrix/client/v3/room_keys/keys?version=7"
        );
    }
}
