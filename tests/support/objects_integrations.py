"""Isolation-suite entries of integration intake, and a helper that sends an order."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.support.factories import TenantHandle

# Orders are addressed by (source, external_order_id): the source factory names the source
# every order made here uses, the order factory makes a new order of that source. The source
# is unlikely text, so the list checks cannot find it by chance.
SOURCE = f"iso-{secrets.token_hex(6)}"


def order_body(**fields: Any) -> dict[str, Any]:
    """A valid order (a new external id unless given): ready in 1 h, due in 2 h, in Berlin."""
    now = datetime.now(UTC).replace(microsecond=0)
    return {
        "source": SOURCE,
        "external_order_id": f"ORD-{secrets.token_hex(5)}",
        "pickup": {
            "address": "Store 12, Torstrasse 1",
            "lat": 52.5292,
            "lng": 13.401,
            "ready_at": (now + timedelta(hours=1)).isoformat(),
            "contact": {"name": "Store 12", "phone": "+493012345678", "notes": "Back counter"},
        },
        "dropoff": {
            "address": "Alexanderplatz 1",
            "lat": 52.5219,
            "lng": 13.4132,
            "deadline": (now + timedelta(hours=2)).isoformat(),
        },
        "recipient": {"name": "Ada Lovelace", "phone": "+4915112345678", "notes": "Ring twice"},
        "items": [
            {"sku": "PZ-01", "name": "Pizza Margherita", "quantity": 2},
            {"name": "Lemonade", "quantity": 1},
        ],
        "notes": "Keep upright",
        **fields,
    }


def make_order(t: TenantHandle, **fields: Any) -> dict[str, Any]:
    """A new order of the tenant; returns the intake result."""
    r = t.post("/v1/integrations/orders", json=order_body(**fields))
    assert r.status_code == 201, r.text
    return dict(r.json())


FACTORIES: dict[str, Callable[[TenantHandle], str]] = {
    "source": lambda t: SOURCE,
    "external_order_id": lambda t: str(make_order(t)["external_order_id"]),
}
BODIES: dict[tuple[str, str], Any] = {
    ("post", "/v1/integrations/orders/{source}/{external_order_id}/cancel"): {"reason": "Mallory"},
}
