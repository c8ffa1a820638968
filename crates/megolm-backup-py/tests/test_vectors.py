"""The package against the shipped known-answer vectors (values from other
implementations: matrix-js-sdk, matrix-rust-sdk, matrix-react-sdk, vodozemac ...)."""

from __future__ import annotations

import json
from typing import Any

import pytest

import megolm_backup
from conftest import b64decode, cases, key_of


def wire(value: Any) -> Any:
    """JSON compare: parsed values, order ignored."""
    return json.loads(json.dumps(value, sort_keys=True))


@pytest.mark.parametrize("case", cases("backup.restore"), ids=lambda c: c["id"])
def test_restore_vectors(case: dict[str, Any]) -> None:
    key = key_of(case["input"]["key"])
    body = json.dumps(case["input"]["backup_json"]).encode()
    info = case["input"].get("backup_info_json")
    expected = case["expected"]
    if "error" in expected:
        assert expected["error"] == "key_mismatch"
        with pytest.raises(megolm_backup.StaleKeyError) as e:
            megolm_backup.restore_body(key, body, backup_version=info)
        assert e.value.kind == "key_mismatch"
        assert isinstance(e.value, megolm_backup.WrongKeyError)
        return
    result = megolm_backup.restore_body(key, body, backup_version=info)
    assert wire(result.to_dicts()) == wire(expected["sessions_json"])
    assert [(f.room_id, f.session_id, f.kind) for f in result.failures] == [
        (f["room_id"], f["session_id"], f["error"]) for f in expected["failures_json"]
    ]
    assert result.truncated_at is None
    # The typed view agrees with the wire form.
    for room_key, d in zip(result.keys, expected["sessions_json"]):
        assert room_key.room_id == d["room_id"]
        assert room_key.session_id == d["session_id"]
        assert room_key.algorithm == d["algorithm"]
        assert room_key.sender_key == d["sender_key"]
        assert room_key.session_key == d["session_key"]
        assert room_key.sender_claimed_keys == d.get("sender_claimed_keys", {})
        assert room_key.forwarding_chain == d.get("forwarding_curve25519_key_chain", [])
        assert d["session_key"] not in repr(room_key)


@pytest.mark.parametrize("case", cases("key_export.decrypt"), ids=lambda c: c["id"])
def test_export_vectors(case: dict[str, Any]) -> None:
    inp, expected = case["input"], case["expected"]
    if "error" in expected:
        with pytest.raises(megolm_backup.MegolmBackupError) as e:
            megolm_backup.decrypt_export(inp["armored"], inp["passphrase"])
        if expected["error"] != "any":
            assert e.value.kind == expected["error"]
        if expected["error"] == "mac":
            assert isinstance(e.value, megolm_backup.WrongPassphraseError)
        return
    if "plaintext_json" in expected:
        want = expected["plaintext_json"]
    else:
        try:
            want = json.loads(expected["plaintext_utf8"])
        except ValueError:
            # Not a list of room keys: the passphrase opens it (a wrong one is "mac"),
            # and the plaintext is refused as room keys.
            with pytest.raises(megolm_backup.ExportFileError) as e:
                megolm_backup.decrypt_export(inp["armored"], inp["passphrase"])
            assert e.value.kind == "json"
            return
    keys = megolm_backup.decrypt_export(inp["armored"], inp["passphrase"])
    assert wire([k.to_dict() for k in keys]) == wire(want)
    # bytes work as text does
    again = megolm_backup.decrypt_export(inp["armored"].encode(), inp["passphrase"])
    assert [k.to_dict() for k in again] == [k.to_dict() for k in keys]


@pytest.mark.parametrize("case", cases("recovery_key.decode"), ids=lambda c: c["id"])
def test_recovery_key_vectors(case: dict[str, Any]) -> None:
    text, expected = case["input"]["recovery_key"], case["expected"]
    if "error" in expected:
        with pytest.raises(megolm_backup.InvalidInputError):
            megolm_backup.BackupKey.from_recovery_key(text)
        return
    key = megolm_backup.BackupKey.from_recovery_key(text)
    assert b64decode(key.to_base64()).hex() == expected["key_hex"]


@pytest.mark.parametrize("case", cases("recovery_key.encode"), ids=lambda c: c["id"])
def test_recovery_key_encode_vectors(case: dict[str, Any]) -> None:
    form = case["input"]["key"]
    assert key_of(form).to_recovery_key() == case["expected"]["recovery_key"]


@pytest.mark.parametrize("case", cases("backup.public_key"), ids=lambda c: c["id"])
def test_public_key_vectors(case: dict[str, Any]) -> None:
    form, expected = case["input"]["key"], case["expected"]
    if "error" in expected:
        with pytest.raises(megolm_backup.InvalidInputError):
            key_of(form).public_key
        return
    assert b64decode(key_of(form).public_key) == b64decode(expected["public_key"])
