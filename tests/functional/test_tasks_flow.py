"""The delivery model end to end: fleet, linked tasks, assignment, driver actions, proof."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx

from lastmile.core import clock
from tests.support.factories import TenantHandle
from tests.support.fleetkit import BERLIN, crew, image, ok


def test_linked_pickup_and_dropoff_delivered_with_proof(tenant: TenantHandle) -> None:
    """Admin sets up the fleet, an integration key creates a linked pair, the dispatcher assigns,
    the driver delivers with photo and signature; history and proof come back; the URL expires."""
    hub = ok(tenant.post("/v1/hubs", json={"name": "Depot", "lat": 52.5, "lng": 13.4}))
    vehicle = ok(
        tenant.post(
            "/v1/vehicles", json={"name": "Van", "type": "van", "capacity": {"parcels": 50}}
        )
    )
    c = crew(tenant)
    integration = tenant.key("dispatcher")
    lat, lng = BERLIN
    pickup = ok(
        tenant.post(
            "/v1/tasks",
            key=integration,
            json={
                "kind": "pickup",
                "lat": lat,
                "lng": lng,
                "address": "Shop",
                "external_ref": "ORD-1/P",
            },
        )
    )
    dropoff = ok(
        tenant.post(
            "/v1/tasks",
            key=integration,
            json={
                "kind": "dropoff",
                "lat": lat + 0.01,
                "lng": lng,
                "address": "Home",
                "external_ref": "ORD-1/D",
                "depends_on": pickup["id"],
                "requirements": {"photo": True, "signature": True},
            },
        )
    )
    assert dropoff["zone_id"] == c.zone_id and dropoff["team_id"] == c.team_id
    assert hub["id"] and vehicle["id"]

    # The dispatcher assigns the drop-off: its pickup goes to the same driver, first.
    r = tenant.post(
        f"/v1/tasks/{dropoff['id']}/assign", key=c.dispatcher_token, json={"driver_id": c.driver_id}
    )
    moved = {t["id"]: t for t in ok(r, 200)["tasks"]}
    assert set(moved) == {dropoff["id"]}
    p = ok(tenant.get(f"/v1/tasks/{pickup['id']}", key=c.driver_token), 200)
    d = ok(tenant.get(f"/v1/tasks/{dropoff['id']}", key=c.driver_token), 200)
    assert p["driver_id"] == d["driver_id"] == c.driver_id
    assert p["route_position"] < d["route_position"]

    drv = c.driver_token
    # The drop-off cannot start before the pickup is completed.
    r = tenant.post(f"/v1/tasks/{dropoff['id']}/start", key=drv)
    assert r.status_code == 409 and r.json()["type"] == "/problems/dependency-not-met"
    for action in ("start", "arrive"):
        ok(
            tenant.post(
                f"/v1/tasks/{pickup['id']}/{action}", key=drv, json={"lat": lat, "lng": lng}
            ),
            200,
        )
    ok(tenant.post(f"/v1/tasks/{pickup['id']}/complete", key=drv, data={"notes": "picked"}), 200)
    ok(tenant.post(f"/v1/tasks/{dropoff['id']}/start", key=drv), 200)
    ok(
        tenant.post(
            f"/v1/tasks/{dropoff['id']}/arrive", key=drv, json={"lat": lat + 0.01, "lng": lng}
        ),
        200,
    )
    done = ok(
        tenant.post(
            f"/v1/tasks/{dropoff['id']}/complete",
            key=drv,
            data={"notes": "left with neighbour", "lat": str(lat + 0.01), "lng": str(lng)},
            files=[
                ("photos", ("door.jpg", image("JPEG"), "image/jpeg")),
                ("signature", ("sig.png", image("PNG"), "image/png")),
            ],
        ),
        200,
    )
    assert done["state"] == "completed" and done["completion"]["notes"] == "left with neighbour"

    history = ok(tenant.get(f"/v1/tasks/{dropoff['id']}/history"), 200)
    assert [h["action"] for h in history] == ["create", "assign", "start", "arrive", "complete"]
    assert history[0]["actor_kind"] == "api_key"
    assert history[2]["actor_kind"] == "user" and history[2]["driver_id"] == c.driver_id
    assert history[3]["lat"] == lat + 0.01

    proof = ok(tenant.get(f"/v1/tasks/{dropoff['id']}/proof", key=drv), 200)
    kinds = sorted(f["kind"] for f in proof["files"])
    assert kinds == ["photo", "signature"]
    url = proof["files"][0]["url"]
    got = tenant.client.get(url)
    assert got.status_code == 200 and got.headers["content-type"].startswith("image/")
    later = datetime.now(UTC) + timedelta(hours=1)
    clock.set_clock(lambda: later)
    try:
        assert tenant.client.get(url).status_code == 404
    finally:
        clock.set_clock(None)


def test_invalid_transitions_are_409_and_change_nothing(tenant: TenantHandle) -> None:
    """Every action not in the table for the task's state is a 409 and leaves the task as it was."""
    c = crew(tenant)
    lat, lng = BERLIN
    task_id = ok(tenant.post("/v1/tasks", json={"kind": "dropoff", "lat": lat, "lng": lng}))["id"]
    drv = c.driver_token
    actions = {
        "unassign": lambda: tenant.post(f"/v1/tasks/{task_id}/unassign"),
        "start": lambda: tenant.post(f"/v1/tasks/{task_id}/start"),
        "arrive": lambda: tenant.post(f"/v1/tasks/{task_id}/arrive"),
        "complete": lambda: tenant.post(f"/v1/tasks/{task_id}/complete", data={}),
        "fail": lambda: tenant.post(
            f"/v1/tasks/{task_id}/complete", data={"success": "false", "failure_reason": "x"}
        ),
        "assign": lambda: tenant.post(
            f"/v1/tasks/{task_id}/assign", json={"driver_id": c.driver_id}
        ),
        "cancel": lambda: tenant.post(f"/v1/tasks/{task_id}/cancel"),
    }
    allowed = {
        "unassigned": {"assign", "cancel"},
        "assigned": {"assign", "unassign", "start", "cancel"},
        "started": {"arrive", "fail", "cancel"},
        "arrived": {"complete", "fail", "cancel"},
    }
    path = ["assign", "start", "arrive"]
    for state in ("unassigned", "assigned", "started", "arrived"):
        before = ok(tenant.get(f"/v1/tasks/{task_id}"), 200)
        assert before["state"] == state
        for name, act in actions.items():
            if name in allowed[state]:
                continue
            r = act()
            assert r.status_code == 409, (state, name, r.status_code, r.text)
            assert ok(tenant.get(f"/v1/tasks/{task_id}"), 200) == before, (state, name)
        if path:
            step = path.pop(0)
            ok(actions[step](), 200)
    ok(tenant.post(f"/v1/tasks/{task_id}/complete", key=drv, data={}), 200)
    final = ok(tenant.get(f"/v1/tasks/{task_id}"), 200)
    for name, act in actions.items():
        assert act().status_code == 409, ("completed", name)
    assert ok(tenant.get(f"/v1/tasks/{task_id}"), 200) == final


def test_missing_proof_is_422_and_stores_nothing(tenant: TenantHandle) -> None:
    """Completing without the required signature names it and stores no photo."""
    c = crew(tenant)
    lat, lng = BERLIN
    task_id = ok(
        tenant.post(
            "/v1/tasks",
            json={
                "kind": "dropoff",
                "lat": lat,
                "lng": lng,
                "requirements": {"photo": True, "signature": True, "min_age": 18},
            },
        )
    )["id"]
    ok(tenant.post(f"/v1/tasks/{task_id}/assign", json={"driver_id": c.driver_id}), 200)
    ok(tenant.post(f"/v1/tasks/{task_id}/start", key=c.driver_token), 200)
    ok(tenant.post(f"/v1/tasks/{task_id}/arrive", key=c.driver_token), 200)
    r = tenant.post(
        f"/v1/tasks/{task_id}/complete",
        key=c.driver_token,
        files=[("photos", ("a.jpg", image(), "image/jpeg"))],
    )
    assert r.status_code == 422
    assert {e["field"] for e in r.json()["errors"]} == {"signature", "recipient_age"}
    assert ok(tenant.get(f"/v1/tasks/{task_id}/proof"), 200)["files"] == []
    assert ok(tenant.get(f"/v1/tasks/{task_id}"), 200)["state"] == "arrived"


def test_bad_photos_are_refused_precisely(tenant: TenantHandle) -> None:
    """A PDF named .jpg is 422 and a 30 MB photo is 413, each naming the photo; nothing stored."""
    c = crew(tenant)
    lat, lng = BERLIN
    task_id = ok(
        tenant.post(
            "/v1/tasks",
            json={"kind": "dropoff", "lat": lat, "lng": lng, "requirements": {"photo": True}},
        )
    )["id"]
    ok(tenant.post(f"/v1/tasks/{task_id}/assign", json={"driver_id": c.driver_id}), 200)
    ok(tenant.post(f"/v1/tasks/{task_id}/start", key=c.driver_token), 200)
    ok(tenant.post(f"/v1/tasks/{task_id}/arrive", key=c.driver_token), 200)
    pdf = b"%PDF-1.7\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
    r = tenant.post(
        f"/v1/tasks/{task_id}/complete",
        key=c.driver_token,
        files=[("photos", ("photo.jpg", pdf, "image/jpeg"))],
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "photos[0]"
    big = b"\xff\xd8\xff\xe0" + b"\0" * (30 * 1024 * 1024)
    r = tenant.post(
        f"/v1/tasks/{task_id}/complete",
        key=c.driver_token,
        files=[("photos", ("big.jpg", big, "image/jpeg"))],
    )
    assert r.status_code == 413, r.text
    assert ok(tenant.get(f"/v1/tasks/{task_id}/proof"), 200)["files"] == []
    assert ok(tenant.get(f"/v1/tasks/{task_id}"), 200)["state"] == "arrived"


def test_failure_needs_a_reason_and_is_recorded(tenant: TenantHandle) -> None:
    """A failed delivery requires a reason; it ends `failed` with the reason in history."""
    c = crew(tenant)
    task_id = ok(
        tenant.post("/v1/tasks", json={"kind": "dropoff", "lat": BERLIN[0], "lng": BERLIN[1]})
    )["id"]
    ok(tenant.post(f"/v1/tasks/{task_id}/assign", json={"driver_id": c.driver_id}), 200)
    ok(tenant.post(f"/v1/tasks/{task_id}/start", key=c.driver_token), 200)
    r = tenant.post(f"/v1/tasks/{task_id}/complete", key=c.driver_token, data={"success": "false"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "failure_reason"
    failed = ok(
        tenant.post(
            f"/v1/tasks/{task_id}/complete",
            key=c.driver_token,
            data={"success": "false", "failure_reason": "recipient absent"},
        ),
        200,
    )
    assert failed["state"] == "failed"
    history = ok(tenant.get(f"/v1/tasks/{task_id}/history"), 200)
    assert history[-1]["details"]["failure_reason"] == "recipient absent"


def test_drivers_and_dispatchers_see_only_their_own(tenant: TenantHandle) -> None:
    """A driver cannot read another driver's task or proof; a dispatcher cannot touch another team's task."""
    north, south = crew(tenant), crew(tenant, 48.13, 11.58)
    t_north = ok(
        tenant.post("/v1/tasks", json={"kind": "dropoff", "lat": BERLIN[0], "lng": BERLIN[1]})
    )
    t_south = ok(tenant.post("/v1/tasks", json={"kind": "dropoff", "lat": 48.13, "lng": 11.58}))
    assert t_north["team_id"] == north.team_id and t_south["team_id"] == south.team_id
    ok(tenant.post(f"/v1/tasks/{t_north['id']}/assign", json={"driver_id": north.driver_id}), 200)
    ok(tenant.post(f"/v1/tasks/{t_south['id']}/assign", json={"driver_id": south.driver_id}), 200)
    for path in (
        f"/v1/tasks/{t_north['id']}",
        f"/v1/tasks/{t_north['id']}/proof",
        f"/v1/tasks/{t_north['id']}/history",
    ):
        assert tenant.get(path, key=south.driver_token).status_code == 404
    listed = ok(tenant.get("/v1/tasks", key=south.driver_token), 200)["data"]
    assert [t["id"] for t in listed] == [t_south["id"]]
    r = tenant.post(f"/v1/tasks/{t_north['id']}/start", key=south.driver_token)
    assert r.status_code == 404
    for call in (
        lambda: tenant.patch(
            f"/v1/tasks/{t_north['id']}", key=south.dispatcher_token, json={"priority": 9}
        ),
        lambda: tenant.post(f"/v1/tasks/{t_north['id']}/cancel", key=south.dispatcher_token),
        lambda: tenant.post(f"/v1/tasks/{t_north['id']}/unassign", key=south.dispatcher_token),
    ):
        assert call().status_code == 404
    assert ok(tenant.get(f"/v1/tasks/{t_north['id']}"), 200)["state"] == "assigned"
    r = tenant.post(
        "/v1/tasks",
        key=south.dispatcher_token,
        json={"kind": "dropoff", "lat": BERLIN[0], "lng": BERLIN[1]},
    )
    assert r.status_code == 403 and r.json()["errors"][0]["field"] == "body.team_id"


def test_bulk_assign_is_atomic(tenant: TenantHandle, client: httpx.Client) -> None:
    """Bulk assignment with one unknown task assigns none of them."""
    c = crew(tenant)
    ids = [
        ok(tenant.post("/v1/tasks", json={"kind": "dropoff", "lat": BERLIN[0], "lng": BERLIN[1]}))[
            "id"
        ]
        for _ in range(3)
    ]
    r = tenant.post(
        "/v1/tasks/bulk-assign", json={"driver_id": c.driver_id, "task_ids": [*ids, "tsk_missing"]}
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "body.task_ids[3]"
    assert all(ok(tenant.get(f"/v1/tasks/{i}"), 200)["state"] == "unassigned" for i in ids)
    r = ok(
        tenant.post("/v1/tasks/bulk-assign", json={"driver_id": c.driver_id, "task_ids": ids}), 200
    )
    route = sorted(
        (t["route_position"], t["id"]) for t in (ok(tenant.get(f"/v1/tasks/{i}"), 200) for i in ids)
    )
    assert [i for _, i in route] == ids and [p for p, _ in route] == [0, 1, 2]
    # Move the last one to the front.
    ok(
        tenant.post(f"/v1/tasks/{ids[2]}/assign", json={"driver_id": c.driver_id, "position": 0}),
        200,
    )
    assert ok(tenant.get(f"/v1/tasks/{ids[2]}"), 200)["route_position"] == 0
    assert ok(tenant.get(f"/v1/tasks/{ids[0]}"), 200)["route_position"] == 1
    assert r["warnings"] == []


def test_dispatchers_see_only_their_teams_incidents(tenant: TenantHandle) -> None:
    """A dispatcher lists and reads incidents of their teams' tasks and drivers, not others'."""
    north, south = crew(tenant), crew(tenant, 48.13, 11.58)
    t_north = ok(
        tenant.post("/v1/tasks", json={"kind": "dropoff", "lat": BERLIN[0], "lng": BERLIN[1]})
    )
    inc_task = ok(
        tenant.post("/v1/incidents", json={"type": "wrong_address", "task_id": t_north["id"]})
    )
    inc_driver = ok(
        tenant.post(
            "/v1/incidents", json={"type": "vehicle_breakdown", "driver_id": north.driver_id}
        )
    )
    seen_north = {
        i["id"] for i in ok(tenant.get("/v1/incidents", key=north.dispatcher_token), 200)["data"]
    }
    seen_south = {
        i["id"] for i in ok(tenant.get("/v1/incidents", key=south.dispatcher_token), 200)["data"]
    }
    assert {inc_task["id"], inc_driver["id"]} <= seen_north
    assert not {inc_task["id"], inc_driver["id"]} & seen_south
    assert (
        tenant.get(f"/v1/incidents/{inc_task['id']}", key=south.dispatcher_token).status_code == 404
    )
    assert ok(tenant.get(f"/v1/incidents/{inc_task['id']}", key=north.dispatcher_token), 200)
