"""Type stubs of the native module (Rust, PyO3). Documentation: the docstrings at run
time, API.md and README.md."""

import os
from typing import Any, Callable, Final, Iterable, Iterator, Literal, Mapping, Optional, Protocol, Union, final

X25519_BACKEND: Final[str]

class _CancelToken(Protocol):
    def is_set(self) -> bool: ...

_Key = Union[str, "BackupKey", "Recovered"]
_Progress = Optional[Callable[["Progress"], Optional[bool]]]
_Path = Union[str, "os.PathLike[str]"]
_RoomKeys = Iterable[Union["RoomKey", Mapping[str, Any]]]

KeySource = Literal[
    "security_key",
    "security_phrase",
    "backup_recovery_key",
    "backup_key_base64",
    "legacy_backup_passphrase",
]

@final
class BackupKey:
    @staticmethod
    def generate() -> BackupKey: ...
    @staticmethod
    def from_recovery_key(text: str) -> BackupKey: ...
    @staticmethod
    def from_base64(text: str) -> BackupKey: ...
    @staticmethod
    def from_bytes(data: bytes) -> BackupKey: ...
    @property
    def public_key(self) -> str: ...
    def to_recovery_key(self) -> str: ...
    def to_base64(self) -> str: ...
    def __eq__(self, other: object) -> bool: ...

@final
class Recovered:
    @property
    def key(self) -> BackupKey: ...
    @property
    def source(self) -> KeySource: ...
    @property
    def description(self) -> str: ...
    @property
    def version(self) -> Optional[str]: ...
    @property
    def count(self) -> Optional[int]: ...

@final
class RoomKey:
    def __init__(
        self,
        room_id: str,
        session_id: str,
        session_key: str,
        sender_key: str,
        *,
        algorithm: str = "m.megolm.v1.aes-sha2",
        sender_claimed_keys: Optional[Mapping[str, str]] = None,
        forwarding_chain: Optional[list[str]] = None,
    ) -> None: ...
    @staticmethod
    def from_dict(data: Union[Mapping[str, Any], str]) -> RoomKey: ...
    @property
    def room_id(self) -> str: ...
    @property
    def session_id(self) -> str: ...
    @property
    def algorithm(self) -> str: ...
    @property
    def sender_key(self) -> str: ...
    @property
    def session_key(self) -> str: ...
    @property
    def sender_claimed_keys(self) -> dict[str, str]: ...
    @property
    def forwarding_chain(self) -> list[str]: ...
    @property
    def first_message_index(self) -> Optional[int]: ...
    @property
    def shared_history(self) -> bool: ...
    def session_id_matches(self) -> bool: ...
    def to_dict(self) -> dict[str, Any]: ...
    def to_json(self) -> str: ...

@final
class Progress:
    @property
    def done(self) -> int: ...
    @property
    def failed(self) -> int: ...
    @property
    def total(self) -> Optional[int]: ...
    @property
    def bytes_read(self) -> int: ...

@final
class RestoreFailure:
    @property
    def room_id(self) -> str: ...
    @property
    def session_id(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def message(self) -> str: ...

@final
class RestoreResult:
    @property
    def keys(self) -> list[RoomKey]: ...
    @property
    def failures(self) -> list[RestoreFailure]: ...
    @property
    def truncated_at(self) -> Optional[int]: ...
    @property
    def damaged(self) -> int: ...
    @property
    def recovered(self) -> Optional[Recovered]: ...
    def to_dicts(self) -> list[dict[str, Any]]: ...
    def __len__(self) -> int: ...
    def __iter__(self) -> Iterator[RoomKey]: ...

@final
class UploadReport:
    @property
    def uploaded(self) -> int: ...
    @property
    def skipped(self) -> int: ...
    @property
    def version(self) -> str: ...
    @property
    def count(self) -> Optional[int]: ...
    @property
    def etag(self) -> Optional[str]: ...
    @property
    def failures(self) -> list[tuple[int, str]]: ...

SituationKind = Literal[
    "fresh",
    "set_up",
    "backup_without_secret_storage",
    "secret_storage_without_backup",
    "keys_on_other_devices",
    "setup_interrupted",
]

SetupEventKind = Literal[
    "situation",
    "note",
    "cross_signing_uploaded",
    "version_created",
    "carrying_over",
    "progress",
    "carried_over",
    "old_version_deleted",
    "old_version_kept",
    "key_backup_enabled",
    "verified",
]

@final
class AccountSituation:
    @property
    def kind(self) -> SituationKind: ...
    @property
    def key_id(self) -> Optional[str]: ...
    @property
    def version(self) -> Optional[str]: ...
    @property
    def master_key(self) -> Optional[str]: ...
    @property
    def description(self) -> str: ...
    def __eq__(self, other: object) -> bool: ...

@final
class SetupEvent:
    @property
    def kind(self) -> SetupEventKind: ...
    @property
    def message(self) -> str: ...
    @property
    def situation(self) -> Optional[AccountSituation]: ...
    @property
    def version(self) -> Optional[str]: ...
    @property
    def sessions(self) -> Optional[int]: ...
    @property
    def total(self) -> Optional[int]: ...

@final
class SetupOutcome:
    @property
    def security_key(self) -> str: ...
    @property
    def with_phrase(self) -> bool: ...
    @property
    def version(self) -> str: ...
    @property
    def master_key(self) -> str: ...
    @property
    def new_cross_signing(self) -> bool: ...
    @property
    def carried_over(self) -> int: ...
    @property
    def old_version_kept(self) -> Optional[str]: ...
    @property
    def old_version_deleted(self) -> Optional[str]: ...
    @property
    def situation(self) -> AccountSituation: ...
    @property
    def notes(self) -> list[str]: ...

@final
class Homeserver:
    def __init__(
        self,
        url: str,
        access_token: str,
        *,
        allow_insecure_http: bool = False,
        ca_file: Optional[_Path] = None,
    ) -> None: ...
    @staticmethod
    def login(
        url: str,
        user: str,
        password: str,
        *,
        allow_insecure_http: bool = False,
        ca_file: Optional[_Path] = None,
    ) -> Homeserver: ...
    @property
    def url(self) -> str: ...
    @property
    def user_id(self) -> str: ...
    @property
    def device_id(self) -> Optional[str]: ...
    @property
    def access_token(self) -> str: ...
    def logout(self) -> None: ...
    def close(self) -> None: ...
    def __enter__(self) -> Homeserver: ...
    def __exit__(self, exc_type: object = None, exc: object = None, tb: object = None) -> Literal[False]: ...
    def backup_info(self, version: Optional[str] = None) -> dict[str, Any]: ...
    def recover(self, secret: str, *, version: Optional[str] = None) -> Recovered: ...
    def restore(
        self,
        key: _Key,
        *,
        version: Optional[str] = None,
        progress: _Progress = None,
        cancel: Optional[_CancelToken] = None,
        jobs: Optional[int] = None,
    ) -> RestoreResult: ...
    def upload(
        self,
        key: _Key,
        room_keys: _RoomKeys,
        *,
        version: Optional[str] = None,
        progress: _Progress = None,
        cancel: Optional[_CancelToken] = None,
        chunk_size: int = 1000,
    ) -> UploadReport: ...
    def set_up_recovery(
        self,
        *,
        passphrase: Optional[str] = None,
        password: Optional[str] = None,
        reset: bool = False,
        old_key: Optional[_Key] = None,
        replace_cross_signing: bool = False,
        delete_old_version: bool = False,
        discard_stale_backup_key: bool = False,
        on_event: Optional[Callable[[SetupEvent], object]] = None,
    ) -> SetupOutcome: ...
    def upload_export(
        self,
        key: _Key,
        path: _Path,
        passphrase: str,
        *,
        version: Optional[str] = None,
        progress: _Progress = None,
        cancel: Optional[_CancelToken] = None,
        chunk_size: int = 1000,
    ) -> UploadReport: ...

def recover_key(
    secret: str,
    *,
    backup_version: Optional[Union[Mapping[str, Any], str]] = None,
    account_data: Optional[Union[Mapping[str, Any], list[Any], str]] = None,
) -> Recovered: ...
def restore_body(
    key: _Key,
    body: Union[bytes, bytearray, _Path],
    *,
    backup_version: Optional[Union[Mapping[str, Any], str]] = None,
    progress: _Progress = None,
    cancel: Optional[_CancelToken] = None,
    jobs: Optional[int] = None,
) -> RestoreResult: ...
def decrypt_export(data: Union[str, bytes], passphrase: str) -> list[RoomKey]: ...
def read_export(path: _Path, passphrase: str) -> list[RoomKey]: ...
def encrypt_export(
    keys: _RoomKeys, passphrase: str, *, rounds: int = 500000, allow_low_rounds: bool = False
) -> str: ...
def write_export(
    path: _Path, keys: _RoomKeys, passphrase: str, *, rounds: int = 500000, allow_low_rounds: bool = False
) -> None: ...
def looks_like_export(text: str) -> bool: ...
