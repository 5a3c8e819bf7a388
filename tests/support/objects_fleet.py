"""Isolation-suite entries of the fleet domain, and helpers that build fleet objects."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

from tests.support.factories import TenantHandle


def _created(r: Any) -> dict[str, Any]:
    assert r.status_code == 201, r.text
    return dict(r.json())


def make_team(t: TenantHandle, **body: Any) -> dict[str, Any]:
    """A new team of the tenant (unique name unless given)."""
    body.setdefault("name", f"Team {secrets.token_hex(4)}")
    return _created(t.post("/v1/teams", json=body))


def make_hub(t: TenantHandle, **body: Any) -> dict[str, Any]:
    body = {"name": "Depot", "lat": 53.55, "lng": 9.99, **body}
    return _created(t.post("/v1/hubs", json=body))


def make_vehicle(t: TenantHandle, **body: Any) -> dict[str, Any]:
    body = {"name": "Van", "type": "van", "capacity": {"parcels": 100}, **body}
    return _created(t.post("/v1/vehicles", json=body))


def make_driver(t: TenantHandle, team_ids: list[str] | None = None, **body: Any) -> dict[str, Any]:
    """A new driver user and its driver record; `user` in the result is the user."""
    user = t.user("driver")
    body = {
        "user_id": user["id"],
        "team_ids": team_ids or [make_team(t)["id"]],
        **body,
    }
    driver = _created(t.post("/v1/drivers", json=body))
    driver["user"] = user
    return driver


FACTORIES: dict[str, Callable[[TenantHandle], str]] = {
    "team_id": lambda t: str(make_team(t)["id"]),
    "hub_id": lambda t: str(make_hub(t)["id"]),
    "vehicle_id": lambda t: str(make_vehicle(t)["id"]),
    "driver_id": lambda t: str(make_driver(t)["id"]),
}
BODIES: dict[tuple[str, str], Any] = {
    ("patch", "/v1/teams/{team_id}"): {"description": "Mallory was here"},
    ("put", "/v1/teams/{team_id}/dispatchers"): {"user_ids": []},
    ("patch", "/v1/hubs/{hub_id}"): {"name": "Mallory's depot"},
    ("patch", "/v1/vehicles/{vehicle_id}"): {"name": "Mallory's van"},
    ("patch", "/v1/drivers/{driver_id}"): {"name": "Mallory"},
    ("post", "/v1/drivers/{driver_id}/duty"): {"on_duty": True},
}
DRIVER_ALLOWED = {
    ("get", "/v1/drivers"),
    ("get", "/v1/drivers/me"),
    ("get", "/v1/drivers/{driver_id}"),
    ("post", "/v1/drivers/{driver_id}/duty"),
    ("get", "/v1/drivers/{driver_id}/duty-history"),
}
BODY_REFS: dict[str, Callable[[TenantHandle], Any]] = {
    "hub_id": lambda t: make_hub(t)["id"],
    "vehicle_id": lambda t: make_vehicle(t)["id"],
    "team_ids": lambda t: [make_team(t)["id"]],
    "user_id": lambda t: t.user("driver")["id"],
    "skills": lambda t: ["heavy"],
}
