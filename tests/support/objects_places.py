"""Isolation-suite entries of the places domain, and helpers that build zones."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.support.factories import TenantHandle


def box(min_lng: float, min_lat: float, max_lng: float, max_lat: float) -> list[list[float]]:
    """A closed counter-clockwise rectangular ring."""
    return [
        [min_lng, min_lat],
        [max_lng, min_lat],
        [max_lng, max_lat],
        [min_lng, max_lat],
        [min_lng, min_lat],
    ]


def polygon(*rings: list[list[float]]) -> dict[str, Any]:
    return {"type": "Polygon", "coordinates": list(rings)}


def make_zone(t: TenantHandle, key: str | None = None, **body: Any) -> dict[str, Any]:
    """A new zone of the tenant (a small box in Amsterdam unless a geometry is given)."""
    body.setdefault("name", "Zone")
    body.setdefault("geometry", polygon(box(4.88, 52.36, 4.92, 52.38)))
    r = t.post("/v1/zones", key=key, json=body)
    assert r.status_code == 201, r.text
    return dict(r.json())


FACTORIES: dict[str, Callable[[TenantHandle], str]] = {
    "zone_id": lambda t: str(make_zone(t)["id"]),
}
BODIES: dict[tuple[str, str], Any] = {
    ("patch", "/v1/zones/{zone_id}"): {"name": "Mallory was here"},
    ("put", "/v1/geocoder"): {"provider": "none"},
    ("post", "/v1/geocode"): {"address": "Dam 1, Amsterdam"},
    ("post", "/v1/zones"): {"name": "Z", "geometry": polygon(box(0, 0, 1, 1))},
}
