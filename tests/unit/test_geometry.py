"""Zone geometry validation and normalisation, point tests, the shape cache, and the geocoding
helpers that need no server: the result cache."""

from __future__ import annotations

import itertools
import math
from typing import Any

import pytest

from lastmile.places import geometry
from lastmile.places.errors import InvalidGeometry
from lastmile.places.geocoding.base import GeocodeResult
from lastmile.places.geocoding.cache import ResultCache

pytestmark = pytest.mark.unit

SQUARE = [[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]


def poly(*rings: list[Any]) -> dict[str, Any]:
    return {"type": "Polygon", "coordinates": list(rings)}


def problems(raw: object) -> list[tuple[str, str]]:
    with pytest.raises(InvalidGeometry) as info:
        geometry.parse(raw)
    assert info.value.status == 422
    return [(e.field, e.code) for e in info.value.errors]


def test_valid_polygon_gives_bbox_area_and_normalised_geojson() -> None:
    """A valid square parses to its bbox, its area and float coordinates."""
    shape = geometry.parse(poly(SQUARE))
    assert (shape.min_lng, shape.min_lat, shape.max_lng, shape.max_lat) == (0, 0, 1, 1)
    assert shape.area == pytest.approx(1.0)
    assert shape.geojson == {
        "type": "Polygon",
        "coordinates": [[[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0], [0.0, 0.0]]],
    }


def test_winding_follows_the_right_hand_rule() -> None:
    """Shells come out counter-clockwise and holes clockwise, whatever the input winding."""
    cw_shell = list(reversed([[0, 0], [10, 0], [10, 10], [0, 10], [0, 0]]))
    ccw_hole = [[4, 4], [6, 4], [6, 6], [4, 6], [4, 4]]
    out = geometry.parse(poly(cw_shell, ccw_hole)).geojson["coordinates"]

    def signed_area(ring: list[list[float]]) -> float:
        return sum(a[0] * b[1] - b[0] * a[1] for a, b in itertools.pairwise(ring)) / 2

    assert signed_area(out[0]) > 0
    assert signed_area(out[1]) < 0


def test_altitude_is_dropped_and_extra_members_ignored() -> None:
    """A third coordinate (altitude) and foreign members such as bbox are not stored."""
    raw = {**poly([[0, 0, 5], [1, 0, 5], [1, 1, 5], [0, 0, 5]]), "bbox": [0, 0, 1, 1]}
    assert geometry.parse(raw).geojson == {
        "type": "Polygon",
        "coordinates": [[[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 0.0]]],
    }


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (None, ("body.geometry", "geometry")),
        ({"type": "LineString", "coordinates": SQUARE}, ("body.geometry.type", "geometry_type")),
        (poly(SQUARE[:-1]), ("body.geometry.coordinates[0]", "ring_not_closed")),
        (
            poly([[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]),
            ("body.geometry.coordinates[0]", "self_intersection"),
        ),
        (poly([[0, 0], [1, 0], [0, 0]]), ("body.geometry.coordinates[0]", "ring_too_short")),
        (
            poly([[0, 0], [1, 0], [1, -90.01], [0, 0]]),
            ("body.geometry.coordinates[0][2][1]", "latitude"),
        ),
        (
            poly([[0, 0], [-180.5, 0], [1, 1], [0, 0]]),
            ("body.geometry.coordinates[0][1][0]", "longitude"),
        ),
        (
            poly([[0, 0], [True, 0], [1, 1], [0, 0]]),
            ("body.geometry.coordinates[0][1][0]", "number"),
        ),
        (
            poly([[0, 0], [math.inf, 0], [1, 1], [0, 0]]),
            ("body.geometry.coordinates[0][1][0]", "number"),
        ),
        (
            poly([[0, 0], [math.nan, 0], [1, 1], [0, 0]]),
            ("body.geometry.coordinates[0][1][0]", "number"),
        ),
        (poly([[0, 0], [1], [1, 1], [0, 0]]), ("body.geometry.coordinates[0][1]", "position")),
        (
            poly([[0, 0], [1, 0, 0, 0], [1, 1], [0, 0]]),
            ("body.geometry.coordinates[0][1]", "position"),
        ),
        (poly("ring"), ("body.geometry.coordinates[0]", "ring")),
        (poly([[0, 0], [2, 2], [4, 4], [0, 0]]), ("body.geometry.coordinates[0]", "zero_area")),
        (
            poly(SQUARE, [[0.5, 0.5], [2, 0.5], [2, 2], [0.5, 0.5]]),
            ("body.geometry.coordinates[1]", "hole_outside_shell"),
        ),
        (
            poly(
                [[0, 0], [10, 0], [10, 10], [0, 10], [0, 0]],
                [[2, 2], [5, 2], [5, 5], [2, 5], [2, 2]],
                [[4, 4], [7, 4], [7, 7], [4, 7], [4, 4]],
            ),
            ("body.geometry.coordinates", "invalid_polygon"),
        ),
        (
            {"type": "MultiPolygon", "coordinates": []},
            ("body.geometry.coordinates", "multipolygon"),
        ),
        (
            {
                "type": "MultiPolygon",
                "coordinates": [[SQUARE], [[[0, 0], [1, 0], [1, -1], [0, 0]]]],
            },
            ("body.geometry.coordinates", "invalid_multipolygon"),
        ),
    ],
)
def test_each_problem_names_its_field(raw: object, expected: tuple[str, str]) -> None:
    """Each invalid input yields a problem naming the exact field with a stable code."""
    assert expected in problems(raw)


def test_every_bad_position_is_reported_up_to_a_limit() -> None:
    """All out-of-range positions are listed, at most MAX_ERRORS of them."""
    ring = [[0, 0]] + [[0, 100]] * 30 + [[0, 0]]
    found = problems(poly(ring))
    assert len(found) == geometry.MAX_ERRORS
    assert found[0] == ("body.geometry.coordinates[0][1][1]", "latitude")


def test_position_limit_is_checked_before_the_positions() -> None:
    """More than MAX_POSITIONS positions is refused as such, without listing them."""
    ring = [[0, 0]] * (geometry.MAX_POSITIONS + 1)
    assert problems(poly(ring)) == [("body.geometry.coordinates", "too_many_positions")]
    multi = {"type": "MultiPolygon", "coordinates": [[SQUARE]] * (geometry.MAX_POSITIONS // 5 + 1)}
    assert ("body.geometry.coordinates", "too_many_positions") in problems(multi)


def test_field_prefix_is_the_callers() -> None:
    """The field path starts with whatever the caller names the geometry."""
    with pytest.raises(InvalidGeometry) as info:
        geometry.parse({"type": "Point"}, field="body.zones[2].geometry")
    assert info.value.errors[0].field == "body.zones[2].geometry.type"


def test_covers_includes_the_boundary_and_excludes_holes() -> None:
    """A point on the edge is covered; a point in a hole or outside is not."""
    shape = geometry.parse(
        poly([[0, 0], [10, 0], [10, 10], [0, 10], [0, 0]], [[4, 4], [6, 4], [6, 6], [4, 6], [4, 4]])
    )
    assert shape.covers(0, 5)
    assert shape.covers(2, 2)
    assert not shape.covers(5, 5)
    assert shape.covers(4, 5)  # the hole's edge belongs to the zone
    assert not shape.covers(11, 5)


def test_antimeridian_zones_are_split_into_a_multipolygon() -> None:
    """A zone across 180° is given as two parts, and both sides are covered."""
    multi = {
        "type": "MultiPolygon",
        "coordinates": [
            [[[179, -1], [180, -1], [180, 1], [179, 1], [179, -1]]],
            [[[-180, -1], [-179, -1], [-179, 1], [-180, 1], [-180, -1]]],
        ],
    }
    shape = geometry.parse(multi)
    assert shape.covers(179.5, 0) and shape.covers(-179.5, 0)
    assert not shape.covers(0, 0)


def test_shape_cache_reuses_and_evicts() -> None:
    """The cache returns the same parsed shape per (id, version) and keeps at most `size`."""
    cache = geometry.ShapeCache(size=2)
    doc = geometry.parse(poly(SQUARE)).geojson
    first = cache.get("z1", "v1", doc)
    assert cache.get("z1", "v1", doc) is first
    assert cache.get("z1", "v2", doc) is not first
    cache.get("z2", "v1", doc)
    assert cache.get("z1", "v1", doc) is not first  # evicted


def test_result_cache_expires_and_evicts() -> None:
    """Cached results expire after the TTL, and the least recently used goes when full."""
    now = [0.0]
    cache = ResultCache(size=2, ttl=10, clock=lambda: now[0])
    a, b, c = (GeocodeResult(i, i, str(i), "fake") for i in range(3))
    cache.put("a", a)
    cache.put("b", b)
    assert cache.get("a") is a  # a is now the most recently used
    cache.put("c", c)
    assert cache.get("b") is None
    assert cache.get("a") is a and cache.get("c") is c
    now[0] = 10.0
    assert cache.get("a") is None


def test_api_keys_are_redacted_from_httpx_request_logs() -> None:
    """The filter on httpx's logger hides `key=` values of logged request URLs."""
    import logging

    import httpx

    url = httpx.URL("https://maps.example/maps/api/geocode/json?address=Dam&key=AIza-secret")
    record = logging.LogRecord(
        "httpx", logging.INFO, "", 0, "HTTP Request: %s %s", ("GET", url), None
    )
    for flt in logging.getLogger("httpx").filters:
        assert not isinstance(flt, logging.Filter) or flt.filter(record)
    message = record.getMessage()
    assert "AIza-secret" not in message
    assert "key=***" in message and "address=Dam" in message


def test_covers_many_agrees_with_covers_on_edges_holes_and_outside() -> None:
    """The vectorised point test gives the same answer as the one-point test, edges included."""
    shape = geometry.parse(
        poly(
            [[0, 0], [10, 0], [10, 10], [0, 10], [0, 0]],
            [[4, 4], [6, 4], [6, 6], [4, 6], [4, 4]],
        )
    )
    points = [(x / 2, y / 2) for x in range(-2, 23) for y in range(-2, 23)]
    many = shape.covers_many([p[0] for p in points], [p[1] for p in points])
    assert many == [shape.covers(x, y) for x, y in points]
    assert True in many and False in many
