"""Restore an account's backup from its homeserver inside an asyncio program (a bot),
with the Security Key or Security Phrase, showing progress and what the input was.

    MATRIX_ACCESS_TOKEN=syt_... python restore_async.py https://matrix.example.org
"""

from __future__ import annotations

import asyncio
import getpass
import os
import sys

import megolm_backup
from megolm_backup import aio


def show(progress: megolm_backup.Progress) -> None:
    total = progress.total if progress.total is not None else "?"
    print(f"\r{progress.done}/{total} keys", end="", file=sys.stderr)


async def main(url: str) -> None:
    hs = megolm_backup.Homeserver(url, os.environ["MATRIX_ACCESS_TOKEN"])
    secret = getpass.getpass("Security Key or Security Phrase: ")
    try:
        recovered = await aio.recover(hs, secret)
    except megolm_backup.StaleKeyError as e:
        sys.exit(f"that key is from before the backup was reset: {e}")
    except megolm_backup.WrongKeyError as e:
        sys.exit(str(e))
    except megolm_backup.NoBackupError:
        sys.exit("this account has no key backup")
    print(recovered.description, file=sys.stderr)
    result = await asyncio.to_thread(hs.restore, recovered, progress=show)
    print(file=sys.stderr)
    for key in result:
        print(key.room_id, key.session_id, key.first_message_index)
    if result.failures:
        print(f"{len(result.failures)} entries could not be restored", file=sys.stderr)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
