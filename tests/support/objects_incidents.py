"""Isolation-suite entries of incidents and of signed file URLs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lastmile.storage.signing import sign
from tests.support.factories import TenantHandle


def _file_token(t: TenantHandle) -> str:
    """A valid signed token for an object in tenant `t`'s namespace."""
    token, _ = sign(tenant_id=t.id, storage_key=f"{t.id}/isolation/x.png", content_type="image/png")
    return token


FACTORIES: dict[str, Callable[[TenantHandle], str]] = {
    "token": _file_token,
}
BODIES: dict[tuple[str, str], Any] = {}
DRIVER_ALLOWED: set[tuple[str, str]] = set()
