"""RoomKey: typed properties, the wire form, secrets kept out of repr."""

from __future__ import annotations

from typing import Any

import pytest

import megolm_backup
from conftest import cases

CASE = next(c for c in cases("backup.restore") if c["id"] == "vz-restore-3-rooms")
WIRE: dict[str, Any] = CASE["expected"]["sessions_json"][0]


def test_from_dict_round_trip() -> None:
    key = megolm_backup.RoomKey.from_dict(WIRE)
    assert key.to_dict() == WIRE
    assert key.room_id == WIRE["room_id"]
    assert key.session_key == WIRE["session_key"]
    assert key.session_id_matches()
    assert key.first_message_index is not None
    assert megolm_backup.RoomKey.from_dict(key.to_json()).to_dict() == WIRE


def test_constructor() -> None:
    key = megolm_backup.RoomKey(
        WIRE["room_id"],
        WIRE["session_id"],
        WIRE["session_key"],
        WIRE["sender_key"],
        sender_claimed_keys=WIRE.get("sender_claimed_keys"),
        forwarding_chain=["abc"],
    )
    assert key.algorithm == "m.megolm.v1.aes-sha2"
    assert key.forwarding_chain == ["abc"]
    assert key.to_dict()["forwarding_curve25519_key_chain"] == ["abc"]
    assert key.session_id_matches()


def test_secret_not_in_repr() -> None:
    key = megolm_backup.RoomKey.from_dict(WIRE)
    assert WIRE["session_key"] not in repr(key)
    assert WIRE["session_key"][:20] not in str(key)
    assert WIRE["room_id"] in repr(key)
    backup_key = megolm_backup.BackupKey.generate()
    assert backup_key.to_base64() not in repr(backup_key)
    assert backup_key.to_recovery_key() not in repr(backup_key)


@pytest.mark.parametrize(
    "bad",
    [{}, {"room_id": "!r"}, "not json", "[]", 5, None, {**WIRE, "session_key": 5}],
    ids=["empty", "partial", "text", "list", "int", "none", "session-key-int"],
)
def test_from_dict_refuses(bad: Any) -> None:
    with pytest.raises(megolm_backup.InvalidInputError):
        megolm_backup.RoomKey.from_dict(bad)


def test_backup_key_forms() -> None:
    key = megolm_backup.BackupKey.generate()
    assert megolm_backup.BackupKey.from_recovery_key(key.to_recovery_key()) == key
    assert megolm_backup.BackupKey.from_base64(key.to_base64()) == key
    assert key != megolm_backup.BackupKey.generate()
    assert key != "text"
