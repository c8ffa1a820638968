"""Set up recovery on a bot's account as Element's "Set up recovery" does (secret storage,
cross-signing keys, a key backup) and save the new Security Key to a file only its owner
can read. With OLD_SECURITY_KEY set it resets an existing setup instead, carrying the old
backup's sessions over.

    MATRIX_ACCESS_TOKEN=syt_... python setup_recovery.py https://matrix.example.org key.txt

Exit status: 0 set up, 3 refused (the account's state and the choices are printed),
4 the server wants the account password (set MATRIX_PASSWORD).
"""

from __future__ import annotations

import os
import sys

import megolm_backup


def show(event: megolm_backup.SetupEvent) -> None:
    if event.kind != "progress":
        print(event, file=sys.stderr)


def main(url: str, key_file: str) -> int:
    hs = megolm_backup.Homeserver(url, os.environ["MATRIX_ACCESS_TOKEN"])
    old_key = os.environ.get("OLD_SECURITY_KEY")
    try:
        outcome = hs.set_up_recovery(
            reset=old_key is not None,
            old_key=old_key,
            password=os.environ.get("MATRIX_PASSWORD"),
            on_event=show,
        )
    except megolm_backup.PasswordRequiredError as e:
        print(e, file=sys.stderr)
        return 4
    except megolm_backup.SetupRefusedError as e:
        print(f"refused ({e.situation.kind if e.situation else 'unknown state'}): {e}", file=sys.stderr)
        return 3
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(outcome.security_key + "\n")
    for note in outcome.notes:
        print(note, file=sys.stderr)
    print(f"backup version {outcome.version}; Security Key saved to {key_file}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
