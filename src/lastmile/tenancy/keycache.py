"""A per-process memory of recently verified API keys, so a request skips two lookups.

An entry lives `LASTMILE_API_KEY_CACHE_SECONDS` (default 5 s; 0 turns the cache off). Revoking
a key drops it here at once and keeps it out for good; other processes stop accepting it when
their entry expires, so a revoked key works nowhere more than that many seconds.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime

from lastmile.core.config import get_settings
from lastmile.core.tenancy import TenantContext

_MAX_ENTRIES = 10_000


@dataclass
class CachedKey:
    ctx: TenantContext
    expires_at: datetime | None
    last_used_at: datetime


class KeyCache:
    """Digest → verified key, with a time to live and a local revocation list."""

    def __init__(self) -> None:
        self._entries: dict[str, tuple[float, CachedKey]] = {}
        self._revoked: set[str] = set()

    def get(self, key_digest: str) -> CachedKey | None:
        found = self._entries.get(key_digest)
        if found is None:
            return None
        if found[0] <= time.monotonic() or found[1].ctx.actor_id in self._revoked:
            self._entries.pop(key_digest, None)
            return None
        return found[1]

    def put(self, key_digest: str, entry: CachedKey) -> None:
        ttl = get_settings().api_key_cache_seconds
        if ttl <= 0 or entry.ctx.actor_id in self._revoked:
            return
        if len(self._entries) >= _MAX_ENTRIES:
            self._entries.clear()
        self._entries[key_digest] = (time.monotonic() + ttl, entry)

    def forget(self, key_id: str) -> None:
        """Never serve this key from memory again (it is being revoked)."""
        self._revoked.add(key_id)
        for digest_, (_, entry) in list(self._entries.items()):
            if entry.ctx.actor_id == key_id:
                del self._entries[digest_]
