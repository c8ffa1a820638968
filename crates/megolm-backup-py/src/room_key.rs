//! One Megolm room key, as Python sees it.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use backup_cipher::{
    BackedUpRoomKey, MEGOLM_ALGORITHM, RestoredSession, RoomKey as Key, SessionKey,
};
use pyo3::prelude::*;
use pyo3::types::{PyAny, PyIterator};
use zeroize::Zeroizing;

use crate::{errors, json};

/// One Megolm room key (the spec's `ExportedSessionData`: what a restore gives, an
/// Element export holds and an upload takes).
///
/// The session key is a secret: it is wiped from memory when the object is dropped and
/// never shown in `repr`. Reading `session_key` (or `to_dict()`) copies it into a Python
/// string, which Python cannot wipe.
#[pyclass(frozen, module = "megolm_backup", name = "RoomKey")]
pub(crate) struct RoomKey {
    /// As a restore delivered it (JSON text), parsed on first use.
    raw: Option<RestoredSession>,
    parsed: OnceLock<Key>,
}

impl RoomKey {
    /// A key a restore delivered.
    pub(crate) fn restored(session: RestoredSession) -> Self {
        Self {
            raw: Some(session),
            parsed: OnceLock::new(),
        }
    }

    /// A key built or read elsewhere.
    pub(crate) fn from_key(key: Key) -> Self {
        Self {
            raw: None,
            parsed: OnceLock::from(key),
        }
    }

    /// The typed key.
    pub(crate) fn key(&self) -> PyResult<&Key> {
        if let Some(k) = self.parsed.get() {
            return Ok(k);
        }
        let parsed = match &self.raw {
            Some(raw) => raw
                .room_key()
                .map_err(|e| errors::invalid("json", format!("the room key is not one: {e}")))?,
            None => return Err(errors::invalid("json", "the room key is empty")),
        };
        Ok(self.parsed.get_or_init(|| parsed))
    }

    /// The wire JSON (with `room_id` and `session_id`); it holds the session key.
    pub(crate) fn json_text(&self) -> PyResult<Zeroizing<String>> {
        if let Some(raw) = &self.raw {
            return Ok(Zeroizing::new(raw.json_text().to_owned()));
        }
        let bytes =
            json::to_vec_wiped(self.key()?).map_err(|e| errors::invalid("json", e.to_string()))?;
        // serde_json writes UTF-8; the copy is into a wiped-on-drop string.
        Ok(Zeroizing::new(String::from_utf8_lossy(&bytes).into_owned()))
    }
}

#[pymethods]
impl RoomKey {
    /// A room key from its parts.
    #[new]
    #[pyo3(signature = (room_id, session_id, session_key, sender_key, *, algorithm=MEGOLM_ALGORITHM.to_owned(), sender_claimed_keys=None, forwarding_chain=None))]
    fn new(
        room_id: String,
        session_id: String,
        session_key: String,
        sender_key: String,
        algorithm: String,
        sender_claimed_keys: Option<BTreeMap<String, String>>,
        forwarding_chain: Option<Vec<String>>,
    ) -> Self {
        Self::from_key(Key::from_backed_up(
            &room_id,
            &session_id,
            BackedUpRoomKey {
                algorithm,
                sender_key,
                session_key: SessionKey::new(session_key),
                sender_claimed_keys: sender_claimed_keys.unwrap_or_default(),
                forwarding_curve25519_key_chain: forwarding_chain.unwrap_or_default(),
                extra: serde_json::Map::new(),
            },
        ))
    }

    /// A room key from its wire-form dict (or JSON text), as an Element export or a
    /// restore writes it.
    #[staticmethod]
    fn from_dict(data: &Bound<'_, PyAny>) -> PyResult<Self> {
        json::from_py::<Key>(data, "the room key").map(Self::from_key)
    }

    /// The room.
    #[getter]
    fn room_id(&self) -> PyResult<String> {
        match &self.raw {
            Some(r) => Ok(r.room_id().to_owned()),
            None => Ok(self.key()?.room_id.clone()),
        }
    }

    /// The session id (the session's Ed25519 key, base64).
    #[getter]
    fn session_id(&self) -> PyResult<String> {
        match &self.raw {
            Some(r) => Ok(r.session_id().to_owned()),
            None => Ok(self.key()?.session_id.clone()),
        }
    }

    /// `m.megolm.v1.aes-sha2`.
    #[getter]
    fn algorithm(&self) -> PyResult<String> {
        Ok(self.key()?.algorithm.clone())
    }

    /// The Curve25519 key of the device that created the session.
    #[getter]
    fn sender_key(&self) -> PyResult<String> {
        Ok(self.key()?.sender_key.clone())
    }

    /// The session key in export form (base64). This exposes the secret: whoever holds
    /// it reads the room's messages.
    #[getter]
    fn session_key(&self) -> PyResult<String> {
        Ok(self.key()?.session_key.expose().to_owned())
    }

    /// The keys the sending device claimed (`{"ed25519": ...}`).
    #[getter]
    fn sender_claimed_keys(&self) -> PyResult<BTreeMap<String, String>> {
        Ok(self.key()?.sender_claimed_keys.clone().unwrap_or_default())
    }

    /// The Curve25519 keys of the devices the key was forwarded through
    /// (`forwarding_curve25519_key_chain`).
    #[getter]
    fn forwarding_chain(&self) -> PyResult<Vec<String>> {
        Ok(self
            .key()?
            .forwarding_curve25519_key_chain
            .clone()
            .unwrap_or_default())
    }

    /// The first message index the session key decrypts, when it is an exported key.
    #[getter]
    fn first_message_index(&self) -> PyResult<Option<u32>> {
        Ok(self.key()?.first_message_index())
    }

    /// Whether the key was marked for sharing room history (MSC3061).
    #[getter]
    fn shared_history(&self) -> PyResult<bool> {
        Ok(self.key()?.to_backed_up().shared_history())
    }

    /// Whether the session key really is the key of `session_id`.
    fn session_id_matches(&self) -> PyResult<bool> {
        Ok(self.key()?.session_id_matches())
    }

    /// The wire form (the Element key-export object, with `room_id` and `session_id`),
    /// every field as read. This exposes the session key.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        json::to_py(py, &self.json_text()?)
    }

    /// The wire form as JSON text. This exposes the session key.
    fn to_json(&self) -> PyResult<String> {
        Ok(self.json_text()?.to_string())
    }

    fn __repr__(&self) -> PyResult<String> {
        Ok(format!(
            "RoomKey(room_id={:?}, session_id={:?}, algorithm={:?})",
            self.room_id()?,
            self.session_id()?,
            self.algorithm()?
        ))
    }
}

/// Entries that are not room keys: (position, why).
pub(crate) type Failures = Vec<(usize, String)>;

/// Room keys from an iterable of `RoomKey` objects or wire-form dicts: each one that is
/// not a room key is a failure (its position and why), never the end of the others.
pub(crate) fn collect(items: &Bound<'_, PyAny>) -> PyResult<(Vec<Key>, Failures)> {
    let mut keys = Vec::new();
    let mut failures = Vec::new();
    let iter = PyIterator::from_object(items).map_err(|_| {
        errors::invalid(
            "type",
            "room keys must be an iterable of RoomKey objects or dicts",
        )
    })?;
    for (index, item) in iter.enumerate() {
        let item = item?;
        if let Ok(k) = item.cast::<RoomKey>() {
            match k.get().key() {
                Ok(key) => keys.push(key.clone()),
                Err(e) => failures.push((index, e.to_string())),
            }
            continue;
        }
        match json::from_py::<Key>(&item, "the room key") {
            Ok(key) => keys.push(key),
            Err(e) => failures.push((index, Python::attach(|py| e.value(py).to_string()))),
        }
    }
    Ok((keys, failures))
}
