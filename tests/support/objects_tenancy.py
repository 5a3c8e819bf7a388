"""Isolation-suite entries of the tenancy domain."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.support.factories import TenantHandle

FACTORIES: dict[str, Callable[[TenantHandle], str]] = {
    "user_id": lambda t: str(t.user("dispatcher")["id"]),
    "key_id": lambda t: str(
        t.post("/v1/api-keys", json={"name": "victim", "role": "viewer"}).json()["id"]
    ),
    "tenant_id": lambda t: t.id,
}
BODIES: dict[tuple[str, str], Any] = {
    ("patch", "/v1/users/{user_id}"): {"name": "Mallory was here"},
}
DRIVER_ALLOWED = {("get", "/v1/me")}
