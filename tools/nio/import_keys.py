"""Imports an Element key-export file with matrix-nio's own importer and prints, as JSON
on stdout, how many sessions it accepted out of how many the file holds.

    python import_keys.py EXPORT_FILE PASSPHRASE_FILE

`nio.crypto.Olm.import_keys_static` is exactly what `Olm.import_keys` (and so
`AsyncClient.import_keys`) runs before it stores the sessions: nio's `decrypt_and_read`,
`json.loads`, its `megolm_key_import` schema over the whole list, and a vodozemac
`InboundGroupSession` per entry. Only the write into nio's session store is left out.
Exit status: 0 when nio accepted the file (even with entries it dropped), 1 when it
refused the whole file (the message is on stderr).
"""

import json
import logging
import sys

from nio.crypto import Olm
from nio.crypto.key_export import decrypt_and_read
from nio.exceptions import EncryptionError


def main() -> int:
    export_file, passphrase_file = sys.argv[1], sys.argv[2]
    with open(passphrase_file, encoding="utf-8") as f:
        passphrase = f.read()
    # As our tool reads a passphrase file: one trailing newline is not part of it.
    if passphrase.endswith("\r\n"):
        passphrase = passphrase[:-2]
    elif passphrase.endswith("\n"):
        passphrase = passphrase[:-1]
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    try:
        sessions = Olm.import_keys_static(export_file, passphrase)
    except EncryptionError as e:
        print(f"nio refused the file: {e}", file=sys.stderr)
        return 1
    in_file = len(json.loads(decrypt_and_read(export_file, passphrase)))
    print(json.dumps({"accepted": len(sessions), "in_file": in_file}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
