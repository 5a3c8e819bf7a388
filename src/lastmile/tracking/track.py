"""Breadcrumbs to a line: Douglas-Peucker simplification (shapely) with a tolerance in metres."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime

from shapely.geometry import LineString

METRES_PER_DEGREE = 111_320.0  # one degree of latitude (and of longitude at the equator)


def simplify(
    points: Sequence[tuple[float, float, datetime]], tolerance_m: float
) -> list[tuple[float, float, datetime]]:
    """The points (lat, lng, recorded_at) a line simplified to `tolerance_m` metres keeps, in
    order, with their exact coordinates.

    The line is drawn on a local plane in metres (longitude degrees shrunk by the cosine of the
    mean latitude, i.e. the tolerance converted to degrees at that latitude); each vertex
    carries its index as Z, which GEOS keeps, so kept points map back to the originals."""
    if len(points) < 3 or tolerance_m <= 0:
        return list(points)
    lat0 = sum(p[0] for p in points) / len(points)
    kx = METRES_PER_DEGREE * max(math.cos(math.radians(lat0)), 1e-6)
    line = LineString(
        [(lng * kx, lat * METRES_PER_DEGREE, i) for i, (lat, lng, _t) in enumerate(points)]
    )
    kept = line.simplify(tolerance_m, preserve_topology=False)
    indexes = sorted({round(c[2]) for c in kept.coords}) if not kept.is_empty else []
    if len(indexes) < 2:  # all points in one place: keep the ends
        indexes = [0, len(points) - 1]
    return [points[i] for i in indexes]
