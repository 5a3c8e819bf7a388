"""Location telemetry: batched ingest, duplicates, bad points, positions, tracks, storage upkeep
(partitions, retention) and row-level security, on both databases."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import psycopg
import pytest

from lastmile.core.config import Settings
from lastmile.core.db import make_engine, make_sessionmaker
from lastmile.core.tenancy import TenantContext, bind_session
from lastmile.core.uow import UnitOfWork
from lastmile.routing import planning
from lastmile.tracking import partitions
from lastmile.workers import tracking as upkeep
from tests.conftest import settings_for
from tests.functional.test_cli import run as lastmile_cli
from tests.support.databases import TestDatabase, plain_pg_url
from tests.support.factories import TenantHandle
from tests.support.fleetkit import crew, driver, ok

T = TypeVar("T")
BERLIN = (52.52, 13.405)


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def point(at: datetime, lat: float = BERLIN[0], lng: float = BERLIN[1], **extra: Any) -> Any:
    return {"lat": lat, "lng": lng, "recorded_at": iso(at), **extra}


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def post(t: TenantHandle, token: str, points: list[Any]) -> dict[str, Any]:
    return dict(ok(t.post("/v1/drivers/me/locations", key=token, json={"points": points}), 200))


def on_duty(t: TenantHandle, driver_id: str) -> None:
    ok(t.post(f"/v1/drivers/{driver_id}/duty", json={"on_duty": True}), 200)


def located(t: TenantHandle, key: str | None = None) -> dict[str, dict[str, Any]]:
    body = ok(t.get("/v1/drivers/locations", key=key), 200)
    return {row["driver_id"]: row for row in body["data"]}


def track(t: TenantHandle, driver_id: str, key: str | None = None, **params: Any) -> Any:
    return t.get(f"/v1/drivers/{driver_id}/track", key=key, params=params)


def run(db: TestDatabase, fn: Callable[[Any], Awaitable[T]]) -> T:
    """Run `fn(sessions)` against the test database from the test's own event loop."""

    async def go() -> T:
        engine = make_engine(db.url, pool_size=2)
        try:
            return await fn(make_sessionmaker(engine))
        finally:
            await engine.dispose()

    return asyncio.run(go())


def maintain(db: TestDatabase, at: datetime | None = None) -> upkeep.MaintenanceReport:
    return run(db, lambda sessions: upkeep.maintain(sessions, settings_for(db), at))


def admin(db: TestDatabase) -> psycopg.Connection:
    return psycopg.connect(plain_pg_url(db.admin_url), autocommit=True)


# --- ingest ---------------------------------------------------------------------------------------


def test_a_driver_posts_points_and_becomes_the_latest_position(tenant: TenantHandle) -> None:
    """Valid points are stored, counted as accepted, and the newest is the driver's position."""
    c = crew(tenant)
    on_duty(tenant, c.driver_id)
    t0 = now() - timedelta(minutes=5)
    points = [point(t0 + timedelta(seconds=10 * i), lat=52.52 + i * 0.001) for i in range(3)]
    points[2].update(accuracy=4.5, speed=7, heading=90)
    assert post(tenant, c.driver_token, points) == {"accepted": 3, "duplicates": 0, "rejected": []}
    row = located(tenant)[c.driver_id]
    assert row["lat"] == pytest.approx(52.522) and row["lng"] == BERLIN[1]
    assert (row["accuracy"], row["speed"], row["heading"]) == (4.5, 7, 90)
    assert row["recorded_at"].startswith(iso(t0 + timedelta(seconds=20))[:19])
    assert row["name"] and 250 < row["age_seconds"] < 600


def test_a_point_sent_again_is_a_duplicate_stored_once(tenant: TenantHandle) -> None:
    """Resending a batch (a retry) stores nothing twice; a repeat inside one batch too."""
    c = crew(tenant)
    t0 = now() - timedelta(minutes=1)
    batch = [point(t0), point(t0 + timedelta(seconds=5))]
    assert post(tenant, c.driver_token, batch)["accepted"] == 2
    again = post(tenant, c.driver_token, [*batch, point(t0 + timedelta(seconds=9))])
    assert (again["accepted"], again["duplicates"]) == (1, 2)
    # The same instant written in another offset is the same point.
    same = point(t0).copy()
    same["recorded_at"] = (t0 + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%S+02:00")
    inside = post(tenant, c.driver_token, [same, point(t0 + timedelta(seconds=11))] * 2)
    assert (inside["accepted"], inside["duplicates"]) == (1, 3)
    got = ok(track(tenant, c.driver_id, tolerance_m=0, **{"from": iso(t0)}), 200)
    assert got["properties"]["points"] == 4


def test_late_points_are_stored_but_never_move_the_position_back(tenant: TenantHandle) -> None:
    """Out-of-order points are accepted; the latest position stays the newest point."""
    c = crew(tenant)
    on_duty(tenant, c.driver_id)
    t0 = now() - timedelta(minutes=10)
    post(tenant, c.driver_token, [point(t0 + timedelta(minutes=5), lat=52.6)])
    late = post(tenant, c.driver_token, [point(t0, lat=52.4), point(t0 + timedelta(minutes=1))])
    assert late["accepted"] == 2
    assert located(tenant)[c.driver_id]["lat"] == 52.6
    line = ok(track(tenant, c.driver_id, tolerance_m=0, **{"from": iso(t0)}), 200)
    assert [lat for _lng, lat in line["geometry"]["coordinates"]] == [52.4, 52.52, 52.6]


BAD_POINTS: dict[str, tuple[dict[str, Any], set[str]]] = {
    "latitude 91": ({"lat": 91}, {"body.points[0].lat"}),
    "longitude 181": ({"lng": 181}, {"body.points[0].lng"}),
    "negative accuracy": ({"accuracy": -1}, {"body.points[0].accuracy"}),
    "negative speed": ({"speed": -0.5}, {"body.points[0].speed"}),
    "heading 361": ({"heading": 361}, {"body.points[0].heading"}),
    "negative heading": ({"heading": -1}, {"body.points[0].heading"}),
    "a string for speed": ({"speed": "12.5"}, {"body.points[0].speed"}),
    "a boolean for lat": ({"lat": True}, {"body.points[0].lat"}),
    "dated 2090": ({"recorded_at": "2090-01-01T00:00:00Z"}, {"body.points[0].recorded_at"}),
    "ten minutes ahead": ("future", {"body.points[0].recorded_at"}),
    "older than the retention": ("ancient", {"body.points[0].recorded_at"}),
    "no time zone": ({"recorded_at": "2026-11-26T10:00:00"}, {"body.points[0].recorded_at"}),
    "a number for the time": ({"recorded_at": 1_790_000_000}, {"body.points[0].recorded_at"}),
    "not a time": ({"recorded_at": "yesterday"}, {"body.points[0].recorded_at"}),
    "two bad fields": ({"lat": -91, "lng": "east"}, {"body.points[0].lat", "body.points[0].lng"}),
    "an unknown field": ({"altitude": 30}, {"body.points[0].altitude"}),
    "missing lat": ({"lat": None}, {"body.points[0].lat"}),
}


@pytest.mark.parametrize("case", sorted(BAD_POINTS))
def test_a_bad_point_is_rejected_with_its_index_and_field(tenant: TenantHandle, case: str) -> None:
    """Each bad point is answered with its index and the precise field; the good one is stored."""
    c = crew(tenant)
    change, fields = BAD_POINTS[case]
    t0 = now() - timedelta(minutes=1)
    bad = point(t0)
    if change == "future":
        bad["recorded_at"] = iso(now() + timedelta(minutes=10))
    elif change == "ancient":
        bad["recorded_at"] = iso(now() - timedelta(days=31))
    else:
        assert isinstance(change, dict)
        bad.update(change)
        bad = {k: v for k, v in bad.items() if v is not None}
    answer = post(tenant, c.driver_token, [bad, point(t0 + timedelta(seconds=1))])
    assert answer["accepted"] == 1 and answer["duplicates"] == 0
    [rejected] = answer["rejected"]
    assert rejected["index"] == 0
    assert {e["field"] for e in rejected["errors"]} == fields, rejected
    assert all(e["message"] for e in rejected["errors"])


def test_a_point_that_is_not_an_object_is_rejected_alone(tenant: TenantHandle) -> None:
    c = crew(tenant)
    answer = post(tenant, c.driver_token, ["here", None, 5, point(now())])
    assert answer["accepted"] == 1
    assert [(r["index"], r["errors"][0]["field"]) for r in answer["rejected"]] == [
        (0, "body.points[0]"),
        (1, "body.points[1]"),
        (2, "body.points[2]"),
    ]


def test_a_half_invalid_batch_stores_the_valid_half(tenant: TenantHandle) -> None:
    """Ten points, every second one out of range: five stored, five rejected by index."""
    c = crew(tenant)
    t0 = now() - timedelta(minutes=5)
    points = [point(t0 + timedelta(seconds=i), lat=91 if i % 2 else 52.5) for i in range(10)]
    answer = post(tenant, c.driver_token, points)
    assert answer["accepted"] == 5
    assert [r["index"] for r in answer["rejected"]] == [1, 3, 5, 7, 9]
    assert {r["errors"][0]["field"] for r in answer["rejected"]} == {
        f"body.points[{i}].lat" for i in (1, 3, 5, 7, 9)
    }
    got = ok(track(tenant, c.driver_id, tolerance_m=0, **{"from": iso(t0)}), 200)
    assert got["properties"]["points"] == 5


def test_501_points_are_refused_whole(tenant: TenantHandle) -> None:
    """A batch over 500 points is a 422 naming body.points, and nothing is stored."""
    c = crew(tenant)
    t0 = now() - timedelta(hours=1)
    points = [point(t0 + timedelta(seconds=i)) for i in range(501)]
    r = tenant.post("/v1/drivers/me/locations", key=c.driver_token, json={"points": points})
    assert r.status_code == 422, r.text
    assert {e["field"] for e in r.json()["errors"]} == {"body.points"}
    assert post(tenant, c.driver_token, points[:500])["accepted"] == 500


@pytest.mark.parametrize(
    "body",
    [[], ["points"], "points", {"points": "many"}, {"points": None}, {}, {"points": {"0": {}}}],
)
def test_a_malformed_body_is_a_422(tenant: TenantHandle, body: Any) -> None:
    """Not an object, or `points` not a list: 422, never a 500."""
    c = crew(tenant)
    r = tenant.post("/v1/drivers/me/locations", key=c.driver_token, json=body)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")


def test_only_a_driver_user_posts_its_own_points(tenant: TenantHandle) -> None:
    """Admins, dispatchers, viewers and driver API keys (nobody's record) get 403 on /me."""
    c = crew(tenant)
    body = {"points": [point(now())]}
    record_less = tenant.user("driver")
    for key in (
        None,
        c.dispatcher_token,
        tenant.key("viewer"),
        tenant.key("driver"),
        tenant.login(record_less["email"])["access_token"],
    ):
        r = tenant.post("/v1/drivers/me/locations", key=key, json=body)
        assert r.status_code == 403, (key, r.text)


def test_admins_and_the_teams_dispatcher_post_for_a_driver(
    tenant: TenantHandle, other_tenant: TenantHandle
) -> None:
    """POST /v1/drivers/{id}/locations: admins and the driver's dispatchers; others 404."""
    c = crew(tenant)
    other = crew(tenant)
    path = f"/v1/drivers/{c.driver_id}/locations"
    t0 = now() - timedelta(minutes=2)
    r = tenant.post(path, json={"points": [point(t0)]})
    assert ok(r, 200)["accepted"] == 1
    r = tenant.post(
        path, key=c.dispatcher_token, json={"points": [point(t0 + timedelta(seconds=1))]}
    )
    assert ok(r, 200)["accepted"] == 1
    r = tenant.post(path, key=other.dispatcher_token, json={"points": [point(t0)]})
    assert r.status_code == 404, r.text
    r = other_tenant.post(path, json={"points": [point(t0)]})
    assert r.status_code == 404, r.text
    assert tenant.post(path, key=c.driver_token, json={"points": []}).status_code == 403


# --- reads ----------------------------------------------------------------------------------------


def test_locations_show_on_duty_drivers_the_caller_sees(
    tenant: TenantHandle, other_tenant: TenantHandle
) -> None:
    """Admins see every on-duty driver with a position; a dispatcher only their teams'; other
    tenants none; an off-duty driver is left out."""
    mine, theirs = crew(tenant), crew(tenant)
    off_id, off_token = driver(tenant, mine.team_id)
    for d in (mine.driver_id, theirs.driver_id):
        on_duty(tenant, d)
    for token in (mine.driver_token, theirs.driver_token, off_token):
        post(tenant, token, [point(now() - timedelta(seconds=30))])
    everyone = located(tenant)
    assert {mine.driver_id, theirs.driver_id} <= everyone.keys()
    assert off_id not in everyone
    assert set(located(tenant, key=mine.dispatcher_token)) == {mine.driver_id}
    assert set(located(tenant, key=tenant.key("viewer"))) >= {mine.driver_id, theirs.driver_id}
    assert not located(other_tenant).keys() & everyone.keys()
    r = tenant.get("/v1/drivers/locations", key=mine.driver_token)
    assert r.status_code == 403


def test_another_tenants_driver_track_is_not_found(
    tenant: TenantHandle, other_tenant: TenantHandle
) -> None:
    c = crew(tenant)
    post(tenant, c.driver_token, [point(now())])
    assert track(other_tenant, c.driver_id).status_code == 404
    other = crew(tenant)
    assert track(tenant, c.driver_id, key=other.dispatcher_token).status_code == 404
    assert track(tenant, c.driver_id, key=c.dispatcher_token).status_code == 200


def test_a_straight_line_of_100_points_simplifies_to_its_two_ends(tenant: TenantHandle) -> None:
    c = crew(tenant)
    t0 = now() - timedelta(minutes=20)
    points = [
        point(t0 + timedelta(seconds=5 * i), lat=52.5 + i * 0.0005, lng=13.4 + i * 0.0005)
        for i in range(100)
    ]
    assert post(tenant, c.driver_token, points)["accepted"] == 100
    feature = ok(track(tenant, c.driver_id, tolerance_m=5, **{"from": iso(t0)}), 200)
    assert feature["type"] == "Feature" and feature["geometry"]["type"] == "LineString"
    assert feature["geometry"]["coordinates"] == [[13.4, 52.5], [13.4495, 52.5495]]
    props = feature["properties"]
    assert (props["points"], props["simplified_points"]) == (100, 2)
    assert props["first_recorded_at"].startswith(iso(t0)[:19])
    assert props["times"][-1].startswith(iso(t0 + timedelta(seconds=495))[:19])
    everything = ok(track(tenant, c.driver_id, tolerance_m=0, **{"from": iso(t0)}), 200)
    assert everything["properties"]["simplified_points"] == 100


def test_a_zig_zag_keeps_its_corners(tenant: TenantHandle) -> None:
    """Corners 500 m off the straight line stay; points along each leg go."""
    c = crew(tenant)
    t0 = now() - timedelta(minutes=30)
    corners = [(52.50, 13.40), (52.51, 13.41), (52.50, 13.42), (52.51, 13.43), (52.50, 13.44)]
    points, at = [], t0
    for (a_lat, a_lng), (b_lat, b_lng) in itertools.pairwise(corners):
        for k in range(10):
            f = k / 10
            points.append(
                point(at, lat=a_lat + (b_lat - a_lat) * f, lng=a_lng + (b_lng - a_lng) * f)
            )
            at += timedelta(seconds=5)
    points.append(point(at, lat=corners[-1][0], lng=corners[-1][1]))
    assert post(tenant, c.driver_token, points)["accepted"] == 41
    feature = ok(track(tenant, c.driver_id, tolerance_m=20, **{"from": iso(t0)}), 200)
    kept = [(round(lat, 6), round(lng, 6)) for lng, lat in feature["geometry"]["coordinates"]]
    assert kept == corners
    # A tolerance wider than the zig-zag (about 1.1 km) flattens it.
    wide = ok(track(tenant, c.driver_id, tolerance_m=2000, **{"from": iso(t0)}), 200)
    assert wide["properties"]["simplified_points"] == 2


def test_track_ranges_are_bounded(tenant: TenantHandle) -> None:
    """`to` before `from` and ranges over 7 days are 422s naming the parameter; a track with
    fewer than two points has no line."""
    c = crew(tenant)
    end = now()
    r = track(tenant, c.driver_id, **{"from": iso(end), "to": iso(end - timedelta(seconds=1))})
    assert r.status_code == 422 and {e["field"] for e in r.json()["errors"]} == {"query.to"}
    r = track(tenant, c.driver_id, **{"from": iso(end - timedelta(days=8)), "to": iso(end)})
    assert r.status_code == 422 and {e["field"] for e in r.json()["errors"]} == {"query.from"}
    r = track(tenant, c.driver_id, **{"from": "2026-11-26T10:00:00"})
    assert r.status_code == 422 and {e["field"] for e in r.json()["errors"]} == {"query.from"}
    for tolerance in (-1, "nan", "inf"):
        assert track(tenant, c.driver_id, tolerance_m=tolerance).status_code == 422
    empty = ok(track(tenant, c.driver_id), 200)
    assert empty["geometry"] is None and empty["properties"]["points"] == 0
    post(tenant, c.driver_token, [point(end)])
    one = ok(track(tenant, c.driver_id), 200)
    assert one["geometry"] is None and one["properties"]["points"] == 1


def test_route_planning_starts_from_the_tracked_position(
    tenant: TenantHandle, database: TestDatabase
) -> None:
    """planning.positions reads the tracked position (one query) and falls back to task and
    duty reports for drivers whose phone sent nothing recent."""
    c = crew(tenant)
    silent_id, _token = driver(tenant, c.team_id)
    ok(
        tenant.post(
            f"/v1/drivers/{silent_id}/duty", json={"on_duty": True, "lat": 52.3, "lng": 13.3}
        ),
        200,
    )
    post(tenant, c.driver_token, [point(now() - timedelta(minutes=1), lat=52.61, lng=13.21)])
    stale_id, stale_token = driver(tenant, c.team_id)
    post(tenant, stale_token, [point(now() - timedelta(hours=3), lat=50.0, lng=10.0)])

    async def positions(sessions: Any) -> dict[str, tuple[float, float]]:
        async with UnitOfWork(sessions) as uow:
            await bind_session(uow.session, tenant.id)
            return await planning.positions(
                uow.session, TenantContext.system(tenant.id), [c.driver_id, silent_id, stale_id]
            )

    found = run(database, positions)
    assert found == {c.driver_id: (52.61, 13.21), silent_id: (52.3, 13.3)}


# --- settings and retention ----------------------------------------------------------------------


def test_retention_setting_is_the_admins(tenant: TenantHandle) -> None:
    """Admins read and set the retention; others may not; it bounds what ingest accepts."""
    c = crew(tenant)
    got = ok(tenant.get("/v1/tracking-settings"), 200)
    assert got == {"retention_days": 30, "default": True, "updated_at": None}
    for bad in (0, 366, "7", 7.5, None):
        r = tenant.client.put(
            "/v1/tracking-settings", json={"retention_days": bad}, headers=tenant.headers()
        )
        assert r.status_code == 422, (bad, r.text)
    r = tenant.client.put(
        "/v1/tracking-settings", json={"retention_days": 7}, headers=tenant.headers()
    )
    assert ok(r, 200)["retention_days"] == 7
    assert ok(tenant.get("/v1/tracking-settings"), 200)["default"] is False
    viewer = tenant.key("viewer")
    r = tenant.client.put(
        "/v1/tracking-settings", json={"retention_days": 9}, headers=tenant.headers(viewer)
    )
    assert r.status_code == 403
    answer = post(tenant, c.driver_token, [point(now() - timedelta(days=8)), point(now())])
    assert answer["accepted"] == 1
    assert "7 days" in answer["rejected"][0]["errors"][0]["message"]


def test_retention_deletes_a_short_retention_tenants_old_points(
    tenant: TenantHandle, other_tenant: TenantHandle, database: TestDatabase
) -> None:
    """The job deletes points older than each tenant's retention and keeps the rest."""
    short, normal = crew(tenant), crew(other_tenant)
    old, recent = now() - timedelta(days=5), now() - timedelta(hours=1)
    for t, c in ((tenant, short), (other_tenant, normal)):
        assert post(t, c.driver_token, [point(old), point(recent)])["accepted"] == 2
    r = tenant.client.put(
        "/v1/tracking-settings", json={"retention_days": 3}, headers=tenant.headers()
    )
    ok(r, 200)
    report = maintain(database)
    assert report.deleted_rows >= 1
    window = {"from": iso(old - timedelta(minutes=1)), "tolerance_m": 0}
    assert ok(track(tenant, short.driver_id, **window), 200)["properties"]["points"] == 1
    assert ok(track(other_tenant, normal.driver_id, **window), 200)["properties"]["points"] == 2
    again = maintain(database)
    assert again.deleted_rows == 0 or again.deleted_rows < report.deleted_rows


def test_the_cli_maintains_storage_and_sets_a_tenants_retention(
    tenant: TenantHandle, database: TestDatabase
) -> None:
    """`lastmile tracking maintain --json` reports its run; `lastmile tracking retention` shows
    and sets a tenant's retention, which the API then reports."""
    p = lastmile_cli(database, "tracking", "maintain", "--json")
    assert p.returncode == 0, p.stderr
    report = json.loads(p.stdout)
    assert report["longest_retention_days"] >= 30 and report["error"] is None
    p = lastmile_cli(database, "tracking", "retention", "--tenant-id", tenant.id, "--days", "12")
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == f"{tenant.id}: 12 days"
    assert ok(tenant.get("/v1/tracking-settings"), 200)["retention_days"] == 12
    p = lastmile_cli(database, "tracking", "retention", "--tenant-id", tenant.id, "--days", "0")
    assert p.returncode != 0


# --- PostgreSQL partitions and row-level security -------------------------------------------------


@pytest.fixture
def pg(database: TestDatabase) -> TestDatabase:
    if database.backend != "postgres":
        pytest.skip("partitions and RLS are PostgreSQL's")
    return database


def exists(db: TestDatabase, table: str) -> bool:
    with admin(db) as conn:
        return conn.execute("select to_regclass(%s)", (table,)).fetchone() != (None,)


def test_the_job_makes_tomorrows_partition_and_running_it_twice_is_harmless(
    pg: TestDatabase,
) -> None:
    tomorrow = partitions.name_for((now() + timedelta(days=1)).date())
    with admin(pg) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {tomorrow}")
    first = maintain(pg)
    assert tomorrow in first.created
    assert exists(pg, tomorrow)
    second = maintain(pg)
    assert (second.created, second.dropped, second.moved_rows) == ([], [], 0)
    with admin(pg) as conn:
        flags = conn.execute(
            "select relrowsecurity, relforcerowsecurity from pg_class where relname = %s",
            (tomorrow,),
        ).fetchone()
    assert flags == (True, True)


def test_without_the_owner_url_the_job_reports_and_still_deletes(pg: TestDatabase) -> None:
    """Run as the app role (no admin URL), partition DDL fails: the report says why, the
    retention deletes still run, and a run as the owner then makes the missing partition."""
    tomorrow = partitions.name_for((now() + timedelta(days=1)).date())
    with admin(pg) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {tomorrow}")
    as_app = Settings(database_url=pg.url, database_admin_url=None)
    report = run(pg, lambda sessions: upkeep.maintain(sessions, as_app))
    assert report.error is not None and "permission denied" in report.error
    assert report.created == [] and not exists(pg, tomorrow)
    assert tomorrow in maintain(pg).created


def test_expired_partitions_are_dropped_and_current_ones_stay(pg: TestDatabase) -> None:
    """A day partition older than every tenant's retention (366+ days: over the 365 maximum) is
    dropped with its rows; today's stays."""
    day = (now() - timedelta(days=400)).date()
    name = partitions.name_for(day)
    lo, hi = partitions.bounds(day)
    with admin(pg) as conn:
        conn.execute(
            f"CREATE TABLE IF NOT EXISTS {name} PARTITION OF locations "
            f"FOR VALUES FROM ('{lo.isoformat()}') TO ('{hi.isoformat()}')"
        )
        conn.execute(
            "insert into locations (tenant_id, driver_id, recorded_at, lat, lng, received_at) "
            "values ('ten_gone', 'drv_gone', %s, 1, 2, now())",
            (lo + timedelta(hours=3),),
        )
    report = maintain(pg)
    assert name in report.dropped
    assert not exists(pg, name)
    assert exists(pg, partitions.name_for(now().date()))
    assert maintain(pg).dropped == []


def test_stray_rows_in_the_default_partition_move_to_their_day(
    tenant: TenantHandle, pg: TestDatabase
) -> None:
    """A point older than the partitions made ahead lands in DEFAULT; the job gives its day a
    partition and moves it there."""
    c = crew(tenant)
    with admin(pg) as conn:
        days = [
            d
            for d in range(2, 25)
            if conn.execute(
                "select to_regclass(%s)", (partitions.name_for((now() - timedelta(days=d)).date()),)
            ).fetchone()
            == (None,)
        ]
    at = now() - timedelta(days=days[0])
    assert post(tenant, c.driver_token, [point(at)])["accepted"] == 1
    with admin(pg) as conn:
        assert conn.execute(
            "select count(*) from pgx_locations_default where driver_id = %s", (c.driver_id,)
        ).fetchone() == (1,)
    report = maintain(pg)
    name = partitions.name_for(at.date())
    assert name in report.created and report.moved_rows >= 1
    with admin(pg) as conn:
        assert conn.execute(
            f"select count(*) from {name} where driver_id = %s", (c.driver_id,)
        ).fetchone() == (1,)
        assert conn.execute(
            "select count(*) from pgx_locations_default where driver_id = %s", (c.driver_id,)
        ).fetchone() == (0,)
    window = {"from": iso(at - timedelta(minutes=1)), "to": iso(at)}
    got = ok(track(tenant, c.driver_id, **window), 200)
    assert got["properties"]["points"] == 1


def test_row_level_security_covers_the_partitioned_table(
    tenant: TenantHandle, other_tenant: TenantHandle, pg: TestDatabase
) -> None:
    """The app role with tenant A set sees none of B's points, through the parent, the DEFAULT
    partition, or a day partition (which it may not read directly at all), and cannot write
    points for B."""
    a, b = crew(tenant), crew(other_tenant)
    maintain(pg)
    for t, c in ((tenant, a), (other_tenant, b)):
        post(
            t,
            c.driver_token,
            [point(now() - timedelta(minutes=1)), point(now() - timedelta(days=9))],
        )
    today = partitions.name_for(now().date())
    with psycopg.connect(plain_pg_url(pg.url)) as conn:
        conn.execute("select set_config('app.tenant_id', %s, true)", (tenant.id,))
        seen = conn.execute("select distinct tenant_id from locations").fetchall()
        assert seen == [(tenant.id,)]
        assert conn.execute(
            "select count(*) from locations where driver_id = %s", (b.driver_id,)
        ).fetchone() == (0,)
        assert conn.execute(
            "select count(*) from driver_positions where driver_id = %s", (b.driver_id,)
        ).fetchone() == (0,)
        default_rows = conn.execute("select distinct tenant_id from pgx_locations_default")
        assert set(default_rows.fetchall()) <= {(tenant.id,)}
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(f"select count(*) from {today}")
    with psycopg.connect(plain_pg_url(pg.url)) as conn:
        conn.execute("select set_config('app.tenant_id', %s, true)", (tenant.id,))
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(
                "insert into locations (tenant_id, driver_id, recorded_at, lat, lng, "
                "received_at) values (%s, %s, now(), 1, 2, now())",
                (other_tenant.id, b.driver_id),
            )
    with psycopg.connect(plain_pg_url(pg.url)) as conn:
        assert conn.execute("select count(*) from locations").fetchone() == (0,)
