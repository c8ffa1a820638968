"""Matrix server-side key backup for Python.

Recover the backup key from the Security Key (Recovery key) or Security Phrase, restore
the room keys of an account's backup (from the homeserver or a saved body), read and
write Element key-export files, upload room keys to the backup, and set up recovery as
Element's "Set up recovery" does (:meth:`Homeserver.set_up_recovery`). The work is done by
the Rust crates of the megolm-backup project; the GIL is released while it runs.

    import megolm_backup

    with megolm_backup.Homeserver.login(url, user, password) as hs:
        result = hs.restore("EsTc LW2K PGiF ...")
    for key in result:
        print(key.room_id, key.session_id)

See :mod:`megolm_backup.aio` for ``asyncio``.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Optional, Union

from ._errors import (
    CancelledError,
    ExportFileError,
    InvalidInputError,
    MegolmBackupError,
    NetworkError,
    NoBackupError,
    PasswordRequiredError,
    ServerError,
    SetupRefusedError,
    StaleKeyError,
    WrongKeyError,
    WrongPassphraseError,
)
from ._native import (
    X25519_BACKEND,
    AccountSituation,
    BackupKey,
    Homeserver,
    Progress,
    Recovered,
    RestoreFailure,
    RestoreResult,
    RoomKey,
    SetupEvent,
    SetupOutcome,
    UploadReport,
    decrypt_export,
    encrypt_export,
    looks_like_export,
    read_export,
    recover_key,
    restore_body,
    write_export,
)

__all__ = [
    "X25519_BACKEND",
    "AccountSituation",
    "BackupKey",
    "CancelledError",
    "ExportFileError",
    "Homeserver",
    "InvalidInputError",
    "MegolmBackupError",
    "NetworkError",
    "NoBackupError",
    "PasswordRequiredError",
    "Progress",
    "Recovered",
    "RestoreFailure",
    "RestoreResult",
    "RoomKey",
    "ServerError",
    "SetupEvent",
    "SetupOutcome",
    "SetupRefusedError",
    "StaleKeyError",
    "UploadReport",
    "WrongKeyError",
    "WrongPassphraseError",
    "decrypt_export",
    "encrypt_export",
    "looks_like_export",
    "read_export",
    "recover_key",
    "restore",
    "restore_body",
    "write_export",
]


def restore(
    url: str,
    key: Union[str, BackupKey, Recovered],
    *,
    access_token: Optional[str] = None,
    user: Optional[str] = None,
    password: Optional[str] = None,
    version: Optional[str] = None,
    progress: Optional[Callable[[Progress], Optional[bool]]] = None,
    cancel: Optional[Any] = None,
    jobs: Optional[int] = None,
    allow_insecure_http: bool = False,
    ca_file: Union[str, "os.PathLike[str]", None] = None,
) -> RestoreResult:
    """Restores an account's key backup from its homeserver in one call.

    Give ``access_token``, or ``user`` and ``password`` (then a new login is made and
    logged out again afterwards, whatever happens). ``key`` is the Security Key
    (Recovery key), the Security Phrase, the backup's own recovery key or its base64,
    auto-detected; or a :class:`BackupKey` / :class:`Recovered`. See
    :meth:`Homeserver.restore` for ``progress``, ``cancel`` and ``jobs``.
    """
    if access_token is not None:
        if user is not None or password is not None:
            raise InvalidInputError("give access_token, or user and password, not both")
        hs = Homeserver(url, access_token, allow_insecure_http=allow_insecure_http, ca_file=ca_file)
        return hs.restore(key, version=version, progress=progress, cancel=cancel, jobs=jobs)
    if user is None or password is None:
        raise InvalidInputError("give access_token, or both user and password")
    with Homeserver.login(
        url, user, password, allow_insecure_http=allow_insecure_http, ca_file=ca_file
    ) as hs:
        return hs.restore(key, version=version, progress=progress, cancel=cancel, jobs=jobs)
