"""Isolation-suite entries of recipient tracking links."""

from __future__ import annotations

from collections.abc import Callable

from tests.support.factories import TenantHandle


def make_link_token(t: TenantHandle) -> str:
    """The token of a new drop-off's tracking link (the last part of its `tracking_url`)."""
    r = t.post(
        "/v1/tasks",
        json={"kind": "dropoff", "lat": 52.52, "lng": 13.405, "address": "Alexanderplatz 1"},
    )
    assert r.status_code == 201, r.text
    return str(r.json()["tracking_url"]).rsplit("/", 1)[-1]


FACTORIES: dict[str, Callable[[TenantHandle], str]] = {"link_token": make_link_token}
