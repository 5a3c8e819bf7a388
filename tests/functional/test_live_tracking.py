"""A simulated driver drives a route: the dispatcher's feed follows, the stop turns arrived by
geofence, an induced delay is announced once, every stop's ETA error is recorded; standing
still and crossing zones raise their events."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.functional.test_route_plans import HUB, scene
from tests.functional.test_stream import open_stream, receive
from tests.support.factories import TenantHandle
from tests.support.fleetkit import ok, square

EAST = 0.001  # degrees of longitude, about 68 m at Berlin


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def at(t: TenantHandle, driver: str, lat: float, lng: float, when: datetime) -> None:
    """The driver's phone reports one point."""
    body = {"points": [{"lat": lat, "lng": lng, "accuracy": 5, "recorded_at": iso(when)}]}
    r = ok(t.post(f"/v1/drivers/{driver}/locations", json=body), 200)
    assert r["accepted"] == 1, r


def dropoff(t: TenantHandle, team_id: str, lng: float, **fields: Any) -> str:
    body = {"kind": "dropoff", "lat": HUB[0], "lng": lng, "team_id": team_id, **fields}
    return str(ok(t.post("/v1/tasks", json=body))["id"])


def events_of(t: TenantHandle, types: str) -> list[dict[str, Any]]:
    time.sleep(0.3)  # the relay runs right after each commit
    found, after = [], None
    while True:
        params = {"types": types, "limit": 200, **({"after": after} if after else {})}
        page = ok(t.get("/v1/events", params=params), 200)
        found += page["data"]
        after = page["next_cursor"]
        if not page["has_more"]:
            return found


def eta_errors(client: httpx.Client) -> float:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith("lastmile_tracking_eta_error_ratio_count"):
            return float(line.split()[-1])
    return 0.0


def test_a_simulated_driver_drives_a_route(
    server: str, client: httpx.Client, tenant: TenantHandle
) -> None:
    s = scene(tenant, drivers=1, now=True)
    driver = s.drivers[0]
    now = datetime.now(UTC).replace(microsecond=0)
    first = dropoff(tenant, s.team_id, HUB[1] + 20 * EAST)
    second = dropoff(
        tenant, s.team_id, HUB[1] + 40 * EAST, complete_before=iso(now + timedelta(minutes=45))
    )
    for task_id in (first, second):
        ok(tenant.post(f"/v1/tasks/{task_id}/assign", json={"driver_id": driver}), 200)
    errors_before = eta_errors(client)
    clock = now - timedelta(minutes=5)
    with open_stream(server, tenant.key("admin")) as ws:
        assert receive(ws)["type"] == "hello"
        at(tenant, driver, *HUB, clock)  # at the hub: ETAs for both stops
        assert ok(tenant.get(f"/v1/tasks/{first}"), 200)["eta_at"] is not None
        ok(tenant.post(f"/v1/tasks/{first}/start"), 200)
        sent = []
        for step in range(1, 21):  # 68 m a step towards the first stop
            clock += timedelta(seconds=10)
            point = (HUB[0], HUB[1] + step * EAST)
            at(tenant, driver, *point, clock)
            sent.append(point)
            if ok(tenant.get(f"/v1/tasks/{first}"), 200)["state"] == "arrived":
                break
        got: list[tuple[float, float]] = []
        arrived_seen = False
        while len(got) < len(sent) + 1 or not arrived_seen:
            message = receive(ws)
            if message["type"] == "position":
                got.append((message["lat"], message["lng"]))
            elif message["type"] == "event" and message["event"]["type"] == "task.arrived":
                arrived_seen = message["event"]["data"]["id"] == first
    assert got == [HUB, *sent]  # every position, in order
    reached = ok(tenant.get(f"/v1/tasks/{first}"), 200)
    assert reached["state"] == "arrived" and reached["eta_error_ratio"] is not None
    assert len(sent) < 20, "arrived by geofence before reaching the stop itself"
    history = ok(tenant.get(f"/v1/tasks/{first}/history"), 200)
    assert history[-1]["action"] == "arrive" and history[-1]["details"] == {"source": "geofence"}

    ok(tenant.post(f"/v1/tasks/{first}/complete", data={"notes": "ok"}), 200)
    ok(tenant.post(f"/v1/tasks/{second}/start"), 200)
    # A detour 60 km away: the second stop can no longer be reached in its window.
    for n in range(3):
        clock += timedelta(seconds=10)
        at(tenant, driver, HUB[0] + 0.55, HUB[1] + n * EAST, clock)
    delayed = [e for e in events_of(tenant, "task.delayed") if e["data"]["id"] == second]
    assert len(delayed) == 1
    changed = [e for e in events_of(tenant, "task.eta_changed") if e["data"]["id"] == second]
    assert changed and changed[-1]["data"]["eta_at"] > iso(now + timedelta(minutes=45))
    clock += timedelta(seconds=10)
    at(tenant, driver, HUB[0], HUB[1] + 40 * EAST, clock)  # back, at the second stop
    done = ok(tenant.get(f"/v1/tasks/{second}"), 200)
    assert done["state"] == "arrived" and done["eta_error_ratio"] is not None
    assert done["eta_at_start"] is not None and done["eta_at_dispatch"] is not None
    assert eta_errors(client) == errors_before + 2

    today = datetime.now(UTC).date().isoformat()
    report = ok(
        tenant.get("/v1/reports/eta-accuracy", params={"since": today, "until": today}), 200
    )
    assert report["total"]["stops"] == 2
    assert [(r["team_id"], r["stops"]) for r in report["rows"]] == [(s.team_id, 2)]
    mean = (reached["eta_error_ratio"] + done["eta_error_ratio"]) / 2
    assert report["total"]["mean_error_ratio"] == pytest.approx(mean)
    r = tenant.get("/v1/reports/eta-accuracy", params={"since": today, "until": "2020-01-01"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "query.until"


def test_standing_still_and_crossing_zones_raise_events(tenant: TenantHandle) -> None:
    s = scene(tenant, drivers=1, now=True)
    driver = s.drivers[0]
    zone = ok(tenant.post("/v1/zones", json={"name": "Centre", "geometry": square(*HUB, 0.01)}))
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)
    at(tenant, driver, *HUB, start)  # inside the zone
    for minute in (4, 8, 11, 14):  # still (a few metres of GPS noise) for 14 minutes
        at(tenant, driver, HUB[0] + 0.0001, HUB[1], start + timedelta(minutes=minute))
    at(tenant, driver, HUB[0] + 0.05, HUB[1], start + timedelta(minutes=16))  # drives off
    stopped = events_of(tenant, "driver.stopped")
    assert [e["data"]["driver_id"] for e in stopped] == [driver]
    assert stopped[0]["data"]["still_since"] == iso(start)
    crossed = events_of(tenant, "driver.zone_entered,driver.zone_exited")
    assert [(e["type"], e["data"]["zone_id"]) for e in crossed] == [
        ("driver.zone_entered", zone["id"]),
        ("driver.zone_exited", zone["id"]),
    ]
