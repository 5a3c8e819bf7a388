"""Isolation-suite entries of route templates, and a helper that builds one."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.support.factories import TenantHandle

STOP: dict[str, Any] = {
    "kind": "dropoff",
    "place": {"lat": 52.52, "lng": 13.405, "address": "Alexanderplatz 1"},
    "window": {"start": "09:00", "end": "11:00"},
}


def make_template(t: TenantHandle, **body: Any) -> dict[str, Any]:
    """A new route template of the tenant (every weekday, one drop-off unless given)."""
    body = {
        "name": "Round",
        "weekdays": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
        "stops": [STOP],
        **body,
    }
    r = t.post("/v1/route-templates", json=body)
    assert r.status_code == 201, r.text
    return dict(r.json())


FACTORIES: dict[str, Callable[[TenantHandle], str]] = {
    "template_id": lambda t: str(make_template(t)["id"]),
}
BODIES: dict[tuple[str, str], Any] = {
    ("patch", "/v1/route-templates/{template_id}"): {"name": "Mallory's round"},
    ("post", "/v1/route-templates/{template_id}/materialize"): {"date": "2030-01-07"},
}
BODY_REFS: dict[str, Callable[[TenantHandle], Any]] = {
    "required_skills": lambda t: ["heavy"],
}
