"""Route templates: CRUD, validation, roles, materialisation (by hand, racing, by the job)."""

from __future__ import annotations

import asyncio
import secrets
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from lastmile.core.db import make_engine, make_sessionmaker
from lastmile.core.tenancy import TenantContext, bind_session
from lastmile.core.uow import UnitOfWork
from lastmile.templates import materialize as templates_materialize
from lastmile.workers import runner
from lastmile.workers.templates import materialize_due
from tests.support.databases import TestDatabase
from tests.support.factories import TenantHandle
from tests.support.fleetkit import crew, ok
from tests.support.objects_fleet import make_hub, make_team
from tests.support.objects_templates import STOP, make_template

BERLIN = ZoneInfo("Europe/Berlin")
ALL_DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def problem(r: httpx.Response, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    return dict(r.json())


def fields(r: httpx.Response, status: int = 422) -> set[str]:
    return {e["field"] for e in problem(r, status)["errors"]}


def ahead(days: int, weekday: str | None = None) -> date:
    """A date at least `days` after today (UTC), on `weekday` if given. Tests materialise days
    well past the scheduled job's horizon, so the server's own job loop never races them."""
    day = datetime.now(UTC).date() + timedelta(days=days)
    while weekday is not None and DAYS[day.weekday()] != weekday:
        day += timedelta(days=1)
    return day


def utc(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value.replace("Z", "+00:00"))


def local_utc(day: date, clock: str, zone: ZoneInfo = BERLIN) -> datetime:
    return datetime.combine(day, time.fromisoformat(clock), zone).astimezone(UTC)


def materialize(t: TenantHandle, template_id: str, day: date, **kw: Any) -> httpx.Response:
    return t.post(
        f"/v1/route-templates/{template_id}/materialize", json={"date": day.isoformat()}, **kw
    )


def day_tasks(t: TenantHandle, template_id: str, day: date) -> list[dict[str, Any]]:
    params = {
        "metadata": [f"route_template_id:{template_id}", f"route_template_date:{day.isoformat()}"],
        "limit": 200,
    }
    return list(ok(t.get("/v1/tasks", params=params), 200)["data"])


def bakery_round(t: TenantHandle, **body: Any) -> dict[str, Any]:
    """A hub pickup, a drop-off linked to it and an unlinked drop-off, Berlin time."""
    hub = make_hub(t, name="Bakery", address="Backstrasse 1", lat=52.50, lng=13.40)
    stops = [
        {
            "ref": "bakery",
            "kind": "pickup",
            "place": {"hub_id": hub["id"]},
            "window": {"start": "06:00", "end": "06:30"},
            "service_minutes": 10,
            "quantities": {"crates": 12},
        },
        {
            "kind": "dropoff",
            "depends_on_ref": "bakery",
            "place": {"lat": 52.53, "lng": 13.41, "address": "Café Nord"},
            "window": {"start": "07:00", "end": "08:00"},
            "service_minutes": 5,
            "quantities": {"crates": 4},
            "priority": 2,
            "recipient": {"name": "Café Nord", "phone": "+4930123456", "notes": "Back door"},
            "requirements": {"signature": True},
            "metadata": {"customer": "C-1"},
            "notes": "Ring twice",
        },
        {
            "kind": "dropoff",
            "place": {"lat": 52.51, "lng": 13.39},
            "window": {"end": "24:00"},
            "required_skills": ["heavy"],
        },
    ]
    # From 5 days on: the server's own job loop (today and tomorrow) leaves it alone.
    body.setdefault("valid_from", ahead(5).isoformat())
    return make_template(t, name="Bakery round", timezone="Europe/Berlin", stops=stops, **body)


# --- CRUD -----------------------------------------------------------------------------------


def test_template_crud(tenant: TenantHandle) -> None:
    """An admin creates, reads, lists (by team, driver, active), changes and deletes a template."""
    c = crew(tenant)
    tpl = bakery_round(
        tenant,
        team_id=c.team_id,
        driver_id=c.driver_id,
        weekdays=["fri", "mon", "mon"],
        valid_from=ahead(30).isoformat(),
        notes="Winter",
    )
    assert tpl["weekdays"] == ["mon", "fri"] and tpl["active"] is True
    assert tpl["timezone"] == "Europe/Berlin" and tpl["valid_from"] == ahead(30).isoformat()
    assert tpl["valid_until"] is None and tpl["last_error"] is None
    assert [s["kind"] for s in tpl["stops"]] == ["pickup", "dropoff", "dropoff"]
    assert tpl["stops"][0]["place"]["hub_id"].startswith("hub_")
    assert tpl["stops"][1]["depends_on_ref"] == "bakery"
    assert tpl["stops"][1]["requirements"] == {"signature": True}
    assert tpl["stops"][2]["window"] == {"start": None, "end": "24:00"}
    assert tenant.get(f"/v1/route-templates/{tpl['id']}").json() == tpl

    other = make_template(tenant, active=False)
    listed = ok(tenant.get("/v1/route-templates"), 200)["data"]
    assert [t["id"] for t in listed] == [other["id"], tpl["id"]]

    def ids(**params: Any) -> list[str]:
        page = ok(tenant.get("/v1/route-templates", params=params), 200)
        return [t["id"] for t in page["data"]]

    assert ids(team_id=c.team_id) == [tpl["id"]]
    assert ids(driver_id=c.driver_id) == [tpl["id"]]
    assert ids(active="true") == [tpl["id"]]
    assert ids(active="false") == [other["id"]]
    page = ok(tenant.get("/v1/route-templates", params={"limit": 1}), 200)
    assert page["next_cursor"]
    nxt = ok(tenant.get("/v1/route-templates", params={"cursor": page["next_cursor"]}), 200)
    assert [t["id"] for t in nxt["data"]] == [tpl["id"]]

    r = tenant.patch(
        f"/v1/route-templates/{tpl['id']}",
        json={"driver_id": None, "weekdays": ["sat"], "stops": [STOP], "name": "Saturday"},
    )
    changed = ok(r, 200)
    assert changed["driver_id"] is None and changed["team_id"] == c.team_id
    assert changed["weekdays"] == ["sat"] and changed["name"] == "Saturday"
    assert len(changed["stops"]) == 1 and changed["valid_from"] == ahead(30).isoformat()
    assert ok(tenant.get(f"/v1/route-templates/{tpl['id']}/runs"), 200)["data"] == []

    assert tenant.request("DELETE", f"/v1/route-templates/{tpl['id']}").status_code == 204
    problem(tenant.get(f"/v1/route-templates/{tpl['id']}"), 404)
    problem(tenant.request("DELETE", f"/v1/route-templates/{tpl['id']}"), 404)


def test_create_takes_an_idempotency_key(tenant: TenantHandle) -> None:
    """A retried create with the same Idempotency-Key replays the first answer; one template."""
    headers = {"Idempotency-Key": secrets.token_hex(8)}
    body = {"name": "Once", "weekdays": ["mon"], "stops": [STOP]}
    first = tenant.post("/v1/route-templates", json=body, headers=headers)
    again = tenant.post("/v1/route-templates", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.headers.get("idempotent-replayed") == "true"
    assert again.json() == first.json()
    assert len(ok(tenant.get("/v1/route-templates"), 200)["data"]) == 1


def test_invalid_templates_are_refused_naming_the_field(tenant: TenantHandle) -> None:
    """Each invalid field or unknown reference is a 422 naming it, and nothing is stored."""
    hub = make_hub(tenant)
    pickup = {**STOP, "kind": "pickup", "ref": "p"}
    base: dict[str, Any] = {"name": "Bad", "weekdays": ["mon"], "stops": [STOP]}
    cases: list[tuple[dict[str, Any], str]] = [
        ({"team_id": "team_nope"}, "body.team_id"),
        ({"driver_id": "drv_nope"}, "body.driver_id"),
        ({"timezone": "Mars/Olympus"}, "body.timezone"),
        ({"weekdays": ["monday"]}, "body.weekdays.0"),
        ({"weekdays": []}, "body.weekdays"),
        ({"valid_from": 1767225600}, "body.valid_from"),
        ({"valid_from": "2027-01-01T00:00:00"}, "body.valid_from"),
        ({"valid_from": "2027-02-01", "valid_until": "2027-01-31"}, "body.valid_until"),
        ({"stops": []}, "body.stops"),
        ({"stops": [STOP] * 501}, "body.stops"),
        ({"stops": [{**STOP, "place": {"hub_id": "hub_nope"}}]}, "body.stops[0].place.hub_id"),
        (
            {"stops": [{**STOP, "required_skills": ["heavy", "juggling"]}]},
            "body.stops[0].required_skills[1]",
        ),
        (
            {"stops": [{**STOP, "window": {"start": "11:00", "end": "09:00"}}]},
            "body.stops.0.window",
        ),
        (
            {"stops": [{**STOP, "window": {"start": "10:00", "end": "10:00"}}]},
            "body.stops.0.window",
        ),
        ({"stops": [{**STOP, "window": {}}]}, "body.stops.0.window"),
        ({"stops": [{**STOP, "window": {"start": "25:00"}}]}, "body.stops.0.window.start"),
        ({"stops": [{**STOP, "place": {"lat": 91, "lng": 0}}]}, "body.stops.0.place.point.lat"),
        ({"stops": [{**STOP, "service_minutes": 1441}]}, "body.stops.0.service_minutes"),
        ({"stops": [{**STOP, "priority": True}]}, "body.stops.0.priority"),
        ({"stops": [{**STOP, "quantities": {"crates": -1}}]}, "body.stops.0.quantities.crates"),
        (
            {"stops": [{**STOP, "metadata": {"route_template_id": "x"}}]},
            "body.stops.0.metadata",
        ),
        ({"stops": [{**STOP, "kind": "delivery"}]}, "body.stops.0.kind"),
        ({"stops": [{**STOP, "notes": "nul\u0000"}]}, "body.stops.0.notes"),
        ({"stops": [pickup, {**STOP, "depends_on_ref": "q"}]}, "body.stops[1].depends_on_ref"),
        (
            {"stops": [{**STOP, "depends_on_ref": "p"}, pickup]},
            "body.stops[0].depends_on_ref",
        ),
        ({"stops": [pickup, {**pickup, "depends_on_ref": "p"}]}, "body.stops[1].depends_on_ref"),
        ({"stops": [{**STOP, "ref": "d"}, {**STOP, "ref": "d"}]}, "body.stops[1].ref"),
        ({"tenant_id": "ten_other"}, "body.tenant_id"),
    ]
    for change, field in cases:
        r = tenant.post("/v1/route-templates", json={**base, **change})
        assert r.status_code == 422, (change, r.status_code, r.text)
        assert field in {e["field"] for e in r.json()["errors"]}, (field, r.json())
    assert ok(tenant.get("/v1/route-templates"), 200)["data"] == []

    tpl = make_template(
        tenant, valid_until="2027-01-31", stops=[{**STOP, "place": {"hub_id": hub["id"]}}]
    )
    url = f"/v1/route-templates/{tpl['id']}"
    assert fields(tenant.patch(url, json={"valid_from": "2027-02-01"})) == {"body.valid_from"}
    assert fields(tenant.patch(url, json={"team_id": "team_nope"})) == {"body.team_id"}
    assert fields(
        tenant.patch(url, json={"stops": [{**STOP, "place": {"hub_id": "hub_gone"}}]})
    ) == {"body.stops[0].place.hub_id"}
    assert tenant.get(url).json() == tpl


# --- roles ----------------------------------------------------------------------------------


def test_roles(tenant: TenantHandle) -> None:
    """Viewers read but cannot write; drivers get 403; a dispatcher user works with the templates
    of the teams they manage and sees no others."""
    c = crew(tenant)
    mine = make_template(tenant, team_id=c.team_id)
    other_team = make_team(tenant)
    theirs = make_template(tenant, team_id=other_team["id"])
    teamless = make_template(tenant)

    viewer = tenant.key("viewer")
    assert len(ok(tenant.get("/v1/route-templates", key=viewer), 200)["data"]) == 3
    ok(tenant.get(f"/v1/route-templates/{mine['id']}", key=viewer), 200)
    problem(tenant.post("/v1/route-templates", key=viewer, json={"name": "x"}), 403)
    problem(materialize(tenant, mine["id"], ahead(10), key=viewer), 403)

    for driver in (c.driver_token, tenant.key("driver")):
        problem(tenant.get("/v1/route-templates", key=driver), 403)
        problem(tenant.get(f"/v1/route-templates/{mine['id']}", key=driver), 403)
        problem(materialize(tenant, mine["id"], ahead(10), key=driver), 403)

    disp = c.dispatcher_token
    seen = ok(tenant.get("/v1/route-templates", key=disp), 200)["data"]
    assert [t["id"] for t in seen] == [mine["id"]]
    for hidden in (theirs, teamless):
        problem(tenant.get(f"/v1/route-templates/{hidden['id']}", key=disp), 404)
        problem(tenant.patch(f"/v1/route-templates/{hidden['id']}", key=disp, json={}), 404)
        problem(materialize(tenant, hidden["id"], ahead(10), key=disp), 404)
    body = {"name": "D", "weekdays": ALL_DAYS, "stops": [STOP]}
    assert fields(tenant.post("/v1/route-templates", key=disp, json=body)) == {"body.team_id"}
    r = tenant.post("/v1/route-templates", key=disp, json={**body, "team_id": other_team["id"]})
    assert fields(r) == {"body.team_id"}
    created = ok(
        tenant.post(
            "/v1/route-templates",
            key=disp,
            json={**body, "team_id": c.team_id, "driver_id": c.driver_id},
        )
    )
    r = tenant.patch(f"/v1/route-templates/{created['id']}", key=disp, json={"team_id": None})
    assert fields(r) == {"body.team_id"}
    ok(tenant.patch(f"/v1/route-templates/{mine['id']}", key=disp, json={"name": "Mine"}), 200)
    day = ahead(10)
    made = ok(materialize(tenant, created["id"], day, key=disp))
    assert made["run"]["actor_id"] != "system" and made["run"]["actor_kind"] == "user"
    assert all(t["team_id"] == c.team_id and t["driver_id"] == c.driver_id for t in made["tasks"])
    # A dispatcher API key acts tenant-wide, like for the rest of the fleet.
    assert (
        len(ok(tenant.get("/v1/route-templates", key=tenant.key("dispatcher")), 200)["data"]) == 4
    )


def test_team_with_a_template_cannot_be_deleted(tenant: TenantHandle) -> None:
    """Deleting a team that a template still uses is a 409, not a 500; the template stays."""
    team = make_team(tenant)
    tpl = make_template(tenant, team_id=team["id"])
    problem(tenant.request("DELETE", f"/v1/teams/{team['id']}"), 409)
    ok(tenant.get(f"/v1/route-templates/{tpl['id']}"), 200)


# --- materialisation ------------------------------------------------------------------------


def test_materialize_creates_linked_assigned_tasks_in_utc(tenant: TenantHandle) -> None:
    """A day becomes one task per stop: hub places resolved, local windows in UTC, the pair
    linked, every task assigned to the template's driver in stop order, metadata naming the
    template and date; the run lists the tasks."""
    c = crew(tenant)
    tpl = bakery_round(tenant, team_id=c.team_id, driver_id=c.driver_id, weekdays=["tue"])
    day = ahead(8, "tue")
    r = materialize(tenant, tpl["id"], day)
    made = ok(r, 201)
    assert made["created"] is True
    assert made["warnings"] == ["driver lacks required skills: heavy"]
    pickup, linked, single = made["tasks"]
    assert [t["kind"] for t in made["tasks"]] == ["pickup", "dropoff", "dropoff"]
    assert (pickup["lat"], pickup["lng"], pickup["address"]) == (52.50, 13.40, "Backstrasse 1")
    assert linked["depends_on"] == pickup["id"] and single["depends_on"] is None
    assert utc(pickup["complete_after"]) == local_utc(day, "06:00")
    assert utc(pickup["complete_before"]) == local_utc(day, "06:30")
    assert utc(linked["complete_after"]) == local_utc(day, "07:00")
    assert single["complete_after"] is None
    assert utc(single["complete_before"]) == local_utc(day + timedelta(days=1), "00:00")
    assert pickup["service_seconds"] == 600 and pickup["quantities"] == {"crates": 12.0}
    assert linked["recipient"] == {
        "name": "Café Nord",
        "phone": "+4930123456",
        "notes": "Back door",
    }
    assert linked["requirements"] == {"signature": True} and linked["priority"] == 2
    assert linked["notes"] == "Ring twice" and single["required_skills"] == ["heavy"]
    for i, task in enumerate(made["tasks"]):
        assert task["metadata"]["route_template_id"] == tpl["id"]
        assert task["metadata"]["route_template_date"] == day.isoformat()
        assert task["metadata"]["route_template_stop"] == i
        assert task["state"] == "assigned" and task["driver_id"] == c.driver_id
        assert task["team_id"] == c.team_id
    assert linked["metadata"]["customer"] == "C-1"
    assert [t["route_position"] for t in made["tasks"]] == [0, 1, 2]
    history = ok(tenant.get(f"/v1/tasks/{pickup['id']}/history"), 200)
    assert [e["action"] for e in history] == ["create", "assign"]

    run = made["run"]
    assert run["date"] == day.isoformat() and run["template_id"] == tpl["id"]
    assert run["task_ids"] == [t["id"] for t in made["tasks"]]
    runs = ok(tenant.get(f"/v1/route-templates/{tpl['id']}/runs"), 200)["data"]
    assert runs == [run]
    assert {t["id"] for t in day_tasks(tenant, tpl["id"], day)} == set(run["task_ids"])


def test_materialize_twice_creates_nothing_new(tenant: TenantHandle) -> None:
    """A second materialisation of a day is a 200 with the first run's tasks; nothing is added,
    even after the template changed; another day is a new run."""
    tpl = bakery_round(tenant, weekdays=ALL_DAYS)
    day = ahead(9)
    first = ok(materialize(tenant, tpl["id"], day), 201)
    ok(tenant.patch(f"/v1/route-templates/{tpl['id']}", json={"stops": [STOP]}), 200)
    again = ok(materialize(tenant, tpl["id"], day), 200)
    assert again["created"] is False and again["run"] == first["run"]
    assert [t["id"] for t in again["tasks"]] == first["run"]["task_ids"]
    assert [t["state"] for t in again["tasks"]] == ["unassigned"] * 3
    assert len(day_tasks(tenant, tpl["id"], day)) == 3
    nxt = ok(materialize(tenant, tpl["id"], day + timedelta(days=1)), 201)
    assert len(nxt["tasks"]) == 1
    assert len(ok(tenant.get(f"/v1/route-templates/{tpl['id']}/runs"), 200)["data"]) == 2


def test_materialize_refuses_days_the_template_does_not_run(tenant: TenantHandle) -> None:
    """Off weekdays, days outside valid_from/valid_until, past days and days over a year ahead
    are 422s naming body.date; an inactive template is a 409; nothing is created."""
    monday = ahead(14, "mon")
    tpl = make_template(
        tenant,
        weekdays=["mon", "wed"],
        valid_from=monday.isoformat(),
        valid_until=(monday + timedelta(days=14)).isoformat(),
    )
    for day in (
        monday + timedelta(days=1),  # a Tuesday
        monday - timedelta(days=5),  # a Wednesday before valid_from
        monday + timedelta(days=16),  # a Wednesday after valid_until
    ):
        assert fields(materialize(tenant, tpl["id"], day)) == {"body.date"}, day
    # Runs on neither today nor tomorrow (the server's own job loop materialises those).
    today = datetime.now(UTC).date()
    days = [DAYS[(today + timedelta(days=k)).weekday()] for k in (3, 4)]
    loose = make_template(tenant, weekdays=days)
    past = today - timedelta(days=3)  # the weekday of today + 4
    assert fields(materialize(tenant, loose["id"], past)) == {"body.date"}
    assert fields(materialize(tenant, loose["id"], ahead(400, days[0]))) == {"body.date"}
    r = tenant.post(f"/v1/route-templates/{loose['id']}/materialize", json={"date": "2026-02-30"})
    assert fields(r) == {"body.date"}
    ok(tenant.patch(f"/v1/route-templates/{tpl['id']}", json={"active": False}), 200)
    assert problem(materialize(tenant, tpl["id"], monday), 409)["type"].endswith(
        "template-inactive"
    )
    for t in (tpl, loose):
        assert ok(tenant.get(f"/v1/route-templates/{t['id']}/runs"), 200)["data"] == []
    assert ok(tenant.get("/v1/tasks"), 200)["data"] == []


def _next_dst_change(zone: ZoneInfo, after: date) -> date:
    day = after
    while True:
        noon = datetime.combine(day, time(12), zone)
        if (
            noon.utcoffset()
            != datetime.combine(day - timedelta(days=1), time(12), zone).utcoffset()
        ):
            return day
        day += timedelta(days=1)


def test_windows_follow_the_clock_change(tenant: TenantHandle) -> None:
    """On the day the clocks change, a 09:00-11:00 window is 09:00-11:00 on the new local time:
    23 or 25 hours after the day before's, and a window across the change keeps wall times."""
    change = _next_dst_change(BERLIN, ahead(3))
    before = change - timedelta(days=1)
    stops = [
        {**STOP, "window": {"start": "09:00", "end": "11:00"}},
        {**STOP, "window": {"start": "01:00", "end": "04:00"}},
    ]
    tpl = make_template(
        tenant, timezone="Europe/Berlin", stops=stops, valid_from=before.isoformat()
    )
    today = ok(materialize(tenant, tpl["id"], change), 201)["tasks"]
    prior = ok(materialize(tenant, tpl["id"], before), 201)["tasks"]
    offset_before = datetime.combine(before, time(12), BERLIN).utcoffset()
    offset_after = datetime.combine(change, time(12), BERLIN).utcoffset()
    assert offset_before is not None and offset_after is not None
    spring = offset_after > offset_before
    gap = timedelta(hours=23 if spring else 25)
    assert utc(today[0]["complete_after"]) == utc(prior[0]["complete_after"]) + gap  # type: ignore[operator]
    assert utc(today[0]["complete_after"]) == datetime.combine(change, time(9), UTC) - offset_after
    # 01:00 is before the change (old offset), 04:00 after it (new offset): 2 or 4 real hours.
    night = utc(today[1]["complete_before"]) - utc(today[1]["complete_after"])  # type: ignore[operator]
    assert night == timedelta(hours=2 if spring else 4)


def test_racing_materialisations_create_one_day(tenant: TenantHandle) -> None:
    """Eight simultaneous materialisations of one day: one 201, seven 200s with the same tasks."""
    c = crew(tenant)
    tpl = bakery_round(tenant, team_id=c.team_id, driver_id=c.driver_id, weekdays=ALL_DAYS)
    day = ahead(11)
    keys = [tenant.key("dispatcher") for _ in range(8)]
    with ThreadPoolExecutor(max_workers=len(keys)) as pool:
        answers = list(pool.map(lambda k: materialize(tenant, tpl["id"], day, key=k), keys))
    codes = sorted(a.status_code for a in answers)
    assert codes == [200] * 7 + [201], [a.text for a in answers if a.status_code >= 300]
    task_ids = {tuple(t["id"] for t in a.json()["tasks"]) for a in answers}
    assert len(task_ids) == 1 and len(next(iter(task_ids))) == 3
    assert len(day_tasks(tenant, tpl["id"], day)) == 3
    assert len(ok(tenant.get(f"/v1/route-templates/{tpl['id']}/runs"), 200)["data"]) == 1
    route = ok(tenant.get("/v1/tasks", params={"driver_id": c.driver_id}), 200)["data"]
    assert len(route) == 3


def _run_async(coro: Any) -> Any:
    return asyncio.run(coro)


def test_a_run_waiting_on_an_uncommitted_run_creates_nothing(
    tenant: TenantHandle, database: TestDatabase
) -> None:
    """While one transaction has materialised a day but not committed, a second one waits for
    it and then returns the first run's tasks (PostgreSQL: the unique run row; SQLite: one
    writer at a time)."""
    tpl = bakery_round(tenant, weekdays=ALL_DAYS)
    day = ahead(12)
    system = TenantContext.system(tenant.id)

    async def go() -> tuple[Any, Any]:
        engine = make_engine(database.url, pool_size=4)
        sessions = make_sessionmaker(engine)
        try:
            async with UnitOfWork(sessions) as first:
                await bind_session(first.session, tenant.id)
                one = await templates_materialize.materialize(
                    session=first.session, tenant=system, template_id=tpl["id"], day=day
                )

                async def second() -> Any:
                    async with UnitOfWork(sessions) as uow:
                        await bind_session(uow.session, tenant.id)
                        result = await templates_materialize.materialize(
                            session=uow.session, tenant=system, template_id=tpl["id"], day=day
                        )
                        await uow.commit()
                        return result

                waiting = asyncio.create_task(second())
                await asyncio.sleep(1.0)
                assert not waiting.done()  # blocked behind the first transaction
                await first.commit()
            two = await waiting
            return one, two
        finally:
            await engine.dispose()

    one, two = _run_async(go())
    assert one.created is True and two.created is False
    assert two.run.id == one.run.id
    assert [t.id for t in two.tasks] == [t.id for t in one.tasks] == one.run.task_ids
    assert len(day_tasks(tenant, tpl["id"], day)) == 3


def test_deleting_a_template_keeps_its_tasks(tenant: TenantHandle) -> None:
    """Deleting a template removes it and its runs; the tasks it created stay."""
    tpl = make_template(tenant)
    day = ahead(9)
    made = ok(materialize(tenant, tpl["id"], day), 201)
    assert tenant.request("DELETE", f"/v1/route-templates/{tpl['id']}").status_code == 204
    problem(tenant.get(f"/v1/route-templates/{tpl['id']}/runs"), 404)
    ok(tenant.get(f"/v1/tasks/{made['tasks'][0]['id']}"), 200)


# --- the scheduled job ----------------------------------------------------------------------


def _due(database: TestDatabase, tenant_id: str, now: datetime, horizon: int = 1) -> int:
    async def go() -> int:
        engine = make_engine(database.url, pool_size=2)
        try:
            return await materialize_due(
                sessions=make_sessionmaker(engine),
                tenant_ids=[tenant_id],
                now=now,
                horizon_days=horizon,
            )
        finally:
            await engine.dispose()

    return int(_run_async(go()))


def _run_dates(t: TenantHandle, template_id: str) -> list[str]:
    runs = ok(t.get(f"/v1/route-templates/{template_id}/runs"), 200)["data"]
    return sorted(r["date"] for r in runs)


def test_job_materialises_today_and_the_horizon_in_each_time_zone(
    tenant: TenantHandle, database: TestDatabase
) -> None:
    """The job materialises each active template for today and the next days in its own time
    zone, on its weekdays within its validity, once; a second run creates nothing."""
    monday = ahead(21, "mon")
    now = datetime.combine(monday, time(23, 30), UTC)  # Tuesday 00:30 in Berlin
    # Every template starts a week before: the server's own job loop leaves them alone.
    since = (monday - timedelta(days=7)).isoformat()
    berlin = make_template(
        tenant, timezone="Europe/Berlin", weekdays=["tue", "thu"], valid_from=since
    )
    new_york = make_template(tenant, timezone="America/New_York", valid_from=since)  # Mon 18:30
    ended = make_template(
        tenant, valid_from=since, valid_until=(monday - timedelta(days=1)).isoformat()
    )
    later = make_template(tenant, valid_from=(monday + timedelta(days=2)).isoformat())
    paused = make_template(tenant, active=False, valid_from=since)

    assert _due(database, tenant.id, now, horizon=2) == 6
    tue, wed, thu = (monday + timedelta(days=k) for k in (1, 2, 3))
    assert _run_dates(tenant, berlin["id"]) == [tue.isoformat(), thu.isoformat()]
    assert _run_dates(tenant, new_york["id"]) == [
        monday.isoformat(),
        tue.isoformat(),
        wed.isoformat(),
    ]
    assert _run_dates(tenant, ended["id"]) == []
    assert _run_dates(tenant, later["id"]) == [wed.isoformat()]
    assert _run_dates(tenant, paused["id"]) == []
    task = day_tasks(tenant, berlin["id"], tue)[0]
    assert utc(task["complete_after"]) == local_utc(tue, "09:00")
    assert _due(database, tenant.id, now, horizon=2) == 0
    assert len(day_tasks(tenant, new_york["id"], monday)) == 1


def test_job_records_a_failure_and_recovers(tenant: TenantHandle, database: TestDatabase) -> None:
    """A template whose hub is gone fails without a run or tasks and shows `last_error`; once
    fixed, the next job run materialises the day and clears the error."""
    hub = make_hub(tenant)
    day = ahead(15)
    stop = {**STOP, "kind": "pickup", "place": {"hub_id": hub["id"]}}
    tpl = make_template(tenant, stops=[stop], valid_from=day.isoformat())
    assert tenant.request("DELETE", f"/v1/hubs/{hub['id']}").status_code == 204
    now = datetime.combine(day, time(10), UTC)
    assert _due(database, tenant.id, now, horizon=0) == 0
    broken = ok(tenant.get(f"/v1/route-templates/{tpl['id']}"), 200)
    assert "stops[0].place.hub_id" in broken["last_error"] and broken["last_error_at"]
    assert _run_dates(tenant, tpl["id"]) == [] and day_tasks(tenant, tpl["id"], day) == []
    problem(materialize(tenant, tpl["id"], day), 409)

    ok(tenant.patch(f"/v1/route-templates/{tpl['id']}", json={"stops": [STOP]}), 200)
    assert _due(database, tenant.id, now, horizon=0) == 1
    fixed = ok(tenant.get(f"/v1/route-templates/{tpl['id']}"), 200)
    assert fixed["last_error"] is None and _run_dates(tenant, tpl["id"]) == [day.isoformat()]


def test_worker_tick_materialises_today(tenant: TenantHandle, database: TestDatabase) -> None:
    """The periodic tick (`lastmile worker`, embedded in `lastmile serve`) materialises today's
    stops of every tenant's templates; however often it runs, the day has one set of tasks."""
    tpl = make_template(tenant, timezone="Europe/Berlin")

    async def tick() -> None:
        engine = make_engine(database.url, pool_size=2)
        try:
            await runner.tick(make_sessionmaker(engine))
            await runner.tick(make_sessionmaker(engine))
        finally:
            await engine.dispose()

    _run_async(tick())
    today = datetime.now(UTC).astimezone(BERLIN).date()  # the tick covers today and tomorrow
    assert today.isoformat() in _run_dates(tenant, tpl["id"])
    assert len(day_tasks(tenant, tpl["id"], today)) == 1
