"""Batch creation, CSV imports, search filters and input validation of tasks."""

from __future__ import annotations

import io
import time
from typing import Any

from tests.support.factories import TenantHandle
from tests.support.fleetkit import BERLIN, crew, ok

LAT, LNG = BERLIN


def row(**fields: Any) -> dict[str, Any]:
    return {"kind": "dropoff", "lat": LAT, "lng": LNG, **fields}


def count(t: TenantHandle, **params: Any) -> int:
    return len(ok(t.get("/v1/tasks", params={"limit": 200, **params}), 200)["data"])


def test_batch_reports_each_row_and_links_pairs(tenant: TenantHandle) -> None:
    """Valid rows are created, bad rows carry their own problem, and a pickup in the batch can be linked."""
    body = {
        "tasks": [
            row(kind="pickup", external_ref="B-P1"),
            row(external_ref="B-D1", depends_on_ref="B-P1"),
            row(lat=91),
            row(quantities={"parcels": -1}),
            row(required_skills=["teleportation"]),
            row(complete_after="2026-12-01T10:00:00Z", complete_before="2026-12-01T09:00:00Z"),
            row(external_ref="B-P1"),
        ]
    }
    r = ok(tenant.post("/v1/tasks/batch", json=body), 200)
    assert (r["created"], r["failed"]) == (2, 5)
    status = [x["status"] for x in r["results"]]
    assert status == ["created", "created", "error", "error", "error", "error", "error"]
    fields = [x["problem"]["errors"][0]["field"] for x in r["results"][2:]]
    assert fields == [
        "body.tasks[2].lat",
        "body.tasks[3].quantities.parcels",
        "body.tasks[4].required_skills[0]",
        "body.tasks[5]",
        "body.tasks[6].external_ref",
    ]
    pickup, dropoff = (x["task"] for x in r["results"][:2])
    assert dropoff["depends_on"] == pickup["id"]
    assert count(tenant) == 2


def test_all_or_nothing_batch_stores_nothing_on_one_bad_row(tenant: TenantHandle) -> None:
    """With all_or_nothing, one bad row makes a 422 naming it and no task is stored."""
    body = {
        "all_or_nothing": True,
        "tasks": [row(external_ref=f"AON-{i}") for i in range(5)] + [row(lng=200)],
    }
    r = tenant.post("/v1/tasks/batch", json=body)
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "body.tasks[5].lng"
    assert count(tenant) == 0
    body["tasks"] = body["tasks"][:5]
    assert ok(tenant.post("/v1/tasks/batch", json=body), 200)["created"] == 5


def test_batch_size_is_limited(tenant: TenantHandle) -> None:
    """More than 1,000 rows is a 422 on `body.tasks` and nothing is stored."""
    r = tenant.post("/v1/tasks/batch", json={"tasks": [row()] * 1001})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "body.tasks"
    assert count(tenant) == 0


def test_bad_single_task_input_is_precise(tenant: TenantHandle) -> None:
    """Each invalid field is a 422 naming it, never a 500, and nothing is stored."""
    cases = [
        (row(lat=91), "body.lat"),
        (row(lng=-181), "body.lng"),
        (row(quantities={"weight": -2}), "body.quantities.weight"),
        (row(required_skills=["unknown_skill"]), "body.required_skills[0]"),
        (
            row(complete_after="2026-12-01T10:00:00Z", complete_before="2026-12-01T10:00:00Z"),
            "body",
        ),
        (row(complete_after="2026-12-01T10:00:00"), "body.complete_after"),
        (row(kind="delivery"), "body.kind"),
        (row(depends_on="tsk_nothere"), "body.depends_on"),
        (row(team_id="team_nothere"), "body.team_id"),
        (row(lat=None, lng=None, address="Unter den Linden 1"), "body.lat"),
        (row(tenant_id="ten_other"), "body.tenant_id"),
        (row(notes="nul\u0000byte"), "body.notes"),
    ]
    for body, field in cases:
        r = tenant.post("/v1/tasks", json=body)
        assert r.status_code == 422, (body, r.status_code, r.text)
        assert field in [e["field"] for e in r.json()["errors"]], (field, r.json())
    assert count(tenant) == 0


def test_external_ref_is_unique_per_tenant(
    tenant: TenantHandle, other_tenant: TenantHandle
) -> None:
    """A second task with the same external_ref is a 409 in one tenant, fine in another."""
    ok(tenant.post("/v1/tasks", json=row(external_ref="ORDER-9")))
    r = tenant.post("/v1/tasks", json=row(external_ref="ORDER-9"))
    assert r.status_code == 409 and r.json()["errors"][0]["field"] == "body.external_ref"
    ok(other_tenant.post("/v1/tasks", json=row(external_ref="ORDER-9")))


def test_search_filters(tenant: TenantHandle) -> None:
    """Tasks filter by state, team, driver, zone, kind, external ref, metadata and dates."""
    c = crew(tenant)
    a = ok(tenant.post("/v1/tasks", json=row(metadata={"channel": "pos", "n": 3})))
    b = ok(
        tenant.post(
            "/v1/tasks",
            json=row(
                kind="pickup",
                external_ref="S-2",
                metadata={"channel": "web"},
                complete_before="2030-01-01T00:00:00Z",
            ),
        )
    )
    far = ok(tenant.post("/v1/tasks", json=row(lat=10.0, lng=10.0)))
    ok(tenant.post(f"/v1/tasks/{a['id']}/assign", json={"driver_id": c.driver_id}), 200)

    def ids(**params: Any) -> set[str]:
        return {t["id"] for t in ok(tenant.get("/v1/tasks", params=params), 200)["data"]}

    assert ids(state="assigned") == {a["id"]}
    assert ids(state=["unassigned", "assigned"]) == {a["id"], b["id"], far["id"]}
    assert ids(team_id=c.team_id) == {a["id"], b["id"]}
    assert ids(zone_id=c.zone_id) == {a["id"], b["id"]}
    assert ids(driver_id=c.driver_id) == {a["id"]}
    assert ids(kind="pickup") == {b["id"]}
    assert ids(external_ref="S-2") == {b["id"]}
    assert ids(metadata="channel:pos") == {a["id"]}
    assert ids(metadata=["channel:pos", "n:3"]) == {a["id"]}
    assert ids(metadata="n:4") == set()
    assert ids(due_before="2031-01-01T00:00:00Z", due_after="2029-01-01T00:00:00Z") == {b["id"]}
    assert ids(created_after="2000-01-01T00:00:00Z") == {a["id"], b["id"], far["id"]}
    assert ids(created_before="2000-01-01T00:00:00Z") == set()
    r = tenant.get("/v1/tasks", params={"metadata": "no-colon"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "query.metadata.0"
    assert tenant.get("/v1/tasks", params={"state": "lost"}).status_code == 422


def _wait_import(t: TenantHandle, import_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        job = ok(t.get(f"/v1/task-imports/{import_id}"), 200)
        if job["state"] in ("done", "failed"):
            return dict(job)
        time.sleep(0.1)
    raise AssertionError("import did not finish")


def _csv(lines: list[str]) -> dict[str, Any]:
    return {"file": ("tasks.csv", io.BytesIO("\n".join(lines).encode()), "text/csv")}


def test_csv_import_reports_progress_and_row_errors(tenant: TenantHandle) -> None:
    """A CSV import runs in the background, creates the good rows and reports the bad ones by line."""
    lines = ["kind,lat,lng,external_ref,depends_on_ref,quantity.parcels,metadata.src"]
    lines += [f"dropoff,{LAT},{LNG},CSV-{i},,1,csv" for i in range(1200)]
    lines += [
        "pickup,52.5,13.4,CSV-P,,,csv",
        "dropoff,52.5,13.4,CSV-D,CSV-P,,csv",
        "dropoff,95,13.4,,,,csv",
        "parcel,52.5,13.4,,,,csv",
    ]
    r = tenant.post("/v1/task-imports", files=_csv(lines))
    assert r.status_code == 202, r.text
    job = _wait_import(tenant, r.json()["id"])
    assert job["state"] == "done"
    assert (job["total_rows"], job["processed_rows"]) == (1204, 1204)
    assert (job["created_count"], job["error_count"]) == (1202, 2)
    assert [e["row"] for e in job["errors"]] == [1203, 1204]
    assert job["errors"][0]["errors"][0]["field"] == "lat"
    d = ok(tenant.get("/v1/tasks", params={"external_ref": "CSV-D"}), 200)["data"][0]
    assert d["depends_on"] is not None


def test_all_or_nothing_import_creates_nothing_on_error(tenant: TenantHandle) -> None:
    """An all-or-nothing import with one bad row fails and leaves no task behind."""
    lines = ["kind,lat,lng", f"dropoff,{LAT},{LNG}", "dropoff,91,0"]
    r = tenant.post("/v1/task-imports", files=_csv(lines), data={"all_or_nothing": "true"})
    job = _wait_import(tenant, r.json()["id"])
    assert job["state"] == "failed" and job["created_count"] == 0 and job["error_count"] == 1
    assert count(tenant) == 0


def test_unusable_csv_is_refused_at_upload(tenant: TenantHandle) -> None:
    """A file without the kind column is a 422 on `file` and no import is queued."""
    r = tenant.post("/v1/task-imports", files=_csv(["lat,lng", "1,2"]))
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "file"
    assert ok(tenant.get("/v1/task-imports"), 200)["data"] == []
