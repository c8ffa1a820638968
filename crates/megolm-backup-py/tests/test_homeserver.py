"""Against a real Synapse on loopback: errors with their errcode, recovery, upload then
restore, login and logout."""

from __future__ import annotations

import asyncio
import json
import threading
import urllib.error
from typing import Any

import pytest

import megolm_backup
from megolm_backup import aio
from conftest import Account, call, cases

CASE = next(c for c in cases("backup.restore") if c["id"] == "vz-restore-3-rooms")
KEYS: list[dict[str, Any]] = CASE["expected"]["sessions_json"]


def hs_of(account: Account) -> megolm_backup.Homeserver:
    return megolm_backup.Homeserver(account.url, account.token)


def test_bad_url_and_token() -> None:
    with pytest.raises(megolm_backup.InvalidInputError):
        megolm_backup.Homeserver("ftp://example.org", "token")
    with pytest.raises(megolm_backup.InvalidInputError):
        megolm_backup.Homeserver("http://example.org", "token")  # plain http off loopback
    with pytest.raises(megolm_backup.InvalidInputError) as e:
        megolm_backup.Homeserver("https://example.org", "secret-token\nlines")
    assert "secret-token" not in str(e.value)
    with pytest.raises(megolm_backup.InvalidInputError) as e:
        megolm_backup.Homeserver("https://bob:hunter2@example.org", "token")
    assert "hunter2" not in str(e.value)
    hs = megolm_backup.Homeserver("https://example.org", "syt_secret_token")
    assert "syt_secret_token" not in repr(hs)


def test_unknown_token(synapse: str) -> None:
    hs = megolm_backup.Homeserver(synapse, "syt_not_a_token")
    with pytest.raises(megolm_backup.ServerError) as e:
        hs.user_id
    assert e.value.errcode == "M_UNKNOWN_TOKEN"
    assert e.value.status == 401


def test_no_backup(account: Account) -> None:
    hs = hs_of(account)
    assert hs.user_id == account.user_id
    with pytest.raises(megolm_backup.NoBackupError) as e:
        hs.backup_info()
    assert e.value.errcode == "M_NOT_FOUND"
    key = megolm_backup.BackupKey.generate()
    with pytest.raises(megolm_backup.NoBackupError):
        hs.restore(key)
    with pytest.raises(megolm_backup.NoBackupError):
        hs.upload(key, KEYS)


def test_upload_then_restore(account: Account) -> None:
    key = megolm_backup.BackupKey.generate()
    version = account.create_backup(key)
    hs = hs_of(account)
    seen: list[megolm_backup.Progress] = []
    bad = {"room_id": "!x:example.org"}
    report = hs.upload(key, [*KEYS[:3], bad, *KEYS[3:]], progress=seen.append, chunk_size=4)
    assert report.version == version
    assert report.uploaded == len(KEYS)
    assert report.count == len(KEYS)
    assert [i for i, _ in report.failures] == [3]
    assert seen and seen[-1].done == len(KEYS)
    # again: everything is skipped
    again = hs.upload(key, [megolm_backup.RoomKey.from_dict(k) for k in KEYS])
    assert (again.uploaded, again.skipped) == (0, len(KEYS))

    result = hs.restore(key)
    assert result.to_dicts() == sorted(KEYS, key=lambda k: (k["room_id"], k["session_id"]))
    assert result.failures == []
    # the backup's recovery key as text, auto-detected
    recovered = hs.recover(key.to_recovery_key())
    assert recovered.source == "backup_recovery_key"
    assert recovered.version == version
    assert recovered.count == len(KEYS)
    assert recovered.key == key
    assert key.to_base64() not in repr(recovered)
    assert hs.recover(key.to_base64()).source == "backup_key_base64"
    by_text = hs.restore(key.to_recovery_key())
    assert len(by_text) == len(KEYS)
    assert by_text.recovered is not None
    assert by_text.recovered.source == "backup_recovery_key"
    assert by_text.recovered.version == version
    assert hs.restore(key).recovered is None
    assert len(hs.restore(recovered)) == len(KEYS)
    # a key of another backup
    with pytest.raises(megolm_backup.WrongKeyError):
        hs.recover(megolm_backup.BackupKey.generate().to_recovery_key())
    with pytest.raises(megolm_backup.StaleKeyError):
        hs.restore(megolm_backup.BackupKey.generate())
    info = hs.backup_info()
    assert info["version"] == version and info["auth_data"]["public_key"] == key.public_key


def test_restore_cancel(account: Account) -> None:
    key = megolm_backup.BackupKey.generate()
    account.create_backup(key)
    hs = hs_of(account)
    hs.upload(key, KEYS)
    event = threading.Event()
    event.set()
    with pytest.raises(megolm_backup.CancelledError):
        hs.restore(key, cancel=event)


def test_upload_export(account: Account, tmp_path: Any) -> None:
    key = megolm_backup.BackupKey.generate()
    account.create_backup(key)
    path = tmp_path / "keys.txt"
    megolm_backup.write_export(path, KEYS, "pw", rounds=1000, allow_low_rounds=True)
    hs = hs_of(account)
    assert hs.upload_export(key, path, "pw").uploaded == len(KEYS)
    with pytest.raises(megolm_backup.WrongPassphraseError):
        hs.upload_export(key, path, "wrong")


def test_login_logs_out(account: Account) -> None:
    key = megolm_backup.BackupKey.generate()
    account.create_backup(key)
    hs_of(account).upload(key, KEYS)
    with megolm_backup.Homeserver.login(account.url, account.user, account.password) as hs:
        token = hs.access_token
        assert hs.device_id
        assert len(hs.restore(key)) == len(KEYS)
    with pytest.raises(urllib.error.HTTPError) as e:
        call(account.url, "GET", "/account/whoami", token=token)
    assert e.value.code == 401
    # the one-call form, with a password: logged out too
    result = megolm_backup.restore(
        account.url, key.to_recovery_key(), user=account.user, password=account.password
    )
    assert len(result) == len(KEYS)
    # and with the token
    assert len(megolm_backup.restore(account.url, key, access_token=account.token)) == len(KEYS)
    with pytest.raises(megolm_backup.ServerError) as bad:
        megolm_backup.Homeserver.login(account.url, account.user, "wrong password")
    assert bad.value.errcode == "M_FORBIDDEN"
    with pytest.raises(megolm_backup.InvalidInputError):
        megolm_backup.restore(account.url, key)


def test_aio(account: Account) -> None:
    key = megolm_backup.BackupKey.generate()
    account.create_backup(key)

    async def run() -> int:
        hs = await aio.login(account.url, account.user, account.password)
        try:
            await aio.upload(hs, key, KEYS)
            recovered = await aio.recover(hs, key.to_base64())
            result = await aio.restore(account.url, recovered, access_token=hs.access_token)
            return len(result)
        finally:
            hs.close()

    assert asyncio.run(run()) == len(KEYS)


def test_aio_offline() -> None:
    body = json.dumps(CASE["input"]["backup_json"]).encode()
    key = megolm_backup.BackupKey.from_base64(CASE["input"]["key"]["base64"])

    async def run() -> tuple[int, int]:
        result = await aio.restore_body(key, body)
        text = await aio.encrypt_export(result.keys, "pw", rounds=1000, allow_low_rounds=True)
        back = await aio.decrypt_export(text, "pw")
        return len(result), len(back)

    assert asyncio.run(run()) == (len(KEYS), len(KEYS))
