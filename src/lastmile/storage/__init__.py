"""Object storage for uploaded files (proof photos, signatures, incident photos, imports).

A small `Storage` protocol with two adapters: a local directory (the default) and any
S3-compatible object store. Keys are relative, slash-separated paths such as
`ten_x/proofs/tsk_y/prf_z.jpg`; the first segment is always the owning tenant's id.
"""

from __future__ import annotations

import re
from typing import Protocol

from lastmile.core.config import Settings
from lastmile.core.errors import DomainError

__all__ = [
    "InvalidKey",
    "ObjectNotFound",
    "Storage",
    "StorageError",
    "StorageUnavailable",
    "make_storage",
    "storage_for",
    "validate_key",
]

MAX_KEY_LENGTH = 300
# Segments start with a letter or digit: no empty, `.` or `..` segment, no hidden files.
_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)*$")


class StorageError(Exception):
    """The storage backend failed or is misconfigured."""


class StorageUnavailable(DomainError):
    """The API's answer (503 problem) when the backend fails during a request."""

    status, code, title = 503, "storage-unavailable", "File storage unavailable"


class InvalidKey(StorageError, ValueError):
    """A key that could escape its namespace (`..`, absolute, odd characters)."""


class ObjectNotFound(StorageError, KeyError):
    """No object is stored under this key."""


def validate_key(key: str) -> str:
    """The key if it is a safe relative path; InvalidKey otherwise."""
    if not isinstance(key, str) or len(key) > MAX_KEY_LENGTH or not _KEY.match(key):
        raise InvalidKey(f"unsafe storage key {key!r}")
    return key


class Storage(Protocol):
    """Where files live. Every method is async; blocking backends run in a worker thread."""

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        """Store `data` under `key` (replacing any object there)."""

    async def get(self, key: str) -> tuple[bytes, str]:
        """The bytes and content type stored under `key`; ObjectNotFound when none."""

    async def delete(self, key: str) -> None:
        """Remove the object under `key`; nothing happens when there is none."""


def make_storage(settings: Settings) -> Storage:
    """A new storage adapter as the settings configure it."""
    if settings.storage_backend == "s3":
        from lastmile.storage.s3 import S3Storage

        if not settings.s3_bucket:
            raise StorageError("LASTMILE_S3_BUCKET must be set when LASTMILE_STORAGE_BACKEND=s3")
        return S3Storage(
            bucket=settings.s3_bucket,
            endpoint_url=settings.s3_endpoint_url,
            access_key_id=settings.s3_access_key_id,
            secret_access_key=settings.s3_secret_access_key,
            region=settings.s3_region,
        )
    from lastmile.storage.local import LocalStorage

    return LocalStorage(settings.storage_dir)


_cache: dict[tuple[object, ...], Storage] = {}


def storage_for(settings: Settings) -> Storage:
    """The shared adapter for these settings (one S3 client per configuration)."""
    ident = (
        settings.storage_backend,
        settings.storage_dir,
        settings.s3_endpoint_url,
        settings.s3_bucket,
        settings.s3_access_key_id,
        settings.s3_secret_access_key,
        settings.s3_region,
    )
    found = _cache.get(ident)
    if found is None:
        found = _cache[ident] = make_storage(settings)
    return found
