"""Element's "Set up recovery" from Python, against a real Synapse: a fresh account set up
here and confirmed by Element's own client library (matrix-js-sdk, tools/element/
element-client.mjs); a second setup refused with the account's situation; a reset with the
old key that keeps the backed-up sessions; replacing the cross-signing keys, which needs
the account password; a Security Phrase; the asyncio helper."""

from __future__ import annotations

import asyncio
import http.server
import json
import os
import subprocess
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest

import megolm_backup
from megolm_backup import aio
from conftest import Account, call, cases

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "tools" / "nio"))
import harness as h  # noqa: E402

CASE = next(c for c in cases("backup.restore") if c["id"] == "vz-restore-3-rooms")
KEYS: list[dict[str, Any]] = CASE["expected"]["sessions_json"]


def hs_of(account: Account) -> megolm_backup.Homeserver:
    return megolm_backup.Homeserver(account.url, account.token)


def current_version(account: Account) -> str:
    return str(call(account.url, "GET", "/room_keys/version", token=account.token)["version"])


def master_key(account: Account) -> str | None:
    answer = call(
        account.url, "POST", "/keys/query", {"device_keys": {account.user_id: []}}, account.token
    )
    keys = answer.get("master_keys", {}).get(account.user_id, {}).get("keys", {})
    return next(iter(keys.values()), None)


def element_recover(account: Account, security_key: str, tmp: Path) -> dict[str, Any]:
    """A fresh Element device with only the Security Key: what matrix-js-sdk reports."""
    key_file = tmp / "security-key"
    key_file.write_text(security_key)
    out = tmp / "element-recover.json"
    h.element(
        "recover", "--homeserver", account.url, "--user", account.user,
        "--password", account.password, "--security-key-file", str(key_file),
        "--rooms", "0", "--out", str(out),
    )
    result: dict[str, Any] = json.loads(out.read_text())
    return result


def test_fresh_account_set_up_here_element_confirms(account: Account, tmp_path: Path) -> None:
    hs = hs_of(account)
    events: list[megolm_backup.SetupEvent] = []
    outcome = hs.set_up_recovery(on_event=events.append)

    assert outcome.situation.kind == "fresh"
    assert not outcome.with_phrase
    assert outcome.new_cross_signing
    assert outcome.version == current_version(account)
    assert outcome.master_key == master_key(account)
    assert (outcome.carried_over, outcome.old_version_kept, outcome.old_version_deleted) == (
        0, None, None
    )
    # The Security Key is Element's form (48 base58 characters in groups of four) and it
    # opens the account's secret storage and backup through the package's own recovery.
    assert len(outcome.security_key.replace(" ", "")) == 48
    assert outcome.security_key not in repr(outcome)
    recovered = hs.recover(outcome.security_key)
    assert (recovered.source, recovered.version) == ("security_key", outcome.version)
    kinds = [e.kind for e in events]
    assert kinds[0] == "situation" and events[0].situation == outcome.situation
    assert "version_created" in kinds and kinds[-1] == "verified"
    assert all(outcome.security_key not in repr(e) + str(e) for e in events)

    # Element's own code, on a fresh device with only the Security Key.
    result = element_recover(account, outcome.security_key, tmp_path)
    assert result["secret_storage_ready"] is True, result
    assert result["cross_signing_ready"] is True, result
    assert result["backup_version"] == outcome.version, result
    assert result["trust"] == {"trusted": True, "matchesDecryptionKey": True}, result
    assert result["active_backup"] == outcome.version, result


def test_second_setup_is_refused_with_the_situation(account: Account) -> None:
    hs = hs_of(account)
    first = hs.set_up_recovery()
    with pytest.raises(megolm_backup.SetupRefusedError) as e:
        hs.set_up_recovery()
    err = e.value
    assert isinstance(err, megolm_backup.MegolmBackupError)
    assert not isinstance(err, megolm_backup.PasswordRequiredError)
    assert err.kind == "already_set_up"
    assert err.situation is not None
    assert err.situation.kind == "set_up"
    assert err.situation.version == first.version
    assert err.situation.key_id is not None
    assert "nothing was changed" in str(err)
    assert "reset" in str(err)
    assert first.security_key not in str(err)
    assert current_version(account) == first.version

    # A reset with a key that is not the old one: refused, as a wrong key.
    with pytest.raises(megolm_backup.WrongKeyError) as w:
        hs.set_up_recovery(reset=True, old_key=megolm_backup.BackupKey.generate())
    assert str(w.value).startswith("the old Security Key or Phrase")
    assert current_version(account) == first.version


def test_element_x_without_recovery(account: Account) -> None:
    hs = hs_of(account)
    first = hs.set_up_recovery()
    # What Element X leaves without recovery: cross-signing keys and a backup, no
    # secret storage (its default-key pointer and secrets emptied here: a pointer gone
    # with the secrets still stored is a setup stopped before its last write instead).
    for event in (
        "m.secret_storage.default_key", "m.megolm_backup.v1", "m.cross_signing.master",
        "m.cross_signing.self_signing", "m.cross_signing.user_signing",
    ):
        call(account.url, "PUT", f"/user/{account.user_id}/account_data/{event}", {},
             account.token)
    with pytest.raises(megolm_backup.SetupRefusedError) as e:
        hs.set_up_recovery(password=account.password)
    assert e.value.kind == "keys_on_other_devices"
    assert e.value.situation is not None
    assert (e.value.situation.kind, e.value.situation.version, e.value.situation.master_key) == (
        "keys_on_other_devices", first.version, first.master_key
    )
    assert repr(e.value.situation) == (
        f'AccountSituation(kind="keys_on_other_devices", key_id=None, '
        f'version="{first.version}", master_key="{first.master_key}")'
    )
    assert "Element X" in str(e.value) and "verify you again" in str(e.value)

    outcome = hs.set_up_recovery(
        replace_cross_signing=True, delete_old_version=True, password=account.password
    )
    assert outcome.situation == e.value.situation
    assert outcome.new_cross_signing and outcome.master_key != first.master_key
    assert outcome.old_version_deleted == first.version


def test_reset_with_the_old_key_keeps_the_sessions(account: Account, tmp_path: Path) -> None:
    hs = hs_of(account)
    first = hs.set_up_recovery()
    report = hs.upload(first.security_key, KEYS)
    assert (report.uploaded, report.version) == (len(KEYS), first.version)

    events: list[megolm_backup.SetupEvent] = []
    second = hs.set_up_recovery(reset=True, old_key=first.security_key, on_event=events.append)
    assert second.situation.kind == "set_up"
    assert second.situation.version == first.version
    assert second.version != first.version
    assert second.security_key != first.security_key
    assert second.carried_over == len(KEYS)
    assert second.old_version_deleted == first.version
    assert second.old_version_kept is None
    # The old key opened secret storage: the cross-signing keys (the identity) are kept.
    assert not second.new_cross_signing
    assert second.master_key == first.master_key == master_key(account)
    assert any(e.kind == "carried_over" and e.sessions == len(KEYS) for e in events)

    result = hs.restore(second.security_key)
    assert result.to_dicts() == sorted(KEYS, key=lambda k: (k["room_id"], k["session_id"]))
    # The old Security Key no longer opens the account's secret storage.
    with pytest.raises(megolm_backup.WrongKeyError):
        hs.recover(first.security_key)
    # Element, with only the new Security Key, trusts the new version and finds every
    # carried-over session in it.
    element = element_recover(account, second.security_key, tmp_path)
    assert element["secret_storage_ready"] is True, element
    assert element["backup_version"] == second.version, element
    assert element["trust"] == {"trusted": True, "matchesDecryptionKey": True}, element
    assert element["restored"]["total"] == len(KEYS), element["restored"]


def test_replacing_the_cross_signing_keys_needs_the_password(account: Account) -> None:
    hs = hs_of(account)
    first = hs.set_up_recovery()
    # A reset without the old key cannot read the cross-signing keys: refused.
    with pytest.raises(megolm_backup.SetupRefusedError) as e:
        hs.set_up_recovery(reset=True)
    assert e.value.kind == "cross_signing_exists"
    assert e.value.situation is not None and e.value.situation.kind == "set_up"
    assert first.master_key in str(e.value)
    # Replacing them without the password: refused before anything changes.
    with pytest.raises(megolm_backup.PasswordRequiredError) as p:
        hs.set_up_recovery(reset=True, replace_cross_signing=True)
    assert isinstance(p.value, megolm_backup.SetupRefusedError)
    assert "password" in str(p.value)
    assert p.value.situation is not None and p.value.situation.kind == "set_up"
    assert current_version(account) == first.version
    assert master_key(account) == first.master_key

    # A wrong password: the server's refusal, with its errcode; nothing else changed.
    with pytest.raises(megolm_backup.ServerError) as wrong:
        hs.set_up_recovery(reset=True, replace_cross_signing=True, password="not-the-password")
    assert (wrong.value.kind, wrong.value.errcode, wrong.value.status) == (
        "cross_signing_refused", "M_FORBIDDEN", 401
    )
    assert "not-the-password" not in str(wrong.value)
    assert current_version(account) == first.version
    assert master_key(account) == first.master_key

    outcome = hs.set_up_recovery(
        reset=True, replace_cross_signing=True, password=account.password
    )
    assert outcome.new_cross_signing
    assert outcome.master_key != first.master_key
    assert outcome.master_key == master_key(account)
    assert account.password not in repr(outcome)
    # Without the old backup's key its sessions cannot be carried over: the old version
    # stays on the server (not chosen to be deleted), and the notes say so.
    assert outcome.old_version_kept == first.version
    assert outcome.old_version_deleted is None
    assert any(first.version in n for n in outcome.notes), outcome.notes
    assert hs.recover(outcome.security_key).version == outcome.version


def test_security_phrase(account: Account) -> None:
    hs = hs_of(account)
    with pytest.raises(megolm_backup.InvalidInputError) as weak:
        hs.set_up_recovery(passphrase="password1")
    assert weak.value.kind == "weak_passphrase"
    with pytest.raises(megolm_backup.InvalidInputError) as same:
        hs.set_up_recovery(passphrase=account.password, password=account.password)
    assert same.value.kind == "account_password"
    assert account.password not in str(same.value)
    with pytest.raises(megolm_backup.NoBackupError):
        hs.backup_info()  # nothing was changed

    phrase = "correct horse battery staple under a violet moon 7"
    outcome = hs.set_up_recovery(passphrase=phrase)
    assert outcome.with_phrase
    assert phrase not in repr(outcome)
    found = hs.recover(phrase)
    assert (found.source, found.version) == ("security_phrase", outcome.version)
    assert hs.recover(outcome.security_key).key == found.key


def test_asyncio_and_a_failing_callback(
    account: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[Any] = []
    monkeypatch.setattr(sys, "unraisablehook", seen.append)

    def boom(event: megolm_backup.SetupEvent) -> None:
        raise RuntimeError("callback failed: " + event.kind)

    outcome = asyncio.run(aio.set_up_recovery(hs_of(account), on_event=boom))
    # The account is set up all the same; each failure went to sys.unraisablehook.
    assert outcome.version == current_version(account)
    assert seen and all(isinstance(u.exc_value, RuntimeError) for u in seen)


def test_bad_arguments(account: Account) -> None:
    hs = hs_of(account)
    with pytest.raises(megolm_backup.InvalidInputError) as e:
        hs.set_up_recovery(old_key="EsTc LW2K")
    assert e.value.kind == "old_key"
    with pytest.raises(megolm_backup.InvalidInputError):
        hs.set_up_recovery(on_event=42)  # type: ignore[arg-type]
    with pytest.raises(megolm_backup.InvalidInputError):
        hs.set_up_recovery(reset=True, old_key=42)  # type: ignore[arg-type]
    with pytest.raises(megolm_backup.NoBackupError):
        hs.backup_info()  # nothing was changed


def test_setup_recovery_example(account: Account, tmp_path: Path) -> None:
    example = Path(__file__).resolve().parents[1] / "examples" / "setup_recovery.py"
    env = {**os.environ, "MATRIX_ACCESS_TOKEN": account.token}
    env.pop("OLD_SECURITY_KEY", None)
    env.pop("MATRIX_PASSWORD", None)

    def run(key_file: Path, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, str(example), account.url, str(key_file)],
            env={**env, **extra}, capture_output=True, text=True, timeout=120,
        )

    first = run(tmp_path / "key1.txt")
    assert first.returncode == 0, first.stderr
    key1 = (tmp_path / "key1.txt").read_text().strip()
    assert (tmp_path / "key1.txt").stat().st_mode & 0o777 == 0o600
    assert key1 not in first.stderr
    assert hs_of(account).recover(key1).version == current_version(account)

    again = run(tmp_path / "key2.txt")
    assert again.returncode == 3, again.stderr
    assert "refused (set_up)" in again.stderr
    assert not (tmp_path / "key2.txt").exists()

    reset = run(tmp_path / "key3.txt", OLD_SECURITY_KEY=key1)
    assert reset.returncode == 0, reset.stderr
    key3 = (tmp_path / "key3.txt").read_text().strip()
    assert hs_of(account).recover(key3).version == current_version(account)


class _Forward(http.server.BaseHTTPRequestHandler):
    """Forwards each request to Synapse: Python code that must run while the setup runs."""

    target = ""
    seen: list[str] = []

    def _forward(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        req = urllib.request.Request(self.target + self.path, data=body, method=self.command)
        for name in ("Authorization", "Content-Type"):
            if self.headers.get(name):
                req.add_header(name, self.headers[name])
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                status, data = r.status, r.read()
        except urllib.error.HTTPError as e:
            status, data = e.code, e.read()
        type(self).seen.append(f"{self.command} {self.path.split('?')[0]}")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_PUT = do_POST = do_DELETE = _forward

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _through_python_proxy(target: str, token: str) -> tuple[str, list[str]]:
    """Sets up recovery with every request going through a proxy written in Python and
    served by another thread; returns the new version and the requests seen."""
    _Forward.target, _Forward.seen = target, []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Forward)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        outcome = megolm_backup.Homeserver(url, token).set_up_recovery()
    finally:
        server.shutdown()
    return outcome.version, _Forward.seen


def test_the_gil_is_released(account: Account) -> None:
    # Were the GIL held while the setup runs, the proxy's thread could not answer and the
    # setup would stall: it runs in a child process that is given two minutes.
    script = (
        "import json, sys; sys.path.insert(0, sys.argv[1]); import test_setup; "
        "print(json.dumps(test_setup._through_python_proxy(sys.argv[2], sys.argv[3])))"
    )
    tests = str(Path(__file__).resolve().parent)
    try:
        done = subprocess.run(
            [sys.executable, "-c", script, tests, account.url, account.token],
            capture_output=True, text=True, timeout=120,
        )
    except subprocess.TimeoutExpired:
        pytest.fail("the setup stalled behind a proxy served by Python: the GIL is held")
    assert done.returncode == 0, done.stderr
    version, seen = json.loads(done.stdout)
    assert version == current_version(account)
    assert "POST /_matrix/client/v3/room_keys/version" in seen, seen


def test_a_reset_over_a_stored_backup_key_the_old_key_cannot_read_is_refused(
    account: Account,
) -> None:
    hs = hs_of(account)
    first = hs.set_up_recovery()
    # The stored backup key re-encrypted under another secret-storage key only (as a
    # client that re-keyed secret storage leaves it): the Security Key cannot read it.
    path = "/user/" + urllib.parse.quote(account.user_id) + "/account_data/m.megolm_backup.v1"
    stored = call(account.url, "GET", path, token=account.token)
    (entry,) = stored["encrypted"].values()
    stored["encrypted"] = {"OLDKEY": entry}
    call(account.url, "PUT", path, stored, account.token)
    with pytest.raises(megolm_backup.SetupRefusedError) as e:
        hs.set_up_recovery(reset=True, old_key=first.security_key)
    assert e.value.kind == "stored_backup_key_unreadable"
    assert "OLDKEY" in str(e.value)
    assert call(account.url, "GET", path, token=account.token) == stored
    assert current_version(account) == first.version
    second = hs.set_up_recovery(
        reset=True, old_key=first.security_key, discard_stale_backup_key=True
    )
    assert second.version != first.version


def test_a_reset_over_a_stale_stored_backup_key_is_refused_unless_discarded(
    account: Account,
) -> None:
    hs = hs_of(account)
    first = hs.set_up_recovery()
    # Another client makes a new backup version whose key is not in secret storage: the
    # stored key now opens only version `first.version` (it may be the only copy).
    foreign = megolm_backup.BackupKey.generate()
    made = call(
        account.url, "POST", "/room_keys/version",
        {"algorithm": "m.megolm_backup.v1.curve25519-aes-sha2",
         "auth_data": {"public_key": foreign.public_key}},
        account.token,
    )
    assert current_version(account) == made["version"] != first.version
    with pytest.raises(megolm_backup.SetupRefusedError) as e:
        hs.set_up_recovery(reset=True, old_key=first.security_key)
    assert e.value.kind == "stored_backup_key_stale"
    assert current_version(account) == made["version"]
    # Nothing was written: the old Security Key still unlocks secret storage, whose
    # backup key is the stale one.
    with pytest.raises(megolm_backup.StaleKeyError):
        hs.recover(first.security_key)
    second = hs.set_up_recovery(
        reset=True, old_key=first.security_key, discard_stale_backup_key=True
    )
    assert second.version not in (first.version, made["version"])
