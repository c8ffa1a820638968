//! The homeserver: recovery, restore and upload over the library's client.

use std::path::PathBuf;

use backup_cipher::{BackupVersion, RestoreOptions, check_backup_version, encrypt_sessions};
use homeserver::{Client, ConnectOptions, UploadProgress, UploadSink};
use pyo3::prelude::*;
use pyo3::types::PyAny;
use zeroize::Zeroizing;

use crate::errors;
use crate::export::backup_key_of;
use crate::keys::{BackupKey, Recovered};
use crate::restore::{Progress, RestoreResult, Sink, Watch, finish};
use crate::room_key;
use crate::session::Session;

/// A connection to a homeserver with an access token: recovery, restore and upload of
/// the account's key backup. Use as a context manager to log out at the end a login
/// made with `Homeserver.login`.
#[pyclass(frozen, module = "megolm_backup", name = "Homeserver")]
pub(crate) struct Homeserver {
    session: Session,
    /// Whether this object made the login (then `close`/`__exit__` logs out).
    owns_login: bool,
    device_id: Option<String>,
}

fn options(allow_insecure_http: bool, ca_pem: Option<Vec<u8>>) -> ConnectOptions {
    let mut o = ConnectOptions::new();
    o.allow_insecure_http = allow_insecure_http;
    o.ca_pem = ca_pem;
    o
}

fn read_ca(ca_file: Option<PathBuf>) -> PyResult<Option<Vec<u8>>> {
    ca_file
        .map(|p| {
            std::fs::read(&p).map_err(|e| {
                pyo3::exceptions::PyOSError::new_err(format!("cannot read {}: {e}", p.display()))
            })
        })
        .transpose()
}

/// What an upload did.
#[pyclass(frozen, module = "megolm_backup", name = "UploadReport")]
pub(crate) struct UploadReport {
    /// Sessions uploaded in this run.
    #[pyo3(get)]
    uploaded: u64,
    /// Sessions skipped because the backup already held them.
    #[pyo3(get)]
    skipped: u64,
    /// The backup version uploaded to.
    #[pyo3(get)]
    version: String,
    /// Keys stored in the backup after the upload, when the server said.
    #[pyo3(get)]
    count: Option<u64>,
    /// The backup's etag after the upload, when the server said.
    #[pyo3(get)]
    etag: Option<String>,
    /// The room keys that could not be uploaded: (position in the input, why).
    #[pyo3(get)]
    failures: Vec<(usize, String)>,
}

#[pymethods]
impl UploadReport {
    fn __repr__(&self) -> String {
        format!(
            "UploadReport(uploaded={}, skipped={}, version={:?}, failures={})",
            self.uploaded,
            self.skipped,
            self.version,
            self.failures.len()
        )
    }
}

struct Upload<'w>(&'w mut Watch);

impl UploadSink for Upload<'_> {
    fn progress(&mut self, p: UploadProgress) {
        self.0.tell(Progress::new(p.sent, 0, Some(p.to_send), 0));
    }
    fn cancelled(&self) -> bool {
        self.0.stopped()
    }
}

impl Homeserver {
    /// The library's client.
    pub(crate) fn client(&self) -> &Client {
        self.session.client()
    }

    /// The user of the access token (`GET /account/whoami`, asked once).
    pub(crate) fn whoami(&self) -> Result<String, homeserver::ClientError> {
        self.session.whoami()
    }

    /// The backup key and its (current, or given) backup version, the key checked
    /// against it. Runs without the GIL.
    fn key_and_version(
        &self,
        py: Python<'_>,
        key: &Bound<'_, PyAny>,
        version: Option<&str>,
    ) -> PyResult<(Py<BackupKey>, BackupVersion, Option<Py<Recovered>>)> {
        if let Ok(secret) = key.extract::<String>() {
            let secret = Zeroizing::new(secret);
            let found = py.detach(|| self.recover_inner(&secret, version))?;
            let v = found
                .version
                .clone()
                .ok_or_else(|| errors::client(homeserver::ClientError::NoBackup))?;
            let recovered = Recovered::new(py, found.key, Some(&v))?;
            let key = recovered.key.clone_ref(py);
            return Ok((key, v, Some(Py::new(py, recovered)?)));
        }
        let recovered = key.cast::<Recovered>().ok().map(|r| r.clone().unbind());
        let key = backup_key_of(key)?;
        let v = py
            .detach(|| self.client().backup_version(version))
            .map_err(errors::client)?;
        check_backup_version(key.get().key_ref(), &v).map_err(errors::restore)?;
        Ok((key, v, recovered))
    }

    fn recover_inner(
        &self,
        secret: &str,
        version: Option<&str>,
    ) -> PyResult<flows::RecoveredBackup> {
        let user = self.whoami().map_err(errors::client)?;
        let mut flow = flows::RecoveryFlow::new(&user, secret);
        if let Some(v) = version {
            flow = flow.for_version(v);
        }
        self.client().run(flow).map_err(errors::client)
    }
}

#[pymethods]
impl Homeserver {
    /// A connection to `url` (`https://…`; plain `http://` only to this machine unless
    /// `allow_insecure_http`) with an access token. `ca_file`: trust only the certificate
    /// authorities in this PEM file.
    #[new]
    #[pyo3(signature = (url, access_token, *, allow_insecure_http=false, ca_file=None))]
    fn new(
        url: &str,
        access_token: &str,
        allow_insecure_http: bool,
        ca_file: Option<PathBuf>,
    ) -> PyResult<Self> {
        let opts = options(allow_insecure_http, read_ca(ca_file)?);
        let client = Client::with_options(url, access_token, &opts).map_err(errors::client)?;
        Ok(Self {
            session: Session::new(client, None),
            owns_login: false,
            device_id: None,
        })
    }

    /// Logs in with a user name (or full user id) and password: a new device whose
    /// session `close()` (or leaving a `with` block) ends again.
    #[staticmethod]
    #[pyo3(signature = (url, user, password, *, allow_insecure_http=false, ca_file=None))]
    fn login(
        py: Python<'_>,
        url: &str,
        user: &str,
        password: &str,
        allow_insecure_http: bool,
        ca_file: Option<PathBuf>,
    ) -> PyResult<Self> {
        let opts = options(allow_insecure_http, read_ca(ca_file)?);
        let password = Zeroizing::new(password.to_owned());
        let (client, info) = py
            .detach(|| Client::login_password_with(url, user, &password, &opts))
            .map_err(errors::client)?;
        Ok(Self {
            session: Session::new(client, Some(info.user_id)),
            owns_login: true,
            device_id: info.device_id,
        })
    }

    /// The homeserver URL.
    #[getter]
    fn url(&self) -> String {
        self.client().homeserver().to_owned()
    }

    /// The user the access token belongs to (`GET /account/whoami`, asked once).
    #[getter]
    fn user_id(&self, py: Python<'_>) -> PyResult<String> {
        py.detach(|| self.whoami()).map_err(errors::client)
    }

    /// The device a `login` made, when the server said.
    #[getter]
    fn device_id(&self) -> Option<String> {
        self.device_id.clone()
    }

    /// The access token. This exposes the secret.
    #[getter]
    fn access_token(&self) -> String {
        self.client().access_token().to_owned()
    }

    /// Ends the access token's session (`POST /logout`).
    fn logout(&self, py: Python<'_>) -> PyResult<()> {
        py.detach(|| self.client().logout()).map_err(errors::client)
    }

    /// Logs out when this object made the login; otherwise does nothing.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        if self.owns_login {
            self.logout(py)?;
        }
        Ok(())
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (exc_type=None, _exc=None, _tb=None))]
    fn __exit__(
        &self,
        py: Python<'_>,
        exc_type: Option<&Bound<'_, PyAny>>,
        _exc: Option<&Bound<'_, PyAny>>,
        _tb: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<bool> {
        let closed = self.close(py);
        // An exception already on its way wins over a failed logout.
        if exc_type.is_none_or(|t| t.is_none()) {
            closed?;
        }
        Ok(false)
    }

    /// The backup version (the current one, or `version`) as the server describes it
    /// (`algorithm`, `auth_data`, `count`, `etag`, `version`); raises `NoBackupError`
    /// when there is none.
    #[pyo3(signature = (version=None))]
    fn backup_info<'py>(
        &self,
        py: Python<'py>,
        version: Option<&str>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let v = py
            .detach(|| self.client().backup_version(version))
            .map_err(errors::client)?;
        let text = serde_json::to_string(&v).map_err(|e| errors::invalid("json", e.to_string()))?;
        crate::json::to_py(py, &text)
    }

    /// Finds the backup key from what the user has — the Security Key (Recovery key),
    /// the Security Phrase, the backup's own recovery key or its base64, auto-detected —
    /// and checks it against the backup version. `Recovered.source` says what the input
    /// was taken for.
    #[pyo3(signature = (secret, *, version=None))]
    fn recover(&self, py: Python<'_>, secret: &str, version: Option<&str>) -> PyResult<Recovered> {
        let secret = Zeroizing::new(secret.to_owned());
        let found = py.detach(|| self.recover_inner(&secret, version))?;
        Recovered::new(py, found.key, found.version.as_ref())
    }

    /// Restores the backup (the current version, or `version`) with `key`: the Security
    /// Key or Phrase or backup key as text, a `BackupKey` or a `Recovered`. Cut downloads
    /// are resumed. One bad entry costs only itself (see `RestoreResult.failures`).
    /// `progress(Progress)` is called after each batch (returning `False` stops);
    /// `cancel` is anything with `is_set()` (a `threading.Event`). The GIL is released
    /// while it runs.
    #[pyo3(signature = (key, *, version=None, progress=None, cancel=None, jobs=None))]
    fn restore(
        &self,
        py: Python<'_>,
        key: &Bound<'_, PyAny>,
        version: Option<&str>,
        progress: Option<Py<PyAny>>,
        cancel: Option<Py<PyAny>>,
        jobs: Option<usize>,
    ) -> PyResult<RestoreResult> {
        let (key, info, recovered) = self.key_and_version(py, key, version)?;
        let id = info.version.clone().ok_or_else(|| {
            errors::raise(
                "ServerError",
                "unexpected_answer",
                "the server's backup version has no id".into(),
                None,
                None,
            )
        })?;
        let opts = RestoreOptions::default()
            .with_jobs(jobs)
            .with_expected_total(info.count);
        let mut sink = Sink::new(Watch::new(py, progress, cancel)?);
        let outcome = py.detach(|| {
            let downloads =
                homeserver::BackupDownloads::start(self.client(), &id).map_err(errors::client)?;
            downloads
                .restore(key.get().key_ref(), &opts, &mut sink)
                .map_err(errors::restore)
        });
        finish(py, sink, outcome, recovered)
    }

    /// Uploads room keys (`RoomKey` objects or wire-form dicts) to the account's backup
    /// (the current version, or `version`), encrypted to its public key; `key` (as for
    /// `restore`) proves the backup is the account's own. Keys the backup already holds
    /// are skipped; keys that are not room keys are reported in `failures`, the others
    /// uploaded. Raises `NoBackupError` when the account has no backup. The GIL is
    /// released while it runs.
    #[pyo3(signature = (key, room_keys, *, version=None, progress=None, cancel=None, chunk_size=1000))]
    #[allow(clippy::too_many_arguments)]
    fn upload(
        &self,
        py: Python<'_>,
        key: &Bound<'_, PyAny>,
        room_keys: &Bound<'_, PyAny>,
        version: Option<&str>,
        progress: Option<Py<PyAny>>,
        cancel: Option<Py<PyAny>>,
        chunk_size: usize,
    ) -> PyResult<UploadReport> {
        let (keys, failures) = room_key::collect(room_keys)?;
        self.upload_keys(
            py, key, keys, failures, version, progress, cancel, chunk_size,
        )
    }

    /// Uploads the room keys of an Element key-export file (see `upload`).
    #[pyo3(signature = (key, path, passphrase, *, version=None, progress=None, cancel=None, chunk_size=1000))]
    #[allow(clippy::too_many_arguments)]
    fn upload_export(
        &self,
        py: Python<'_>,
        key: &Bound<'_, PyAny>,
        path: PathBuf,
        passphrase: &str,
        version: Option<&str>,
        progress: Option<Py<PyAny>>,
        cancel: Option<Py<PyAny>>,
        chunk_size: usize,
    ) -> PyResult<UploadReport> {
        let keys = crate::export::read_export(py, path, passphrase)?;
        self.upload(
            py,
            key,
            &keys.into_any(),
            version,
            progress,
            cancel,
            chunk_size,
        )
    }

    /// Element's "Set up recovery" on the account of the access token, or with `reset`
    /// its reset: secret storage with a new Security Key (or one made from `passphrase`,
    /// which must pass Element's strength policy and not be the account password),
    /// cross-signing keys (kept, or new), and a new backup version signed by them, written
    /// in the order that keeps the account usable if it stops half-way, then read back.
    /// `password` answers the server's confirmation when new cross-signing keys replace
    /// old ones. With `reset`, `old_key` (the old Security Key or Phrase, or the old
    /// backup's key) keeps the cross-signing keys and carries the old sessions over.
    /// `on_event(SetupEvent)` hears each step, from the thread that runs the setup (an
    /// exception it raises goes to `sys.unraisablehook`; the setup goes on). A refused
    /// plan raises `SetupRefusedError` (`.situation` says the account's state); nothing
    /// was changed then (among them `stored_backup_key_stale`: the old secret storage
    /// holds a backup key that opens no current version, and
    /// `stored_backup_key_unreadable`: one `old_key` cannot read;
    /// `discard_stale_backup_key` writes over either). The GIL is released while it runs.
    #[pyo3(signature = (*, passphrase=None, password=None, reset=false, old_key=None, replace_cross_signing=false, delete_old_version=false, discard_stale_backup_key=false, on_event=None))]
    #[allow(clippy::too_many_arguments)]
    fn set_up_recovery(
        &self,
        py: Python<'_>,
        passphrase: Option<&str>,
        password: Option<&str>,
        reset: bool,
        old_key: Option<&Bound<'_, PyAny>>,
        replace_cross_signing: bool,
        delete_old_version: bool,
        discard_stale_backup_key: bool,
        on_event: Option<Py<PyAny>>,
    ) -> PyResult<crate::setup::SetupOutcome> {
        crate::setup::set_up_recovery(
            &self.session,
            py,
            passphrase,
            password,
            reset,
            old_key,
            replace_cross_signing,
            delete_old_version,
            discard_stale_backup_key,
            on_event,
        )
    }

    fn __repr__(&self) -> String {
        format!("Homeserver(url={:?})", self.client().homeserver())
    }
}

impl Homeserver {
    #[allow(clippy::too_many_arguments)]
    fn upload_keys(
        &self,
        py: Python<'_>,
        key: &Bound<'_, PyAny>,
        keys: Vec<backup_cipher::RoomKey>,
        mut failures: Vec<(usize, String)>,
        version: Option<&str>,
        progress: Option<Py<PyAny>>,
        cancel: Option<Py<PyAny>>,
        chunk_size: usize,
    ) -> PyResult<UploadReport> {
        if chunk_size == 0 {
            return Err(errors::invalid(
                "chunk_size",
                "chunk_size must be at least 1",
            ));
        }
        let (key, info, _) = self.key_and_version(py, key, version)?;
        let id = info.version.clone().ok_or_else(|| {
            errors::raise(
                "ServerError",
                "unexpected_answer",
                "the server's backup version has no id".into(),
                None,
                None,
            )
        })?;
        let mut watch = Watch::new(py, progress, cancel)?;
        let outcome = py.detach(|| {
            let (body, errors) = encrypt_sessions(key.get().key_ref().public_key(), &keys);
            let report =
                self.client()
                    .upload_room_keys(&id, &body, chunk_size, &mut Upload(&mut watch));
            (report, errors)
        });
        let (report, encrypt_errors) = outcome;
        if let Some(e) = watch.error.take() {
            return Err(e);
        }
        let report = report.map_err(errors::client)?;
        // Positions count in the keys that were room keys; map them back.
        let failed: std::collections::HashSet<usize> = failures.iter().map(|(f, _)| *f).collect();
        let good: Vec<usize> = (0..keys.len() + failures.len())
            .filter(|i| !failed.contains(i))
            .collect();
        for e in encrypt_errors {
            let index = match &e {
                backup_cipher::EncryptSessionError::Field { index, .. }
                | backup_cipher::EncryptSessionError::SessionKey { index }
                | backup_cipher::EncryptSessionError::Encrypt { index, .. } => *index,
                _ => 0,
            };
            failures.push((good.get(index).copied().unwrap_or(index), e.to_string()));
        }
        failures.sort();
        Ok(UploadReport {
            uploaded: report.uploaded,
            skipped: report.skipped,
            version: id,
            count: report.last_update.as_ref().map(|u| u.count),
            etag: report.last_update.map(|u| u.etag),
            failures,
        })
    }
}
