"""A matrix-nio bot on a new device gets its history back from the account's key backup.

    HOMESERVER=https://matrix.example.org BOT_USER=@bot:example.org BOT_PASSWORD=... \
    SECURITY_KEY="EsT... ..." BOT_STORE=./store python restore_bot.py

The restored room keys go straight into nio's inbound group session store (what nio's own
`import_keys` does after reading an export file), not through an export file: that would
cost nio a 500,000-round PBKDF2 in pure Python (15-35 s) for nothing. They are saved in one
SQLite transaction: nio commits each session on its own otherwise (~50 sessions/s).
"""

import asyncio
import os

import megolm_backup.aio
from nio import (AsyncClient, AsyncClientConfig, JoinedRoomsResponse, LoginResponse, RoomMessagesResponse,
                 RoomMessageText)
from nio.crypto import InboundGroupSession


async def main() -> None:
    env = os.environ
    client = AsyncClient(env["HOMESERVER"], env["BOT_USER"], store_path=env.get("BOT_STORE", "."),
                         config=AsyncClientConfig(encryption_enabled=True))
    login = await client.login(env["BOT_PASSWORD"], device_name="restore bot")
    if not isinstance(login, LoginResponse) or client.olm is None:  # olm: matrix-nio[e2e]
        raise SystemExit(f"cannot log in with end-to-end encryption: {login}")
    restored = await megolm_backup.aio.restore(  # in a worker thread, off the event loop
        client.homeserver, env["SECURITY_KEY"], access_token=client.access_token)
    taken = 0
    with client.olm.store.database.atomic():  # one SQLite transaction, not one per key
        for key in restored.keys:  # what nio's own import_keys drops is skipped here too
            try:
                session = InboundGroupSession.import_session(
                    key.session_key, key.sender_claimed_keys["ed25519"], key.sender_key, key.room_id,
                    key.forwarding_chain)
            except (KeyError, ValueError):  # no claimed Ed25519 key, or a key vodozemac refuses
                continue
            if client.olm.inbound_group_store.add(session):
                client.olm.save_inbound_group_session(session)
                taken += 1
    readable, joined = 0, await client.joined_rooms()
    for room_id in joined.rooms if isinstance(joined, JoinedRoomsResponse) else []:
        start: str | None = None
        while True:
            page = await client.room_messages(room_id, start=start, limit=100)
            if not isinstance(page, RoomMessagesResponse) or not page.chunk:
                break
            readable += sum(isinstance(e, RoomMessageText) and e.decrypted for e in page.chunk)
            if not page.end:
                break
            start = page.end
    print(f"restored {len(restored.keys)} room keys, {taken} new to nio; {readable} old messages are readable")
    await client.close()


asyncio.run(main())
