"""Restore a saved backup body (the answer of GET /room_keys/keys) with the backup's
recovery key, and write the room keys as an Element key export.

    python restore_body.py backup.json "EsTc LW2K ..." keys.txt

The export passphrase is asked for (or taken from EXPORT_PASSPHRASE).
"""

from __future__ import annotations

import getpass
import os
import sys

import megolm_backup


def main() -> int:
    body, recovery_key, out = sys.argv[1:4]
    key = megolm_backup.BackupKey.from_recovery_key(recovery_key)
    try:
        result = megolm_backup.restore_body(key, body)
    except megolm_backup.WrongKeyError as e:
        print(f"wrong key: {e}", file=sys.stderr)
        return 3
    for failure in result.failures:
        print(f"skipped {failure.room_id} {failure.session_id}: {failure.kind}", file=sys.stderr)
    passphrase = os.environ.get("EXPORT_PASSPHRASE") or getpass.getpass("Export passphrase: ")
    megolm_backup.write_export(out, result.keys, passphrase)
    print(f"{len(result)} room keys written to {out}")
    return 0 if not result.failures else 2


if __name__ == "__main__":
    sys.exit(main())
