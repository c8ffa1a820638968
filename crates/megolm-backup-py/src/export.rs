//! Element key-export files, both ways; and the key arguments the functions take.

use std::path::PathBuf;

use key_export::ExportOptions;
use pyo3::prelude::*;
use pyo3::types::{PyAny, PyList};
use zeroize::Zeroizing;

use crate::errors;
use crate::keys::{BackupKey, Recovered};
use crate::room_key::{self, RoomKey};

/// The backup key from a `BackupKey`, a `Recovered`, or text holding the backup's own
/// recovery key or its base64 (a Security Key or Phrase needs the homeserver's account
/// data: use `Homeserver.recover` or `recover_key`).
pub(crate) fn backup_key_of(obj: &Bound<'_, PyAny>) -> PyResult<Py<BackupKey>> {
    if let Ok(k) = obj.cast::<BackupKey>() {
        return Ok(k.clone().unbind());
    }
    if let Ok(r) = obj.cast::<Recovered>() {
        return Ok(r.get().key.clone_ref(obj.py()));
    }
    if let Ok(text) = obj.extract::<String>() {
        let text = Zeroizing::new(text);
        let found = ssss::recover_backup_key(&text, None, None).map_err(errors::recover)?;
        return Py::new(
            obj.py(),
            BackupKey {
                key: found.backup_key.clone(),
            },
        );
    }
    Err(errors::invalid(
        "type",
        "the key must be a BackupKey, a Recovered, or the backup's recovery key as text",
    ))
}

/// The armoured text of an export given as text or bytes.
fn armored(data: &Bound<'_, PyAny>) -> PyResult<Zeroizing<String>> {
    if let Ok(s) = data.extract::<String>() {
        return Ok(Zeroizing::new(s));
    }
    if let Ok(b) = data.extract::<Vec<u8>>() {
        return String::from_utf8(b).map(Zeroizing::new).map_err(|_| {
            errors::raise(
                "ExportFileError",
                "armor",
                "the key export is not text (UTF-8)".into(),
                None,
                None,
            )
        });
    }
    Err(errors::invalid(
        "type",
        "the key export must be its text (str or bytes)",
    ))
}

fn keys_list(py: Python<'_>, keys: Vec<backup_cipher::RoomKey>) -> PyResult<Bound<'_, PyList>> {
    let out = PyList::empty(py);
    for k in keys {
        out.append(Py::new(py, RoomKey::from_key(k))?)?;
    }
    Ok(out)
}

/// Decrypts an Element key export (the text of `element-keys.txt`) with its passphrase:
/// the room keys it holds. The GIL is released during the key derivation.
#[pyfunction]
pub(crate) fn decrypt_export<'py>(
    py: Python<'py>,
    data: &Bound<'py, PyAny>,
    passphrase: &str,
) -> PyResult<Bound<'py, PyList>> {
    let text = armored(data)?;
    let passphrase = Zeroizing::new(passphrase.to_owned());
    let keys = py
        .detach(|| key_export::decrypt_sessions(&text, &passphrase))
        .map_err(errors::export)?;
    keys_list(py, keys)
}

/// Reads and decrypts an Element key-export file.
#[pyfunction]
pub(crate) fn read_export<'py>(
    py: Python<'py>,
    path: PathBuf,
    passphrase: &str,
) -> PyResult<Bound<'py, PyList>> {
    let text = std::fs::read_to_string(&path)
        .map(Zeroizing::new)
        .map_err(|e| {
            pyo3::exceptions::PyOSError::new_err(format!("cannot read {}: {e}", path.display()))
        })?;
    let passphrase = Zeroizing::new(passphrase.to_owned());
    let keys = py
        .detach(|| key_export::decrypt_sessions(&text, &passphrase))
        .map_err(errors::export)?;
    keys_list(py, keys)
}

/// The armoured text of a new export, and the failures among the keys.
fn encrypt(
    py: Python<'_>,
    keys: &Bound<'_, PyAny>,
    passphrase: &str,
    rounds: u32,
    allow_low_rounds: bool,
) -> PyResult<String> {
    let (keys, failures) = room_key::collect(keys)?;
    if let Some((index, why)) = failures.first() {
        return Err(errors::invalid(
            "room_key",
            format!(
                "{} of the room keys are not room keys; the first, at position {index}: {why}",
                failures.len()
            ),
        ));
    }
    let mut options = ExportOptions::new(rounds);
    if allow_low_rounds {
        options = options.allow_low_rounds();
    }
    options.check(passphrase).map_err(errors::export)?;
    let passphrase = Zeroizing::new(passphrase.to_owned());
    py.detach(|| {
        let plaintext = crate::json::to_vec_wiped(&keys).map_err(|e| e.to_string())?;
        key_export::encrypt_export(&plaintext, &passphrase, options).map_err(|e| e.to_string())
    })
    .map_err(|e| errors::raise("ExportFileError", "write", e, None, None))
}

/// Encrypts room keys (`RoomKey` objects or wire-form dicts) into an Element key export
/// (its text), with `rounds` PBKDF2 rounds (Element's 500,000 by default; fewer than
/// 100,000 only with `allow_low_rounds`). The GIL is released during the key derivation.
#[pyfunction]
#[pyo3(signature = (keys, passphrase, *, rounds=key_export::DEFAULT_ROUNDS, allow_low_rounds=false))]
pub(crate) fn encrypt_export(
    py: Python<'_>,
    keys: &Bound<'_, PyAny>,
    passphrase: &str,
    rounds: u32,
    allow_low_rounds: bool,
) -> PyResult<String> {
    encrypt(py, keys, passphrase, rounds, allow_low_rounds)
}

/// Writes room keys to an Element key-export file (see `encrypt_export`).
#[pyfunction]
#[pyo3(signature = (path, keys, passphrase, *, rounds=key_export::DEFAULT_ROUNDS, allow_low_rounds=false))]
pub(crate) fn write_export(
    py: Python<'_>,
    path: PathBuf,
    keys: &Bound<'_, PyAny>,
    passphrase: &str,
    rounds: u32,
    allow_low_rounds: bool,
) -> PyResult<()> {
    let text = encrypt(py, keys, passphrase, rounds, allow_low_rounds)?;
    std::fs::write(&path, text).map_err(|e| {
        pyo3::exceptions::PyOSError::new_err(format!("cannot write {}: {e}", path.display()))
    })
}

/// Whether `text` looks like an Element key export (has its BEGIN line).
#[pyfunction]
pub(crate) fn looks_like_export(text: &str) -> bool {
    key_export::looks_like_export(text)
}
