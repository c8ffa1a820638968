"""What the matrix-nio scenarios of the Python package share (crates/megolm-backup-py/tests/
test_nio_*.py): the test Synapse, fresh users, Element's own client library
(tools/element/element-client.mjs), and matrix-nio 0.26 clients that log in, take room keys,
send encrypted messages and read a room's history with nio's own decryption.

Missing Python packages, Node, Element's code or Synapse skip the tests — except with `CI`
set, where they fail: the test command must have installed them.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
ELEMENT_CLIENT = REPO / "tools" / "element" / "element-client.mjs"


def unavailable(what: str, fix: str) -> None:
    """Skips the test, or fails it under `CI`: the test command must provide `what`."""
    message = f"{what} is not available: {fix}"
    if os.environ.get("CI", "") not in ("", "0", "false"):
        pytest.fail(f"{message} (CI is set, so this fails instead of skipping)")
    pytest.skip(message, allow_module_level=True)


def homeserver_url() -> str:
    """The test Synapse's URL: MKB_HOMESERVER, else the one scripts/synapse.sh started."""
    url = os.environ.get("MKB_HOMESERVER")
    if not url:
        env = REPO / ".synapse" / "env"
        if env.exists():
            for line in env.read_text().splitlines():
                if line.startswith("MKB_HOMESERVER="):
                    url = line.split("=", 1)[1].strip()
    if url:
        host, _, port = url.removeprefix("http://").rstrip("/").partition(":")
        try:
            socket.create_connection((host, int(port or 80)), timeout=2).close()
            return url
        except OSError:
            pass
    unavailable("a Synapse to test against", "run `bash scripts/synapse.sh start`")
    raise AssertionError("unreachable")


def new_user(url: str) -> tuple[str, str]:
    """Registers a fresh user on the test Synapse; returns (localpart, password)."""
    name = f"nio{os.getpid()}x{time.time_ns()}"
    password = f"pw-{name}-long-enough"
    body = json.dumps(
        {"username": name, "password": password, "auth": {"type": "m.login.dummy"}}
    ).encode()
    req = urllib.request.Request(
        f"{url}/_matrix/client/v3/register",
        data=body,
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=30) as r:
        assert r.status == 200, r.read()
    return name, password


def element(command: str, *args: str, timeout: float = 300) -> None:
    """Runs Element's own client library (tools/element/element-client.mjs)."""
    node = shutil.which("node")
    installed = (REPO / "tools/element/node_modules/matrix-js-sdk/package.json").exists()
    if not node or not installed:
        unavailable("Element's client library", "run `bash tools/element/setup.sh` (needs Node.js)")
    done = subprocess.run(
        [str(node), str(ELEMENT_CLIENT), command, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, f"element-client {command} failed:\n{done.stderr}"


def element_setup(
    url: str, user: str, password: str, out: Path, *, rooms: int, messages: int,
    passphrase: str | None = None,
) -> dict[str, Any]:
    """Element's "Set up recovery" for `user`, then `rooms` encrypted rooms of `messages`
    messages each, once every room key is in the backup. Returns what it wrote: the
    Security Key, the messages (room_id, event_id, body) and Element's own export."""
    extra = ["--passphrase", passphrase] if passphrase is not None else []
    element(
        "setup", "--homeserver", url, "--user", user, "--password", password,
        "--rooms", str(rooms), "--messages", str(messages), "--out", str(out), *extra,
    )
    result: dict[str, Any] = json.loads(out.read_text())
    return result


def nio_modules() -> Any:
    """matrix-nio, with its e2e extra (vodozemac), or the test is skipped / failed."""
    try:
        import nio  # noqa: PLC0415
        import vodozemac  # noqa: F401, PLC0415
    except ImportError as e:
        unavailable("matrix-nio[e2e]==0.26.0", f"install it in the test venv ({e})")
    return nio


async def nio_login(url: str, user: str, password: str, store: Path, name: str) -> Any:
    """A fresh nio device: logs in with an empty store, encryption on, nothing synced."""
    nio = nio_modules()
    store.mkdir(parents=True, exist_ok=True)
    client = nio.AsyncClient(
        url, user, store_path=str(store),
        config=nio.AsyncClientConfig(encryption_enabled=True, store_sync_tokens=False),
    )
    response = await client.login(password, device_name=name)
    assert isinstance(response, nio.LoginResponse), response
    assert client.olm is not None, "nio's encryption did not load (is vodozemac installed?)"
    return client


async def read_history(client: Any, room_id: str) -> tuple[list[str], int]:
    """Pages back through the whole room with nio's `room_messages`, which decrypts every
    encrypted event with nio's own Megolm decryption. Returns the bodies of the decrypted
    text messages (oldest first) and how many encrypted events nio could not decrypt."""
    nio = nio_modules()
    bodies: list[str] = []
    undecrypted = 0
    start: str | None = None
    for _ in range(1000):
        page = await client.room_messages(room_id, start=start, limit=100)
        assert isinstance(page, nio.RoomMessagesResponse), page
        for event in page.chunk:
            if isinstance(event, nio.MegolmEvent):
                undecrypted += 1
            elif isinstance(event, nio.RoomMessageText) and event.decrypted:
                bodies.append(event.body)
        if not page.chunk or not page.end or page.end == start:
            break
        start = page.end
    bodies.reverse()
    return bodies, undecrypted


def nio_room_keys(client: Any) -> list[dict[str, Any]]:
    """Every inbound group session nio holds, in Element's export form — the fields nio's
    own `export_keys` writes (the session exported at its first known index)."""
    keys = []
    for s in client.olm.inbound_group_store:
        keys.append({
            "algorithm": "m.megolm.v1.aes-sha2",
            "room_id": s.room_id,
            "sender_key": s.sender_key,
            "session_id": s.id,
            "session_key": s.export_session(s.first_known_index),
            "sender_claimed_keys": {"ed25519": s.ed25519},
            "forwarding_curve25519_key_chain": list(s.forwarding_chain),
        })
    return keys


async def nio_bot_sends(client: Any, rooms: int, per_room: int) -> list[dict[str, str]]:
    """A nio bot's ordinary life: uploads its device keys, creates `rooms` encrypted rooms
    and sends `per_room` messages in each (nio shares its room keys with the account's other
    devices). Returns the messages sent (room_id, event_id, body)."""
    nio = nio_modules()
    await client.sync(timeout=0, full_state=True)
    if client.should_upload_keys:
        assert isinstance(await client.keys_upload(), nio.KeysUploadResponse)
    sent: list[dict[str, str]] = []
    for r in range(rooms):
        created = await client.room_create(
            name=f"nio bot room {r}",
            initial_state=[{
                "type": "m.room.encryption", "state_key": "",
                "content": {"algorithm": "m.megolm.v1.aes-sha2"},
            }],
        )
        assert isinstance(created, nio.RoomCreateResponse), created
        room_id = created.room_id
        for _ in range(20):
            await client.sync(timeout=0)
            if room_id in client.rooms and client.rooms[room_id].encrypted:
                break
        assert client.rooms[room_id].encrypted, "the bot's room did not sync as encrypted"
        for m in range(per_room):
            body = f"message {m} in room {r}, from a nio bot"
            response = await client.room_send(
                room_id, "m.room.message", {"msgtype": "m.text", "body": body},
                ignore_unverified_devices=True,
            )
            assert isinstance(response, nio.RoomSendResponse), response
            sent.append({"room_id": room_id, "event_id": response.event_id, "body": body})
    return sent


def by_room(messages: Iterable[dict[str, str]]) -> dict[str, list[str]]:
    """The bodies of `messages`, per room, in the order sent."""
    rooms: dict[str, list[str]] = {}
    for m in messages:
        rooms.setdefault(m["room_id"], []).append(m["body"])
    return rooms


def into_nio(client: Any, room_keys: Iterable[Any]) -> int:
    """Hands restored room keys straight to nio's inbound group session store, the way
    nio's own `Olm.import_keys` stores what it read from an export file (a vodozemac
    session imported at its first known index, added to `olm.inbound_group_store` and
    saved to nio's store), without the export file and its PBKDF2 round trip.
    What nio's importer drops (no claimed Ed25519 key, a session key vodozemac refuses)
    is skipped. Returns how many sessions nio did not have."""
    from nio.crypto import InboundGroupSession  # noqa: PLC0415

    added = 0
    with client.olm.store.database.atomic():  # one transaction: nio commits each otherwise
        for key in room_keys:
            try:
                session = InboundGroupSession.import_session(
                    key.session_key, key.sender_claimed_keys["ed25519"], key.sender_key,
                    key.room_id, list(key.forwarding_chain),
                )
            except (KeyError, ValueError):
                continue
            if client.olm.inbound_group_store.add(session):
                client.olm.save_inbound_group_session(session)
                added += 1
    return added


async def nio_reopen(url: str, old: Any, store: Path) -> Any:
    """The same nio device started again from its store (no new login)."""
    nio = nio_modules()
    client = nio.AsyncClient(
        url, old.user_id, device_id=old.device_id, store_path=str(store),
        config=nio.AsyncClientConfig(encryption_enabled=True, store_sync_tokens=False),
    )
    client.restore_login(old.user_id, old.device_id, old.access_token)
    return client


def package() -> Any:
    """The package under test (`megolm_backup`), or the test is skipped / failed."""
    try:
        import megolm_backup  # noqa: PLC0415
        import megolm_backup.aio  # noqa: F401, PLC0415
    except ImportError as e:
        unavailable("the megolm_backup package", f"build it into the test venv ({e})")
    return megolm_backup


RESTORE_BOT = REPO / "crates" / "megolm-backup-py" / "examples" / "restore_bot.py"


def run_restore_bot(url: str, user: str, password: str, secret: str, store: Path) -> tuple[int, int, int]:
    """Runs the bot example (examples/restore_bot.py) as a bot author would; returns what it
    printed: room keys restored, how many were new to nio, old messages readable."""
    import re  # noqa: PLC0415
    import sys  # noqa: PLC0415

    env = dict(
        os.environ, HOMESERVER=url, BOT_USER=user, BOT_PASSWORD=password, SECURITY_KEY=secret,
        BOT_STORE=str(store),
    )
    store.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        [sys.executable, str(RESTORE_BOT)], env=env, capture_output=True, text=True,
        timeout=300, check=False,
    )
    assert done.returncode == 0, done.stderr
    said = re.fullmatch(
        r"restored (\d+) room keys, (\d+) new to nio; (\d+) old messages are readable\n",
        done.stdout,
    )
    assert said, done.stdout
    return int(said[1]), int(said[2]), int(said[3])
