"""Storage in a local directory: `<root>/<key>`, content types in `<root>/.meta/<key>`."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from anyio import to_thread

from lastmile.storage import InvalidKey, ObjectNotFound, validate_key

_META = ".meta"  # keys never start a segment with ".", so this cannot collide with a key


class LocalStorage:
    """Files under one root directory, written atomically (temporary file, then rename)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).resolve()

    def _paths(self, key: str) -> tuple[Path, Path]:
        validate_key(key)
        data = (self.root / key).resolve()
        meta = (self.root / _META / key).resolve()
        # Belt and braces: the key pattern already forbids `..`; symlinks could still escape.
        if not data.is_relative_to(self.root) or not meta.is_relative_to(self.root / _META):
            raise InvalidKey(f"storage key {key!r} leaves the storage directory")
        return data, meta

    @staticmethod
    def _write(path: Path, content: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(content)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise

    def _put(self, key: str, data: bytes, content_type: str) -> None:
        path, meta = self._paths(key)
        self._write(meta, content_type.encode())
        self._write(path, data)

    def _get(self, key: str) -> tuple[bytes, str]:
        path, meta = self._paths(key)
        try:
            data = path.read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise ObjectNotFound(key) from None
        try:
            content_type = meta.read_text().strip() or "application/octet-stream"
        except FileNotFoundError:
            content_type = "application/octet-stream"
        return data, content_type

    def _delete(self, key: str) -> None:
        for path in self._paths(key):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        await to_thread.run_sync(self._put, key, data, content_type)

    async def get(self, key: str) -> tuple[bytes, str]:
        return await to_thread.run_sync(self._get, key)

    async def delete(self, key: str) -> None:
        await to_thread.run_sync(self._delete, key)
