"""Fleet: teams, dispatchers, hubs, vehicles, skills and drivers over HTTP; validation refusals."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from lastmile.api.app import create_app
from lastmile.core.metrics import POOLS
from tests.conftest import settings_for
from tests.support.databases import TestDatabase
from tests.support.factories import TenantHandle
from tests.support.objects_fleet import make_driver, make_hub, make_team, make_vehicle
from tests.support.server import LiveServer


@pytest.fixture(scope="module")
def server(database: TestDatabase) -> Iterator[str]:
    """A server of its own: these tests sign users in more often than the per-IP limit allows."""
    previous = POOLS.pools.get("main")
    live = LiveServer(
        create_app(settings_for(database, login_rate_per_second=1000.0, login_burst=1000))
    )
    url = live.start()
    try:
        yield url
    finally:
        live.stop()
        if previous is not None:
            POOLS.pools["main"] = previous


def problem(r: httpx.Response, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    return dict(r.json())


def fields(r: httpx.Response, status: int = 422) -> set[str]:
    return {e["field"] for e in problem(r, status)["errors"]}


# --- teams and dispatchers ------------------------------------------------------------------


def test_team_crud(tenant: TenantHandle) -> None:
    """An admin creates, reads, lists, renames and deletes a team; names are unique (409)."""
    hub = make_hub(tenant)
    team = make_team(tenant, name="North", description="Northern districts", hub_id=hub["id"])
    assert team["name"] == "North" and team["hub_id"] == hub["id"]
    assert team["dispatcher_ids"] == []
    assert tenant.get(f"/v1/teams/{team['id']}").json() == team
    assert [t["id"] for t in tenant.get("/v1/teams").json()["data"]] == [team["id"]]
    assert fields(tenant.post("/v1/teams", json={"name": "North"}), 409) == {"body.name"}

    r = tenant.patch(f"/v1/teams/{team['id']}", json={"name": "North-East", "hub_id": None})
    assert r.status_code == 200, r.text
    assert r.json()["name"] == "North-East" and r.json()["hub_id"] is None
    assert (
        tenant.get("/v1/teams", params={"name": "North-East"}).json()["data"][0]["id"] == team["id"]
    )

    assert tenant.request("DELETE", f"/v1/teams/{team['id']}").status_code == 204
    problem(tenant.get(f"/v1/teams/{team['id']}"), 404)


def test_concurrent_creates_of_one_team_name_give_one_team(tenant: TenantHandle) -> None:
    """Racing creates of the same team name yield one 201 and 409s, never a 500."""
    keys = [tenant.key("admin") for _ in range(8)]
    with ThreadPoolExecutor(max_workers=len(keys)) as pool:
        codes = list(
            pool.map(
                lambda k: tenant.post("/v1/teams", key=k, json={"name": "Race"}).status_code, keys
            )
        )
    assert sorted(codes) == [201] + [409] * (len(keys) - 1), codes


def test_team_with_unknown_hub_is_refused(tenant: TenantHandle) -> None:
    """A team pointing at a hub that does not exist is a 422 naming body.hub_id; nothing is stored."""
    r = tenant.post("/v1/teams", json={"name": "Ghost", "hub_id": "hub_nope"})
    assert fields(r) == {"body.hub_id"}
    assert tenant.get("/v1/teams", params={"name": "Ghost"}).json()["data"] == []


def test_team_with_drivers_cannot_be_deleted(tenant: TenantHandle) -> None:
    """Deleting a team that still has drivers is a 409 and the team stays."""
    team = make_team(tenant)
    make_driver(tenant, team_ids=[team["id"]])
    problem(tenant.request("DELETE", f"/v1/teams/{team['id']}"), 409)
    assert tenant.get(f"/v1/teams/{team['id']}").status_code == 200


def test_team_delete_unlinks_zones_but_not_tasks(tenant: TenantHandle) -> None:
    """Deleting a team drops its zone links; a team that still has tasks is a 409 and stays."""
    team = make_team(tenant)
    square = [[[4.0, 52.0], [5.0, 52.0], [5.0, 53.0], [4.0, 53.0], [4.0, 52.0]]]
    zone = tenant.post(
        "/v1/zones",
        json={
            "name": "Z",
            "geometry": {"type": "Polygon", "coordinates": square},
            "team_ids": [team["id"]],
        },
    )
    assert zone.status_code == 201, zone.text
    assert tenant.request("DELETE", f"/v1/teams/{team['id']}").status_code == 204
    assert tenant.get(f"/v1/zones/{zone.json()['id']}").json()["team_ids"] == []

    busy = make_team(tenant)
    task = {
        "kind": "dropoff",
        "address": "1 Main St",
        "lat": 52.5,
        "lng": 4.5,
        "team_id": busy["id"],
    }
    r = tenant.post("/v1/tasks", json=task)
    assert r.status_code == 201, r.text
    problem(tenant.request("DELETE", f"/v1/teams/{busy['id']}"), 409)
    assert tenant.get(f"/v1/teams/{busy['id']}").status_code == 200


def test_set_dispatchers(tenant: TenantHandle) -> None:
    """PUT dispatchers replaces the list; a non-dispatcher or unknown user is a 422 naming its index and changes nothing."""
    team = make_team(tenant)
    d1, d2 = tenant.user("dispatcher"), tenant.user("dispatcher")
    driver_user = tenant.user("driver")
    url = f"/v1/teams/{team['id']}/dispatchers"

    r = tenant.request("PUT", url, json={"user_ids": [d1["id"], d2["id"]]})
    assert r.status_code == 200, r.text
    assert r.json()["dispatcher_ids"] == sorted([d1["id"], d2["id"]])

    r = tenant.request("PUT", url, json={"user_ids": [d1["id"], driver_user["id"], "usr_nope"]})
    assert fields(r) == {"body.user_ids[1]", "body.user_ids[2]"}
    assert tenant.get(f"/v1/teams/{team['id']}").json()["dispatcher_ids"] == sorted(
        [d1["id"], d2["id"]]
    )

    r = tenant.request("PUT", url, json={"user_ids": [d2["id"]]})
    assert r.json()["dispatcher_ids"] == [d2["id"]]
    r = tenant.request("PUT", url, json={"user_ids": []})
    assert r.json()["dispatcher_ids"] == []


# --- hubs -----------------------------------------------------------------------------------

HOURS = {"mon": [["13:00", "20:00"], ["06:00", "12:00"]], "sat": [["08:00", "24:00"]]}


def test_hub_crud(tenant: TenantHandle) -> None:
    """Hubs keep location, time zone and opening hours (sorted per day); PATCH replaces hours."""
    hub = make_hub(
        tenant, name="Main", address="Lagerstrasse 1", opening_hours=HOURS, timezone="Europe/Berlin"
    )
    assert hub["opening_hours"] == {
        "mon": [["06:00", "12:00"], ["13:00", "20:00"]],
        "sat": [["08:00", "24:00"]],
    }
    assert hub["timezone"] == "Europe/Berlin" and (hub["lat"], hub["lng"]) == (53.55, 9.99)
    assert tenant.get(f"/v1/hubs/{hub['id']}").json() == hub

    r = tenant.patch(f"/v1/hubs/{hub['id']}", json={"opening_hours": {"tue": [["07:00", "19:00"]]}})
    assert r.status_code == 200, r.text
    assert r.json()["opening_hours"] == {"tue": [["07:00", "19:00"]]}
    assert r.json()["name"] == "Main"
    assert [h["id"] for h in tenant.get("/v1/hubs").json()["data"]] == [hub["id"]]

    assert tenant.request("DELETE", f"/v1/hubs/{hub['id']}").status_code == 204
    problem(tenant.get(f"/v1/hubs/{hub['id']}"), 404)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"lat": 90.5}, "body.lat"),
        ({"lng": -180.01}, "body.lng"),
        ({"opening_hours": {"funday": [["08:00", "18:00"]]}}, "body.opening_hours.funday"),
        ({"opening_hours": {"mon": [["8:00", "18:00"]]}}, "body.opening_hours.mon.0.0"),
        ({"opening_hours": {"mon": [["08:00", "25:00"]]}}, "body.opening_hours.mon.0.1"),
        ({"opening_hours": {"mon": [["18:00", "08:00"]]}}, "body.opening_hours.mon"),
        (
            {"opening_hours": {"mon": [["08:00", "12:00"], ["11:00", "14:00"]]}},
            "body.opening_hours.mon",
        ),
        ({"timezone": "Mars/Olympus_Mons"}, "body.timezone"),
    ],
)
def test_bad_hub_is_refused(tenant: TenantHandle, change: dict[str, Any], field: str) -> None:
    """Out-of-range coordinates, bad days or times, inverted or overlapping hours and unknown time zones are a 422 naming the field; nothing is stored."""
    body = {"name": "Bad", "lat": 10, "lng": 10, **change}
    assert field in fields(tenant.post("/v1/hubs", json=body))
    assert tenant.get("/v1/hubs").json()["data"] == []


def test_hub_in_use_cannot_be_deleted(tenant: TenantHandle) -> None:
    """A hub that is a team's home or a driver's start place is kept with a 409."""
    hub = make_hub(tenant)
    team = make_team(tenant, hub_id=hub["id"])
    problem(tenant.request("DELETE", f"/v1/hubs/{hub['id']}"), 409)
    tenant.patch(f"/v1/teams/{team['id']}", json={"hub_id": None})
    driver = make_driver(tenant, start_place={"hub_id": hub["id"]})
    problem(tenant.request("DELETE", f"/v1/hubs/{hub['id']}"), 409)
    tenant.patch(f"/v1/drivers/{driver['id']}", json={"start_place": None})
    assert tenant.request("DELETE", f"/v1/hubs/{hub['id']}").status_code == 204


# --- vehicles -------------------------------------------------------------------------------


def test_vehicle_crud(tenant: TenantHandle) -> None:
    """Vehicles keep type, plate and capacity per dimension; PATCH replaces capacity; type filters the list."""
    van = make_vehicle(
        tenant, name="Van 7", plate="HH-LM 7", capacity={"weight": 800, "parcels": 120}
    )
    bike = make_vehicle(tenant, name="Bike", type="bicycle", capacity={})
    assert van["type"] == "van" and van["capacity"] == {"weight": 800, "parcels": 120}
    assert tenant.get(f"/v1/vehicles/{van['id']}").json() == van
    listed = tenant.get("/v1/vehicles", params={"type": "bicycle"}).json()["data"]
    assert [v["id"] for v in listed] == [bike["id"]]

    r = tenant.patch(f"/v1/vehicles/{van['id']}", json={"capacity": {"volume": 6.5}, "plate": None})
    assert r.status_code == 200, r.text
    assert r.json()["capacity"] == {"volume": 6.5} and r.json()["plate"] is None

    assert tenant.request("DELETE", f"/v1/vehicles/{bike['id']}").status_code == 204
    problem(tenant.get(f"/v1/vehicles/{bike['id']}"), 404)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"capacity": {"weight": -1}}, "body.capacity.weight"),
        ({"capacity": {"Weight": 1}}, "body.capacity.Weight.[key]"),
        ({"type": "rocket"}, "body.type"),
    ],
)
def test_bad_vehicle_is_refused(tenant: TenantHandle, change: dict[str, Any], field: str) -> None:
    """A negative capacity, a bad dimension name or an unknown type is a 422 naming the field; nothing is stored."""
    body = {"name": "Bad", "type": "van", **change}
    assert field in fields(tenant.post("/v1/vehicles", json=body))
    assert tenant.get("/v1/vehicles").json()["data"] == []


def test_vehicle_of_a_driver_cannot_be_deleted(tenant: TenantHandle) -> None:
    """Deleting a driver's default vehicle is a 409."""
    van = make_vehicle(tenant)
    make_driver(tenant, vehicle_id=van["id"])
    problem(tenant.request("DELETE", f"/v1/vehicles/{van['id']}"), 409)


# --- skills ---------------------------------------------------------------------------------


def test_skills_are_builtin_plus_tenant_defined(tenant: TenantHandle) -> None:
    """The list merges built-in and tenant skills by name, a page at a time; duplicates are 409, bad names 422."""
    r = tenant.post("/v1/skills", json={"name": "forklift", "description": "Forklift licence"})
    assert r.status_code == 201, r.text
    assert r.json()["builtin"] is False and r.json()["id"]
    assert fields(tenant.post("/v1/skills", json={"name": "forklift"}), 409) == {"body.name"}
    assert fields(tenant.post("/v1/skills", json={"name": "heavy"}), 409) == {"body.name"}
    assert fields(tenant.post("/v1/skills", json={"name": "Bad Name"})) == {"body.name"}

    names, cursor = [], None
    while True:
        page = tenant.get(
            "/v1/skills", params={"limit": 2, **({"cursor": cursor} if cursor else {})}
        )
        assert page.status_code == 200, page.text
        assert len(page.json()["data"]) <= 2
        names += [s["name"] for s in page.json()["data"]]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break
    assert names == ["alcohol_id_check", "cold_chain", "forklift", "fragile", "heavy"]
    own = tenant.get("/v1/skills", params={"builtin": "false"}).json()["data"]
    assert [s["name"] for s in own] == ["forklift"]


# --- drivers --------------------------------------------------------------------------------


def test_driver_create_and_read(tenant: TenantHandle) -> None:
    """An admin makes a driver user a driver with phone, vehicle, skills, teams, shift and places."""
    hub, van, team = make_hub(tenant), make_vehicle(tenant), make_team(tenant)
    tenant.post("/v1/skills", json={"name": "forklift"})
    user = tenant.user("driver")
    body = {
        "user_id": user["id"],
        "phone": "+4915112345678",
        "vehicle_id": van["id"],
        "skills": ["cold_chain", "forklift", "cold_chain"],
        "team_ids": [team["id"]],
        "shift": {
            "mon": {"start": "08:00", "end": "17:00"},
            "fri": {"start": "22:00", "end": "06:00"},
        },
        "start_place": {"hub_id": hub["id"]},
        "end_place": {"lat": 53.5, "lng": 10.0, "address": "Home"},
    }
    r = tenant.post("/v1/drivers", json=body)
    assert r.status_code == 201, r.text
    d = r.json()
    assert d["user_id"] == user["id"] and d["name"] == user["name"]
    assert d["skills"] == ["cold_chain", "forklift"] and d["team_ids"] == [team["id"]]
    assert d["shift"]["fri"] == {"start": "22:00", "end": "06:00"}
    assert d["start_place"]["hub_id"] == hub["id"]
    assert d["end_place"] == {"hub_id": None, "lat": 53.5, "lng": 10.0, "address": "Home"}
    assert d["on_duty"] is False and d["duty_changed_at"] is None
    assert tenant.get(f"/v1/drivers/{d['id']}").json() == d
    problem(tenant.post("/v1/drivers", json=body), 409)


def _driver_body(t: TenantHandle, **change: Any) -> dict[str, Any]:
    return {"user_id": t.user("driver")["id"], "team_ids": [make_team(t)["id"]], **change}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"skills": ["heavy", "juggling"]}, "body.skills[1]"),
        ({"vehicle_id": "veh_nope"}, "body.vehicle_id"),
        ({"team_ids": ["team_nope"]}, "body.team_ids[0]"),
        ({"team_ids": []}, "body.team_ids"),
        ({"start_place": {"hub_id": "hub_nope"}}, "body.start_place.hub_id"),
        ({"end_place": {"lat": 91, "lng": 0}}, "body.end_place.point.lat"),
        ({"phone": "0151 123"}, "body.phone"),
        ({"shift": {"mon": {"start": "08:00", "end": "08:00"}}}, "body.shift.mon"),
        ({"shift": {"mon": {"start": "08:00", "end": "8pm"}}}, "body.shift.mon.end"),
        ({"user_id": "usr_nope"}, "body.user_id"),
    ],
)
def test_bad_driver_is_refused(tenant: TenantHandle, change: dict[str, Any], field: str) -> None:
    """Unknown skills, vehicles, teams, hubs or users and bad phones, places or shifts are a 422 naming the field; nothing is stored."""
    body = _driver_body(tenant, **change)
    assert field in fields(tenant.post("/v1/drivers", json=body))
    assert tenant.get("/v1/drivers").json()["data"] == []


def test_user_who_is_not_a_driver_cannot_become_one(tenant: TenantHandle) -> None:
    """Only a user with the role driver gets a driver record: 422 naming body.user_id (and any other bad field) otherwise."""
    body = _driver_body(tenant, user_id=tenant.user("dispatcher")["id"], skills=["x_ray"])
    r = tenant.post("/v1/drivers", json=body)
    assert fields(r) == {"body.user_id", "body.skills[0]"}
    assert r.json()["errors"][0]["code"] == "not-a-driver"
    assert tenant.get("/v1/drivers").json()["data"] == []


def test_driver_patch(tenant: TenantHandle) -> None:
    """PATCH changes only the given fields; null clears vehicle and phone; team_ids replaces the teams."""
    van, other = make_vehicle(tenant), make_team(tenant)
    d = make_driver(tenant, vehicle_id=van["id"], phone="+4915112345678", skills=["heavy"])
    r = tenant.patch(
        f"/v1/drivers/{d['id']}",
        json={"vehicle_id": None, "phone": None, "team_ids": [other["id"]], "name": "Renamed"},
    )
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["vehicle_id"] is None and got["phone"] == "" and got["name"] == "Renamed"
    assert got["team_ids"] == [other["id"]] and got["skills"] == ["heavy"]
    r = tenant.patch(f"/v1/drivers/{d['id']}", json={"skills": ["fragile", "nope"]})
    assert fields(r) == {"body.skills[1]"}
    assert tenant.get(f"/v1/drivers/{d['id']}").json()["skills"] == ["heavy"]


def test_driver_list_filters_and_pagination(tenant: TenantHandle) -> None:
    """Drivers filter by team, duty and skill, and page newest first without repeats."""
    t1, t2 = make_team(tenant), make_team(tenant)
    a = make_driver(tenant, team_ids=[t1["id"]], skills=["cold_chain"])
    b = make_driver(tenant, team_ids=[t1["id"], t2["id"]], skills=["heavy"])
    c = make_driver(tenant, team_ids=[t2["id"]])
    tenant.post(f"/v1/drivers/{b['id']}/duty", json={"on_duty": True})

    def ids(**params: Any) -> list[str]:
        r = tenant.get("/v1/drivers", params=params)
        assert r.status_code == 200, r.text
        return [d["id"] for d in r.json()["data"]]

    assert ids() == [c["id"], b["id"], a["id"]]
    assert ids(team_id=t1["id"]) == [b["id"], a["id"]]
    assert ids(team_id=t2["id"], on_duty="true") == [b["id"]]
    assert ids(on_duty="false") == [c["id"], a["id"]]
    assert ids(skill="cold_chain") == [a["id"]]
    assert ids(skill="cold") == []

    seen, cursor = [], None
    while True:
        r = tenant.get("/v1/drivers", params={"limit": 2, **({"cursor": cursor} if cursor else {})})
        seen += [d["id"] for d in r.json()["data"]]
        cursor = r.json()["next_cursor"]
        if not cursor:
            break
    assert seen == [c["id"], b["id"], a["id"]]


# --- visibility -----------------------------------------------------------------------------


def _login(t: TenantHandle, user: dict[str, Any]) -> str:
    return str(t.login(user["email"])["access_token"])


def test_dispatcher_sees_and_manages_only_their_teams(tenant: TenantHandle) -> None:
    """A dispatcher sees only their teams and those teams' drivers; other drivers are 404 for reads, edits and duty."""
    mine, theirs = make_team(tenant), make_team(tenant)
    disp = tenant.user("dispatcher")
    tenant.request("PUT", f"/v1/teams/{mine['id']}/dispatchers", json={"user_ids": [disp["id"]]})
    own = make_driver(tenant, team_ids=[mine["id"]])
    other = make_driver(tenant, team_ids=[theirs["id"]])
    token = _login(tenant, disp)

    listed = tenant.get("/v1/drivers", key=token).json()["data"]
    assert [d["id"] for d in listed] == [own["id"]]
    assert [t["id"] for t in tenant.get("/v1/teams", key=token).json()["data"]] == [mine["id"]]
    problem(tenant.get(f"/v1/teams/{theirs['id']}", key=token), 404)
    assert tenant.get(f"/v1/drivers/{own['id']}", key=token).status_code == 200
    assert (
        tenant.get("/v1/drivers", key=token, params={"team_id": theirs["id"]}).json()["data"] == []
    )

    for method, path, body in [
        ("GET", f"/v1/drivers/{other['id']}", None),
        ("PATCH", f"/v1/drivers/{other['id']}", {"name": "X"}),
        ("POST", f"/v1/drivers/{other['id']}/duty", {"on_duty": True}),
        ("GET", f"/v1/drivers/{other['id']}/duty-history", None),
    ]:
        problem(tenant.request(method, path, key=token, json=body), 404)
    assert tenant.get(f"/v1/drivers/{other['id']}").json()["on_duty"] is False

    r = tenant.post(f"/v1/drivers/{own['id']}/duty", key=token, json={"on_duty": True})
    assert r.status_code == 200 and r.json()["on_duty"] is True
    r = tenant.patch(f"/v1/drivers/{own['id']}", key=token, json={"phone": "+4915100000001"})
    assert r.status_code == 200 and r.json()["phone"] == "+4915100000001"


def test_dispatcher_changes_only_memberships_of_their_teams(tenant: TenantHandle) -> None:
    """A dispatcher's team_ids replace only the teams they manage; a team they do not manage is a 422."""
    a, b, c = make_team(tenant), make_team(tenant), make_team(tenant)
    disp = tenant.user("dispatcher")
    for team in (a, c):
        tenant.request(
            "PUT", f"/v1/teams/{team['id']}/dispatchers", json={"user_ids": [disp["id"]]}
        )
    d = make_driver(tenant, team_ids=[a["id"], b["id"]])
    token = _login(tenant, disp)

    r = tenant.patch(f"/v1/drivers/{d['id']}", key=token, json={"team_ids": [c["id"]]})
    assert r.status_code == 200, r.text
    assert set(r.json()["team_ids"]) == {b["id"], c["id"]}
    r = tenant.patch(f"/v1/drivers/{d['id']}", key=token, json={"team_ids": [b["id"]]})
    assert fields(r) == {"body.team_ids[0]"}
    assert set(tenant.get(f"/v1/drivers/{d['id']}").json()["team_ids"]) == {b["id"], c["id"]}


def test_driver_sees_only_their_own_record(tenant: TenantHandle) -> None:
    """A driver reads and toggles only their own record (GET /v1/drivers/me); others are 404, edits 403."""
    me, other = make_driver(tenant), make_driver(tenant)
    token = _login(tenant, me["user"])
    mine = tenant.get("/v1/drivers/me", key=token)
    assert mine.status_code == 200 and mine.json()["id"] == me["id"]
    assert [d["id"] for d in tenant.get("/v1/drivers", key=token).json()["data"]] == [me["id"]]
    problem(tenant.get(f"/v1/drivers/{other['id']}", key=token), 404)
    problem(tenant.post(f"/v1/drivers/{other['id']}/duty", key=token, json={"on_duty": True}), 404)
    problem(tenant.patch(f"/v1/drivers/{me['id']}", key=token, json={"name": "Me"}), 403)
    r = tenant.post(f"/v1/drivers/{me['id']}/duty", key=token, json={"on_duty": True})
    assert r.status_code == 200 and r.json()["on_duty"] is True

    admin_me = tenant.get("/v1/drivers/me")
    problem(admin_me, 404)
    problem(tenant.get("/v1/drivers/me", key=tenant.key("driver")), 404)


def test_dispatcher_api_key_acts_tenant_wide(tenant: TenantHandle) -> None:
    """A dispatcher-role API key is nobody's dispatcher: it sees and manages every driver."""
    d = make_driver(tenant)
    key = tenant.key("dispatcher")
    assert [x["id"] for x in tenant.get("/v1/drivers", key=key).json()["data"]] == [d["id"]]
    assert (
        tenant.post(f"/v1/drivers/{d['id']}/duty", key=key, json={"on_duty": True}).status_code
        == 200
    )


# --- duty -----------------------------------------------------------------------------------


def test_duty_changes_are_kept_with_actor_time_and_place(tenant: TenantHandle) -> None:
    """Each on/off change lands in the history (newest first) with who made it, when and where; a repeat changes nothing."""
    team = make_team(tenant)
    disp = tenant.user("dispatcher")
    tenant.request("PUT", f"/v1/teams/{team['id']}/dispatchers", json={"user_ids": [disp["id"]]})
    d = make_driver(tenant, team_ids=[team["id"]])
    driver_token, disp_token = _login(tenant, d["user"]), _login(tenant, disp)
    url = f"/v1/drivers/{d['id']}/duty"

    r = tenant.post(url, key=driver_token, json={"on_duty": True, "lat": 53.5, "lng": 10.0})
    assert r.status_code == 200, r.text
    first_at = r.json()["duty_changed_at"]
    assert (
        tenant.post(url, key=driver_token, json={"on_duty": True}).json()["duty_changed_at"]
        == first_at
    )
    assert tenant.post(url, key=disp_token, json={"on_duty": False}).status_code == 200
    assert tenant.post(url, json={"on_duty": True}).status_code == 200
    assert fields(tenant.post(url, json={"on_duty": False, "lat": 1.0})) == {"body.lng"}
    assert fields(tenant.post(url, json={"on_duty": False, "lat": 1.0, "lng": 200})) == {"body.lng"}

    history = tenant.get(f"{url}-history").json()["data"]
    keys = tenant.get("/v1/api-keys").json()["data"]
    admin_key_id = next(k["id"] for k in keys if k["name"] == "Initial admin key")
    assert [(e["on_duty"], e["actor_id"]) for e in history] == [
        (True, admin_key_id),
        (False, disp["id"]),
        (True, d["user"]["id"]),
    ]
    assert (history[2]["lat"], history[2]["lng"]) == (53.5, 10.0)
    assert history[2]["at"] == first_at
    assert history[0]["at"] >= history[1]["at"] >= history[2]["at"]
    assert tenant.get(f"/v1/drivers/{d['id']}").json()["on_duty"] is True

    page = tenant.get(f"{url}-history", params={"limit": 2}).json()
    rest = tenant.get(f"{url}-history", params={"limit": 2, "cursor": page["next_cursor"]}).json()
    assert [e["id"] for e in page["data"] + rest["data"]] == [e["id"] for e in history]
    assert rest["next_cursor"] is None

    viewer = tenant.key("viewer")
    assert len(tenant.get(f"{url}-history", key=viewer).json()["data"]) == 3
    problem(tenant.post(url, key=viewer, json={"on_duty": False}), 403)


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/v1/hubs?name=a&name=b", "query.name"),
        ("/v1/drivers?on_duty=true&on_duty=false", "query.on_duty"),
        ("/v1/drivers?teamid=x", "query.teamid"),
        ("/v1/teams?limit=5&colour=red", "query.colour"),
    ],
)
def test_repeated_or_unknown_query_parameter_is_refused(
    tenant: TenantHandle, path: str, field: str
) -> None:
    """A filter given twice or a misspelt one is a 422 naming it, not silently ignored."""
    assert fields(tenant.get(path)) == {field}
