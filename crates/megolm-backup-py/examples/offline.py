"""Restore a saved backup body with the backup's recovery key."""

import sys

import megolm_backup


def main() -> None:
    key = megolm_backup.BackupKey.from_recovery_key(sys.argv[1])
    result = megolm_backup.restore_body(key, sys.argv[2])
    for room_key in result:
        print(room_key.room_id, room_key.session_id)
    for failure in result.failures:
        print("failed:", failure.room_id, failure.session_id, failure.kind)


if __name__ == "__main__":
    main()
