"""Isolation-suite entries of the tasks domain."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

from tests.support.factories import TenantHandle


def make_task(t: TenantHandle, **fields: Any) -> str:
    body = {"kind": "dropoff", "lat": 52.52, "lng": 13.405, "address": "Alexanderplatz 1", **fields}
    r = t.post("/v1/tasks", json=body)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def make_import(t: TenantHandle) -> str:
    csv = b"kind,lat,lng\ndropoff,52.5,13.4\n"
    r = t.post("/v1/task-imports", files={"file": ("t.csv", io.BytesIO(csv), "text/csv")})
    assert r.status_code == 202, r.text
    return str(r.json()["id"])


FACTORIES: dict[str, Callable[[TenantHandle], str]] = {
    "task_id": make_task,
    "import_id": make_import,
}
BODIES: dict[tuple[str, str], Any] = {
    ("patch", "/v1/tasks/{task_id}"): {"priority": 3},
    ("post", "/v1/tasks/{task_id}/assign"): {"driver_id": "drv_doesnotexist"},
}
DRIVER_ALLOWED = {
    ("get", "/v1/tasks"),
    ("get", "/v1/tasks/{task_id}"),
    ("get", "/v1/tasks/{task_id}/history"),
    ("get", "/v1/tasks/{task_id}/proof"),
    ("post", "/v1/tasks/{task_id}/start"),
    ("post", "/v1/tasks/{task_id}/arrive"),
    ("post", "/v1/tasks/{task_id}/complete"),
    ("get", "/v1/task-imports"),
    ("get", "/v1/task-imports/{import_id}"),
}
