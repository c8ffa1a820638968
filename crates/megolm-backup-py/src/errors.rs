//! The library's typed errors as the package's exceptions (defined in Python, in
//! `megolm_backup._errors`, so that they subclass `Exception` and `ValueError` freely).

use backup_cipher::{KeyError, RestoreError};
use flows::FlowError;
use homeserver::ClientError;
use key_export::ExportError;
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use ssss::RecoverError;

/// An exception of `megolm_backup._errors`: `class` names it, `kind` is the library's
/// short class of the cause, `errcode` and `status` the homeserver's answer when there
/// is one.
pub(crate) fn raise(
    class: &str,
    kind: &str,
    message: String,
    errcode: Option<&str>,
    status: Option<u16>,
) -> PyErr {
    Python::attach(|py| {
        let build = || -> PyResult<PyErr> {
            let module = py.import("megolm_backup._errors")?;
            let exc = module.getattr(class)?.call1((message.clone(),))?;
            exc.setattr("kind", kind)?;
            if errcode.is_some() || status.is_some() {
                exc.setattr("errcode", errcode)?;
                exc.setattr("status", status)?;
            }
            Ok(PyErr::from_value(exc))
        };
        build().unwrap_or_else(|e| {
            PyRuntimeError::new_err(format!("{message} (and the exception class failed: {e})"))
        })
    })
}

/// `InvalidInputError` of `kind`.
pub(crate) fn invalid(kind: &str, message: impl Into<String>) -> PyErr {
    raise("InvalidInputError", kind, message.into(), None, None)
}

/// A homeserver client error.
pub(crate) fn client(e: ClientError) -> PyErr {
    let message = e.to_string();
    let errcode = e.errcode().map(str::to_owned);
    let errcode = errcode.as_deref();
    match e {
        ClientError::NoBackup => raise("NoBackupError", "no_backup", message, errcode, Some(404)),
        ClientError::WrongVersion { .. } => {
            raise("ServerError", "wrong_version", message, errcode, Some(403))
        }
        ClientError::Unauthorized { .. } => {
            raise("ServerError", "unauthorized", message, errcode, Some(401))
        }
        ClientError::AuthRequired { .. } => {
            raise("ServerError", "auth_required", message, errcode, Some(401))
        }
        ClientError::Forbidden(_) => raise("ServerError", "forbidden", message, errcode, Some(403)),
        ClientError::RateLimited { .. } => {
            raise("ServerError", "rate_limited", message, errcode, Some(429))
        }
        ClientError::Matrix { status, .. } => {
            raise("ServerError", "matrix", message, errcode, Some(status))
        }
        ClientError::Transport { .. } | ClientError::Stalled { .. } => {
            raise("NetworkError", "network", message, None, None)
        }
        ClientError::NotJson { .. } | ClientError::Json(_) => {
            raise("ServerError", "unexpected_answer", message, None, None)
        }
        ClientError::InsecureHttp(_)
        | ClientError::InvalidUrl { .. }
        | ClientError::UnsupportedScheme { .. }
        | ClientError::UrlUserInfo(_) => invalid("homeserver_url", message),
        ClientError::InvalidAccessToken(_) => invalid("access_token", message),
        ClientError::CaFile(_) => invalid("ca_file", message),
        ClientError::Flow(f) => flow(f),
        _ => raise("MegolmBackupError", "error", message, errcode, None),
    }
}

/// An error of a flow run over the client.
pub(crate) fn flow(e: FlowError) -> PyErr {
    let message = e.to_string();
    match e {
        FlowError::Server {
            status, errcode, ..
        } => {
            let class = if errcode == "M_NOT_FOUND" && status == 404 {
                "NoBackupError"
            } else {
                "ServerError"
            };
            raise(class, "matrix", message, Some(&errcode), Some(status))
        }
        FlowError::Unexpected { .. } => {
            raise("ServerError", "unexpected_answer", message, None, None)
        }
        FlowError::Recover(r) => recover(r),
        FlowError::AccountData(_) => {
            raise("MegolmBackupError", "account_data", message, None, None)
        }
        _ => raise("MegolmBackupError", "error", message, None, None),
    }
}

/// Why the backup key could not be found from the input.
pub(crate) fn recover(e: RecoverError) -> PyErr {
    let kind = e.class();
    let message = e.to_string();
    let class = match e {
        RecoverError::NoMatch { .. } => "WrongKeyError",
        RecoverError::KeyFromBeforeReset { .. } | RecoverError::StaleBackupKey { .. } => {
            "StaleKeyError"
        }
        RecoverError::MalformedKey(_) => "InvalidInputError",
        RecoverError::NoBackupKeyStored { .. } => "NoBackupError",
        _ => "MegolmBackupError",
    };
    raise(class, kind, message, None, None)
}

/// A restore that could not run.
pub(crate) fn restore(e: RestoreError) -> PyErr {
    let kind = e.class();
    let message = e.to_string();
    let class = match e {
        RestoreError::KeyMismatch { .. } => "StaleKeyError",
        RestoreError::WrongKey { .. } => "WrongKeyError",
        RestoreError::Body(_) | RestoreError::TooLarge(_) => "InvalidInputError",
        RestoreError::Cancelled => "CancelledError",
        _ => "MegolmBackupError",
    };
    raise(class, kind, message, None, None)
}

/// An export file that could not be read or written.
pub(crate) fn export(e: ExportError) -> PyErr {
    let kind = e.class();
    let message = e.to_string();
    let class = match e {
        ExportError::Mac => "WrongPassphraseError",
        ExportError::EmptyPassphrase | ExportError::LowRounds(_) | ExportError::Rounds(_) => {
            "InvalidInputError"
        }
        ExportError::Random(_) | ExportError::Io(_) => "MegolmBackupError",
        _ => "ExportFileError",
    };
    raise(class, kind, message, None, None)
}

/// A key that could not be decoded.
pub(crate) fn key(e: KeyError) -> PyErr {
    invalid("key", e.to_string())
}
