"""``asyncio`` helpers: the same calls, run in a worker thread off the event loop.

    result = await megolm_backup.aio.restore(url, security_key, access_token=token)

Each helper is ``await asyncio.to_thread(...)`` of the synchronous call of the same
name; the GIL is released while the work runs, so the event loop keeps serving.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any, Callable, Iterable, Mapping, Optional, Union

from . import _native
from . import restore as _restore
from ._native import (
    BackupKey,
    Homeserver,
    Progress,
    Recovered,
    RestoreResult,
    RoomKey,
    SetupEvent,
    SetupOutcome,
    UploadReport,
)

__all__ = [
    "decrypt_export",
    "encrypt_export",
    "login",
    "read_export",
    "recover",
    "restore",
    "restore_body",
    "set_up_recovery",
    "upload",
]

Key = Union[str, BackupKey, Recovered]
ProgressCallback = Optional[Callable[[Progress], Optional[bool]]]


async def restore(
    url: str,
    key: Key,
    *,
    access_token: Optional[str] = None,
    user: Optional[str] = None,
    password: Optional[str] = None,
    version: Optional[str] = None,
    progress: ProgressCallback = None,
    cancel: Optional[Any] = None,
    jobs: Optional[int] = None,
    allow_insecure_http: bool = False,
    ca_file: Union[str, "os.PathLike[str]", None] = None,
) -> RestoreResult:
    """:func:`megolm_backup.restore` in a worker thread. ``progress`` is called from
    that thread: use ``loop.call_soon_threadsafe`` to reach the loop."""
    return await asyncio.to_thread(
        _restore,
        url,
        key,
        access_token=access_token,
        user=user,
        password=password,
        version=version,
        progress=progress,
        cancel=cancel,
        jobs=jobs,
        allow_insecure_http=allow_insecure_http,
        ca_file=ca_file,
    )


async def restore_body(
    key: Key,
    body: Union[bytes, str, "os.PathLike[str]"],
    *,
    backup_version: Optional[Union[Mapping[str, Any], str]] = None,
    progress: ProgressCallback = None,
    cancel: Optional[Any] = None,
    jobs: Optional[int] = None,
) -> RestoreResult:
    """:func:`megolm_backup.restore_body` in a worker thread."""
    return await asyncio.to_thread(
        _native.restore_body,
        key,
        body,
        backup_version=backup_version,
        progress=progress, cancel=cancel, jobs=jobs
    )


async def login(
    url: str,
    user: str,
    password: str,
    *,
    allow_insecure_http: bool = False,
    ca_file: Union[str, "os.PathLike[str]", None] = None,
) -> Homeserver:
    """:meth:`Homeserver.login` in a worker thread."""
    return await asyncio.to_thread(
        Homeserver.login,
        url,
        user,
        password,
        allow_insecure_http=allow_insecure_http,
        ca_file=ca_file,
    )


async def recover(hs: Homeserver, secret: str, *, version: Optional[str] = None) -> Recovered:
    """:meth:`Homeserver.recover` in a worker thread (a Security Phrase costs half a
    second of PBKDF2)."""
    return await asyncio.to_thread(hs.recover, secret, version=version)


async def upload(
    hs: Homeserver,
    key: Key,
    room_keys: Iterable[Union[RoomKey, Mapping[str, Any]]],
    *,
    version: Optional[str] = None,
    progress: ProgressCallback = None,
    cancel: Optional[Any] = None,
    chunk_size: int = 1000,
) -> UploadReport:
    """:meth:`Homeserver.upload` in a worker thread."""
    keys = list(room_keys)
    return await asyncio.to_thread(
        hs.upload,
        key,
        keys,
        version=version,
        progress=progress,
        cancel=cancel,
        chunk_size=chunk_size,
    )


async def set_up_recovery(
    hs: Homeserver,
    *,
    passphrase: Optional[str] = None,
    password: Optional[str] = None,
    reset: bool = False,
    old_key: Optional[Key] = None,
    replace_cross_signing: bool = False,
    delete_old_version: bool = False,
    discard_stale_backup_key: bool = False,
    on_event: Optional[Callable[[SetupEvent], object]] = None,
) -> SetupOutcome:
    """:meth:`Homeserver.set_up_recovery` in a worker thread. ``on_event`` is called
    from that thread: use ``loop.call_soon_threadsafe`` to reach the loop."""
    return await asyncio.to_thread(
        hs.set_up_recovery,
        passphrase=passphrase,
        password=password,
        reset=reset,
        old_key=old_key,
        replace_cross_signing=replace_cross_signing,
        delete_old_version=delete_old_version,
        discard_stale_backup_key=discard_stale_backup_key,
        on_event=on_event,
    )


async def decrypt_export(data: Union[str, bytes], passphrase: str) -> list[RoomKey]:
    """:func:`megolm_backup.decrypt_export` in a worker thread."""
    return await asyncio.to_thread(_native.decrypt_export, data, passphrase)


async def read_export(path: Union[str, "os.PathLike[str]"], passphrase: str) -> list[RoomKey]:
    """:func:`megolm_backup.read_export` in a worker thread."""
    return await asyncio.to_thread(_native.read_export, path, passphrase)


async def encrypt_export(
    keys: Iterable[Union[RoomKey, Mapping[str, Any]]],
    passphrase: str,
    *,
    rounds: int = 500_000,
    allow_low_rounds: bool = False,
) -> str:
    """:func:`megolm_backup.encrypt_export` in a worker thread."""
    items = list(keys)
    return await asyncio.to_thread(
        _native.encrypt_export, items, passphrase, rounds=rounds, allow_low_rounds=allow_low_rounds
    )
