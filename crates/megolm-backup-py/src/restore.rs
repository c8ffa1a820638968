//! Restoring a backup body: results, progress, cancellation.

use std::fs::File;
use std::path::PathBuf;

use backup_cipher::{
    Progress as Counts, RestoreFailure as Failure, RestoreOptions, RestoreSink, RestoredSession,
};
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedBytes;
use pyo3::types::{PyAny, PyList};

use crate::keys::BackupKey;
use crate::room_key::RoomKey;
use crate::{errors, export};

/// Entries decrypted first when the key could not be checked against the backup's
/// public key, so a wrong key is said at once (as the CLI does).
const KEY_PROBE_ENTRIES: usize = 32;

/// Counts told to a progress callback, after each batch.
#[pyclass(frozen, module = "megolm_backup", name = "Progress")]
#[derive(Clone)]
pub(crate) struct Progress {
    /// Results delivered so far: keys restored plus failures.
    #[pyo3(get)]
    done: u64,
    /// Failures among them.
    #[pyo3(get)]
    failed: u64,
    /// Entries in the backup, when known in advance (or sessions to send, for uploads).
    #[pyo3(get)]
    total: Option<u64>,
    /// Bytes of the body read so far (0 for uploads).
    #[pyo3(get)]
    bytes_read: u64,
}

#[pymethods]
impl Progress {
    fn __repr__(&self) -> String {
        format!(
            "Progress(done={}, failed={}, total={}, bytes_read={})",
            self.done,
            self.failed,
            self.total.map_or("None".into(), |t| t.to_string()),
            self.bytes_read
        )
    }
}

impl Progress {
    pub(crate) fn new(done: u64, failed: u64, total: Option<u64>, bytes_read: u64) -> Self {
        Self {
            done,
            failed,
            total,
            bytes_read,
        }
    }
}

/// One entry that could not be restored (the others were).
#[pyclass(frozen, module = "megolm_backup", name = "RestoreFailure")]
pub(crate) struct RestoreFailure {
    /// The room it is filed under.
    #[pyo3(get)]
    room_id: String,
    /// The session id it is filed under.
    #[pyo3(get)]
    session_id: String,
    /// The library's class: `mac` (encrypted to another key), `padding`, `base64`, `key`,
    /// `json`, `algorithm`, `session_id`, `malformed`, `truncated`, `damaged`, `internal`.
    #[pyo3(get)]
    kind: &'static str,
    /// What went wrong, for a person.
    #[pyo3(get)]
    message: String,
}

#[pymethods]
impl RestoreFailure {
    fn __repr__(&self) -> String {
        format!(
            "RestoreFailure(room_id={:?}, session_id={:?}, kind={:?}, message={:?})",
            self.room_id, self.session_id, self.kind, self.message
        )
    }
}

/// What a restore gave: the restored keys (sorted by room, then session) and the
/// entries that failed. Iterating it iterates the keys.
#[pyclass(frozen, module = "megolm_backup", name = "RestoreResult")]
pub(crate) struct RestoreResult {
    keys: Py<PyList>,
    failures: Py<PyList>,
    /// Set when the body ended before it was complete: the bytes that arrived (every
    /// complete entry before the cut was restored).
    #[pyo3(get)]
    truncated_at: Option<u64>,
    /// Damaged stretches of the body stepped over (each also a failure).
    #[pyo3(get)]
    damaged: u64,
    /// What the key given as text was taken for (a restore from the homeserver), or the
    /// `Recovered` given; `None` otherwise.
    #[pyo3(get)]
    recovered: Option<Py<crate::keys::Recovered>>,
}

#[pymethods]
impl RestoreResult {
    /// The restored keys.
    #[getter]
    fn keys(&self, py: Python<'_>) -> Py<PyList> {
        self.keys.clone_ref(py)
    }

    /// The entries that could not be restored.
    #[getter]
    fn failures(&self, py: Python<'_>) -> Py<PyList> {
        self.failures.clone_ref(py)
    }

    /// The keys in wire form (Element key-export objects). This exposes the session keys.
    fn to_dicts<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        // One JSON array parsed once: much faster than a parse per key. Its buffer is
        // sized first, so it never reallocates (a freed buffer would not be wiped).
        let parts = self
            .keys
            .bind(py)
            .iter()
            .map(|item| item.cast::<RoomKey>()?.get().json_text())
            .collect::<PyResult<Vec<_>>>()?;
        let len = parts.iter().map(|p| p.len() + 1).sum::<usize>() + 2;
        let mut text = zeroize::Zeroizing::new(String::with_capacity(len));
        text.push('[');
        for (i, part) in parts.iter().enumerate() {
            if i > 0 {
                text.push(',');
            }
            text.push_str(part);
        }
        text.push(']');
        crate::json::to_py(py, &text)
    }

    fn __len__(&self, py: Python<'_>) -> usize {
        self.keys.bind(py).len()
    }

    fn __iter__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.keys.bind(py).as_any().try_iter().map(Bound::into_any)
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        format!(
            "RestoreResult(keys={}, failures={}, truncated_at={})",
            self.keys.bind(py).len(),
            self.failures.bind(py).len(),
            self.truncated_at.map_or("None".into(), |t| t.to_string())
        )
    }
}

/// Collects a restore's results, tells a Python callback the progress and asks it (and
/// a cancel token) whether to stop.
pub(crate) struct Sink {
    sessions: Vec<RestoredSession>,
    failures: Vec<Failure>,
    watch: Watch,
}

/// A progress callback and a cancel token, as given.
pub(crate) struct Watch {
    progress: Option<Py<PyAny>>,
    cancel: Option<Py<PyAny>>,
    stop: bool,
    /// What the callback or the token raised: raised again once the work stopped.
    pub(crate) error: Option<PyErr>,
}

impl Watch {
    /// Checks what was given: a callable, and something with `is_set()`.
    pub(crate) fn new(
        py: Python<'_>,
        progress: Option<Py<PyAny>>,
        cancel: Option<Py<PyAny>>,
    ) -> PyResult<Self> {
        if let Some(p) = &progress
            && !p.bind(py).is_callable()
        {
            return Err(errors::invalid(
                "type",
                "progress must be a callable taking a Progress",
            ));
        }
        if let Some(c) = &cancel
            && !c.bind(py).hasattr("is_set")?
        {
            return Err(errors::invalid(
                "type",
                "cancel must have an is_set() method (a threading.Event)",
            ));
        }
        Ok(Self {
            progress,
            cancel,
            stop: false,
            error: None,
        })
    }

    /// Tells the callback; `False` from it stops the work.
    pub(crate) fn tell(&mut self, progress: Progress) {
        let Some(callback) = &self.progress else {
            return;
        };
        Python::attach(|py| match callback.call1(py, (progress,)) {
            Ok(answer) => {
                if answer.bind(py).is(&*pyo3::types::PyBool::new(py, false)) {
                    self.stop = true;
                }
            }
            Err(e) => {
                self.error = Some(e);
                self.stop = true;
            }
        });
    }

    /// Whether to stop: the callback said so, or the token (anything with `is_set()`,
    /// such as `threading.Event`) is set.
    pub(crate) fn stopped(&self) -> bool {
        if self.stop {
            return true;
        }
        let Some(token) = &self.cancel else {
            return false;
        };
        Python::attach(|py| {
            token
                .call_method0(py, "is_set")
                .and_then(|v| v.is_truthy(py))
                .unwrap_or(true)
        })
    }

    /// The error to raise for a stopped run: the callback's own, or `CancelledError`.
    pub(crate) fn finish_error(&mut self, fallback: PyErr) -> PyErr {
        self.error.take().unwrap_or(fallback)
    }
}

impl Sink {
    pub(crate) fn new(watch: Watch) -> Self {
        Self {
            sessions: Vec::new(),
            failures: Vec::new(),
            watch,
        }
    }

    /// The Python result.
    pub(crate) fn into_result(
        mut self,
        py: Python<'_>,
        counts: Counts,
        recovered: Option<Py<crate::keys::Recovered>>,
    ) -> PyResult<RestoreResult> {
        py.detach(|| {
            self.sessions.sort_unstable_by(|a, b| {
                (a.room_id(), a.session_id()).cmp(&(b.room_id(), b.session_id()))
            });
            self.failures
                .sort_by(|a, b| (&a.room_id, &a.session_id).cmp(&(&b.room_id, &b.session_id)));
        });
        let keys = PyList::empty(py);
        for s in self.sessions {
            keys.append(Py::new(py, RoomKey::restored(s))?)?;
        }
        let failures = PyList::empty(py);
        for f in self.failures {
            failures.append(Py::new(
                py,
                RestoreFailure {
                    room_id: f.room_id,
                    session_id: f.session_id,
                    kind: f.error.as_str(),
                    message: f.message,
                },
            )?)?;
        }
        Ok(RestoreResult {
            keys: keys.unbind(),
            failures: failures.unbind(),
            truncated_at: counts.truncated_at,
            damaged: counts.damaged,
            recovered,
        })
    }
}

impl RestoreSink for Sink {
    fn restored(&mut self, session: RestoredSession) {
        self.sessions.push(session);
    }
    fn failed(&mut self, failure: Failure) {
        self.failures.push(failure);
    }
    fn progress(&mut self, p: Counts) {
        self.watch
            .tell(Progress::new(p.done, p.failed, p.total, p.bytes_read));
    }
    fn cancelled(&self) -> bool {
        self.watch.stopped()
    }
}

/// Runs `work` with the GIL released, then turns its outcome into the Python result.
pub(crate) fn finish(
    py: Python<'_>,
    mut sink: Sink,
    outcome: Result<Counts, PyErr>,
    recovered: Option<Py<crate::keys::Recovered>>,
) -> PyResult<RestoreResult> {
    match outcome {
        Ok(counts) => {
            if let Some(e) = sink.watch.error.take() {
                return Err(e);
            }
            sink.into_result(py, counts, recovered)
        }
        Err(e) => Err(sink.watch.finish_error(e)),
    }
}

/// The body of a restore: bytes in memory, or a file.
pub(crate) enum Body {
    Bytes(PyBackedBytes),
    File(PathBuf),
}

impl Body {
    pub(crate) fn from_py(obj: &Bound<'_, PyAny>) -> PyResult<Self> {
        if let Ok(b) = obj.extract::<PyBackedBytes>() {
            return Ok(Self::Bytes(b));
        }
        if let Ok(text) = obj.extract::<pyo3::pybacked::PyBackedStr>()
            && text.trim_start().starts_with('{')
        {
            return Err(errors::invalid(
                "type",
                "this text is a JSON document, not a path: give the backup body as bytes \
                 (text.encode()), or the path of a file holding it",
            ));
        }
        if let Ok(p) = obj.extract::<PathBuf>() {
            return Ok(Self::File(p));
        }
        Err(errors::invalid(
            "type",
            "the backup body must be bytes (the body of GET /room_keys/keys) or a path to a file holding it",
        ))
    }
}

/// Restores a backup body (the answer of `GET /room_keys/keys`), given as bytes or as a
/// path to a file, with the backup key. One bad entry costs only itself: it is among the
/// result's failures. With `backup_version` (the answer of `GET /room_keys/version`, a
/// dict or JSON text) the key is checked against the backup's public key first
/// (`StaleKeyError` when it is another backup's); without, it is tried on the first
/// entries first, so a wrong key raises `WrongKeyError` at once. The GIL is released
/// while it runs.
#[pyfunction]
#[pyo3(signature = (key, body, *, backup_version=None, progress=None, cancel=None, jobs=None))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn restore_body(
    py: Python<'_>,
    key: &Bound<'_, PyAny>,
    body: &Bound<'_, PyAny>,
    backup_version: Option<&Bound<'_, PyAny>>,
    progress: Option<Py<PyAny>>,
    cancel: Option<Py<PyAny>>,
    jobs: Option<usize>,
) -> PyResult<RestoreResult> {
    let key = export::backup_key_of(key)?;
    let body = Body::from_py(body)?;
    let mut opts = RestoreOptions::default().with_jobs(jobs);
    match backup_version {
        Some(v) => {
            let version: backup_cipher::BackupVersion = crate::json::from_py(v, "backup_version")?;
            backup_cipher::check_backup_version(key.get().key_ref(), &version)
                .map_err(errors::restore)?;
            opts = opts.with_expected_total(version.count);
        }
        None => opts = opts.with_key_probe(KEY_PROBE_ENTRIES),
    }
    let mut sink = Sink::new(Watch::new(py, progress, cancel)?);
    let outcome = py.detach(|| match &body {
        Body::Bytes(b) => {
            backup_cipher::restore_reader(key.get().key_ref(), &b[..], &opts, &mut sink)
                .map_err(errors::restore)
        }
        Body::File(path) => match File::open(path) {
            Ok(f) => backup_cipher::restore_reader(key.get().key_ref(), f, &opts, &mut sink)
                .map_err(errors::restore),
            Err(e) => Err(pyo3::exceptions::PyOSError::new_err(format!(
                "cannot open the backup body {}: {e}",
                path.display()
            ))),
        },
    });
    finish(py, sink, outcome, None)
}

impl BackupKey {
    /// The library's key.
    pub(crate) fn key_ref(&self) -> &backup_cipher::BackupDecryptionKey {
        &self.key
    }
}
