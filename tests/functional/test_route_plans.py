"""Route plans through the API: results, reason codes, apply, re-planning, bad input."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.support.factories import TenantHandle
from tests.support.objects_fleet import make_driver, make_hub, make_team, make_vehicle

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
HUB = (52.52, 13.405)


def ok(r: Any, status: int = 201) -> Any:
    assert r.status_code == status, r.text
    return r.json()


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


@dataclass
class Scene:
    epoch: datetime
    team_id: str
    hub_id: str
    drivers: list[str]
    tasks: list[str] = field(default_factory=list)


def _midday_zone() -> str:
    """A time zone where it is about noon now, so "now" falls inside a day shift."""
    offset = 12 - datetime.now(UTC).hour
    return "Etc/GMT" if offset == 0 else f"Etc/GMT{-offset:+d}"


def scene(
    t: TenantHandle, drivers: int = 3, capacity: float = 10, now: bool = False, mode: str = "off"
) -> Scene:
    """A hub, a team, vans of `capacity` parcels, drivers on duty every day: 07:00-20:00 UTC
    with plans for tomorrow 08:00, or (`now`) 07:00-20:00 in a zone where it is noon now."""
    epoch = (datetime.now(UTC) + timedelta(days=1)).replace(
        hour=8, minute=0, second=0, microsecond=0
    )
    zone = "UTC"
    if now:
        epoch, zone = (
            datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=1),
            _midday_zone(),
        )
    hub = make_hub(t, lat=HUB[0], lng=HUB[1], timezone=zone)
    team = make_team(t, hub_id=hub["id"], auto_assign=mode)
    ids = []
    for i in range(drivers):
        van = make_vehicle(t, name=f"Van {i}", capacity={"parcels": capacity})
        d = make_driver(
            t,
            team_ids=[team["id"]],
            vehicle_id=van["id"],
            skills=["cold_chain"],
            shift={day: {"start": "07:00", "end": "20:00"} for day in DAYS},
            start_place={"hub_id": hub["id"]},
            end_place={"hub_id": hub["id"]},
        )
        ok(t.post(f"/v1/drivers/{d['id']}/duty", json={"on_duty": True}), 200)
        ids.append(str(d["id"]))
    return Scene(epoch, str(team["id"]), str(hub["id"]), ids)


def task(t: TenantHandle, s: Scene, i: int, **fields: Any) -> str:
    lat = HUB[0] + 0.01 * ((i * 7) % 9 - 4)
    lng = HUB[1] + 0.012 * ((i * 5) % 9 - 4)
    body = {
        "kind": "dropoff",
        "lat": lat,
        "lng": lng,
        "team_id": s.team_id,
        "service_seconds": 120,
        "quantities": {"parcels": 1},
        "complete_after": iso(s.epoch),
        "complete_before": iso(s.epoch + timedelta(hours=8)),
        **fields,
    }
    task_id = str(ok(t.post("/v1/tasks", json=body))["id"])
    s.tasks.append(task_id)
    return task_id


def plan(t: TenantHandle, s: Scene, status: int = 201, **body: Any) -> Any:
    body = {"task_ids": s.tasks, "starts_at": iso(s.epoch), "time_budget_seconds": 1, **body}
    r = t.post("/v1/route-plans", params={"wait": "true"}, json=body)
    assert r.status_code == status, r.text
    return r.json()


def _stops(p: dict[str, Any]) -> list[dict[str, Any]]:
    return [stop for route in p["routes"] for stop in route["stops"] if stop["task_id"]]


def test_plan_places_every_task_or_says_why(tenant: TenantHandle) -> None:
    """20 tasks (windows, pairs, a skill) on 3 drivers: each task once, in time, with loads."""
    s = scene(tenant)
    for i in range(14):
        task(tenant, s, i)
    for i in range(3):
        pickup = task(tenant, s, 20 + i, kind="pickup", quantities={"parcels": 2})
        task(tenant, s, 30 + i, depends_on=pickup, quantities={"parcels": 2})
    cold = task(tenant, s, 40, required_skills=["cold_chain"])
    p = plan(tenant, s)
    assert p["status"] == "done", p
    assert p["unassigned"] == []
    stops = _stops(p)
    assert sorted(x["task_id"] for x in stops) == sorted(s.tasks)
    assert p["summary"]["assigned"] == len(s.tasks) and p["summary"]["unassigned"] == 0
    for route in p["routes"]:
        times = [route["start"]["at"]] + [
            t for x in route["stops"] for t in (x["arrival_at"], x["departure_at"])
        ]
        assert times == sorted(times)
        assert all(0 <= x["load"]["parcels"] <= 10 for x in route["stops"])
        order = [x["task_id"] for x in route["stops"]]
        for pickup_stop in (x for x in route["stops"] if x["kind"] == "pickup"):
            partner = s.tasks[s.tasks.index(pickup_stop["task_id"]) + 1]
            assert partner in order and order.index(partner) > order.index(pickup_stop["task_id"])
    assert cold in {x["task_id"] for x in stops}
    window_end = iso(s.epoch + timedelta(hours=8))
    assert all(x["service_start_at"] <= window_end.replace("Z", "+00:00") for x in stops)


def test_unassigned_tasks_carry_the_right_reason(tenant: TenantHandle) -> None:
    s = scene(tenant, drivers=2)
    task(tenant, s, 1)
    skill = task(tenant, s, 2, required_skills=["alcohol_id_check"])
    heavy = task(tenant, s, 3, quantities={"parcels": 50})
    late = task(
        tenant,
        s,
        4,
        complete_after=iso(s.epoch - timedelta(hours=3)),
        complete_before=iso(s.epoch - timedelta(hours=2)),
    )
    night = task(
        tenant,
        s,
        5,
        complete_after=iso(s.epoch + timedelta(hours=13)),
        complete_before=iso(s.epoch + timedelta(hours=14)),
    )
    p = plan(tenant, s)
    reasons = {u["task_id"]: u["reason"] for u in p["unassigned"]}
    assert reasons == {
        skill: "no_driver_with_skill",
        heavy: "capacity",
        late: "window_unreachable",
        night: "outside_shift",
    }


def test_apply_assigns_routes_with_planned_times(tenant: TenantHandle) -> None:
    s = scene(tenant, drivers=2)
    for i in range(6):
        task(tenant, s, i)
    p = plan(tenant, s)
    applied = ok(tenant.post(f"/v1/route-plans/{p['id']}/apply"), 200)
    assert applied["assigned_tasks"] == 6
    assert applied["plan"]["applied_at"] is not None
    for route in p["routes"]:
        for position, stop in enumerate(route["stops"]):
            got = ok(tenant.get(f"/v1/tasks/{stop['task_id']}"), 200)
            assert got["state"] == "assigned"
            assert got["driver_id"] == route["driver_id"]
            assert got["route_position"] == position
            assert got["route_plan_id"] == p["id"]
            assert datetime.fromisoformat(got["planned_arrival_at"]) == datetime.fromisoformat(
                stop["arrival_at"]
            )
    r = tenant.post(f"/v1/route-plans/{p['id']}/apply")
    assert r.status_code == 409, r.text


def test_apply_refuses_a_stale_plan(tenant: TenantHandle) -> None:
    s = scene(tenant, drivers=1)
    first = task(tenant, s, 1)
    task(tenant, s, 2)
    p = plan(tenant, s)
    ok(tenant.patch(f"/v1/tasks/{first}", json={"priority": 9}), 200)
    r = tenant.post(f"/v1/route-plans/{p['id']}/apply")
    assert r.status_code == 409, r.text
    assert first in r.json()["detail"]
    assert ok(tenant.get(f"/v1/tasks/{first}"), 200)["state"] == "unassigned"


def test_auto_apply_and_background_run(tenant: TenantHandle) -> None:
    s = scene(tenant, drivers=1)
    for i in range(3):
        task(tenant, s, i)
    body = {"task_ids": s.tasks, "starts_at": iso(s.epoch), "time_budget_seconds": 0.5}
    queued = ok(tenant.post("/v1/route-plans", json={**body, "auto_apply": True}))
    assert queued["status"] in ("queued", "running", "done")
    deadline = time.monotonic() + 30
    while True:
        got = ok(tenant.get(f"/v1/route-plans/{queued['id']}"), 200)
        if got["status"] in ("done", "failed"):
            break
        assert time.monotonic() < deadline, got
        time.sleep(0.2)
    assert got["status"] == "done" and got["applied_at"] is not None
    for task_id in s.tasks:
        assert ok(tenant.get(f"/v1/tasks/{task_id}"), 200)["driver_id"] == s.drivers[0]
    listed = ok(tenant.get("/v1/route-plans", params={"status": "done"}), 200)["data"]
    assert queued["id"] in {x["id"] for x in listed}


def test_cancel(tenant: TenantHandle) -> None:
    s = scene(tenant, drivers=1)
    task(tenant, s, 1)
    p = plan(tenant, s)
    r = tenant.post(f"/v1/route-plans/{p['id']}/cancel")
    assert r.status_code == 409, r.text  # done already
    queued = ok(
        tenant.post(
            "/v1/route-plans",
            json={"task_ids": s.tasks, "time_budget_seconds": 2, "starts_at": iso(s.epoch)},
        )
    )
    cancelled = ok(tenant.post(f"/v1/route-plans/{queued['id']}/cancel"), 200)
    assert cancelled["status"] in ("cancelled", "running")
    deadline = time.monotonic() + 30
    while cancelled["status"] != "cancelled":
        assert time.monotonic() < deadline
        time.sleep(0.2)
        cancelled = ok(tenant.get(f"/v1/route-plans/{queued['id']}"), 200)
    assert cancelled["routes"] == []


def test_replanning_mid_day_keeps_the_active_stop_first(tenant: TenantHandle) -> None:
    """A started stop stays first on its driver's route; completed stops are not planned again;
    an assigned stop stays with its driver (manual assignment)."""
    s = scene(tenant, drivers=2)
    done, active, manual = task(tenant, s, 1), task(tenant, s, 2), task(tenant, s, 3)
    driver = s.drivers[0]
    ok(tenant.post(f"/v1/tasks/{done}/assign", json={"driver_id": driver}), 200)
    ok(tenant.post(f"/v1/tasks/{active}/assign", json={"driver_id": driver}), 200)
    ok(tenant.post(f"/v1/tasks/{manual}/assign", json={"driver_id": s.drivers[1]}), 200)
    for action in ("start", "arrive"):
        ok(tenant.post(f"/v1/tasks/{done}/{action}", json={}), 200)
    ok(tenant.post(f"/v1/tasks/{done}/complete", json={}), 200)
    ok(tenant.post(f"/v1/tasks/{active}/start", json={"lat": 52.53, "lng": 13.41}), 200)
    fresh = [task(tenant, s, 10 + i) for i in range(4)]
    p = plan(tenant, s, task_ids=[*fresh, manual])
    routes = {r["driver_id"]: r for r in p["routes"]}
    first = routes[driver]["stops"][0]
    assert first["task_id"] == active and first["fixed"] is True
    planned = {x["task_id"] for x in _stops(p)}
    assert done not in planned
    assert manual in {x["task_id"] for x in routes[s.drivers[1]]["stops"]}
    assert set(fresh) <= planned


def test_locked_route_is_kept(tenant: TenantHandle) -> None:
    s = scene(tenant, drivers=2)
    a, b = task(tenant, s, 1), task(tenant, s, 2)
    ok(tenant.post(f"/v1/tasks/{b}/assign", json={"driver_id": s.drivers[0]}), 200)
    ok(tenant.post(f"/v1/tasks/{a}/assign", json={"driver_id": s.drivers[0]}), 200)
    s.tasks = [task(tenant, s, 10 + i) for i in range(4)]
    p = plan(tenant, s, locked_driver_ids=[s.drivers[0]])
    routes = {r["driver_id"]: r for r in p["routes"]}
    locked = routes[s.drivers[0]]
    assert locked["locked"] is True
    assert [x["task_id"] for x in locked["stops"]] == [b, a]
    assert {x["task_id"] for x in routes[s.drivers[1]]["stops"]} == set(s.tasks)


def _problem(r: Any, status: int, field_name: str) -> None:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    fields = [e["field"] for e in r.json().get("errors", [])]
    assert any(f.startswith(field_name) for f in fields), fields


def test_bad_input_is_a_precise_4xx(tenant: TenantHandle, other_tenant: TenantHandle) -> None:
    s = scene(tenant, drivers=1)
    mine = task(tenant, s, 1)
    theirs = ok(other_tenant.post("/v1/tasks", json={"kind": "dropoff", "lat": 52.5, "lng": 13.4}))
    post = lambda body: tenant.post("/v1/route-plans", json=body)  # noqa: E731
    _problem(post({"task_ids": [mine, theirs["id"]]}), 422, "body.task_ids[1]")
    _problem(post({"task_ids": [mine], "time_budget_seconds": 0}), 422, "body.time_budget_seconds")
    _problem(
        post({"task_ids": [mine], "time_budget_seconds": True}), 422, "body.time_budget_seconds"
    )
    _problem(post({"task_ids": [f"tsk_{i:024d}" for i in range(5001)]}), 422, "body.task_ids")
    _problem(
        post({"task_ids": [mine], "locked_driver_ids": ["drv_x"]}), 422, "body.locked_driver_ids[0]"
    )
    _problem(post({"task_ids": [mine], "filter": {}}), 422, "body")
    _problem(post({"task_ids": [mine], "engine": "magic"}), 422, "body.engine")
    _problem(post({"task_ids": [mine], "driver_ids": ["drv_nobody"]}), 422, "body.driver_ids[0]")
    ok(tenant.post(f"/v1/drivers/{s.drivers[0]}/duty", json={"on_duty": False}), 200)
    _problem(post({"task_ids": [mine]}), 422, "body.driver_ids")
    r = tenant.post(
        "/v1/route-plans", params={"wait": "true", "wait_seconds": 0}, json={"task_ids": [mine]}
    )
    _problem(r, 422, "query.wait_seconds")
    assert ok(tenant.get("/v1/route-plans"), 200)["data"] == []  # nothing half-stored


def test_candidates_rank_drivers_by_what_the_task_adds(tenant: TenantHandle) -> None:
    s = scene(tenant, drivers=3, now=True)
    for i in range(6):
        task(tenant, s, i)
    p = plan(tenant, s)  # shifts in the drivers' hub time zone by default
    assert p["unassigned"] == [], p["unassigned"]
    ok(tenant.post(f"/v1/route-plans/{p['id']}/apply"), 200)
    new = task(tenant, s, 50)
    got = ok(tenant.get(f"/v1/tasks/{new}/candidates", params={"limit": 3}), 200)
    assert got["reason"] is None and 1 <= len(got["data"]) <= 3
    costs = [c["added_duration_s"] for c in got["data"]]
    assert all(c["driver_id"] in s.drivers for c in got["data"])
    assert len({c["driver_id"] for c in got["data"]}) == len(got["data"])
    assert all(c["dropoff_eta"] is not None and c["added_distance_m"] >= 0 for c in got["data"])
    assert costs == sorted(costs) or p["objective"] != "duration"
    nobody = task(tenant, s, 51, required_skills=["alcohol_id_check"])
    got = ok(tenant.get(f"/v1/tasks/{nobody}/candidates"), 200)
    assert got == {"data": [], "reason": "no_driver_with_skill"}


def test_estimate_before_the_task_exists(tenant: TenantHandle) -> None:
    s = scene(tenant, drivers=2, now=True)
    body = {
        "pickup": {"lat": HUB[0] + 0.01, "lng": HUB[1]},
        "dropoff": {"lat": HUB[0] - 0.02, "lng": HUB[1] + 0.03},
        "ready_at": iso(s.epoch + timedelta(minutes=30)),
        "team_id": s.team_id,
    }
    got = ok(tenant.post("/v1/estimates", json=body), 200)
    assert got["available"] is True and got["driver_id"] in s.drivers
    assert got["pickup_eta"] < got["dropoff_eta"]
    assert datetime.fromisoformat(got["pickup_eta"]) >= datetime.fromisoformat(
        body["ready_at"]
    ) - timedelta(minutes=1) or datetime.fromisoformat(got["pickup_eta"]) >= datetime.now(UTC)
    _problem(
        tenant.post("/v1/estimates", json={**body, "team_id": "team_nope"}), 422, "body.team_id"
    )
    _problem(
        tenant.post("/v1/estimates", json={**body, "pickup": {"lat": 91, "lng": 0}}),
        422,
        "body.pickup.lat",
    )
    for d in s.drivers:
        ok(tenant.post(f"/v1/drivers/{d}/duty", json={"on_duty": False}), 200)
    got = ok(tenant.post("/v1/estimates", json=body), 200)
    assert got["available"] is False and got["reason"] == "driver_not_available"
    assert ok(tenant.get("/v1/tasks"), 200)["data"] == []  # an estimate creates nothing


def test_manual_assignment_breaking_a_rule_is_warned_and_counted(
    tenant: TenantHandle, client: Any
) -> None:
    s = scene(tenant, drivers=1, capacity=10, now=True)
    a = task(tenant, s, 1, quantities={"parcels": 8})
    b = task(tenant, s, 2, quantities={"parcels": 8})
    before = _metric(client, 'lastmile_dispatch_assignment_errors_total{kind="manual"}')
    first = ok(tenant.post(f"/v1/tasks/{a}/assign", json={"driver_id": s.drivers[0]}), 200)
    assert first["warnings"] == []
    second = ok(tenant.post(f"/v1/tasks/{b}/assign", json={"driver_id": s.drivers[0]}), 200)
    assert any("capacity" in w for w in second["warnings"]), second["warnings"]
    assert ok(tenant.get(f"/v1/tasks/{b}"), 200)["state"] == "assigned"  # warned, not refused
    after = _metric(client, 'lastmile_dispatch_assignment_errors_total{kind="manual"}')
    assert after == before + 1


def _metric(client: Any, name: str) -> float:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return 0.0


def test_insert_mode_places_a_new_task_in_the_live_routes(tenant: TenantHandle) -> None:
    s = scene(tenant, drivers=2, now=True, mode="insert")
    first = ok(tenant.get(f"/v1/teams/{s.team_id}"), 200)
    assert first["auto_assign"] == "insert"
    created = [ok(tenant.get(f"/v1/tasks/{task(tenant, s, i)}"), 200) for i in range(5)]
    assert all(t["state"] == "assigned" and t["driver_id"] in s.drivers for t in created)
    assert all(t["planned_arrival_at"] is not None for t in created)
    for driver in s.drivers:
        mine = [t for t in created if t["driver_id"] == driver]
        fresh = [ok(tenant.get(f"/v1/tasks/{t['id']}"), 200) for t in mine]
        positions = sorted(t["route_position"] for t in fresh)
        assert positions == list(range(len(fresh)))  # a dense order, no duplicates
        by_position = sorted(fresh, key=lambda t: t["route_position"])
        arrivals = [t["planned_arrival_at"] for t in by_position]
        assert arrivals == sorted(arrivals)
    pickup = task(tenant, s, 20, kind="pickup")
    dropoff = task(tenant, s, 21, depends_on=pickup)
    a, b = (ok(tenant.get(f"/v1/tasks/{x}"), 200) for x in (pickup, dropoff))
    assert a["driver_id"] is not None and a["driver_id"] == b["driver_id"]
    impossible = ok(tenant.get(f"/v1/tasks/{task(tenant, s, 30, quantities={'parcels': 99})}"), 200)
    assert impossible["state"] == "unassigned"


def test_nearest_available_and_off_modes(tenant: TenantHandle) -> None:
    s = scene(tenant, drivers=2, now=True, mode="nearest_available")
    far_hub = make_hub(tenant, lat=HUB[0] + 0.2, lng=HUB[1] + 0.2, timezone=_midday_zone())
    ok(
        tenant.patch(
            f"/v1/drivers/{s.drivers[1]}",
            json={"start_place": {"hub_id": far_hub["id"]}, "end_place": {"hub_id": far_hub["id"]}},
        ),
        200,
    )
    near_far = task(tenant, s, 1, lat=HUB[0] + 0.19, lng=HUB[1] + 0.19)
    assert ok(tenant.get(f"/v1/tasks/{near_far}"), 200)["driver_id"] == s.drivers[1]
    near_home = task(tenant, s, 2, lat=HUB[0] + 0.01, lng=HUB[1])
    assert ok(tenant.get(f"/v1/tasks/{near_home}"), 200)["driver_id"] == s.drivers[0]
    busy = task(tenant, s, 3)  # both drivers have an open task now: nobody is free
    assert ok(tenant.get(f"/v1/tasks/{busy}"), 200)["state"] == "unassigned"
    ok(tenant.patch(f"/v1/teams/{s.team_id}", json={"auto_assign": "off"}), 200)
    ok(tenant.post(f"/v1/tasks/{near_home}/unassign"), 200)
    later = task(tenant, s, 4)
    assert ok(tenant.get(f"/v1/tasks/{later}"), 200)["state"] == "unassigned"


def test_a_batch_is_placed_in_the_live_routes_right_after_it_is_stored(
    tenant: TenantHandle,
) -> None:
    s = scene(tenant, drivers=2, now=True, mode="insert")
    rows = []
    for i in range(8):
        rows.append(
            {
                "kind": "dropoff",
                "lat": HUB[0] + 0.01 * (i % 4),
                "lng": HUB[1] + 0.01 * (i // 4),
                "team_id": s.team_id,
                "quantities": {"parcels": 1},
                "complete_after": iso(s.epoch),
                "complete_before": iso(s.epoch + timedelta(hours=6)),
            }
        )
    rows.append({**rows[0], "quantities": {"parcels": 99}})  # fits no van
    made = ok(tenant.post("/v1/tasks/batch", json={"tasks": rows}), 200)
    ids = [r["task"]["id"] for r in made["results"]]
    deadline = time.monotonic() + 20
    while True:
        got = [ok(tenant.get(f"/v1/tasks/{i}"), 200) for i in ids]
        if all(t["state"] == "assigned" for t in got[:-1]) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert all(t["state"] == "assigned" and t["driver_id"] in s.drivers for t in got[:-1]), got
    assert got[-1]["state"] == "unassigned"
    for driver in s.drivers:
        mine = sorted(
            (t for t in got if t["driver_id"] == driver), key=lambda t: t["route_position"]
        )
        assert [t["route_position"] for t in mine] == list(range(len(mine)))
        assert [t["planned_arrival_at"] for t in mine] == sorted(
            t["planned_arrival_at"] for t in mine
        )


def test_lower_priorities_are_left_out_when_not_all_fit(tenant: TenantHandle) -> None:
    s = scene(tenant, drivers=1, capacity=3)
    low = [task(tenant, s, i) for i in range(4)]
    high = [task(tenant, s, 10 + i, priority=90) for i in range(2)]
    p = plan(tenant, s)
    served = {x["task_id"] for x in _stops(p)}
    assert set(high) <= served
    assert len(served) == 3
    reasons = {u["task_id"]: u["reason"] for u in p["unassigned"]}
    assert set(reasons) == set(low) - served
    assert set(reasons.values()) == {"no_room"}


def test_planned_times_read_back_exactly(tenant: TenantHandle, database: Any) -> None:
    """Times written by insertion are stored like every other timestamp (UTC, same format)."""
    s = scene(tenant, drivers=1, now=True, mode="insert")
    first = ok(tenant.get(f"/v1/tasks/{task(tenant, s, 1)}"), 200)
    second = ok(tenant.get(f"/v1/tasks/{task(tenant, s, 2)}"), 200)  # moves or times the first
    again = ok(tenant.get(f"/v1/tasks/{first['id']}"), 200)
    for t in (first, second, again):
        assert t["planned_arrival_at"].endswith("Z")
        assert datetime.fromisoformat(t["planned_arrival_at"]) <= datetime.fromisoformat(
            t["planned_departure_at"]
        )
    listed = ok(tenant.get("/v1/tasks", params={"driver_id": s.drivers[0]}), 200)["data"]
    assert {t["id"]: t["planned_arrival_at"] for t in listed} == {
        t["id"]: t["planned_arrival_at"] for t in (again, second)
    }
