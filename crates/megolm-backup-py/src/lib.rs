//! Python bindings (PyO3) for Matrix server-side key backup: the `megolm_backup._native`
//! module behind the `megolm_backup` package (`python/megolm_backup`). It wraps the
//! workspace's crates and re-implements nothing. The Python API is listed in `API.md`.
#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod errors;
mod export;
mod json;
mod keys;
mod restore;
mod room_key;
mod server;
mod session;
mod setup;

use pyo3::prelude::*;

/// The native module: classes and functions re-exported by `megolm_backup`.
#[pymodule]
#[pyo3(name = "_native")]
fn megolm_backup_native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<keys::BackupKey>()?;
    m.add_class::<keys::Recovered>()?;
    m.add_class::<room_key::RoomKey>()?;
    m.add_class::<restore::Progress>()?;
    m.add_class::<restore::RestoreFailure>()?;
    m.add_class::<restore::RestoreResult>()?;
    m.add_class::<server::Homeserver>()?;
    m.add_class::<server::UploadReport>()?;
    m.add_class::<setup::AccountSituation>()?;
    m.add_class::<setup::SetupEvent>()?;
    m.add_class::<setup::SetupOutcome>()?;
    m.add_function(wrap_pyfunction!(keys::recover_key, m)?)?;
    m.add_function(wrap_pyfunction!(restore::restore_body, m)?)?;
    m.add_function(wrap_pyfunction!(export::decrypt_export, m)?)?;
    m.add_function(wrap_pyfunction!(export::read_export, m)?)?;
    m.add_function(wrap_pyfunction!(export::encrypt_export, m)?)?;
    m.add_function(wrap_pyfunction!(export::write_export, m)?)?;
    m.add_function(wrap_pyfunction!(export::looks_like_export, m)?)?;
    m.add("X25519_BACKEND", backup_cipher::X25519_BACKEND)?;
    Ok(())
}
