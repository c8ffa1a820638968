"""A nio bot wrote it, Element reads it.

The account's owner set up recovery in Element (Element's own client library,
tools/element/element-client.mjs: cross-signing, secret storage with a Security Key, a key
backup). A matrix-nio 0.26 bot logs into the same account as a device of its own — the
backup belongs to an account, so the bot's keys go into the backup of the account it runs
as, which is also the account whose owner holds the Security Key — creates encrypted rooms
and sends messages. nio has no key backup: with this package its own room keys are uploaded
into the account's backup. A fresh Element device that has only the Security Key restores
the backup and decrypts every message the bot sent.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "tools" / "nio"))
import harness as h  # noqa: E402

mb = h.package()

ROOMS, MESSAGES = 2, 3


async def bot_sends_and_backs_up(
    url: str, user: str, password: str, security_key: str, tmp: Path
) -> list[dict[str, str]]:
    bot = await h.nio_login(url, user, password, tmp / "bot-store", "nio bot")
    try:
        sent = await h.nio_bot_sends(bot, ROOMS, MESSAGES)
        keys = h.nio_room_keys(bot)
        assert {k["room_id"] for k in keys} == {m["room_id"] for m in sent}
        assert {k["sender_key"] for k in keys} == {bot.olm.account.identity_keys["curve25519"]}
        # The package's asyncio helper, off the bot's event loop; nio's keys in the wire
        # form, as plain dicts.
        server = mb.Homeserver(url, bot.access_token)
        report = await mb.aio.upload(server, security_key, keys)
        assert (report.uploaded, report.skipped, report.failures) == (len(keys), 0, [])
        # Uploading again adds nothing: the backup already holds them.
        again = await mb.aio.upload(server, security_key, keys)
        assert (again.uploaded, again.skipped) == (0, len(keys))
        return sent
    finally:
        await bot.close()


def test_nio_bot_keys_uploaded_element_decrypts(tmp_path: Path) -> None:
    h.nio_modules()
    url = h.homeserver_url()
    user, password = h.new_user(url)
    setup = h.element_setup(url, user, password, tmp_path / "element.json", rooms=0, messages=0)
    sent = asyncio.run(
        bot_sends_and_backs_up(url, user, password, setup["security_key"], tmp_path)
    )
    assert len(sent) == ROOMS * MESSAGES

    (tmp_path / "security-key").write_text(setup["security_key"])
    (tmp_path / "expect.json").write_text(json.dumps({"messages": sent}))
    out = tmp_path / "recover.json"
    h.element(
        "recover", "--homeserver", url, "--user", user, "--password", password,
        "--security-key-file", str(tmp_path / "security-key"),
        "--expect", str(tmp_path / "expect.json"), "--rooms", "0", "--out", str(out),
    )
    result: dict[str, Any] = json.loads(out.read_text())
    assert result["trust"]["trusted"] and result["trust"]["matchesDecryptionKey"], result["trust"]
    assert result["restored"]["imported"] >= ROOMS, result["restored"]
    assert [d["body"] for d in result["decrypted"]] == [m["body"] for m in sent]
    assert all(d["ok"] for d in result["decrypted"]), result["decrypted"]

    # The bot example on this backup, which now also holds one room key nio refuses (no
    # claimed Ed25519 key, as older clients back up): it skips that key, as nio's own
    # import does, and a new bot device still reads every message the bot sent.
    with mb.Homeserver.login(url, user, password) as server:
        report = server.upload(setup["security_key"], [a_room_key_without_claimed_keys()])
        assert report.uploaded == 1, report.failures
    restored, taken, readable = h.run_restore_bot(
        url, user, password, setup["security_key"], tmp_path / "example-store"
    )
    assert restored == result["restored"]["total"] + 1 and taken == restored - 1
    assert readable == len(sent) == ROOMS * MESSAGES


def a_room_key_without_claimed_keys() -> dict[str, Any]:
    """A real Megolm session (made here with vodozemac) in the wire form older clients
    back up: no `sender_claimed_keys`. nio's own importer drops such a key."""
    import vodozemac  # noqa: PLC0415

    outbound = vodozemac.GroupSession()
    inbound = vodozemac.InboundGroupSession(outbound.session_key)
    exported = inbound.export_at(0)
    assert exported is not None
    return {
        "algorithm": "m.megolm.v1.aes-sha2",
        "room_id": "!a-room-of-an-older-client:localhost",
        "sender_key": "bm90IGEgcmVhbCBrZXkgYnV0IDMyIGJ5dGVzIGxvbmc",
        "session_id": outbound.session_id,
        "session_key": exported.to_base64(),
        "forwarding_curve25519_key_chain": [],
    }
