"""Shared helpers: the shipped known-answer vectors (test-vectors/, copied from other
implementations) and a Synapse on loopback for the homeserver tests."""

from __future__ import annotations

import base64
import glob
import json
import os
import secrets
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Iterator

import pytest

import megolm_backup

ROOT = Path(__file__).resolve().parents[3]
VECTORS = ROOT / "test-vectors"


def cases(kind: str) -> list[dict[str, Any]]:
    """Every case of `kind` in the shipped vector files."""
    out = []
    for path in sorted(glob.glob(str(VECTORS / "*.json"))):
        for case in json.load(open(path, encoding="utf-8"))["cases"]:
            if case["kind"] == kind:
                out.append(case)
    assert out, f"no {kind} vectors"
    return out


def b64decode(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4))


def key_of(form: dict[str, Any]) -> megolm_backup.BackupKey:
    """A KEY form of the vector schema as a BackupKey."""
    if "hex" in form:
        return megolm_backup.BackupKey.from_bytes(bytes.fromhex(form["hex"]))
    if "base64" in form:
        return megolm_backup.BackupKey.from_base64(form["base64"])
    if "recovery_key" in form:
        return megolm_backup.BackupKey.from_recovery_key(form["recovery_key"])
    raise AssertionError(f"unsupported KEY form {sorted(form)}")


def homeserver_url() -> str | None:
    url = os.environ.get("MKB_HOMESERVER")
    if not url:
        env = ROOT / ".synapse" / "env"
        if env.exists():
            for line in env.read_text().splitlines():
                if line.startswith("MKB_HOMESERVER="):
                    url = line.split("=", 1)[1].strip()
    return url or None


def call(url: str, method: str, path: str, body: Any = None, token: str | None = None) -> Any:
    """One client-server API call, by hand (test set-up only)."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url + "/_matrix/client/v3" + path, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", "Bearer " + token)
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read() or b"{}")


class Account:
    def __init__(self, url: str, user: str, password: str, token: str, user_id: str) -> None:
        self.url, self.user, self.password, self.token, self.user_id = url, user, password, token, user_id

    def create_backup(self, key: megolm_backup.BackupKey) -> str:
        answer = call(
            self.url,
            "POST",
            "/room_keys/version",
            {
                "algorithm": "m.megolm_backup.v1.curve25519-aes-sha2",
                "auth_data": {"public_key": key.public_key},
            },
            self.token,
        )
        return str(answer["version"])


@pytest.fixture
def synapse() -> str:
    url = homeserver_url()
    if url is None:
        if os.environ.get("CI") == "true":
            pytest.fail("no Synapse (MKB_HOMESERVER or .synapse/env): scripts/synapse.sh start")
        pytest.skip("no Synapse: run scripts/synapse.sh start")
    try:
        urllib.request.urlopen(url + "/_matrix/client/versions", timeout=5)
    except OSError as e:
        pytest.fail(f"Synapse at {url} does not answer: {e}")
    return url


@pytest.fixture
def account(synapse: str) -> Iterator[Account]:
    """A fresh user (open registration) with a login of its own."""
    user = "py" + secrets.token_hex(6)
    password = secrets.token_urlsafe(12)
    answer = call(
        synapse,
        "POST",
        "/register",
        {"username": user, "password": password, "auth": {"type": "m.login.dummy"}},
    )
    yield Account(synapse, user, password, answer["access_token"], answer["user_id"])
