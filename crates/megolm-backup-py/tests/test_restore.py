"""Restoring bodies: bad input of every kind, progress, cancellation, truncation."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest

import megolm_backup
from conftest import cases, key_of

# vodozemac-generated: 3 rooms, 9 sessions restored and 5 failures of different classes.
CASE = next(c for c in cases("backup.restore") if c["id"] == "vz-restore-3-rooms")
KEY = key_of(CASE["input"]["key"])
BODY = json.dumps(CASE["input"]["backup_json"]).encode()
GOOD = len(CASE["expected"]["sessions_json"])
BAD = len(CASE["expected"]["failures_json"])


def big_body(copies: int) -> tuple[bytes, dict[str, Any]]:
    """The vector's first entry filed under `copies` made-up session ids in one room
    (each fails its session-id check, cheaply), and the entry itself under its own id."""
    rooms = CASE["input"]["backup_json"]["rooms"]
    expected = CASE["expected"]["sessions_json"][0]
    entry = rooms[expected["room_id"]]["sessions"][expected["session_id"]]
    sessions = {f"fake{i:06d}": entry for i in range(copies)}
    sessions[expected["session_id"]] = entry
    return json.dumps({"rooms": {expected["room_id"]: {"sessions": sessions}}}).encode(), expected


def test_bytes_bytearray_and_path_agree(tmp_path: Path) -> None:
    path = tmp_path / "body.json"
    path.write_bytes(BODY)
    a = megolm_backup.restore_body(KEY, BODY)
    b = megolm_backup.restore_body(KEY, bytearray(BODY))
    c = megolm_backup.restore_body(KEY, path)
    d = megolm_backup.restore_body(KEY, str(path))
    assert len(a) == GOOD and len(a.failures) == BAD
    assert a.to_dicts() == b.to_dicts() == c.to_dicts() == d.to_dicts()


def test_key_as_text_and_recovered() -> None:
    by_text = megolm_backup.restore_body(KEY.to_recovery_key(), BODY)
    by_b64 = megolm_backup.restore_body(KEY.to_base64(), BODY)
    assert by_text.to_dicts() == by_b64.to_dicts()
    assert len(by_text) == GOOD


def test_wrong_key_raises_at_once() -> None:
    with pytest.raises(megolm_backup.WrongKeyError) as e:
        megolm_backup.restore_body(megolm_backup.BackupKey.generate(), BODY)
    assert e.value.kind == "wrong_key"
    assert not isinstance(e.value, megolm_backup.StaleKeyError)


def test_wrong_key_against_a_version_is_stale() -> None:
    info = CASE["input"]["backup_info_json"]
    with pytest.raises(megolm_backup.StaleKeyError):
        megolm_backup.restore_body(megolm_backup.BackupKey.generate(), BODY, backup_version=info)
    # JSON text works as the dict does
    assert len(megolm_backup.restore_body(KEY, BODY, backup_version=json.dumps(info))) == GOOD


@pytest.mark.parametrize(
    "body",
    [b"", b"garbage", b"[1, 2, 3]", b'"rooms"', b"\xff\xfe\x00", b'{"rooms": 5}'],
    ids=["empty", "garbage", "list", "string", "binary", "rooms-not-object"],
)
def test_not_a_body(body: bytes) -> None:
    with pytest.raises(megolm_backup.MegolmBackupError) as e:
        megolm_backup.restore_body(KEY, body)
    assert isinstance(e.value, megolm_backup.InvalidInputError), e.value


def test_truncated_body_keeps_what_arrived() -> None:
    whole = megolm_backup.restore_body(KEY, BODY)
    for cut in range(len(BODY) // 2, len(BODY) - 1, 97):
        part = megolm_backup.restore_body(KEY, BODY[:cut])
        assert part.truncated_at == cut
        kinds = [f.kind for f in part.failures]
        assert kinds.count("truncated") == 1
        # every key restored from the cut body is one of the whole body's
        got = {k.session_id for k in part}
        assert got <= {k.session_id for k in whole}


def test_damaged_entries_cost_only_themselves() -> None:
    doc = json.loads(BODY)
    room = next(iter(doc["rooms"]))
    sid = next(iter(doc["rooms"][room]["sessions"]))
    doc["rooms"][room]["sessions"][sid] = {"session_data": "not an object"}
    result = megolm_backup.restore_body(KEY, json.dumps(doc).encode())
    assert (room, sid) in {(f.room_id, f.session_id) for f in result.failures}
    assert len(result) >= GOOD - 1


@pytest.mark.parametrize("key", [None, 5, b"bytes", object()], ids=["none", "int", "bytes", "object"])
def test_wrong_key_types(key: Any) -> None:
    with pytest.raises(megolm_backup.InvalidInputError):
        megolm_backup.restore_body(key, BODY)


@pytest.mark.parametrize(
    "body",
    [None, 5, ["list"], {"rooms": {}}, BODY.decode()],
    ids=["none", "int", "list", "dict", "json-text"],
)
def test_wrong_body_types(body: Any) -> None:
    with pytest.raises(megolm_backup.InvalidInputError):
        megolm_backup.restore_body(KEY, body)


def test_garbage_keys() -> None:
    for text in ["", "not a key", "EsTc LW2K", "A" * 100]:
        with pytest.raises(megolm_backup.InvalidInputError):
            megolm_backup.BackupKey.from_recovery_key(text)
        with pytest.raises(megolm_backup.MegolmBackupError):
            megolm_backup.restore_body(text, BODY)
    with pytest.raises(megolm_backup.InvalidInputError):
        megolm_backup.BackupKey.from_bytes(b"short")
    with pytest.raises(megolm_backup.InvalidInputError):
        megolm_backup.BackupKey.from_base64("!!!")


def test_missing_file() -> None:
    with pytest.raises(OSError):
        megolm_backup.restore_body(KEY, "/nonexistent/body.json")


def test_progress_is_told() -> None:
    body, _ = big_body(5000)
    seen: list[megolm_backup.Progress] = []
    result = megolm_backup.restore_body(KEY, body, progress=seen.append)
    assert seen, "the progress callback was never called"
    assert [p.done for p in seen] == sorted(p.done for p in seen)
    assert seen[-1].done == 5001
    assert len(result) == 1 and len(result.failures) == 5000
    assert {f.kind for f in result.failures} == {"session_id"}


def test_progress_false_cancels() -> None:
    body, _ = big_body(10000)
    calls = []

    def stop(p: megolm_backup.Progress) -> bool:
        calls.append(p.done)
        return False

    with pytest.raises(megolm_backup.CancelledError):
        megolm_backup.restore_body(KEY, body, progress=stop, jobs=1)
    assert len(calls) == 1


def test_cancel_token() -> None:
    body, _ = big_body(10000)
    event = threading.Event()
    event.set()
    with pytest.raises(megolm_backup.CancelledError):
        megolm_backup.restore_body(KEY, body, cancel=event)
    event.clear()
    assert len(megolm_backup.restore_body(KEY, body, cancel=event).failures) == 10000


def test_callback_exception_is_raised() -> None:
    body, _ = big_body(5000)

    class Boom(Exception):
        pass

    def boom(p: megolm_backup.Progress) -> None:
        raise Boom("from the callback")

    with pytest.raises(Boom):
        megolm_backup.restore_body(KEY, body, progress=boom)


def test_gil_is_released() -> None:
    """Another Python thread runs while a restore works."""
    body, _ = big_body(30000)
    ticks = 0
    done = threading.Event()

    def count() -> None:
        nonlocal ticks
        while not done.is_set():
            ticks += 1

    t = threading.Thread(target=count)
    t.start()
    try:
        before = ticks
        megolm_backup.restore_body(KEY, body, jobs=1)
        during = ticks - before
    finally:
        done.set()
        t.join()
    assert during > 0


def test_bad_progress_and_cancel() -> None:
    with pytest.raises(megolm_backup.InvalidInputError):
        megolm_backup.restore_body(KEY, BODY, progress=5)  # type: ignore[arg-type]
    with pytest.raises(megolm_backup.InvalidInputError):
        megolm_backup.restore_body(KEY, BODY, cancel=object())  # type: ignore[arg-type]
