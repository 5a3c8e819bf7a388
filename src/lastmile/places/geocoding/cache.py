"""An in-process cache of geocoding results (Nominatim's usage policy asks clients to cache)."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Hashable

from lastmile.places.geocoding.base import GeocodeResult

TTL_SECONDS = 24 * 3600.0
MAX_ENTRIES = 10_000


class ResultCache:
    """Found places by key, for `ttl` seconds, at most `size` of them (least recently used out).
    Only successes are kept: a miss or a failure asks the provider again next time."""

    def __init__(
        self,
        size: int = MAX_ENTRIES,
        ttl: float = TTL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.size, self.ttl, self.clock = size, ttl, clock
        self._items: OrderedDict[Hashable, tuple[float, GeocodeResult]] = OrderedDict()

    def get(self, key: Hashable) -> GeocodeResult | None:
        hit = self._items.get(key)
        if hit is None:
            return None
        expires, result = hit
        if expires <= self.clock():
            del self._items[key]
            return None
        self._items.move_to_end(key)
        return result

    def put(self, key: Hashable, result: GeocodeResult) -> None:
        self._items[key] = (self.clock() + self.ttl, result)
        self._items.move_to_end(key)
        while len(self._items) > self.size:
            self._items.popitem(last=False)

    def clear(self) -> None:
        self._items.clear()
