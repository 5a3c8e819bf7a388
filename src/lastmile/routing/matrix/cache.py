"""Caches of remote matrices: whole matrices, in process (LRU) and in Redis when configured.

A matrix is cached for its *canonical* point set: coordinates rounded to 5 decimals (about 1 m),
duplicates merged, sorted. A request for the same places in another order, or with a place
repeated, is the same entry; `expand` puts the rows back in the caller's order. Whole matrices
rather than pairs: a 1,000-point matrix is a million pairs, too many small entries for either
cache, and the route planner asks again for the same stop set (re-plans, previews, retries).

Entries live 24 hours (`TTL_SECONDS`): road networks and traffic-unaware durations change far
more slowly, and a changed configuration is a new key anyway. The offline provider is never
cached: computing is faster than a lookup.
"""

from __future__ import annotations

import hashlib
import json
import time
import zlib
from collections import OrderedDict
from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt
import structlog
from prometheus_client import Counter
from redis.asyncio import Redis

from lastmile.routing.matrix.base import Matrix, Point, readonly

TTL_SECONDS = 24 * 3600.0
DECIMALS = 5
MAX_CELLS = 2_000_000  # in process: 2 x 8 bytes a cell, 32 MB at most
REDIS_PREFIX = "lastmile:routing:matrix:v1:"
REDIS_TIMEOUT_SECONDS = 1.0

LOOKUPS = Counter(
    "lastmile_routing_matrix_cache_total",
    "Remote travel-time matrix cache lookups by result (memory, redis, miss).",
    ["result"],
)


def canonical(points: Sequence[Point]) -> tuple[list[Point], npt.NDArray[np.intp]]:
    """The sorted distinct rounded points, and where each input point is among them."""
    rounded = np.round(np.asarray(points, dtype=np.float64).reshape(-1, 2), DECIMALS) + 0.0
    distinct, where = np.unique(rounded, axis=0, return_inverse=True)
    return [(float(lat), float(lng)) for lat, lng in distinct.tolist()], where.reshape(-1)


def key_for(parts: Sequence[str], points: Sequence[Point]) -> str:
    """A digest of the configuration parts and the canonical points (no secret goes in)."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode())
        digest.update(b"\0")
    digest.update(np.asarray(points, dtype=np.float64).tobytes())
    return digest.hexdigest()


def expand(matrix: Matrix, where: npt.NDArray[np.intp]) -> Matrix:
    """The canonical matrix in the caller's order (rows and columns picked by `where`)."""
    if len(where) == len(matrix) and np.array_equal(where, np.arange(len(where))):
        return matrix
    pick = np.ix_(where, where)
    return Matrix(
        readonly(matrix.durations[pick]),
        readonly(matrix.distances[pick]),
        matrix.provider,
        fallback_cells=matrix.fallback_cells,
        fallback_reasons=matrix.fallback_reasons,
    )


class MatrixCache:
    """Matrices by key for `ttl` seconds, at most `max_cells` cells in all (least recently used
    out first)."""

    def __init__(
        self,
        max_cells: int = MAX_CELLS,
        ttl: float = TTL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_cells, self.ttl, self.clock = max_cells, ttl, clock
        self._items: OrderedDict[str, tuple[float, Matrix]] = OrderedDict()
        self._cells = 0

    def get(self, key: str) -> Matrix | None:
        hit = self._items.get(key)
        if hit is None:
            return None
        expires, matrix = hit
        if expires <= self.clock():
            self._drop(key)
            return None
        self._items.move_to_end(key)
        return matrix

    def put(self, key: str, matrix: Matrix) -> None:
        size = len(matrix) ** 2
        if size > self.max_cells:
            return
        if key in self._items:
            self._drop(key)
        self._items[key] = (self.clock() + self.ttl, matrix)
        self._cells += size
        while self._cells > self.max_cells:
            self._drop(next(iter(self._items)))

    def _drop(self, key: str) -> None:
        _, matrix = self._items.pop(key)
        self._cells -= len(matrix) ** 2

    def clear(self) -> None:
        self._items.clear()
        self._cells = 0

    def __len__(self) -> int:
        return len(self._items)


def dumps(matrix: Matrix) -> bytes:
    """A header line of JSON, then both arrays (little-endian int64), zlib-compressed."""
    header = {
        "n": len(matrix),
        "provider": matrix.provider,
        "fallback_cells": matrix.fallback_cells,
        "fallback_reasons": sorted(matrix.fallback_reasons),
    }
    body = matrix.durations.astype("<i8").tobytes() + matrix.distances.astype("<i8").tobytes()
    return json.dumps(header).encode() + b"\n" + zlib.compress(body, 1)


def loads(data: bytes) -> Matrix:
    """The matrix `dumps` wrote; ValueError for anything else."""
    head, _, packed = data.partition(b"\n")
    try:
        header = json.loads(head)
        n = int(header["n"])
        both = np.frombuffer(zlib.decompress(packed), dtype="<i8").astype(np.int64)
    except (ValueError, KeyError, TypeError, zlib.error) as exc:
        raise ValueError("not a cached matrix") from exc
    if both.size != 2 * n * n:
        raise ValueError("a cached matrix of the wrong size")
    return Matrix(
        readonly(both[: n * n].reshape(n, n).copy()),
        readonly(both[n * n :].reshape(n, n).copy()),
        str(header["provider"]),
        fallback_cells=int(header["fallback_cells"]),
        fallback_reasons=frozenset(str(r) for r in header["fallback_reasons"]),
    )


class RedisMatrixStore:
    """The shared cache between processes (`LASTMILE_REDIS_URL`). Redis being down, slow or
    holding garbage only costs a miss and a warning, never the matrix."""

    def __init__(self, url: str, ttl: float = TTL_SECONDS) -> None:
        self.url, self.ttl = url, ttl

    def _client(self) -> Redis:
        return Redis.from_url(
            self.url,
            socket_timeout=REDIS_TIMEOUT_SECONDS,
            socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
        )

    async def get(self, key: str) -> Matrix | None:
        try:
            async with self._client() as client:
                data = await client.get(REDIS_PREFIX + key)
            return loads(data) if isinstance(data, bytes) and data else None
        except Exception as exc:
            structlog.get_logger(__name__).warning(
                "routing_matrix_cache_redis_failed", op="get", error=type(exc).__name__
            )
            return None

    async def put(self, key: str, matrix: Matrix) -> None:
        try:
            async with self._client() as client:
                await client.set(REDIS_PREFIX + key, dumps(matrix), ex=int(self.ttl))
        except Exception as exc:
            structlog.get_logger(__name__).warning(
                "routing_matrix_cache_redis_failed", op="put", error=type(exc).__name__
            )
