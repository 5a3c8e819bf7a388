"""Zone geometries: validation of GeoJSON Polygon and MultiPolygon input, normalisation, and
point-in-zone tests.

Validation reports every problem it finds (up to `MAX_ERRORS`) as a `FieldError` naming the exact
place, e.g. `body.geometry.coordinates[0][3][1]` for the latitude of the fourth position of the
first ring. Structure and ranges are checked first; only a well-formed geometry reaches shapely
for the topological checks (self-intersection, holes inside their shell, overlapping polygons).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import shapely
from shapely.geometry import LinearRing, MultiPolygon, Point, Polygon, mapping, shape
from shapely.geometry.polygon import orient
from shapely.validation import explain_validity

from lastmile.core.errors import FieldError
from lastmile.places.errors import InvalidGeometry

MAX_POSITIONS = 10_000
MAX_ERRORS = 20
TYPES = ("Polygon", "MultiPolygon")

Position = tuple[float, float]
Ring = list[Position]


@dataclass(frozen=True)
class ZoneShape:
    """A validated zone geometry: its normalised GeoJSON, shapely shape, bbox and area."""

    geojson: dict[str, Any]
    shape: Polygon | MultiPolygon
    min_lng: float
    min_lat: float
    max_lng: float
    max_lat: float
    area: float

    def covers(self, lng: float, lat: float) -> bool:
        """Whether the point lies inside the zone or on its boundary (not in a hole)."""
        return bool(self.shape.covers(Point(lng, lat)))

    def covers_many(self, lngs: Sequence[float], lats: Sequence[float]) -> list[bool]:
        """`covers` for many points at once (vectorised; for a point, intersects == covers)."""
        return [bool(v) for v in shapely.intersects_xy(self.shape, lngs, lats)]


class _Problems:
    """Collects field errors, up to a limit."""

    def __init__(self) -> None:
        self.errors: list[FieldError] = []

    def add(self, field: str, message: str, code: str = "invalid") -> None:
        if len(self.errors) < MAX_ERRORS:
            self.errors.append(FieldError(field, message, code))

    @property
    def full(self) -> bool:
        return len(self.errors) >= MAX_ERRORS


class _TooManyPositions(Exception):
    pass


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _position(value: object, path: str, problems: _Problems) -> Position | None:
    if not isinstance(value, list) or not 2 <= len(value) <= 3:
        problems.add(path, "a position is an array [longitude, latitude]", "position")
        return None
    ok = True
    for i, axis in enumerate(value):
        if not _is_number(axis) or not math.isfinite(float(axis)):
            problems.add(f"{path}[{i}]", "coordinates must be finite numbers", "number")
            ok = False
    if not ok:
        return None
    lng, lat = float(value[0]), float(value[1])
    if not -180.0 <= lng <= 180.0:
        problems.add(f"{path}[0]", f"longitude {lng:g} is outside [-180, 180]", "longitude")
        ok = False
    if not -90.0 <= lat <= 90.0:
        problems.add(f"{path}[1]", f"latitude {lat:g} is outside [-90, 90]", "latitude")
        ok = False
    return (lng, lat) if ok else None


def _ring(value: object, path: str, problems: _Problems, budget: list[int]) -> Ring | None:
    if not isinstance(value, list):
        problems.add(path, "a linear ring is an array of positions", "ring")
        return None
    budget[0] -= len(value)
    if budget[0] < 0:
        raise _TooManyPositions
    positions = [_position(p, f"{path}[{i}]", problems) for i, p in enumerate(value)]
    if len(value) < 4:
        problems.add(
            path,
            f"a linear ring needs at least 4 positions (the last repeating the first), "
            f"got {len(value)}",
            "ring_too_short",
        )
        return None
    ring = [p for p in positions if p is not None]
    if len(ring) != len(positions):
        return None
    if ring[0] != ring[-1]:
        problems.add(
            path,
            f"the ring is not closed: its last position {list(ring[-1])} must equal its first "
            f"{list(ring[0])}",
            "ring_not_closed",
        )
        return None
    return ring


def _rings(value: object, path: str, problems: _Problems, budget: list[int]) -> list[Ring] | None:
    if not isinstance(value, list) or not value:
        problems.add(
            path, "a polygon is a non-empty array of linear rings (shell, then holes)", "polygon"
        )
        return None
    rings = [_ring(r, f"{path}[{i}]", problems, budget) for i, r in enumerate(value)]
    if any(r is None for r in rings):
        return None
    return [r for r in rings if r is not None]


def _polygon(rings: list[Ring], path: str, problems: _Problems) -> Polygon | None:
    """A valid shapely polygon from checked rings, or None after reporting why not."""
    ok = True
    for i, ring in enumerate(rings):
        if Polygon(ring).convex_hull.area == 0:
            problems.add(
                f"{path}[{i}]",
                "the ring encloses no area (its positions lie on one line)",
                "zero_area",
            )
            ok = False
        elif not LinearRing(ring).is_simple:
            reason = explain_validity(Polygon(ring))
            problems.add(f"{path}[{i}]", f"the ring crosses itself ({reason})", "self_intersection")
            ok = False
    if not ok:
        return None
    shell = Polygon(rings[0])
    for i, hole in enumerate(rings[1:], start=1):
        if not shell.covers(Polygon(hole)):
            problems.add(
                f"{path}[{i}]", "the hole is not inside its shell (ring 0)", "hole_outside_shell"
            )
            ok = False
    if not ok:
        return None
    polygon = Polygon(rings[0], rings[1:])
    if not polygon.is_valid:
        problems.add(path, f"invalid polygon: {explain_validity(polygon)}", "invalid_polygon")
        return None
    return polygon


def _coordinates(
    gtype: str, coords: object, path: str, problems: _Problems
) -> Polygon | MultiPolygon | None:
    budget = [MAX_POSITIONS]
    try:
        if gtype == "Polygon":
            rings = _rings(coords, path, problems, budget)
            return _polygon(rings, path, problems) if rings is not None else None
        if not isinstance(coords, list) or not coords:
            problems.add(path, "a MultiPolygon is a non-empty array of polygons", "multipolygon")
            return None
        parts = [_rings(p, f"{path}[{i}]", problems, budget) for i, p in enumerate(coords)]
    except _TooManyPositions:
        problems.add(path, f"at most {MAX_POSITIONS} positions are allowed", "too_many_positions")
        return None
    if any(p is None for p in parts):
        return None
    polygons = [_polygon(rings, f"{path}[{i}]", problems) for i, rings in enumerate(parts) if rings]
    if any(p is None for p in polygons):
        return None
    multi = MultiPolygon([p for p in polygons if p is not None])
    if not multi.is_valid:
        problems.add(
            path,
            f"the polygons overlap or touch along an edge: {explain_validity(multi)}",
            "invalid_multipolygon",
        )
        return None
    return multi


def _lists(value: Any) -> Any:
    """Tuples (as shapely's mapping() returns them) turned into lists, for JSON."""
    if isinstance(value, tuple | list):
        return [_lists(v) for v in value]
    return value


def normalise(geom: Polygon | MultiPolygon) -> dict[str, Any]:
    """GeoJSON following RFC 7946's right-hand rule: shells counter-clockwise, holes clockwise."""
    if isinstance(geom, Polygon):
        oriented: Polygon | MultiPolygon = orient(geom, 1.0)
    else:
        oriented = MultiPolygon([orient(p, 1.0) for p in geom.geoms])
    doc = mapping(oriented)
    return {"type": doc["type"], "coordinates": _lists(doc["coordinates"])}


def _zone_shape(geojson: dict[str, Any], geom: Polygon | MultiPolygon) -> ZoneShape:
    shapely.prepare(geom)
    min_lng, min_lat, max_lng, max_lat = geom.bounds
    return ZoneShape(geojson, geom, min_lng, min_lat, max_lng, max_lat, float(geom.area))


def parse(raw: object, *, field: str = "body.geometry") -> ZoneShape:
    """The validated, normalised zone shape of a GeoJSON geometry; `InvalidGeometry` (422) naming
    each bad place otherwise."""
    problems = _Problems()
    geom: Polygon | MultiPolygon | None = None
    if not isinstance(raw, dict):
        problems.add(field, "a GeoJSON geometry object is required", "geometry")
    else:
        gtype = raw.get("type")
        if gtype not in TYPES:
            problems.add(
                f"{field}.type",
                f"the geometry type must be Polygon or MultiPolygon, not {gtype!r}",
                "geometry_type",
            )
        elif "coordinates" not in raw:
            problems.add(f"{field}.coordinates", "coordinates are required", "missing")
        else:
            geom = _coordinates(str(gtype), raw["coordinates"], f"{field}.coordinates", problems)
    if geom is None or problems.errors:
        if not problems.errors:  # pragma: no cover - every None path reports why
            problems.add(field, "invalid geometry")
        raise InvalidGeometry(
            f"{len(problems.errors)} problem(s) with the geometry"
            + (" (only the first are listed)" if problems.full else ""),
            problems.errors,
        )
    return _zone_shape(normalise(geom), geom)


def load(geojson: dict[str, Any]) -> ZoneShape:
    """The zone shape of a stored (already validated and normalised) geometry."""
    geom = shape(geojson)
    if not isinstance(geom, Polygon | MultiPolygon):  # pragma: no cover - stored data is checked
        raise TypeError(f"stored zone geometry is a {geom.geom_type}")
    return _zone_shape(geojson, geom)


class ShapeCache:
    """Parsed shapes of stored zones by (zone id, version), least recently used first out."""

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self._items: OrderedDict[tuple[str, str], ZoneShape] = OrderedDict()

    def get(self, zone_id: str, version: str, geojson: dict[str, Any]) -> ZoneShape:
        key = (zone_id, version)
        hit = self._items.get(key)
        if hit is not None:
            self._items.move_to_end(key)
            return hit
        zs = load(geojson)
        self._items[key] = zs
        if len(self._items) > self.size:
            self._items.popitem(last=False)
        return zs

    def clear(self) -> None:
        self._items.clear()
