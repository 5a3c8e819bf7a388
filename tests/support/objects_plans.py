"""Isolation-suite entries of route plans."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.support.factories import TenantHandle
from tests.support.objects_fleet import make_driver, make_team
from tests.support.objects_tasks import make_task


def make_plan(t: TenantHandle, **body: Any) -> dict[str, Any]:
    """A finished route plan of one task and one driver."""
    body = {
        "task_ids": [make_task(t)],
        "driver_ids": [make_driver(t)["id"]],
        "time_budget_seconds": 0.3,
        **body,
    }
    r = t.post("/v1/route-plans", params={"wait": "true"}, json=body)
    assert r.status_code == 201, r.text
    return dict(r.json())


FACTORIES: dict[str, Callable[[TenantHandle], str]] = {
    "plan_id": lambda t: str(make_plan(t)["id"]),
}
BODY_REFS: dict[str, Callable[[TenantHandle], Any]] = {
    "task_ids": lambda t: [make_task(t)],
    "driver_ids": lambda t: [make_driver(t)["id"]],
    "locked_driver_ids": lambda t: [],
    "team_id": lambda t: make_team(t)["id"],
}
# An estimate creates nothing: viewers (and integrations with routing:read) may ask for one.
VIEWER_WRITES_ALLOWED = {("post", "/v1/estimates")}
