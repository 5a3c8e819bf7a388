"""The outbox and the polling feed: every change emits its event in its own transaction, the
feed returns them in commit order, and nothing is emitted for a change that did not happen."""

from __future__ import annotations

import io
import sqlite3
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import psycopg
import pytest
from pydantic import BaseModel
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from lastmile.core import clock
from lastmile.core.db import make_engine, make_sessionmaker
from lastmile.core.tenancy import TenantContext, bind_session
from lastmile.core.uow import UnitOfWork
from lastmile.events import service
from lastmile.events.catalogue import catalogue
from lastmile.events.models import Event
from lastmile.fleet.events import DRIVER_DUTY_CHANGED
from lastmile.workers import runner
from tests.functional.test_route_plans import plan, scene, task
from tests.support.databases import TestDatabase, plain_pg_url
from tests.support.factories import TenantHandle
from tests.support.fleetkit import BERLIN, crew, ok

LAT, LNG = BERLIN


def feed(t: TenantHandle, **params: Any) -> dict[str, Any]:
    return dict(ok(t.get("/v1/events", params=params), 200))


def wait_for(t: TenantHandle, count: int, **params: Any) -> list[dict[str, Any]]:
    """All events of the feed once there are at least `count` (the relay runs after commit)."""
    deadline = time.monotonic() + 10
    while True:
        found: list[dict[str, Any]] = []
        after = None
        while True:
            page = feed(t, limit=200, **({"after": after} if after else {}), **params)
            found += page["data"]
            after = page["next_cursor"]
            if not page["has_more"]:
                break
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def by_subject(events: list[dict[str, Any]], subject: str) -> list[str]:
    return [e["type"] for e in events if e["data"].get("id") == subject]


def new_task(t: TenantHandle, **fields: Any) -> dict[str, Any]:
    return dict(ok(t.post("/v1/tasks", json={"kind": "dropoff", "lat": LAT, "lng": LNG, **fields})))


def test_a_task_life_emits_each_event_once_in_order(tenant: TenantHandle) -> None:
    """Create, update, assign, unassign, assign, start, arrive, complete; and a cancel and a
    failure: each step is one event, in order, whose data is the task as it stood after it."""
    c = crew(tenant)
    a = new_task(tenant, team_id=c.team_id)
    ok(tenant.patch(f"/v1/tasks/{a['id']}", json={"notes": "ring twice"}), 200)
    for step in ("assign", "unassign", "assign"):
        body = {"driver_id": c.driver_id} if step == "assign" else None
        ok(tenant.post(f"/v1/tasks/{a['id']}/{step}", json=body), 200)
    for step in ("start", "arrive"):
        ok(tenant.post(f"/v1/tasks/{a['id']}/{step}", key=c.driver_token), 200)
    ok(tenant.post(f"/v1/tasks/{a['id']}/complete", key=c.driver_token, data={"notes": "ok"}), 200)
    b = new_task(tenant, team_id=c.team_id)
    ok(tenant.post(f"/v1/tasks/{b['id']}/cancel", json={"reason": "customer"}), 200)
    f = new_task(tenant, team_id=c.team_id)
    ok(tenant.post(f"/v1/tasks/{f['id']}/assign", json={"driver_id": c.driver_id}), 200)
    ok(tenant.post(f"/v1/tasks/{f['id']}/start", key=c.driver_token), 200)
    ok(
        tenant.post(
            f"/v1/tasks/{f['id']}/complete",
            key=c.driver_token,
            data={"success": "false", "failure_reason": "nobody home"},
        ),
        200,
    )

    events = wait_for(
        tenant,
        14,
        types="task.created,task.updated,task.assigned,"
        "task.unassigned,task.started,task.arrived,task.completed,task.failed,"
        "task.cancelled",
    )
    assert by_subject(events, a["id"]) == [
        "task.created",
        "task.updated",
        "task.assigned",
        "task.unassigned",
        "task.assigned",
        "task.started",
        "task.arrived",
        "task.completed",
    ]
    assert by_subject(events, b["id"]) == ["task.created", "task.cancelled"]
    assert by_subject(events, f["id"]) == [
        "task.created",
        "task.assigned",
        "task.started",
        "task.failed",
    ]
    of_a = [e for e in events if e["data"]["id"] == a["id"]]
    states = [e["data"]["state"] for e in of_a]
    assert states == [
        "unassigned",
        "unassigned",
        "assigned",
        "unassigned",
        "assigned",
        "started",
        "arrived",
        "completed",
    ]
    assert of_a[1]["data"]["notes"] == "ring twice"
    assert of_a[3]["data"]["driver_id"] is None and of_a[4]["data"]["driver_id"] == c.driver_id
    assert all(e["tenant_id"] == tenant.id for e in events)
    assert len({e["id"] for e in events}) == len(events)
    stamps = [e["timestamp"] for e in of_a]
    assert stamps == sorted(stamps)


def test_other_domains_emit_their_events(tenant: TenantHandle) -> None:
    """Duty changes, incidents, CSV imports and route plans each announce themselves."""
    s = scene(tenant, drivers=1)
    task(tenant, s, 0)
    done = plan(tenant, s)
    incident = ok(tenant.post("/v1/incidents", json={"type": "other", "driver_id": s.drivers[0]}))
    ok(tenant.post(f"/v1/incidents/{incident['id']}/resolve", json={}), 200)
    csv = "kind,lat,lng\ndropoff,52.5,13.4\n"
    files = {"file": ("t.csv", io.BytesIO(csv.encode()), "text/csv")}
    job = ok(tenant.post("/v1/task-imports", files=files), 202)

    types = "driver.duty_changed,route_plan.completed,incident.created,incident.resolved"
    events = wait_for(tenant, 5, types=types + ",import.completed")
    seen = {(e["type"], e["data"]["id"]) for e in events}
    assert ("driver.duty_changed", s.drivers[0]) in seen
    assert ("route_plan.completed", done["id"]) in seen
    assert ("incident.created", incident["id"]) in seen
    assert ("incident.resolved", incident["id"]) in seen
    assert ("import.completed", job["id"]) in seen
    duty = next(e for e in events if e["type"] == "driver.duty_changed")
    assert duty["data"]["on_duty"] is True
    completed = next(e for e in events if e["type"] == "route_plan.completed")
    assert completed["data"]["status"] == "done" and completed["data"]["summary"]
    resolved = next(e for e in events if e["type"] == "incident.resolved")
    assert resolved["data"]["status"] == "resolved"


def test_feed_pages_by_cursor_and_filters_by_type(tenant: TenantHandle) -> None:
    """The cursor resumes exactly after the last event seen; `types` narrows; bad input is a 422."""
    first = [new_task(tenant)["id"] for _ in range(3)]
    wait_for(tenant, 3)
    page = feed(tenant, limit=2)
    assert [e["data"]["id"] for e in page["data"]] == first[:2] and page["has_more"]
    rest = feed(tenant, after=page["next_cursor"])
    assert [e["data"]["id"] for e in rest["data"]] == first[2:] and not rest["has_more"]
    quiet = feed(tenant, after=rest["next_cursor"])
    assert quiet["data"] == [] and quiet["next_cursor"] == rest["next_cursor"]
    later = new_task(tenant)["id"]
    ok(tenant.post(f"/v1/tasks/{later}/cancel", json={}), 200)
    deadline = time.monotonic() + 10
    while not (new := feed(tenant, after=rest["next_cursor"]))["data"]:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    wait_for(tenant, 5)
    assert [e["type"] for e in feed(tenant, after=rest["next_cursor"])["data"]] == [
        "task.created",
        "task.cancelled",
    ]
    assert new["data"][0]["data"]["id"] == later
    only = feed(tenant, types="task.cancelled")["data"]
    assert [e["data"]["id"] for e in only] == [later]

    r = tenant.get("/v1/events", params={"after": "bm90LWEtY3Vyc29y"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "query.after"
    r = tenant.get("/v1/events", params={"types": "task.created,task.exploded"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "query.types"
    assert tenant.get("/v1/events", key=tenant.key("dispatcher")).status_code == 403


def test_tenants_never_see_each_others_events(
    tenant: TenantHandle, other_tenant: TenantHandle
) -> None:
    mine = new_task(tenant)["id"]
    theirs = new_task(other_tenant)["id"]
    assert mine in str(wait_for(tenant, 1)) and theirs not in str(wait_for(tenant, 1))
    assert theirs in str(wait_for(other_tenant, 1)) and mine not in str(wait_for(other_tenant, 1))


def test_catalogue_lists_every_type_with_a_schema_real_events_match(
    tenant: TenantHandle,
) -> None:
    """GET /v1/event-types: each type's envelope schema validates the events we emit."""
    types = {t["type"]: t for t in ok(tenant.get("/v1/event-types"), 200)["data"]}
    assert {
        "task.created",
        "task.updated",
        "task.assigned",
        "task.unassigned",
        "task.started",
        "task.arrived",
        "task.completed",
        "task.failed",
        "task.cancelled",
        "task.eta_changed",
        "task.delayed",
        "driver.duty_changed",
        "route_plan.completed",
        "incident.created",
        "incident.resolved",
        "import.completed",
        "webhook_endpoint.disabled",
    } <= set(types)
    assert all(t["version"] >= 1 and t["description"] for t in types.values())
    task_id = new_task(tenant)["id"]
    ok(tenant.post(f"/v1/tasks/{task_id}/cancel", json={}), 200)
    for event in wait_for(tenant, 2):
        jsonschema.validate(event, types[event["type"]]["schema"])
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**event, "type": "task.created"}, types["task.cancelled"]["schema"])


@pytest.fixture
def sessions(database: TestDatabase) -> Iterator[async_sessionmaker[AsyncSession]]:
    engine = make_engine(database.url, pool_size=2)
    yield make_sessionmaker(engine)


async def _count(sessions: async_sessionmaker[AsyncSession], tenant_id: str) -> int:
    async with UnitOfWork(sessions) as uow:
        await bind_session(uow.session, tenant_id)
        stmt = select(func.count()).select_from(Event).where(Event.subject.like("drv_test%"))
        return int((await uow.session.execute(stmt)).scalar_one())


class _Driver(BaseModel):
    id: str


def _driver(n: int) -> _Driver:
    return _Driver(id=f"drv_test{n}")


async def test_events_live_and_die_with_their_transaction(
    tenant: TenantHandle, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """Rolled back: no event. A savepoint rolled back: only its events go. Committed: stored."""
    ctx = TenantContext.system(tenant.id)

    async def emit(session: AsyncSession, n: int) -> None:
        service.emit(session=session, tenant=ctx, event_type=DRIVER_DUTY_CHANGED, data=_driver(n))

    async with UnitOfWork(sessions) as uow:
        await bind_session(uow.session, tenant.id)
        await emit(uow.session, 1)
        await uow.session.flush()
        await uow.rollback()
    assert await _count(sessions, tenant.id) == 0

    async with UnitOfWork(sessions) as uow:
        await bind_session(uow.session, tenant.id)
        await emit(uow.session, 2)
        with pytest.raises(RuntimeError):
            async with uow.session.begin_nested():
                await emit(uow.session, 3)
                raise RuntimeError("the savepoint's change failed")
        await emit(uow.session, 4)
        await uow.commit()
    async with UnitOfWork(sessions) as uow:
        await bind_session(uow.session, tenant.id)
        stmt = select(Event.subject).where(Event.subject.like("drv_test%")).order_by(Event.ordinal)
        assert list((await uow.session.execute(stmt)).scalars()) == ["drv_test2", "drv_test4"]


def _ddl(database: TestDatabase, statements: list[str]) -> None:
    """Run DDL as the database owner (a trigger standing for a failure inside the write)."""
    if database.backend == "sqlite":
        with sqlite3.connect(database.url.removeprefix("sqlite:///")) as conn:
            for sql in statements:
                conn.execute(sql)
        return
    with psycopg.connect(plain_pg_url(database.admin_url), autocommit=True) as conn:
        for sql in statements:
            conn.execute(sql)  # type: ignore[call-overload]


def _refuse(database: TestDatabase, name: str, table: str, when: str) -> list[str]:
    """DDL making writes to `table` matching `when` fail, and the DDL undoing it."""
    if database.backend == "sqlite":
        _ddl(
            database,
            [
                f"CREATE TRIGGER {name} BEFORE {table} WHEN {when} "
                "BEGIN SELECT RAISE(ABORT, 'refused by test'); END"
            ],
        )
        return [f"DROP TRIGGER {name}"]
    op, _, tbl = table.partition(" ON ")
    _ddl(
        database,
        [
            f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'refused by test'; END $$",
            f"CREATE TRIGGER {name} BEFORE {op} ON {tbl} FOR EACH ROW WHEN ({when}) "
            f"EXECUTE FUNCTION {name}()",
        ],
    )
    return [f"DROP TRIGGER {name} ON {tbl}", f"DROP FUNCTION {name}()"]


def _fails(call: Callable[[], httpx.Response]) -> bool:
    """Whether the request failed as a database error makes it fail: a 500 problem."""
    r = call()
    return r.status_code == 500 and r.json()["type"] == "/problems/internal-error"


def test_a_failed_write_leaves_neither_change_nor_event(
    tenant: TenantHandle, database: TestDatabase
) -> None:
    """When the event cannot be stored the task is not created; when the change cannot be
    stored its event is not either."""
    undo = _refuse(database, "refuse_events", "INSERT ON events", f"NEW.tenant_id = '{tenant.id}'")
    try:
        assert _fails(
            lambda: tenant.post("/v1/tasks", json={"kind": "dropoff", "lat": LAT, "lng": LNG})
        )
    finally:
        _ddl(database, undo)
    assert ok(tenant.get("/v1/tasks"), 200)["data"] == []

    kept = new_task(tenant)["id"]
    when = f"NEW.tenant_id = '{tenant.id}' AND NEW.state = 'cancelled'"
    undo = _refuse(database, "refuse_cancel", "UPDATE ON tasks", when)
    try:
        assert _fails(lambda: tenant.post(f"/v1/tasks/{kept}/cancel", json={}))
    finally:
        _ddl(database, undo)
    assert ok(tenant.get(f"/v1/tasks/{kept}"), 200)["state"] == "unassigned"
    time.sleep(0.3)  # what the relay would have had time to publish
    assert [e["type"] for e in wait_for(tenant, 1)] == ["task.created"]


async def test_events_past_retention_are_purged_once(
    tenant: TenantHandle, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """Events older than the retention period leave the feed; a second run deletes nothing."""
    old, recent = new_task(tenant)["id"], new_task(tenant)["id"]
    wait_for(tenant, 2)
    async with UnitOfWork(sessions) as uow:
        await bind_session(uow.session, tenant.id)
        await uow.session.execute(
            update(Event)
            .where(Event.subject == old)
            .values(occurred_at=clock.now() - timedelta(days=31))
        )
        await uow.commit()
    assert await runner.purge_events(sessions) >= 1
    assert await runner.purge_events(sessions) == 0
    assert [e["data"]["id"] for e in wait_for(tenant, 1)] == [recent]


def test_events_doc_lists_every_type(repo_root: Path) -> None:
    """docs/api/events.md has a row for every type in the catalogue."""
    doc = (repo_root / "docs" / "api" / "events.md").read_text()
    missing = [name for name in catalogue() if f"| `{name}` |" not in doc]
    assert not missing, missing
