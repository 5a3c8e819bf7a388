"""Integration intake: merchant orders become linked pickup/drop-off pairs, exactly once."""

from __future__ import annotations

import asyncio
import secrets
import time
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from lastmile.core.db import make_engine, make_sessionmaker
from lastmile.core.tenancy import TenantContext, bind_session
from lastmile.core.uow import UnitOfWork
from lastmile.integrations import service as integrations
from lastmile.integrations.schemas import OrderIn
from tests.support.databases import TestDatabase
from tests.support.factories import TenantHandle
from tests.support.fleetkit import crew, ok
from tests.support.objects_fleet import make_driver, make_hub, make_team
from tests.support.objects_integrations import SOURCE, make_order, order_body

ORDERS = "/v1/integrations/orders"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def order_url(o: dict[str, Any], suffix: str = "") -> str:
    return f"{ORDERS}/{o['source']}/{o['external_order_id']}{suffix}"


def task(t: TenantHandle, task_id: str) -> dict[str, Any]:
    return dict(ok(t.get(f"/v1/tasks/{task_id}"), 200))


def all_tasks(t: TenantHandle) -> list[dict[str, Any]]:
    return list(ok(t.get("/v1/tasks", params={"limit": 200}), 200)["data"])


def history(t: TenantHandle, task_id: str) -> list[str]:
    return [h["action"] for h in ok(t.get(f"/v1/tasks/{task_id}/history"), 200)]


def problem(r: httpx.Response, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    return dict(r.json())


def test_order_becomes_a_linked_pair(tenant: TenantHandle) -> None:
    """An order makes a pickup at the store from its ready time and a drop-off after it at the
    customer by the deadline, with the items in the notes and their count as the load."""
    body = order_body()
    made = ok(tenant.post(ORDERS, json=body))
    assert made["outcome"] == "created" and made["status"] == "open" and made["revision"] == 1
    assert made["source"] == SOURCE and made["external_order_id"] == body["external_order_id"]
    assert made["items"] == [
        {"sku": "PZ-01", "name": "Pizza Margherita", "quantity": 2},
        {"sku": None, "name": "Lemonade", "quantity": 1},
    ]
    pickup, dropoff = task(tenant, made["pickup"]["id"]), task(tenant, made["dropoff"]["id"])
    assert (pickup["kind"], dropoff["kind"]) == ("pickup", "dropoff")
    assert dropoff["depends_on"] == pickup["id"] and pickup["depends_on"] is None
    assert made["pickup"]["state"] == pickup["state"] == "unassigned"
    assert (pickup["lat"], pickup["lng"], pickup["address"]) == (
        52.5292,
        13.401,
        "Store 12, Torstrasse 1",
    )
    assert (dropoff["lat"], dropoff["lng"]) == (52.5219, 13.4132)
    assert pickup["recipient"] == {
        "name": "Store 12",
        "phone": "+493012345678",
        "notes": "Back counter",
    }
    assert dropoff["recipient"] == body["recipient"]
    ready, deadline = at(body["pickup"]["ready_at"]), at(body["dropoff"]["deadline"])
    assert at(pickup["complete_after"]) == ready and at(pickup["complete_before"]) == deadline
    assert dropoff["complete_after"] is None and at(dropoff["complete_before"]) == deadline
    for t in (pickup, dropoff):
        assert t["quantities"] == {"items": 3.0}
        assert t["notes"].startswith("Keep upright\n\nItems:\n")
        assert "2 x Pizza Margherita [PZ-01]" in t["notes"] and "1 x Lemonade" in t["notes"]
        assert t["metadata"] == {
            "integration_source": SOURCE,
            "external_order_id": body["external_order_id"],
        }
    found = ok(tenant.get(order_url(made)), 200)
    assert found == {k: v for k, v in made.items() if k != "outcome"}
    by_meta = ok(
        tenant.get(
            "/v1/tasks", params={"metadata": f"external_order_id:{body['external_order_id']}"}
        ),
        200,
    )["data"]
    assert {t["id"] for t in by_meta} == {pickup["id"], dropoff["id"]}


def test_explicit_load_replaces_the_item_count(tenant: TenantHandle) -> None:
    """`quantities`, when given, is the load of both tasks instead of the item count."""
    made = make_order(tenant, quantities={"parcels": 2, "weight": 4.5})
    assert task(tenant, made["dropoff"]["id"])["quantities"] == {"parcels": 2.0, "weight": 4.5}
    assert task(tenant, made["pickup"]["id"])["quantities"] == {"parcels": 2.0, "weight": 4.5}


def test_a_long_item_list_is_cut_to_fit_the_notes(tenant: TenantHandle) -> None:
    """A hundred long items do not fit a task's notes: the list is cut and the rest counted."""
    items = [{"sku": f"SKU-{i:03d}", "name": "N" * 200, "quantity": 1} for i in range(100)]
    made = make_order(tenant, items=items, notes="x" * 2000)
    notes = task(tenant, made["dropoff"]["id"])["notes"]
    assert len(notes) <= 5000 and notes.startswith("x" * 2000)
    assert notes.endswith("more (see the order)") and "[SKU-000]" in notes
    assert len(ok(tenant.get(order_url(made)), 200)["items"]) == 100


def test_a_team_that_auto_assigns_gets_the_pair_placed(tenant: TenantHandle) -> None:
    """An order for a team in `nearest_available` mode is placed with a free driver at once,
    pickup and drop-off together, as a task created through /v1/tasks would be."""
    hub = make_hub(tenant, lat=52.52, lng=13.405)
    team = make_team(tenant, hub_id=hub["id"], auto_assign="nearest_available")
    driver = make_driver(
        tenant,
        team_ids=[team["id"]],
        start_place={"hub_id": hub["id"]},
        end_place={"hub_id": hub["id"]},
    )
    ok(tenant.post(f"/v1/drivers/{driver['id']}/duty", json={"on_duty": True}), 200)
    made = make_order(tenant, team_id=team["id"])
    assert made["pickup"]["state"] == made["dropoff"]["state"] == "assigned"
    pickup, dropoff = task(tenant, made["pickup"]["id"]), task(tenant, made["dropoff"]["id"])
    assert pickup["driver_id"] == dropoff["driver_id"] == driver["id"]
    assert pickup["route_position"] < dropoff["route_position"]


def test_identical_resend_changes_nothing(tenant: TenantHandle) -> None:
    """The same order again (even with its keys reordered and its times in another offset) is
    200 `unchanged` with the same pair: no new task, no history entry."""
    body = order_body()
    made = ok(tenant.post(ORDERS, json=body))
    same = ok(tenant.post(ORDERS, json=body), 200)
    assert same["outcome"] == "unchanged"
    assert {k: v for k, v in same.items() if k != "outcome"} == {
        k: v for k, v in made.items() if k != "outcome"
    }
    ready = at(body["pickup"]["ready_at"]).astimezone(timezone(timedelta(hours=2)))
    shuffled = dict(reversed(list(body.items())))
    shuffled["pickup"] = {**body["pickup"], "ready_at": ready.isoformat()}
    assert ok(tenant.post(ORDERS, json=shuffled), 200)["outcome"] == "unchanged"
    assert len(all_tasks(tenant)) == 2
    assert history(tenant, made["pickup"]["id"]) == ["create"]
    assert history(tenant, made["dropoff"]["id"]) == ["create"]
    assert ok(tenant.get(order_url(made)), 200)["revision"] == 1


def test_updated_order_updates_both_tasks(tenant: TenantHandle) -> None:
    """A changed order (new drop-off place and deadline, other items, new phone) updates both
    tasks in place: same ids, revision 2, an `update` in each history."""
    body = order_body()
    made = ok(tenant.post(ORDERS, json=body))
    deadline = at(body["dropoff"]["deadline"]) + timedelta(minutes=30)
    changed = {
        **body,
        "dropoff": {
            "lat": 52.5,
            "lng": 13.42,
            "address": "Hof 3",
            "deadline": deadline.isoformat(),
        },
        "items": [{"name": "Pizza Funghi", "quantity": 4}],
        "recipient": {**body["recipient"], "phone": "+4915199999999"},
    }
    upd = ok(tenant.post(ORDERS, json=changed), 200)
    assert upd["outcome"] == "updated" and upd["revision"] == 2
    assert (upd["pickup"]["id"], upd["dropoff"]["id"]) == (
        made["pickup"]["id"],
        made["dropoff"]["id"],
    )
    assert upd["items"] == [{"sku": None, "name": "Pizza Funghi", "quantity": 4}]
    pickup, dropoff = task(tenant, made["pickup"]["id"]), task(tenant, made["dropoff"]["id"])
    assert (dropoff["lat"], dropoff["lng"], dropoff["address"]) == (52.5, 13.42, "Hof 3")
    assert at(dropoff["complete_before"]) == deadline == at(pickup["complete_before"])
    assert dropoff["recipient"]["phone"] == "+4915199999999"
    assert pickup["address"] == "Store 12, Torstrasse 1"  # the store did not move
    for t in (pickup, dropoff):
        assert t["quantities"] == {"items": 4.0} and "4 x Pizza Funghi" in t["notes"]
        assert "Margherita" not in t["notes"]
        assert history(tenant, t["id"]) == ["create", "update"]
    assert len(all_tasks(tenant)) == 2
    assert ok(tenant.post(ORDERS, json=changed), 200)["outcome"] == "unchanged"


def test_update_after_start_is_refused(tenant: TenantHandle) -> None:
    """Once the driver has started the pickup, a changed order is 409 `order-started` naming the
    started task, and the tasks stay as they were; an identical resend is still 200."""
    c = crew(tenant)
    body = order_body(team_id=c.team_id)
    made = ok(tenant.post(ORDERS, json=body))
    pickup_id = made["pickup"]["id"]
    ok(tenant.post(f"/v1/tasks/{pickup_id}/assign", json={"driver_id": c.driver_id}), 200)
    assigned = ok(tenant.post(ORDERS, json={**body, "notes": "Assigned is still open"}), 200)
    assert assigned["outcome"] == "updated" and assigned["pickup"]["state"] == "assigned"
    body = {**body, "notes": "Assigned is still open"}
    ok(tenant.post(f"/v1/tasks/{pickup_id}/start", key=c.driver_token), 200)
    before = [task(tenant, made["pickup"]["id"]), task(tenant, made["dropoff"]["id"])]
    p = problem(tenant.post(ORDERS, json={**body, "notes": "Too late"}), 409)
    assert p["type"] == "/problems/order-started"
    assert f"pickup task {pickup_id} is started" in p["detail"]
    assert [task(tenant, made["pickup"]["id"]), task(tenant, made["dropoff"]["id"])] == before
    same = ok(tenant.post(ORDERS, json=body), 200)
    assert same["outcome"] == "unchanged" and same["pickup"]["state"] == "started"


def test_cancellation_cancels_both_tasks(tenant: TenantHandle) -> None:
    """Cancelling an order cancels both tasks through their lifecycle (a `cancel` with the
    reason in each history); again is 200 `unchanged`; a changed resend is then 409."""
    body = order_body()
    made = ok(tenant.post(ORDERS, json=body))
    r = ok(tenant.post(order_url(made, "/cancel"), json={"reason": "customer called"}), 200)
    assert r["outcome"] == "cancelled" and r["status"] == "cancelled" and r["cancelled_at"]
    assert r["pickup"]["state"] == r["dropoff"]["state"] == "cancelled"
    for task_id in (made["pickup"]["id"], made["dropoff"]["id"]):
        entries = ok(tenant.get(f"/v1/tasks/{task_id}/history"), 200)
        assert [e["action"] for e in entries] == ["create", "cancel"]
        assert entries[-1]["details"] == {"reason": "customer called"}
        assert task(tenant, task_id)["state"] == "cancelled"
    again = ok(tenant.post(order_url(made, "/cancel")), 200)
    assert again["outcome"] == "unchanged" and again["revision"] == r["revision"]
    assert ok(tenant.post(ORDERS, json=body), 200)["outcome"] == "unchanged"
    p = problem(tenant.post(ORDERS, json={**body, "notes": "never mind"}), 409)
    assert p["type"] == "/problems/order-cancelled"
    got = ok(tenant.get(order_url(made)), 200)
    assert got["status"] == "cancelled" and got["dropoff"]["state"] == "cancelled"


def events_of(t: TenantHandle, types: str, count: int) -> list[dict[str, Any]]:
    """The feed's events of these types once there are `count` (the relay runs after commit)."""
    deadline = time.monotonic() + 10
    while True:
        found = ok(t.get("/v1/events", params={"types": types, "limit": 200}), 200)["data"]
        if len(found) >= count or time.monotonic() > deadline:
            return list(found)
        time.sleep(0.05)


def test_order_events_are_the_tasks_events(tenant: TenantHandle) -> None:
    """An order emits `task.created` for its two tasks once, however often it is sent, and its
    cancellation `task.cancelled` for both."""
    body = order_body()
    made = ok(tenant.post(ORDERS, json=body))
    ok(tenant.post(ORDERS, json=body), 200)
    ok(tenant.post(order_url(made, "/cancel")), 200)
    pair = {made["pickup"]["id"], made["dropoff"]["id"]}
    cancelled = events_of(tenant, "task.cancelled", 2)
    assert sorted(e["data"]["id"] for e in cancelled) == sorted(pair)
    assert all(e["data"]["state"] == "cancelled" for e in cancelled)
    created = events_of(tenant, "task.created", 2)
    assert sorted(e["data"]["id"] for e in created) == sorted(pair)


def test_cancelling_an_order_under_way_and_a_delivered_one(tenant: TenantHandle) -> None:
    """An order whose pickup is done is cancelled by cancelling its drop-off; a delivered order
    cannot be cancelled (409 `order-finished`)."""
    c = crew(tenant)
    drv = c.driver_token

    def pick_up(o: dict[str, Any]) -> None:
        pid = o["pickup"]["id"]
        ok(tenant.post(f"/v1/tasks/{pid}/assign", json={"driver_id": c.driver_id}), 200)
        for step in ("start", "arrive"):
            ok(tenant.post(f"/v1/tasks/{pid}/{step}", key=drv), 200)
        ok(tenant.post(f"/v1/tasks/{pid}/complete", key=drv, data={}), 200)

    under_way = make_order(tenant, team_id=c.team_id)
    pick_up(under_way)
    r = ok(tenant.post(order_url(under_way, "/cancel")), 200)
    assert (r["pickup"]["state"], r["dropoff"]["state"]) == ("completed", "cancelled")
    assert history(tenant, under_way["dropoff"]["id"])[-1] == "cancel"

    delivered = make_order(tenant, team_id=c.team_id)
    pick_up(delivered)
    did = delivered["dropoff"]["id"]
    for step in ("start", "arrive"):
        ok(tenant.post(f"/v1/tasks/{did}/{step}", key=drv), 200)
    ok(tenant.post(f"/v1/tasks/{did}/complete", key=drv, data={}), 200)
    p = problem(tenant.post(order_url(delivered, "/cancel")), 409)
    assert p["type"] == "/problems/order-finished" and did in p["detail"]
    assert ok(tenant.get(order_url(delivered)), 200)["status"] == "open"


def test_orders_belong_to_their_tenant(tenant: TenantHandle, other_tenant: TenantHandle) -> None:
    """Another tenant cannot read or cancel an order (404), and the same (source, id) there is
    an order of its own."""
    body = order_body()
    made = ok(tenant.post(ORDERS, json=body))
    problem(other_tenant.get(order_url(made)), 404)
    problem(other_tenant.post(order_url(made, "/cancel")), 404)
    theirs = ok(other_tenant.post(ORDERS, json=body))
    assert theirs["id"] != made["id"] and theirs["pickup"]["id"] != made["pickup"]["id"]
    assert ok(tenant.get(order_url(made)), 200)["status"] == "open"
    assert len(all_tasks(tenant)) == len(all_tasks(other_tenant)) == 2
    problem(tenant.get(f"{ORDERS}/{SOURCE}/no-such-order"), 404)


def _without(body: dict[str, Any], *path: str) -> dict[str, Any]:
    out = {**body, path[0]: dict(body[path[0]])}
    for key in path[1:]:
        out[path[0]].pop(key)
    return out


BAD: dict[str, tuple[Any, str, str]] = {
    # case: (change of a valid body, field named, code)
    "deadline before ready": (
        lambda b: {**b, "dropoff": {**b["dropoff"], "deadline": b["pickup"]["ready_at"]}},
        "body.dropoff.deadline",
        "invalid",
    ),
    "unknown field": (lambda b: {**b, "colour": "red"}, "body.colour", "extra_forbidden"),
    "unknown nested field": (
        lambda b: {**b, "pickup": {**b["pickup"], "floor": 2}},
        "body.pickup.floor",
        "extra_forbidden",
    ),
    "quantity 0": (
        lambda b: {**b, "items": [{"name": "Pizza", "quantity": 0}]},
        "body.items.0.quantity",
        "greater_than",
    ),
    "quantity true": (
        lambda b: {**b, "items": [{"name": "Pizza", "quantity": True}]},
        "body.items.0.quantity",
        "value_error",
    ),
    "no items": (lambda b: {**b, "items": []}, "body.items", "too_short"),
    "missing pickup": (
        lambda b: {k: v for k, v in b.items() if k != "pickup"},
        "body.pickup",
        "missing",
    ),
    "place without point or address": (
        lambda b: {**b, "dropoff": {"deadline": b["dropoff"]["deadline"]}},
        "body.dropoff",
        "value_error",
    ),
    "lat without lng": (lambda b: _without(b, "pickup", "lng"), "body.pickup", "value_error"),
    "address only, no geocoder": (
        lambda b: _without(b, "pickup", "lat", "lng"),
        "body.pickup.lat",
        "invalid",
    ),
    "naive time": (
        lambda b: {**b, "pickup": {**b["pickup"], "ready_at": "2030-01-01T10:00:00"}},
        "body.pickup.ready_at",
        "timezone_aware",
    ),
    "bad source": (lambda b: {**b, "source": "My POS"}, "body.source", "string_pattern_mismatch"),
    "bad order id": (
        lambda b: {**b, "external_order_id": "A/1"},
        "body.external_order_id",
        "string_pattern_mismatch",
    ),
    "unknown team": (lambda b: {**b, "team_id": "team_nosuchteam"}, "body.team_id", "invalid"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_names_the_field(tenant: TenantHandle, case: str) -> None:
    """Each bad order is a 422 problem naming the field, and nothing is created."""
    change, field, code = BAD[case]
    body = change(order_body())
    p = problem(tenant.post(ORDERS, json=body), 422)
    assert (field, code) in {(e["field"], e["code"]) for e in p["errors"]}, p["errors"]
    assert all_tasks(tenant) == []


def test_malformed_json_is_400(tenant: TenantHandle) -> None:
    """A body that is not JSON is 400 `malformed-json`."""
    r = tenant.post(ORDERS, content=b"{", headers={"Content-Type": "application/json"})
    assert problem(r, 400)["type"] == "/problems/malformed-json"


def test_who_may_send_and_read_orders(tenant: TenantHandle) -> None:
    """Admins, dispatchers (a dispatcher user for their team) and keys with
    `integrations:write` send orders; viewers read them; drivers do neither; a key without the
    scope is refused."""
    c = crew(tenant)
    made = make_order(tenant)
    pos_key = tenant.key("dispatcher", ["integrations:write"])
    ok(tenant.post(ORDERS, key=pos_key, json=order_body()))
    problem(tenant.get(order_url(made), key=pos_key), 403)  # no integrations:read
    ok(tenant.post(ORDERS, key=c.dispatcher_token, json=order_body(team_id=c.team_id)))
    for key in (tenant.key("dispatcher", ["tasks:write"]), tenant.key("viewer"), c.driver_token):
        problem(tenant.post(ORDERS, key=key, json=order_body()), 403)
        problem(tenant.post(order_url(made, "/cancel"), key=key), 403)
    ok(tenant.get(order_url(made), key=tenant.key("viewer", ["integrations:read"])), 200)
    problem(tenant.get(order_url(made), key=c.driver_token), 403)
    problem(tenant.get(order_url(made), key=tenant.key("driver")), 403)


def test_idempotency_key_replays_the_first_answer(tenant: TenantHandle) -> None:
    """With an Idempotency-Key a retried send replays the first 201 (`Idempotent-Replayed`)."""
    body = order_body()
    h = {"Idempotency-Key": secrets.token_hex(8)}
    first = tenant.post(ORDERS, json=body, headers=h)
    again = tenant.post(ORDERS, json=body, headers=h)
    assert first.status_code == again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true" and again.json() == first.json()
    assert len(all_tasks(tenant)) == 2


def test_concurrent_identical_orders_make_one_pair(tenant: TenantHandle, server: str) -> None:
    """Ten identical orders sent at once: one 201, nine 200s, all naming the same pair; the
    tenant has exactly two tasks."""
    body = order_body()

    async def send_all() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=server, timeout=60) as c:
            # Open ten connections first, so the ten sends reach the server together (on
            # PostgreSQL nine of them then lose the race on the order's unique key).
            await asyncio.gather(*(c.get("/v1/me", headers=tenant.headers()) for _ in range(10)))
            return list(
                await asyncio.gather(
                    *(c.post(ORDERS, json=body, headers=tenant.headers()) for _ in range(10))
                )
            )

    answers = asyncio.run(send_all())
    codes = sorted(a.status_code for a in answers)
    assert codes == [200] * 9 + [201], [a.text for a in answers if a.status_code >= 300]
    pairs = {(a.json()["pickup"]["id"], a.json()["dropoff"]["id"]) for a in answers}
    assert len(pairs) == 1
    assert len(all_tasks(tenant)) == 2


def test_a_send_waiting_on_an_uncommitted_one_creates_nothing(
    tenant: TenantHandle, database: TestDatabase
) -> None:
    """While one transaction has taken an order but not committed, a second send of it waits
    and then answers with the first one's pair (PostgreSQL: the unique order row; SQLite: one
    writer at a time)."""
    order = OrderIn.model_validate(order_body())
    system = TenantContext.system(tenant.id)

    async def go() -> tuple[Any, Any]:
        engine = make_engine(database.url, pool_size=4)
        sessions = make_sessionmaker(engine)
        try:
            async with UnitOfWork(sessions) as first:
                await bind_session(first.session, tenant.id)
                one = await integrations.submit(session=first.session, tenant=system, order=order)

                async def second() -> Any:
                    async with UnitOfWork(sessions) as uow:
                        await bind_session(uow.session, tenant.id)
                        got = await integrations.submit(
                            session=uow.session, tenant=system, order=order
                        )
                        await uow.commit()
                        return got

                waiting = asyncio.create_task(second())
                await asyncio.sleep(1.0)
                assert not waiting.done()  # blocked behind the first transaction
                await first.commit()
            return one, await waiting
        finally:
            await engine.dispose()

    one, two = asyncio.run(go())
    assert (one.outcome, two.outcome) == ("created", "unchanged")
    assert two.order.id == one.order.id
    assert (two.pickup, two.dropoff) == (one.pickup, one.dropoff)
    assert len(all_tasks(tenant)) == 2
