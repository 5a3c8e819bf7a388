"""Isolation-suite entries of webhook endpoints, and helpers that make them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.support.factories import TenantHandle

# Loopback (allowed in tests) on the discard port: nothing listens, a send fails at once.
NOWHERE = "http://127.0.0.1:9/hooks"


def make_endpoint(t: TenantHandle, **body: Any) -> dict[str, Any]:
    """A new endpoint of the tenant (disabled unless told: nothing is sent to it)."""
    r = t.post("/v1/webhook-endpoints", json={"url": NOWHERE, "enabled": False, **body})
    assert r.status_code == 201, r.text
    return dict(r.json())


def make_message(t: TenantHandle) -> str:
    """The id of a message of a new endpoint: the one its test ping made."""
    endpoint = make_endpoint(t)
    r = t.post(f"/v1/webhook-endpoints/{endpoint['id']}/test")
    assert r.status_code == 200, r.text
    return str(r.json()["message_id"])


FACTORIES: dict[str, Callable[[TenantHandle], str]] = {
    "endpoint_id": lambda t: str(make_endpoint(t)["id"]),
    "message_id": make_message,
}
BODIES: dict[tuple[str, str], Any] = {
    ("patch", "/v1/webhook-endpoints/{endpoint_id}"): {"description": "Mallory", "enabled": True},
    ("post", "/v1/webhook-endpoints/{endpoint_id}/rotate-secret"): {"overlap_seconds": 60},
    ("post", "/v1/webhook-endpoints/{endpoint_id}/replay"): {"since": "2026-01-01T00:00:00Z"},
}
