//! Python objects to and from JSON, through Python's own `json` module (so what Python
//! calls JSON is what is accepted).

use pyo3::prelude::*;
use pyo3::types::PyAny;
use serde::de::DeserializeOwned;
use zeroize::Zeroizing;

use crate::errors;

/// `obj` (a dict, a list, or JSON text) as JSON text; the text may hold secrets, so it is
/// wiped when dropped.
pub(crate) fn text_of(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<Zeroizing<String>> {
    if let Ok(s) = obj.extract::<String>() {
        return Ok(Zeroizing::new(s));
    }
    let py = obj.py();
    let dumped = py
        .import("json")?
        .call_method1("dumps", (obj,))
        .map_err(|e| errors::invalid("type", format!("{what} is not JSON-serialisable: {e}")))?;
    Ok(Zeroizing::new(dumped.extract::<String>()?))
}

/// `obj` parsed as `T`.
pub(crate) fn from_py<T: DeserializeOwned>(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<T> {
    let text = text_of(obj, what)?;
    serde_json::from_str(&text).map_err(|e| errors::invalid("json", format!("{what}: {e}")))
}

/// JSON text as Python objects.
pub(crate) fn to_py<'py>(py: Python<'py>, text: &str) -> PyResult<Bound<'py, PyAny>> {
    py.import("json")?.call_method1("loads", (text,))
}

/// Counts the bytes written.
struct Count(usize);

impl std::io::Write for Count {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// `value` as JSON in a buffer sized exactly first, so it never reallocates (a freed
/// buffer holding a session key would not be wiped), and wiped when dropped.
pub(crate) fn to_vec_wiped<T: serde::Serialize + ?Sized>(
    value: &T,
) -> Result<Zeroizing<Vec<u8>>, serde_json::Error> {
    let mut count = Count(0);
    serde_json::to_writer(&mut count, value)?;
    let mut out = Zeroizing::new(Vec::with_capacity(count.0));
    serde_json::to_writer(&mut *out, value)?;
    Ok(out)
}
