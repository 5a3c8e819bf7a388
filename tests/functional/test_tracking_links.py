"""Recipient tracking links (`/t/<token>` and its JSON): only the listed fields, the driver's
position only while that drop-off is under way, one 404 for expired and wrong tokens, rate-limited
guessing, and a page that works in a real browser without leaving 127.0.0.1."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest

from lastmile.api.app import create_app
from lastmile.core import clock
from lastmile.tracking.links import tokens
from tests.conftest import settings_for
from tests.support.browser import local_page
from tests.support.databases import TestDatabase, plain_pg_url
from tests.support.factories import TenantHandle
from tests.support.fleetkit import image, ok
from tests.support.objects_fleet import make_driver, make_hub, make_team, make_vehicle
from tests.support.server import LiveServer

KEYS = {"status", "eta_window", "driver", "position", "proof"}
HOME = (52.5301, 13.4102)
NEIGHBOUR = (52.5402, 13.4203)


@dataclass
class Delivery:
    """A driver (with a van) and their two drop-offs, A before B."""

    driver_id: str
    driver_token: str
    a: dict[str, Any]
    b: dict[str, Any]


def token_of(task: dict[str, Any]) -> str:
    url = str(task["tracking_url"])
    assert "/t/" in url
    return url.rsplit("/t/", 1)[1]


def link(client: httpx.Client, task: dict[str, Any]) -> httpx.Response:
    return client.get(f"/v1/tracking-links/{token_of(task)}")


def shown(client: httpx.Client, task: dict[str, Any]) -> dict[str, Any]:
    r = link(client, task)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    assert set(body) == KEYS, body
    return body


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def delivery(t: TenantHandle, **a_fields: Any) -> Delivery:
    """Drop-offs A and B with recipients' names, phones and notes, assigned to Ada Lovelace."""
    team = make_team(t)
    van = make_vehicle(t, name="Van 7", type="van", plate="B-LM 1234")
    d = make_driver(
        t, team_ids=[team["id"]], name="Ada Lovelace", phone="+4915112345678", vehicle_id=van["id"]
    )
    driver_token = t.login(d["user"]["email"])["access_token"]
    common = {"kind": "dropoff", "team_id": team["id"], "service_seconds": 60}
    a = ok(
        t.post(
            "/v1/tasks",
            json={
                **common,
                "lat": HOME[0],
                "lng": HOME[1],
                "address": "Torstrasse 1, Berlin",
                "recipient": {"name": "Grace Hopper", "phone": "+4930111111", "notes": "Ring 3"},
                "notes": "dispatcher-only note",
                "external_ref": f"ORDER-{secrets.token_hex(4)}",
                **a_fields,
            },
        )
    )
    b = ok(
        t.post(
            "/v1/tasks",
            json={
                **common,
                "lat": NEIGHBOUR[0],
                "lng": NEIGHBOUR[1],
                "address": "Kastanienallee 99, Berlin",
                "recipient": {"name": "Alan Turing", "phone": "+4930222222", "notes": "Side door"},
            },
        )
    )
    for task in (a, b):
        ok(t.post(f"/v1/tasks/{task['id']}/assign", json={"driver_id": d["id"]}), 200)
    return Delivery(str(d["id"]), driver_token, a, b)


def step(t: TenantHandle, dl: Delivery, task: dict[str, Any], action: str, at: Any = None) -> None:
    body = {"lat": at[0], "lng": at[1]} if at else {}
    ok(t.post(f"/v1/tasks/{task['id']}/{action}", key=dl.driver_token, json=body), 200)


def complete(t: TenantHandle, dl: Delivery, task: dict[str, Any], **data: str) -> None:
    files = [("photos", ("door.jpg", image("JPEG"), "image/jpeg"))]
    r = t.post(f"/v1/tasks/{task['id']}/complete", key=dl.driver_token, data=data, files=files)
    ok(r, 200)


@pytest.fixture
def frozen() -> Iterator[list[datetime]]:
    """A clock the test moves by hand (the server runs in this process)."""
    now = [datetime.now(UTC)]
    clock.set_clock(lambda: now[0])
    try:
        yield now
    finally:
        clock.set_clock(None)


def test_dropoffs_have_a_tracking_url_and_pickups_none(tenant: TenantHandle) -> None:
    """Every drop-off (single, batch) shows an unguessable, stable URL under public_url; a pickup has none."""
    pickup = ok(tenant.post("/v1/tasks", json={"kind": "pickup", "lat": 52.5, "lng": 13.4}))
    single = ok(tenant.post("/v1/tasks", json={"kind": "dropoff", "lat": 52.5, "lng": 13.4}))
    batch = ok(
        tenant.post(
            "/v1/tasks/batch",
            json={"tasks": [{"kind": "dropoff", "lat": 52.5, "lng": 13.4}] * 2},
        ),
        200,
    )
    batched = [row["task"] for row in batch["results"]]
    assert pickup["tracking_url"] is None
    urls = [t["tracking_url"] for t in (single, *batched)]
    assert all(u.startswith("http://127.0.0.1:8000/t/") for u in urls), urls
    assert len(set(urls)) == 3
    assert all(len(token_of(t)) == 24 and tokens.well_formed(token_of(t)) for t in batched)
    assert (
        ok(tenant.get(f"/v1/tasks/{single['id']}"), 200)["tracking_url"] == single["tracking_url"]
    )
    for task in (single, *batched):
        assert task["id"] not in task["tracking_url"]
        assert shown(tenant.client, task)["status"] == "scheduled"


def test_link_shows_only_the_listed_fields(tenant: TenantHandle, client: httpx.Client) -> None:
    """Status, ETA window, first name and vehicle type, position, proof: no phone, address, last
    name, ids or other stop, before, during and after the delivery."""
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=2)
    dl = delivery(
        tenant, complete_after=iso(start), complete_before=iso(start + timedelta(hours=2))
    )
    before = shown(client, dl.a)
    assert before["status"] == "scheduled"
    assert before["driver"] == {"first_name": "Ada", "vehicle_type": "van"}
    assert before["position"] is None and before["proof"] is None
    assert before["eta_window"] == {"start": iso(start), "end": iso(start + timedelta(hours=2))}

    step(tenant, dl, dl.a, "start", (52.51, 13.39))
    step(tenant, dl, dl.a, "arrive", HOME)
    during = shown(client, dl.a)
    assert during["status"] == "arrived" and during["eta_window"] is None
    assert set(during["position"]) == {"lat", "lng", "recorded_at"}
    complete(tenant, dl, dl.a, notes="Left with the concierge")
    after = shown(client, dl.a)
    assert after["status"] == "delivered" and after["position"] is None
    assert set(after["proof"]) == {"completed_at", "photo", "signature", "notes"}
    assert after["proof"]["photo"] is True and after["proof"]["signature"] is False
    assert after["proof"]["notes"] == "Left with the concierge"

    task_a = ok(tenant.get(f"/v1/tasks/{dl.a['id']}"), 200)
    secrets_ = [
        "Lovelace",
        "+4915112345678",
        "4915112345678",
        "B-LM 1234",
        "Van 7",
        "Torstrasse",
        "Kastanienallee",
        "Grace",
        "Hopper",
        "+4930111111",
        "Ring 3",
        "Alan",
        "Turing",
        "Side door",
        "dispatcher-only note",
        dl.a["external_ref"],
        dl.a["short_id"],
        dl.a["id"],
        dl.b["id"],
        dl.driver_id,
        tenant.id,
        dl.a["team_id"],
        "/v1/files/",
        *(p for p in task_a["completion"]["proof_ids"]),
    ]
    for body in (before, during, after):
        text = str(body)
        leaked = [s for s in secrets_ if s in text]
        assert not leaked, (leaked, body)
    page = client.get(f"/t/{token_of(dl.a)}")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert not [s for s in secrets_ if s in page.text]
    for r in (page, link(client, dl.a)):
        assert r.headers["cache-control"] == "no-store"
        assert r.headers["referrer-policy"] == "no-referrer"
    assert "default-src 'none'" in page.headers["content-security-policy"]


def test_eta_window_is_around_the_planned_arrival(
    tenant: TenantHandle, client: httpx.Client
) -> None:
    """Once a route plan placed the drop-off, the window is its planned arrival +- 15 min on
    five-minute marks; the driver's position stays hidden while it is only assigned."""
    day = (datetime.now(UTC) + timedelta(days=1)).replace(hour=8, minute=0, second=0, microsecond=0)
    hub = make_hub(tenant, lat=52.52, lng=13.405, timezone="UTC")
    team = make_team(tenant, hub_id=hub["id"])
    van = make_vehicle(tenant, type="bicycle")
    d = make_driver(
        tenant,
        team_ids=[team["id"]],
        name="Linus",
        vehicle_id=van["id"],
        shift={day.strftime("%a").lower(): {"start": "07:00", "end": "20:00"}},
        start_place={"hub_id": hub["id"]},
    )
    ok(tenant.post(f"/v1/drivers/{d['id']}/duty", json={"on_duty": True}), 200)
    task = ok(
        tenant.post(
            "/v1/tasks",
            json={"kind": "dropoff", "lat": 52.53, "lng": 13.42, "team_id": team["id"]},
        )
    )
    plan = ok(
        tenant.post(
            "/v1/route-plans",
            params={"wait": "true"},
            json={
                "task_ids": [task["id"]],
                "driver_ids": [d["id"]],
                "starts_at": iso(day),
                "time_budget_seconds": 0.2,
            },
        )
    )
    assert plan["status"] == "done", plan
    ok(tenant.post(f"/v1/route-plans/{plan['id']}/apply"), 200)
    placed = ok(tenant.get(f"/v1/tasks/{task['id']}"), 200)
    arrival = datetime.fromisoformat(placed["planned_arrival_at"])
    body = shown(client, placed)
    start = datetime.fromisoformat(body["eta_window"]["start"])
    end = datetime.fromisoformat(body["eta_window"]["end"])
    assert start <= arrival - timedelta(minutes=15) < start + timedelta(minutes=5)
    assert end - timedelta(minutes=5) < arrival + timedelta(minutes=15) <= end
    assert start.minute % 5 == 0 and end.minute % 5 == 0 and start.second == end.second == 0
    assert body["driver"] == {"first_name": "Linus", "vehicle_type": "bicycle"}
    assert body["status"] == "scheduled" and body["position"] is None


def test_another_tasks_position_is_never_visible(
    tenant: TenantHandle, client: httpx.Client
) -> None:
    """A driver with two drop-offs: each link shows the position only while its own stop is
    under way, and never one recorded before it started."""
    dl = delivery(tenant)
    assert shown(client, dl.a)["position"] is None
    step(tenant, dl, dl.a, "start", (52.51, 13.39))
    a, b = shown(client, dl.a), shown(client, dl.b)
    assert a["status"] == "on_the_way" and (a["position"]["lat"], a["position"]["lng"]) == (
        52.51,
        13.39,
    )
    assert b["status"] == "scheduled" and b["position"] is None
    step(tenant, dl, dl.a, "arrive", HOME)
    assert (shown(client, dl.a)["position"]["lat"], shown(client, dl.a)["position"]["lng"]) == HOME
    assert shown(client, dl.b)["position"] is None
    complete(tenant, dl, dl.a)
    assert shown(client, dl.a)["position"] is None
    assert shown(client, dl.b)["position"] is None
    # B is started without a position: A's doorstep (reported before B started) stays hidden.
    step(tenant, dl, dl.b, "start")
    b = shown(client, dl.b)
    assert b["status"] == "on_the_way" and b["position"] is None, b
    step(tenant, dl, dl.b, "arrive", NEIGHBOUR)
    b = shown(client, dl.b)
    assert (b["position"]["lat"], b["position"]["lng"]) == NEIGHBOUR
    assert shown(client, dl.a)["position"] is None


def test_position_follows_the_drivers_telemetry(tenant: TenantHandle, client: httpx.Client) -> None:
    """Points the driver's phone sends show on the link of the stop under way (the newest
    wins), never on the other stop's link, and never points recorded before it started."""
    dl = delivery(tenant)

    def send(*points: tuple[float, float, datetime]) -> None:
        body = {"points": [{"lat": la, "lng": ln, "recorded_at": iso(at)} for la, ln, at in points]}
        r = tenant.post("/v1/drivers/me/locations", key=dl.driver_token, json=body)
        assert ok(r, 200)["accepted"] == len(points), r.text

    before = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=2)
    send((52.50, 13.30, before))  # on the way to an earlier stop
    step(tenant, dl, dl.a, "start")
    assert shown(client, dl.a)["position"] is None
    now = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1)
    send((52.515, 13.38, now), (52.512, 13.37, now - timedelta(seconds=1)))
    a = shown(client, dl.a)["position"]
    assert (a["lat"], a["lng"]) == (52.515, 13.38), a
    assert datetime.fromisoformat(a["recorded_at"]) == now
    assert shown(client, dl.b)["position"] is None


def test_expired_and_wrong_tokens_are_the_same_404(
    tenant: TenantHandle, client: httpx.Client, frozen: list[datetime]
) -> None:
    """A link works until 24 h after completion, then answers exactly as a wrong token does."""
    dl = delivery(tenant)
    step(tenant, dl, dl.a, "start")
    step(tenant, dl, dl.a, "arrive")
    complete(tenant, dl, dl.a)
    cancelled = ok(tenant.post("/v1/tasks", json={"kind": "dropoff", "lat": 52.5, "lng": 13.4}))
    ok(tenant.post(f"/v1/tasks/{cancelled['id']}/cancel", json={"reason": "x"}), 200)
    done = frozen[0]
    frozen[0] = done + timedelta(hours=23, minutes=59)
    assert shown(client, dl.a)["status"] == "delivered"
    assert shown(client, cancelled)["status"] == "cancelled"
    assert shown(client, dl.b)["status"] == "scheduled"
    frozen[0] = done + timedelta(hours=24, seconds=1)
    expired = link(client, dl.a)
    assert shown(client, dl.b)["status"] == "scheduled"  # open deliveries never expire
    wrong = client.get(f"/v1/tracking-links/{secrets.token_urlsafe(18)}")
    malformed = client.get("/v1/tracking-links/not-a-token")
    other_expired = link(client, cancelled)
    for r in (expired, wrong, malformed, other_expired):
        assert r.status_code == 404
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.content == expired.content
        assert r.headers.get("cache-control") == "no-store"
    pages = [
        client.get(f"/t/{token_of(dl.a)}"),
        client.get(f"/t/{secrets.token_urlsafe(18)}"),
        client.get("/t/x"),
    ]
    assert {p.status_code for p in pages} == {404}
    assert len({p.content for p in pages}) == 1
    assert "not valid or has expired" in pages[0].text


def test_guessing_tokens_is_rate_limited(database: TestDatabase, tenant: TenantHandle) -> None:
    """Per client address: after the burst, wrong and right tokens alike get 429 with Retry-After."""
    good = ok(tenant.post("/v1/tasks", json={"kind": "dropoff", "lat": 52.5, "lng": 13.4}))
    app = create_app(
        settings_for(database, tracking_link_rate_per_second=0.01, tracking_link_burst=5)
    )
    live = LiveServer(app)
    url = live.start()
    try:
        with httpx.Client(base_url=url, timeout=30) as c:
            answers = [
                c.get(f"/v1/tracking-links/{secrets.token_urlsafe(18)}").status_code
                for _ in range(4)
            ]
            assert answers == [404] * 4
            assert c.get(f"/t/{token_of(good)}").status_code == 200
            refused = [c.get(f"/v1/tracking-links/{secrets.token_urlsafe(18)}") for _ in range(20)]
            assert {r.status_code for r in refused} == {429}
            assert int(refused[0].headers["retry-after"]) >= 1
            assert refused[0].json()["type"] == "/problems/rate-limited"
            assert c.get(f"/v1/tracking-links/{token_of(good)}").status_code == 429
            assert c.get(f"/t/{token_of(good)}").status_code == 429
            metrics = c.get("/metrics").text
            assert 'lastmile_tracking_link_requests_total{outcome="rate_limited"}' in metrics
    finally:
        live.stop()


def test_lookup_function_returns_ids_only(database: TestDatabase, tenant: TenantHandle) -> None:
    """PostgreSQL: the app role reads no link without a tenant; the SECURITY DEFINER lookup
    gives a digest's tenant and task and nothing else."""
    if database.backend != "postgres":
        pytest.skip("row-level security and SECURITY DEFINER are PostgreSQL's")
    task = ok(tenant.post("/v1/tasks", json={"kind": "dropoff", "lat": 52.5, "lng": 13.4}))
    digest = tokens.digest(token_of(task))
    with psycopg.connect(plain_pg_url(database.url)) as conn:
        assert conn.execute("select count(*) from tracking_links").fetchone() == (0,)
        rows = conn.execute("select * from lastmile_lookup_tracking_link(%s)", (digest,)).fetchall()
        assert rows == [(tenant.id, task["id"])]
        assert conn.execute("select * from lastmile_lookup_tracking_link('x')").fetchall() == []


def test_page_shows_status_and_eta_in_a_browser(
    server: str, tenant: TenantHandle, client: httpx.Client
) -> None:
    """Headless Chromium loads /t/<token>: status and ETA in local time, then, polling the JSON,
    the driver setting off; every request stays on 127.0.0.1 and the CSP blocks nothing."""
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=3)
    dl = delivery(
        tenant, complete_after=iso(start), complete_before=iso(start + timedelta(hours=1))
    )
    token = token_of(dl.a)
    with local_page(viewport={"width": 390, "height": 844}, is_mobile=True) as visit:
        page = visit.page
        page.clock.install()
        response = page.goto(f"{server}/t/{token}", wait_until="load", timeout=30_000)
        assert response is not None and response.status == 200
        status = page.inner_text("#status")
        eta = page.inner_text("#eta")
        driver = page.inner_text("#driver")
        assert page.is_hidden("#position")

        step(tenant, dl, dl.a, "start", (52.51, 13.39))
        page.clock.run_for(16_000)  # the next poll of the JSON
        page.locator("#status", has_text="on the way").wait_for(timeout=15_000)
        moving = page.inner_text("#status")
        position = page.inner_text("#position")
        eta_moving = page.inner_text("#eta")

    assert status == "Your delivery is scheduled"
    assert eta.startswith("Expected between ") and "UTC" not in eta, eta  # rewritten locally
    assert driver == "Your driver: Ada (van)"
    assert moving == "Your driver is on the way"
    assert "52.51" in position and "13.39" in position, position
    assert eta_moving.startswith("Expected between ")
    assert f"{server}/v1/tracking-links/{token}" in visit.seen, visit.seen
    assert not visit.outside, f"the tracking page reached beyond 127.0.0.1: {visit.outside}"
    assert not visit.problems, visit.problems


def _forget_links(database: TestDatabase, tenant_id: str) -> None:
    """Drop a tenant's link rows as the owner: its drop-offs look made before links existed."""
    sql = "DELETE FROM tracking_links WHERE tenant_id = %s"
    if database.backend == "sqlite":
        import sqlite3

        with sqlite3.connect(database.url.removeprefix("sqlite:///")) as conn:
            conn.execute(sql.replace("%s", "?"), (tenant_id,))
        return
    with psycopg.connect(plain_pg_url(database.admin_url), autocommit=True) as conn:
        conn.execute(sql, (tenant_id,))


async def test_backfill_gives_older_dropoffs_their_links(
    database: TestDatabase, tenant: TenantHandle, client: httpx.Client
) -> None:
    """`lastmile tracking backfill-links`: drop-offs without a link row get one, once."""
    from lastmile.core.db import make_engine, make_sessionmaker
    from lastmile.workers import tracking

    made = [
        ok(tenant.post("/v1/tasks", json={"kind": "dropoff", "lat": 52.5, "lng": 13.4}))
        for _ in range(3)
    ]
    _forget_links(database, tenant.id)
    assert all(link(client, t).status_code == 404 for t in made)
    engine = make_engine(database.url, pool_size=1)
    try:
        sessions = make_sessionmaker(engine)
        first = await tracking.backfill_links(sessions, batch=2)
        again = await tracking.backfill_links(sessions, batch=2)
    finally:
        await engine.dispose()
    assert first[tenant.id] == 3 and again[tenant.id] == 0
    assert all(link(client, t).status_code == 200 for t in made)
