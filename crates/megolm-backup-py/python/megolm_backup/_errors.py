"""The exceptions of megolm_backup.

Every exception the package raises for a reason of its own is a
:class:`MegolmBackupError`; its message says what went wrong and what would fix it, in
the library's words, and ``kind`` is the library's short class of the cause (``"mac"``,
``"no_match"``, ``"stale"`` ...). Wrong Python types are :class:`InvalidInputError`
(also a :class:`ValueError`); files that cannot be opened are :class:`OSError`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._native import AccountSituation

__all__ = [
    "MegolmBackupError",
    "WrongKeyError",
    "StaleKeyError",
    "NoBackupError",
    "ServerError",
    "NetworkError",
    "InvalidInputError",
    "ExportFileError",
    "WrongPassphraseError",
    "CancelledError",
    "SetupRefusedError",
    "PasswordRequiredError",
]


class MegolmBackupError(Exception):
    """Base class of every error of this package."""

    #: The library's short class of the cause.
    kind: str = "error"
    #: The new Security Key, when ``set_up_recovery`` stopped after handing it over
    #: (secrets may already be encrypted to it alone: keep it); else ``None``.
    security_key: str | None = None

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class WrongKeyError(MegolmBackupError):
    """The key (Security Key, Security Phrase, backup key) opens neither the backup nor
    secret storage, or none of the backup's first entries decrypt with it."""


class StaleKeyError(WrongKeyError):
    """A well-formed key from before the backup (or secret storage) was reset, or one
    that belongs to another backup version: it is a :class:`WrongKeyError` too."""


class ServerError(MegolmBackupError):
    """The homeserver refused a request or answered something unexpected."""

    #: The Matrix ``errcode`` (``"M_FORBIDDEN"`` ...), when the server gave one.
    errcode: str | None = None
    #: The HTTP status, when there was an answer.
    status: int | None = None


class NoBackupError(ServerError):
    """The account has no key backup (``M_NOT_FOUND``), or its secret storage holds no
    backup key."""


class NetworkError(MegolmBackupError):
    """The homeserver could not be reached, or went silent."""


class InvalidInputError(MegolmBackupError, ValueError):
    """An argument is not what it must be: a damaged key, a bad URL or token, a body
    that is not a backup, a value of the wrong type."""


class ExportFileError(MegolmBackupError):
    """An Element key-export file that cannot be read: not an export, cut off, damaged,
    or of an unknown version."""


class WrongPassphraseError(ExportFileError):
    """The passphrase of an Element key export is wrong (or the file was modified)."""


class CancelledError(MegolmBackupError):
    """The work was cancelled: the progress callback returned ``False`` or the cancel
    token was set."""


class SetupRefusedError(MegolmBackupError):
    """Setting up recovery was refused before anything changed: the message says what
    state the account is in and what each choice costs (a reset, the old key, replacing
    the cross-signing keys, the password). ``kind``: ``"already_set_up"``,
    ``"backup_without_secret_storage"``, ``"secret_storage_without_backup"``,
    ``"keys_on_other_devices"``, ``"cross_signing_exists"``, ``"stored_backup_key_stale"``
    (a reset would write over a backup key of the old secret storage that opens no current
    backup version), ``"stored_backup_key_unreadable"`` (one the old key given cannot read,
    so cannot compare; ``discard_stale_backup_key=True`` writes over either) or
    ``"needs_password"``."""

    #: The state the account was found in, when it could be read.
    situation: AccountSituation | None = None


class PasswordRequiredError(SetupRefusedError):
    """New cross-signing keys need the account password (the server asks for it) and
    none was given. Nothing was changed."""
