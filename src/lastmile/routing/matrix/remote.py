"""A remote provider (OSRM, Google) that always answers: its matrix is asked in blocks, and any
cell it does not give (an error, a timeout, a quota answer, no route) is filled by the offline
estimate, with a structlog warning and `lastmile_routing_matrix_fallbacks_total{provider,reason}`.

The first failed request stops the rest (a dead server is not asked a hundred more times, and
the caller does not wait a hundred timeouts): every cell not yet answered falls back. Cells the
provider answered with "no route" fall back one by one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import httpx
import numpy as np
import numpy.typing as npt
import structlog
from prometheus_client import Counter

from lastmile.fleet.enums import VehicleType
from lastmile.routing.matrix import http
from lastmile.routing.matrix.base import (
    ERROR,
    TIMEOUT,
    UNREACHABLE,
    FloatMatrix,
    Matrix,
    Point,
    ProviderError,
    TableSource,
    check_points,
    empty,
    readonly,
)
from lastmile.routing.matrix.offline import OfflineProvider

CONCURRENCY = 4  # requests in flight per matrix
DEADLINE_SECONDS = 60.0  # the whole matrix; what is not answered by then falls back

FALLBACKS = Counter(
    "lastmile_routing_matrix_fallbacks_total",
    "Travel-time matrices (or some of their cells) estimated offline because the provider "
    "failed or found no route, by provider and reason.",
    ["provider", "reason"],
)


def record_fallback(
    *, provider: str, reason: str, detail: str, cells: int, points: int, profile: str
) -> None:
    """Count and log one fallback (a fresh logger each time: fallbacks are rare, and tests
    capture them)."""
    FALLBACKS.labels(provider=provider, reason=reason).inc()
    structlog.get_logger(__name__).warning(
        "routing_matrix_fallback",
        provider=provider,
        reason=reason,
        detail=detail,
        cells=cells,
        points=points,
        profile=profile,
    )


class RemoteProvider:
    """`source`'s matrices, completed by `offline` where `source` fails."""

    def __init__(
        self,
        source: TableSource,
        offline: OfflineProvider,
        *,
        timeout: float = http.TIMEOUT_SECONDS,
        deadline: float = DEADLINE_SECONDS,
        concurrency: int = CONCURRENCY,
    ) -> None:
        self.source = source
        self.offline = offline
        self.name = source.name
        self.timeout = timeout
        self.deadline = deadline
        self.concurrency = concurrency

    async def _fill(
        self,
        points: Sequence[Point],
        profile: VehicleType,
        durations: FloatMatrix,
        distances: FloatMatrix,
        answered: npt.NDArray[np.bool_],
    ) -> ProviderError | None:
        """Ask every block, `concurrency` at a time, until one fails; returns that failure."""
        pending = iter(self.source.blocks(len(points)))
        failure: ProviderError | None = None

        async def worker(client: httpx.AsyncClient) -> None:
            nonlocal failure
            for rows, cols in pending:
                if failure is not None:
                    return
                try:
                    got_d, got_m = await self.source.block(client, points, profile, rows, cols)
                except ProviderError as exc:
                    failure = failure or exc
                    return
                shape = (len(rows), len(cols))
                if got_d.shape != shape or got_m.shape != shape:
                    raise ValueError(f"{self.name} adapter returned a block of the wrong shape")
                box = (slice(rows.start, rows.stop), slice(cols.start, cols.stop))
                durations[box] = got_d
                distances[box] = got_m
                answered[box] = True

        async with http.client(self.timeout) as client, asyncio.TaskGroup() as group:
            for _ in range(self.concurrency):
                group.create_task(worker(client))
        return failure

    async def matrix(self, points: Sequence[Point], profile: VehicleType) -> Matrix:
        check_points(points)
        n = len(points)
        if n == 0:
            return empty(self.name)
        durations = np.full((n, n), np.nan)
        distances = np.full((n, n), np.nan)
        answered = np.zeros((n, n), dtype=np.bool_)
        failure: ProviderError | None = None
        if n > 1:
            try:
                async with asyncio.timeout(self.deadline):
                    failure = await self._fill(points, profile, durations, distances, answered)
            except TimeoutError:
                failure = ProviderError(
                    TIMEOUT, f"{self.name} did not finish within {self.deadline:g} s"
                )
            except Exception as exc:  # a bug must not stop route planning: estimate instead
                failure = ProviderError(ERROR, f"{type(exc).__name__}: {http.said(exc)}")
        np.fill_diagonal(durations, 0.0)
        np.fill_diagonal(distances, 0.0)
        np.fill_diagonal(answered, True)
        missing = np.isnan(durations) | np.isnan(distances)
        reasons: set[str] = set()
        cells = int(missing.sum())
        if cells:
            estimated_d, estimated_m = self.offline.estimate(points, profile)
            durations[missing] = estimated_d[missing]
            distances[missing] = estimated_m[missing]
            failed = int((~answered).sum())
            if failure is not None and failed:
                reasons.add(failure.reason)
                record_fallback(
                    provider=self.name,
                    reason=failure.reason,
                    detail=failure.detail,
                    cells=failed,
                    points=n,
                    profile=profile.value,
                )
            unreachable = int((missing & answered).sum())
            if unreachable:
                reasons.add(UNREACHABLE)
                record_fallback(
                    provider=self.name,
                    reason=UNREACHABLE,
                    detail=f"{self.name} found no route for {unreachable} pair(s)",
                    cells=unreachable,
                    points=n,
                    profile=profile.value,
                )
        return Matrix(
            readonly(np.rint(durations).astype(np.int64)),
            readonly(np.rint(distances).astype(np.int64)),
            self.name,
            fallback_cells=cells,
            fallback_reasons=frozenset(reasons),
        )
