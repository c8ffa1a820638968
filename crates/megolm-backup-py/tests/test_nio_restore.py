"""Element wrote the backup, a nio bot reads it.

A user's history is backed up by Element's own client library (matrix-js-sdk with its Rust
crypto, tools/element/element-client.mjs): Element's "Set up recovery" with a Security Key
or a Security Phrase, encrypted rooms, every room key in the backup. A FRESH matrix-nio 0.26
device (new device, empty store) is given only what Element showed the user; with this
package it restores the backup into nio, and nio's own Megolm decryption (`room_messages`)
reads every old message of every room.

Before the restore the same nio device reads none of them: the keys come from the backup.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "tools" / "nio"))
import harness as h  # noqa: E402

mb = h.package()

ROOMS, MESSAGES = 2, 3


@pytest.fixture(scope="module")
def element_user(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A user whose history Element backed up, with a generated Security Key."""
    h.nio_modules()
    url = h.homeserver_url()
    user, password = h.new_user(url)
    out = tmp_path_factory.mktemp("element") / "element.json"
    setup = h.element_setup(url, user, password, out, rooms=ROOMS, messages=MESSAGES)
    return {"url": url, "user": user, "password": password, "setup": setup}


async def fresh_nio_reads_history(
    account: dict[str, Any], secret: str, taken_for: str, tmp: Path
) -> None:
    url, setup = account["url"], account["setup"]
    expected = h.by_room(setup["messages"])
    assert len(expected) == ROOMS and sum(map(len, expected.values())) == ROOMS * MESSAGES
    client = await h.nio_login(url, account["user"], account["password"], tmp / "store", "nio bot")
    try:
        for room_id, bodies in expected.items():
            read, undecrypted = await h.read_history(client, room_id)
            assert read == [] and undecrypted == len(bodies), "a fresh nio device already had keys"

        # The package says what it took the secret for.
        server = mb.Homeserver(url, client.access_token)
        assert (await mb.aio.recover(server, secret)).source == taken_for
        # What a bot does: the package's asyncio helper, off nio's event loop.
        restored = await mb.aio.restore(url, secret, access_token=client.access_token)
        assert restored.failures == []
        keys = restored.keys
        assert {(k.room_id, k.session_id) for k in keys} == {
            (e["room_id"], e["session_id"]) for e in setup["exported"]
        }
        assert h.into_nio(client, keys) == len(keys)

        for room_id, bodies in expected.items():
            read, undecrypted = await h.read_history(client, room_id)
            assert (read, undecrypted) == (bodies, 0), room_id
    finally:
        await client.close()

    # The sessions were saved to nio's own store: the same device, started again from its
    # store, still reads the history.
    again = await h.nio_reopen(url, client, tmp / "store")
    try:
        for room_id, bodies in expected.items():
            assert await h.read_history(again, room_id) == (bodies, 0)
    finally:
        await again.close()


def test_security_key_restores_into_fresh_nio(element_user: dict[str, Any], tmp_path: Path) -> None:
    asyncio.run(fresh_nio_reads_history(
        element_user, element_user["setup"]["security_key"], "security_key", tmp_path
    ))


def test_security_phrase_restores_into_fresh_nio(tmp_path: Path) -> None:
    h.nio_modules()
    url = h.homeserver_url()
    user, password = h.new_user(url)
    phrase = "correct horse battery staple, said the nio bot's owner"
    setup = h.element_setup(
        url, user, password, tmp_path / "element.json", rooms=ROOMS, messages=MESSAGES,
        passphrase=phrase,
    )
    account = {"url": url, "user": user, "password": password, "setup": setup}
    asyncio.run(fresh_nio_reads_history(account, phrase, "security_phrase", tmp_path))


# The other way into nio: an Element key-export file written by this package, read by nio's
# own `AsyncClient.import_keys` (its strict schema, its PBKDF2). At Element's 500,000 rounds
# nio's pure-Python PBKDF2 alone takes ~15 s, so the file is written at nio's own default of
# 10,000 rounds: the path is the same, only cheaper.
NIO_EXPORT_ROUNDS = 10_000


async def fresh_nio_imports_export_file(account: dict[str, Any], tmp: Path) -> None:
    url, setup = account["url"], account["setup"]
    expected = h.by_room(setup["messages"])
    client = await h.nio_login(url, account["user"], account["password"], tmp / "store", "nio bot")
    try:
        restored = await mb.aio.restore(url, setup["security_key"], access_token=client.access_token)
        export, passphrase = tmp / "element-keys.txt", "the export's own passphrase"
        mb.write_export(
            export, restored.keys, passphrase, rounds=NIO_EXPORT_ROUNDS, allow_low_rounds=True
        )
        await client.import_keys(str(export), passphrase)
        for room_id, bodies in expected.items():
            assert await h.read_history(client, room_id) == (bodies, 0), room_id
    finally:
        await client.close()


def test_export_file_written_by_package_imported_by_nio(
    element_user: dict[str, Any], tmp_path: Path
) -> None:
    asyncio.run(fresh_nio_imports_export_file(element_user, tmp_path))


# The bot example (examples/restore_bot.py), run as a bot author runs it, on the same
# account: a new nio device with only the Security Key reads every old message.
def test_restore_bot_example_reads_every_old_message(
    element_user: dict[str, Any], tmp_path: Path
) -> None:
    setup = element_user["setup"]
    restored, taken, readable = h.run_restore_bot(
        element_user["url"], element_user["user"], element_user["password"],
        setup["security_key"], tmp_path / "store",
    )
    assert restored == taken == len(setup["exported"])
    assert readable == len(setup["messages"]) == ROOMS * MESSAGES
