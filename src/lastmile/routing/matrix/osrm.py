"""OSRM Table service adapter: `GET {base}/table/v1/{profile}/{lng,lat;lng,lat…}
?annotations=duration,distance[&sources=…&destinations=…]`.

The answer is `{"code": "Ok", "durations": [[s…]…], "distances": [[m…]…], "sources": […],
"destinations": […]}` in row-major order, `null` where no route was found. Errors are HTTP 400
with `{"code": "InvalidQuery" | "InvalidValue" | "InvalidOptions" | "InvalidUrl" |
"InvalidService" | "InvalidVersion" | "NoSegment" | "TooBig" | "NoTable" | …, "message": …}`.

osrm-routed refuses tables of more than `--max-table-size` locations (100 by default) with
`TooBig`, so a bigger matrix is asked in blocks: the whole matrix when it has at most
`max_locations` points, else bands of `max_locations // 2` origins x as many destinations (both
sent as coordinates, picked with `sources=` and `destinations=`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx
import numpy as np

from lastmile.fleet.enums import VehicleType
from lastmile.routing.matrix import http
from lastmile.routing.matrix.base import (
    BAD_RESPONSE,
    QUOTA,
    REJECTED,
    UNAVAILABLE,
    FloatMatrix,
    Point,
    ProviderError,
    square_blocks,
)

NAME = "osrm"
DEFAULT_MAX_LOCATIONS = 100  # osrm-routed's default --max-table-size
# The profile path segment per vehicle type (OSRM's stock profiles are car, bike and foot; a
# server, or a proxy in front of several, routes on it).
PROFILES: dict[VehicleType, str] = {
    VehicleType.walker: "foot",
    VehicleType.bicycle: "bike",
    VehicleType.motorcycle: "car",
    VehicleType.car: "car",
    VehicleType.van: "car",
    VehicleType.truck: "car",
}


def _number_grid(doc: dict[str, Any], name: str, rows: int, cols: int) -> FloatMatrix:
    """A rows x cols array from an OSRM annotation, NaN for `null` (no route)."""
    grid = doc.get(name)
    if not isinstance(grid, list) or len(grid) != rows:
        raise ProviderError(BAD_RESPONSE, f"{NAME} answered without {rows} rows of {name}")
    for row in grid:
        if not isinstance(row, list) or len(row) != cols:
            raise ProviderError(BAD_RESPONSE, f"{NAME} answered {name} rows of the wrong length")
        for value in row:
            if value is not None and type(value) not in (int, float):
                raise ProviderError(BAD_RESPONSE, f"{NAME} answered a non-numeric {name} value")
    array = np.array(grid, dtype=np.float64).reshape(rows, cols)
    known = array[~np.isnan(array)]
    if not np.all(np.isfinite(known)) or np.any(known < 0):
        raise ProviderError(BAD_RESPONSE, f"{NAME} answered a negative or infinite {name} value")
    return array


class OsrmTable:
    """Asks an OSRM server (`base_url`, e.g. `http://osrm.internal:5000`) for tables."""

    name = NAME

    def __init__(self, *, base_url: str, max_locations: int = DEFAULT_MAX_LOCATIONS) -> None:
        if max_locations < 2:
            raise ValueError("max_locations must be at least 2")
        self.base_url = base_url.rstrip("/")
        self.max_locations = max_locations

    def blocks(self, n: int) -> list[tuple[range, range]]:
        if n <= self.max_locations:
            return [(range(n), range(n))]
        return square_blocks(n, self.max_locations // 2)

    async def block(
        self,
        client: httpx.AsyncClient,
        points: Sequence[Point],
        profile: VehicleType,
        origins: range,
        destinations: range,
    ) -> tuple[FloatMatrix, FloatMatrix]:
        params = {"annotations": "duration,distance"}
        if origins == destinations:
            asked = [points[i] for i in origins]
        else:
            asked = [points[i] for i in origins] + [points[j] for j in destinations]
            params["sources"] = ";".join(str(k) for k in range(len(origins)))
            params["destinations"] = ";".join(
                str(k) for k in range(len(origins), len(origins) + len(destinations))
            )
        coordinates = ";".join(f"{lng:.6f},{lat:.6f}" for lat, lng in asked)
        reply = await http.send(
            client,
            "GET",
            f"{self.base_url}/table/v1/{PROFILES[profile]}/{coordinates}",
            provider=NAME,
            params=params,
            headers={"Accept": "application/json"},
        )
        if reply.status == 429:
            raise ProviderError(QUOTA, f"{NAME} rate limit exceeded (HTTP 429)")
        if reply.status >= 500:
            raise ProviderError(UNAVAILABLE, f"{NAME} failed (HTTP {reply.status})")
        rows, cols = len(origins), len(destinations)
        if reply.status == 200:
            doc = reply.json(NAME)
            code = doc.get("code") if isinstance(doc, dict) else None
        else:
            try:
                doc = reply.json(NAME)
            except ProviderError:
                doc = None
            code = doc.get("code") if isinstance(doc, dict) else None
        if code == "NoTable":  # no route between any of them: every cell is unreachable
            return np.full((rows, cols), np.nan), np.full((rows, cols), np.nan)
        if reply.status != 200:
            message = http.said(doc.get("message", "")) if isinstance(doc, dict) else ""
            what = f"{http.said(code, 40)}: {message}" if code else f"HTTP {reply.status}"
            raise ProviderError(REJECTED, f"{NAME} refused the request ({what})")
        if not isinstance(doc, dict) or code != "Ok":
            raise ProviderError(BAD_RESPONSE, f"{NAME} answered code {http.said(code, 40)!r}")
        return _number_grid(doc, "durations", rows, cols), _number_grid(
            doc, "distances", rows, cols
        )
