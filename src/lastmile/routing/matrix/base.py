"""What every travel-time provider shares: points, profiles, the `Matrix`, the Protocol, and the
errors a remote provider raises before it is replaced by the offline estimate."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import httpx
import numpy as np
import numpy.typing as npt

from lastmile.fleet.enums import VehicleType

Point = tuple[float, float]
"""(latitude, longitude) in WGS 84 degrees."""

IntMatrix = npt.NDArray[np.int64]
FloatMatrix = npt.NDArray[np.float64]

# Reasons a provider's answer was replaced (wholly or per cell) by the offline estimate: the
# `reason` label of lastmile_routing_matrix_fallbacks_total.
TIMEOUT = "timeout"  # the provider did not answer in time
UNAVAILABLE = "unavailable"  # unreachable, connection refused, HTTP 5xx
QUOTA = "quota"  # HTTP 429 / RESOURCE_EXHAUSTED
REJECTED = "rejected"  # the provider refused the request (bad key, bad query, too big)
BAD_RESPONSE = "bad_response"  # an answer we cannot read
UNREACHABLE = "unreachable"  # the provider found no route for some pairs (or left them out)
MISCONFIGURED = "misconfigured"  # the stored API key cannot be decrypted
ERROR = "error"  # anything else (a bug): still never an exception to the caller
REASONS = (
    TIMEOUT,
    UNAVAILABLE,
    QUOTA,
    REJECTED,
    BAD_RESPONSE,
    UNREACHABLE,
    MISCONFIGURED,
    ERROR,
)
# Answers the provider will give again (cached); the others are outages (never cached).
STABLE_REASONS = frozenset({UNREACHABLE})


def readonly(array: npt.NDArray[np.int64]) -> IntMatrix:
    array.flags.writeable = False
    return array


@dataclass(frozen=True, eq=False)
class Matrix:
    """Travel durations (whole seconds) and distances (whole metres) between every pair of the
    points asked for: `durations[i][j]` is from point i to point j. Square, one row per point,
    zero on the diagonal; the arrays are read-only (matrices are shared through the cache).

    `provider` names who answered; `fallback_cells` counts the cells that the offline estimate
    filled in (0 for a complete answer), for `fallback_reasons`.
    """

    durations: IntMatrix
    distances: IntMatrix
    provider: str
    fallback_cells: int = 0
    fallback_reasons: frozenset[str] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        n = self.durations.shape[0] if self.durations.ndim == 2 else -1
        for array in (self.durations, self.distances):
            if array.ndim != 2 or array.shape != (n, n) or array.dtype != np.int64:
                raise ValueError("a Matrix is two square int64 arrays of the same size")

    def __len__(self) -> int:
        return int(self.durations.shape[0])

    def duration(self, origin: int, destination: int) -> int:
        return int(self.durations[origin, destination])

    def distance(self, origin: int, destination: int) -> int:
        return int(self.distances[origin, destination])

    def to_lists(self) -> tuple[list[list[int]], list[list[int]]]:
        """(durations, distances) as lists of rows of Python ints (the solver's `Matrix`)."""
        return self.durations.tolist(), self.distances.tolist()

    @property
    def complete(self) -> bool:
        """Whether the provider answered every pair itself."""
        return self.fallback_cells == 0


def empty(provider: str) -> Matrix:
    zero = readonly(np.zeros((0, 0), dtype=np.int64))
    return Matrix(zero, zero, provider)


class MatrixProvider(Protocol):
    """A travel-time provider. `matrix` always answers: a remote provider that fails is replaced
    by the offline estimate (wholly or per cell), never an exception to the caller."""

    name: str

    async def matrix(self, points: Sequence[Point], profile: VehicleType) -> Matrix: ...


def check_points(points: Sequence[Point]) -> None:
    """Refuse coordinates outside WGS 84 ranges (a bug of the caller, not a provider failure)."""
    for i, (lat, lng) in enumerate(points):
        if not (math.isfinite(lat) and math.isfinite(lng) and -90 <= lat <= 90):
            raise ValueError(f"point {i} ({lat}, {lng}) is not a WGS 84 coordinate")
        if not -180 <= lng <= 180:
            raise ValueError(f"point {i} ({lat}, {lng}) is not a WGS 84 coordinate")


@dataclass
class ProviderError(Exception):
    """A remote provider failed for one request; `reason` is one of REASONS."""

    reason: str
    detail: str

    def __post_init__(self) -> None:
        super().__init__(self.detail)


def square_blocks(n: int, size: int) -> list[tuple[range, range]]:
    """Cover an n x n matrix with blocks of at most size x size cells, row band by row band."""
    bands = [range(i, min(i + size, n)) for i in range(0, n, size)]
    return [(rows, cols) for rows in bands for cols in bands]


class TableSource(Protocol):
    """A remote provider's wire adapter: how it cuts a matrix into requests, and one request."""

    name: str

    def blocks(self, n: int) -> list[tuple[range, range]]:
        """The (origins, destinations) index ranges of the requests for an n x n matrix."""
        ...

    async def block(
        self,
        client: httpx.AsyncClient,
        points: Sequence[Point],
        profile: VehicleType,
        origins: range,
        destinations: range,
    ) -> tuple[FloatMatrix, FloatMatrix]:
        """(durations s, distances m) for origins x destinations, NaN where the provider has no
        value (no route). Raises `ProviderError` when the request fails."""
        ...
