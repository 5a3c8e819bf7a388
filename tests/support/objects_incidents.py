"""Isolation-suite entries of incidents and of signed file URLs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lastmile.storage.signing import sign
from tests.support.factories import TenantHandle
from tests.support.objects_fleet import make_driver


def make_incident(t: TenantHandle, **body: Any) -> dict[str, Any]:
    """A new open incident of the tenant (about a new driver unless a task or driver is given)."""
    if "task_id" not in body and "driver_id" not in body:
        body["driver_id"] = make_driver(t)["id"]
    body = {"type": "vehicle_breakdown", "notes": "Flat tyre", **body}
    r = t.post("/v1/incidents", json=body)
    assert r.status_code == 201, r.text
    return dict(r.json())


def _file_token(t: TenantHandle) -> str:
    """A valid signed token for an object in tenant `t`'s namespace."""
    token, _ = sign(tenant_id=t.id, storage_key=f"{t.id}/isolation/x.png", content_type="image/png")
    return token


FACTORIES: dict[str, Callable[[TenantHandle], str]] = {
    "token": _file_token,
    "incident_id": lambda t: str(make_incident(t)["id"]),
}
BODIES: dict[tuple[str, str], Any] = {
    ("post", "/v1/incidents/{incident_id}/resolve"): {"resolution_notes": "Mallory was here"},
}
DRIVER_ALLOWED = {
    ("post", "/v1/incidents"),
    ("get", "/v1/incidents"),
    ("get", "/v1/incidents/{incident_id}"),
    ("post", "/v1/incidents/{incident_id}/photo"),
}
