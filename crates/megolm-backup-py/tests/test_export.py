"""Element key exports both ways: round trips, bad input of every kind."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest

import megolm_backup
from conftest import cases

RESTORED = next(c for c in cases("backup.restore") if c["id"] == "vz-restore-3-rooms")
KEYS: list[dict[str, Any]] = RESTORED["expected"]["sessions_json"]
REAL = next(c for c in cases("key_export.decrypt") if c["id"] == "rust-key-export-real-decrypt")


def test_round_trip_dicts_and_objects(tmp_path: Path) -> None:
    text = megolm_backup.encrypt_export(KEYS, "pass phrase", rounds=1000, allow_low_rounds=True)
    assert megolm_backup.looks_like_export(text)
    back = megolm_backup.decrypt_export(text, "pass phrase")
    assert [k.to_dict() for k in back] == KEYS
    path = tmp_path / "keys.txt"
    megolm_backup.write_export(path, back, "other", rounds=1000, allow_low_rounds=True)
    assert [k.to_dict() for k in megolm_backup.read_export(path, "other")] == KEYS


def test_rounds_are_written() -> None:
    text = megolm_backup.encrypt_export(KEYS[:1], "pw", rounds=123456)
    body = base64.b64decode("".join(text.strip().splitlines()[1:-1]))
    assert int.from_bytes(body[33:37], "big") == 123456


def test_low_rounds_refused_unless_allowed() -> None:
    with pytest.raises(megolm_backup.InvalidInputError) as e:
        megolm_backup.encrypt_export(KEYS, "pw", rounds=1000)
    assert e.value.kind == "low_rounds"


def test_empty_passphrase_refused() -> None:
    with pytest.raises(megolm_backup.InvalidInputError):
        megolm_backup.encrypt_export(KEYS, "  ", rounds=1000, allow_low_rounds=True)


def test_wrong_passphrase() -> None:
    with pytest.raises(megolm_backup.WrongPassphraseError):
        megolm_backup.decrypt_export(REAL["input"]["armored"], "wrong")


@pytest.mark.parametrize(
    "text",
    ["", "garbage", "-----BEGIN MEGOLM SESSION DATA-----\nAAAA\n", "-----BEGIN MEGOLM SESSION DATA-----\n!!!\n-----END MEGOLM SESSION DATA-----"],
    ids=["empty", "garbage", "cut", "not-base64"],
)
def test_not_an_export(text: str) -> None:
    with pytest.raises(megolm_backup.ExportFileError):
        megolm_backup.decrypt_export(text, "pw")


def test_truncated_real_export() -> None:
    armored: str = REAL["input"]["armored"]
    lines = armored.strip().splitlines()
    with pytest.raises(megolm_backup.ExportFileError):
        megolm_backup.decrypt_export("\n".join(lines[:-1]), REAL["input"]["passphrase"])
    # body cut short, armour kept
    short = "\n".join([lines[0], lines[1][:40], lines[-1]])
    with pytest.raises(megolm_backup.ExportFileError):
        megolm_backup.decrypt_export(short, REAL["input"]["passphrase"])


@pytest.mark.parametrize("data", [None, 5, ["x"]], ids=["none", "int", "list"])
def test_wrong_types(data: Any) -> None:
    with pytest.raises(megolm_backup.InvalidInputError):
        megolm_backup.decrypt_export(data, "pw")


def test_bad_room_keys_refused_for_export() -> None:
    with pytest.raises(megolm_backup.InvalidInputError):
        megolm_backup.encrypt_export([KEYS[0], {"room_id": "!x"}], "pw", rounds=1000, allow_low_rounds=True)
    with pytest.raises(megolm_backup.InvalidInputError):
        megolm_backup.encrypt_export(5, "pw", rounds=1000, allow_low_rounds=True)
