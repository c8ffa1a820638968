"""Offline recovery from the Security Phrase with secret storage from matrix-rust-sdk's
test data (test-vectors/matrix-rust-sdk.json): what the input was taken for, a stale
backup key, a wrong phrase."""

from __future__ import annotations

from typing import Any

import pytest

import megolm_backup
from conftest import cases

KEY_ID = "yJWwBm2Ts8jHygTBslKpABFyykavhhfA"
CHECK = next(c for c in cases("ssss.key_check") if c["id"] == "rust-int-ssss-keycheck-passphrase-1-iter")
SECRET = next(c for c in cases("ssss.decrypt") if c["id"] == "rust-int-ssss-decrypt-megolm-backup-v1")
PUBLIC = next(c for c in cases("backup.public_key") if c["id"] == "rust-int-ssss-decrypt-megolm-backup-v1-public-key")
PHRASE: str = CHECK["input"]["key"]["passphrase"]
ACCOUNT_DATA: dict[str, Any] = {
    "m.secret_storage.default_key": {"key": KEY_ID},
    f"m.secret_storage.key.{KEY_ID}": CHECK["input"]["key_description_json"],
    "m.megolm_backup.v1": {"encrypted": {KEY_ID: SECRET["input"]["encrypted"]}},
}
VERSION = {
    "algorithm": "m.megolm_backup.v1.curve25519-aes-sha2",
    "auth_data": {"public_key": PUBLIC["expected"]["public_key"]},
    "version": "7",
    "count": 3,
}


def test_security_phrase() -> None:
    found = megolm_backup.recover_key(PHRASE, account_data=ACCOUNT_DATA, backup_version=VERSION)
    assert found.source == "security_phrase"
    assert found.key.to_base64() == SECRET["expected"]["plaintext_utf8"]
    assert found.key.public_key == PUBLIC["expected"]["public_key"]
    assert found.version == "7" and found.count == 3
    assert "Security Phrase" in found.description
    assert PHRASE not in repr(found)


def test_backup_key_directly() -> None:
    found = megolm_backup.recover_key(SECRET["expected"]["plaintext_utf8"], backup_version=VERSION)
    assert found.source == "backup_key_base64"


def test_stale_backup_key() -> None:
    other = {**VERSION, "auth_data": {"public_key": megolm_backup.BackupKey.generate().public_key}}
    with pytest.raises(megolm_backup.StaleKeyError) as e:
        megolm_backup.recover_key(PHRASE, account_data=ACCOUNT_DATA, backup_version=other)
    assert e.value.kind == "stale"


def test_wrong_phrase() -> None:
    with pytest.raises(megolm_backup.WrongKeyError) as e:
        megolm_backup.recover_key("not the phrase", account_data=ACCOUNT_DATA, backup_version=VERSION)
    assert not isinstance(e.value, megolm_backup.StaleKeyError)
    assert "not the phrase" not in str(e.value)


def test_bad_account_data() -> None:
    with pytest.raises(megolm_backup.InvalidInputError):
        megolm_backup.recover_key(PHRASE, account_data=5)
    with pytest.raises(megolm_backup.InvalidInputError):
        megolm_backup.recover_key(PHRASE, backup_version={"algorithm": 5})
