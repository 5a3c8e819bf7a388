"""Travel-time matrices from OSRM and Google, run against a local HTTP server that answers in
each vendor's wire format (tests/support/routing_providers.py): chunking, unreachable pairs,
errors, quota and timeouts falling back to the offline estimate with a warning and a counter,
and `matrix_for` with its caches on both databases."""

from __future__ import annotations

import secrets
import socket
from collections.abc import AsyncIterator, Iterator
from typing import Any

import numpy as np
import pytest
import structlog
from prometheus_client import REGISTRY
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from lastmile.core.config import Settings
from lastmile.core.db import make_engine, make_sessionmaker
from lastmile.core.tenancy import TenantContext, bind_session
from lastmile.fleet.enums import VehicleType
from lastmile.routing.matrix import cache as matrix_cache
from lastmile.routing.matrix import service
from lastmile.routing.matrix.base import Matrix
from lastmile.routing.matrix.google import GoogleRouteMatrix
from lastmile.routing.matrix.offline import OfflineProvider
from lastmile.routing.matrix.osrm import OsrmTable
from lastmile.routing.matrix.remote import RemoteProvider
from tests.support import routing_providers
from tests.support.databases import TestDatabase
from tests.support.factories import TenantHandle
from tests.support.routing_providers import GOOGLE_KEY, FakeRouting, Script, road

AMSTERDAM = [(52.3731, 4.8926), (52.3600, 4.8852), (52.3791, 4.9003), (52.3547, 4.9120)]
NOWHERE = (85.0, 10.0)  # no road on the fake network
CAR = VehicleType.car


@pytest.fixture(scope="module")
def fake_server() -> Iterator[FakeRouting]:
    yield from routing_providers.serve()


@pytest.fixture
def fake(fake_server: FakeRouting) -> FakeRouting:
    fake_server.reset()
    return fake_server


def grid(n: int, seed: int = 1) -> list[tuple[float, float]]:
    rng = np.random.default_rng(seed)
    return [(52.30 + 0.15 * rng.random(), 4.80 + 0.20 * rng.random()) for _ in range(n)]


def fallbacks(provider: str, reason: str) -> float:
    return (
        REGISTRY.get_sample_value(
            "lastmile_routing_matrix_fallbacks_total", {"provider": provider, "reason": reason}
        )
        or 0.0
    )


def assert_road(m: Any, points: list[tuple[float, float]], i: int, j: int) -> None:
    """Cell (i, j) is the fake network's answer, not the offline estimate."""
    expected = road(points[i], points[j])
    assert expected is not None
    assert m.duration(i, j) == pytest.approx(expected[0], abs=1)
    assert m.distance(i, j) == pytest.approx(expected[1], abs=1)


def osrm(fake: FakeRouting, **kw: Any) -> RemoteProvider:
    return RemoteProvider(OsrmTable(base_url=fake.url), OfflineProvider(), **kw)


def google(fake: FakeRouting, key: str = GOOGLE_KEY, **kw: Any) -> RemoteProvider:
    return RemoteProvider(
        GoogleRouteMatrix(api_key=key, base_url=fake.url), OfflineProvider(), **kw
    )


# -- OSRM ------------------------------------------------------------------------------------


async def test_osrm_table_request_and_answer(fake: FakeRouting) -> None:
    """One GET /table/v1/car/lng,lat;… with annotations=duration,distance gives the server's
    durations and distances, rounded to whole seconds and metres."""
    m = await osrm(fake).matrix(AMSTERDAM, CAR)
    assert (m.provider, m.complete, len(m)) == ("osrm", True, 4)
    assert len(fake.requests) == 1
    sent = fake.requests[0]
    assert sent.path.startswith("/table/v1/car/4.892600,52.373100;4.885200,52.360000;")
    assert sent.query == {"annotations": "duration,distance"}
    assert sent.headers["user-agent"].startswith("lastmile/")
    for i in range(4):
        for j in range(4):
            if i != j:
                assert_road(m, AMSTERDAM, i, j)
    assert np.all(np.diag(m.durations) == 0)


async def test_osrm_profiles_follow_vehicle_types(fake: FakeRouting) -> None:
    """Walkers ask the foot profile, bicycles bike, motor vehicles car."""
    for vehicle, profile in [
        (VehicleType.walker, "foot"),
        (VehicleType.bicycle, "bike"),
        (VehicleType.truck, "car"),
    ]:
        await osrm(fake).matrix(AMSTERDAM[:2], vehicle)
        assert fake.requests[-1].path.startswith(f"/table/v1/{profile}/")


async def test_osrm_big_matrix_is_asked_in_blocks_the_server_accepts(fake: FakeRouting) -> None:
    """230 points (more than osrm-routed's 100 locations) are asked in blocks with sources= and
    destinations=; no request is refused as TooBig and every cell is the server's."""
    points = grid(230)
    m = await osrm(fake).matrix(points, CAR)
    assert m.complete, m.fallback_reasons
    assert len(fake.requests) == 25  # 5 bands of 50 x 5 bands of 50
    assert all(len(r.path.split("/")[4].split(";")) <= 100 for r in fake.requests)
    off_diagonal = [r for r in fake.requests if "sources" in r.query]
    assert off_diagonal and off_diagonal[0].query["sources"].startswith("0;1;2")
    for i, j in [(0, 229), (229, 0), (120, 7), (55, 180), (199, 198)]:
        assert_road(m, points, i, j)


async def test_osrm_null_cells_fall_back_per_cell(fake: FakeRouting) -> None:
    """Pairs OSRM answers null (no route) are estimated offline, the others kept, with one
    warning and one count for reason unreachable."""
    points = [*AMSTERDAM[:3], NOWHERE]
    before = fallbacks("osrm", "unreachable")
    with structlog.testing.capture_logs() as logs:
        m = await osrm(fake).matrix(points, CAR)
    assert m.fallback_cells == 6 and m.fallback_reasons == {"unreachable"}
    assert_road(m, points, 0, 1)
    estimate = OfflineProvider().compute(points, CAR)
    assert m.distance(0, 3) == estimate.distance(0, 3)
    assert m.duration(3, 2) == estimate.duration(3, 2)
    assert fallbacks("osrm", "unreachable") == before + 1
    warnings = [e for e in logs if e["event"] == "routing_matrix_fallback"]
    assert len(warnings) == 1 and warnings[0]["log_level"] == "warning"
    assert warnings[0]["cells"] == 6 and warnings[0]["reason"] == "unreachable"


@pytest.mark.parametrize(
    ("mode", "reason", "said"),
    [
        ("osrm-400", "rejected", "InvalidQuery: Query string malformed"),
        ("osrm-nosegment", "rejected", "NoSegment"),
        ("http-429", "quota", "HTTP 429"),
        ("http-500", "unavailable", "HTTP 500"),
        ("html", "bad_response", "non-JSON"),
        ("osrm-garbage", "bad_response", "non-numeric durations"),
        ("osrm-ok-but-error", "bad_response", "Weird"),
    ],
)
async def test_osrm_failures_fall_back_to_the_offline_matrix(
    fake: FakeRouting, mode: str, reason: str, said: str
) -> None:
    """Each OSRM failure gives the whole offline matrix, a warning naming the reason and the
    provider's words, and one count; never an exception."""
    fake.script = Script(mode=mode)
    before = fallbacks("osrm", reason)
    with structlog.testing.capture_logs() as logs:
        m = await osrm(fake).matrix(AMSTERDAM, CAR)
    estimate = OfflineProvider().compute(AMSTERDAM, CAR)
    assert m.durations.tolist() == estimate.durations.tolist()
    assert m.distances.tolist() == estimate.distances.tolist()
    assert m.provider == "osrm" and m.fallback_reasons == {reason} and m.fallback_cells == 12
    assert fallbacks("osrm", reason) == before + 1
    (warning,) = [e for e in logs if e["event"] == "routing_matrix_fallback"]
    assert warning["reason"] == reason and said in warning["detail"]


async def test_osrm_notable_is_every_pair_unreachable(fake: FakeRouting) -> None:
    """OSRM's NoTable (no route at all) is a per-cell unreachable answer, not an outage."""
    fake.script = Script(mode="osrm-notable")
    m = await osrm(fake).matrix(AMSTERDAM, CAR)
    assert m.fallback_reasons == {"unreachable"} and m.fallback_cells == 12


async def test_a_failing_block_stops_the_others_and_keeps_what_came(fake: FakeRouting) -> None:
    """When a block fails part-way, the blocks already answered are kept, no further request is
    sent (a dead server is not asked 25 times), and the rest is estimated."""
    points = grid(230, seed=2)
    fake.script = Script(mode="http-500", after=6)
    m = await osrm(fake, concurrency=1).matrix(points, CAR)
    assert len(fake.requests) == 7
    assert m.fallback_reasons == {"unavailable"}
    assert 0 < m.fallback_cells < 230 * 229
    assert_road(m, points, 0, 1)  # the first block came back
    estimate = OfflineProvider().compute(points, CAR)
    assert m.duration(229, 228) == estimate.duration(229, 228)


async def test_a_slow_provider_times_out_into_the_estimate(fake: FakeRouting) -> None:
    """A provider slower than the request timeout gives the estimate, reason timeout."""
    fake.script = Script(delay=1.0)
    before = fallbacks("osrm", "timeout")
    m = await osrm(fake, timeout=0.2).matrix(AMSTERDAM, CAR)
    assert m.fallback_reasons == {"timeout"}
    assert fallbacks("osrm", "timeout") == before + 1


async def test_the_whole_matrix_has_a_deadline(fake: FakeRouting) -> None:
    """However many blocks remain, the matrix is done by its deadline (the rest estimated)."""
    fake.script = Script(delay=0.3)
    m = await osrm(fake, deadline=0.5, concurrency=1).matrix(grid(230, seed=3), CAR)
    assert m.fallback_reasons == {"timeout"}
    assert len(fake.requests) <= 3


async def test_an_unreachable_server_falls_back(fake: FakeRouting) -> None:
    """Connection refused is reason unavailable."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    provider = RemoteProvider(OsrmTable(base_url=f"http://127.0.0.1:{port}"), OfflineProvider())
    m = await provider.matrix(AMSTERDAM, CAR)
    assert m.fallback_reasons == {"unavailable"}


# -- Google ----------------------------------------------------------------------------------


async def test_google_request_and_answer(fake: FakeRouting) -> None:
    """A POST with the key in X-Goog-Api-Key, a field mask, latLng waypoints and DRIVE
    TRAFFIC_UNAWARE; the streamed elements (any order, zero values left out) fill the matrix."""
    m = await google(fake).matrix(AMSTERDAM, CAR)
    assert (m.provider, m.complete) == ("google", True)
    (sent,) = fake.requests
    assert sent.method == "POST" and sent.path == "/distanceMatrix/v2:computeRouteMatrix"
    assert sent.headers["x-goog-api-key"] == GOOGLE_KEY
    assert sent.headers["x-goog-fieldmask"] == (
        "originIndex,destinationIndex,status,condition,distanceMeters,duration"
    )
    assert sent.body["travelMode"] == "DRIVE"
    assert sent.body["routingPreference"] == "TRAFFIC_UNAWARE"
    assert sent.body["origins"][0] == {
        "waypoint": {"location": {"latLng": {"latitude": 52.3731, "longitude": 4.8926}}}
    }
    assert len(sent.body["destinations"]) == 4
    for i, j in [(0, 1), (3, 2), (2, 0)]:
        assert_road(m, AMSTERDAM, i, j)


async def test_google_travel_modes(fake: FakeRouting) -> None:
    """Walkers WALK and bicycles BICYCLE (without a routing preference), motorcycles
    TWO_WHEELER."""
    for vehicle, mode, preference in [
        (VehicleType.walker, "WALK", None),
        (VehicleType.bicycle, "BICYCLE", None),
        (VehicleType.motorcycle, "TWO_WHEELER", "TRAFFIC_UNAWARE"),
    ]:
        await google(fake).matrix(AMSTERDAM[:2], vehicle)
        body = fake.requests[-1].body
        assert body["travelMode"] == mode and body.get("routingPreference") == preference


async def test_google_big_matrix_respects_625_elements(fake: FakeRouting) -> None:
    """60 points are asked in 25 x 25 blocks (9 requests), none refused by the element limit."""
    points = grid(60, seed=4)
    m = await google(fake).matrix(points, CAR)
    assert m.complete, m.fallback_reasons
    assert len(fake.requests) == 9
    assert all(len(r.body["origins"]) * len(r.body["destinations"]) <= 625 for r in fake.requests)
    for i, j in [(0, 59), (59, 0), (30, 31), (26, 1)]:
        assert_road(m, points, i, j)


async def test_google_route_not_found_and_element_errors_fall_back_per_cell(
    fake: FakeRouting,
) -> None:
    """ROUTE_NOT_FOUND pairs and an element with an error status are estimated one by one."""
    points = [*AMSTERDAM[:3], NOWHERE]
    fake.script = Script(mode="google-element-error")
    m = await google(fake).matrix(points, CAR)
    assert m.fallback_reasons == {"unreachable"} and m.fallback_cells == 6
    assert_road(m, points, 1, 2)


@pytest.mark.parametrize(
    ("mode", "key", "reason", "said"),
    [
        ("google-quota", GOOGLE_KEY, "quota", "RESOURCE_EXHAUSTED: Quota exceeded"),
        ("ok", "wrong-key", "rejected", "PERMISSION_DENIED: Requests from this API key"),
        ("google-500", GOOGLE_KEY, "unavailable", "INTERNAL"),
        ("google-not-a-list", GOOGLE_KEY, "bad_response", "JSON dict"),
        ("http-429", GOOGLE_KEY, "quota", "HTTP 429"),
    ],
)
async def test_google_errors_fall_back_to_the_offline_matrix(
    fake: FakeRouting, mode: str, key: str, reason: str, said: str
) -> None:
    """Google's error JSON (429 RESOURCE_EXHAUSTED, 403 PERMISSION_DENIED, 500 INTERNAL) and
    malformed answers give the offline matrix, a warning and a count; the key is never logged."""
    fake.script = Script(mode=mode)
    before = fallbacks("google", reason)
    with structlog.testing.capture_logs() as logs:
        m = await google(fake, key=key).matrix(AMSTERDAM, CAR)
    assert m.fallback_reasons == {reason} and m.fallback_cells == 12
    assert m.durations.tolist() == OfflineProvider().compute(AMSTERDAM, CAR).durations.tolist()
    assert fallbacks("google", reason) == before + 1
    (warning,) = [e for e in logs if e["event"] == "routing_matrix_fallback"]
    assert said in warning["detail"]
    assert key not in repr(logs)


async def test_google_invalid_argument_is_rejected(fake: FakeRouting) -> None:
    """A 400 INVALID_ARGUMENT (here: a request of more than 625 elements) is reason rejected."""
    provider = google(fake)
    source = provider.source
    assert isinstance(source, GoogleRouteMatrix)
    source.blocks = lambda n: [(range(n), range(n))]  # type: ignore[method-assign]
    with structlog.testing.capture_logs() as logs:
        m = await provider.matrix(grid(30, seed=5), CAR)
    assert m.fallback_reasons == {"rejected"}
    assert "INVALID_ARGUMENT" in logs[0]["detail"]


# -- matrix_for: settings, caches, both databases ---------------------------------------------


Sessions = async_sessionmaker[AsyncSession]


@pytest.fixture
async def sessions(database: TestDatabase) -> AsyncIterator[Sessions]:
    """Sessions of the test database (read-only on SQLite: the API server writes meanwhile)."""
    engine = make_engine(database.url, pool_size=2)
    try:
        yield make_sessionmaker(engine, readonly=True)
    finally:
        await engine.dispose()


async def matrix_for(
    sessions: Sessions, t: TenantHandle, points: list[tuple[float, float]], profile: Any = CAR
) -> Matrix:
    """`service.matrix_for` in a session of its own, bound to the tenant (RLS on PostgreSQL)."""
    async with sessions() as session:
        await bind_session(session, t.id)
        return await service.matrix_for(
            session=session, tenant=TenantContext.system(t.id), points=points, profile=profile
        )


def configure(t: TenantHandle, **body: Any) -> dict[str, Any]:
    r = t.request("PUT", "/v1/routing-settings", json=body)
    assert r.status_code == 200, r.text
    return dict(r.json())


async def test_matrix_for_defaults_to_the_offline_estimate(
    sessions: Sessions, tenant: TenantHandle, fake: FakeRouting
) -> None:
    """A tenant without settings gets the offline matrix; its own speeds and detour count."""
    m = await matrix_for(sessions, tenant, AMSTERDAM, "car")
    assert m.provider == "offline" and m.complete
    assert m.durations.tolist() == OfflineProvider().compute(AMSTERDAM, CAR).durations.tolist()
    configure(tenant, provider="offline", detour_factor=1.0, speeds_kmh={"car": 60})
    fast = await matrix_for(sessions, tenant, AMSTERDAM, CAR)
    expected = OfflineProvider(detour_factor=1.0, speeds_kmh={CAR: 60}).compute(AMSTERDAM, CAR)
    assert fast.durations.tolist() == expected.durations.tolist()
    assert not fake.requests
    with pytest.raises(ValueError):
        await matrix_for(sessions, tenant, AMSTERDAM, "plane")


async def test_matrix_for_asks_osrm_once_then_answers_from_the_cache(
    sessions: Sessions, tenant: TenantHandle, other_tenant: TenantHandle, fake: FakeRouting
) -> None:
    """The same places (in another order, one repeated) are answered from the cache; another
    tenant, another profile or changed settings ask the provider again."""
    configure(tenant, provider="osrm", base_url=fake.url)
    first = await matrix_for(sessions, tenant, AMSTERDAM, CAR)
    assert first.provider == "osrm" and len(fake.requests) == 1
    shuffled = [AMSTERDAM[2], AMSTERDAM[0], AMSTERDAM[3], AMSTERDAM[1], AMSTERDAM[2]]
    again = await matrix_for(sessions, tenant, shuffled, CAR)
    assert len(fake.requests) == 1
    assert again.duration(1, 3) == first.duration(0, 1)
    assert again.duration(0, 4) == 0 and len(again) == 5
    await matrix_for(sessions, tenant, AMSTERDAM, "bicycle")
    assert len(fake.requests) == 2
    configure(tenant, provider="osrm", base_url=fake.url, detour_factor=1.5)
    await matrix_for(sessions, tenant, AMSTERDAM, CAR)
    assert len(fake.requests) == 3


async def test_outages_are_not_cached_but_unreachable_pairs_are(
    sessions: Sessions, tenant: TenantHandle, fake: FakeRouting
) -> None:
    """An estimate made during an outage is not kept (the next call asks again); a matrix with
    unreachable pairs is the provider's real answer and is kept."""
    configure(tenant, provider="osrm", base_url=fake.url)
    fake.script = Script(mode="http-500")
    down = await matrix_for(sessions, tenant, AMSTERDAM, CAR)
    assert down.fallback_reasons == {"unavailable"}
    fake.script = Script()
    up = await matrix_for(sessions, tenant, AMSTERDAM, CAR)
    assert up.complete and len(fake.requests) == 2
    points = [*AMSTERDAM[:2], NOWHERE]
    for _ in range(2):
        m = await matrix_for(sessions, tenant, points, CAR)
        assert m.fallback_reasons == {"unreachable"}
    assert len(fake.requests) == 3


async def test_matrix_for_google_with_the_encrypted_key(
    sessions: Sessions,
    tenant: TenantHandle,
    fake: FakeRouting,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The stored key is decrypted and sent; a key that no longer decrypts (another
    LASTMILE_SECRET_KEY) gives the offline matrix with reason misconfigured."""
    configure(tenant, provider="google", base_url=fake.url, api_key=GOOGLE_KEY)
    m = await matrix_for(sessions, tenant, AMSTERDAM, CAR)
    assert m.provider == "google" and m.complete
    assert fake.requests[-1].headers["x-goog-api-key"] == GOOGLE_KEY
    other = Settings(secret_key="another-secret-key-0123456789abcdef0123")
    monkeypatch.setattr(service, "get_settings", lambda: other)
    with structlog.testing.capture_logs() as logs:
        lost = await matrix_for(sessions, tenant, AMSTERDAM[:3], CAR)
    assert lost.provider == "offline" and lost.fallback_reasons == {"misconfigured"}
    assert lost.fallback_cells == 6
    assert "LASTMILE_SECRET_KEY" in logs[0]["detail"]


async def test_redis_shares_matrices_between_processes(
    sessions: Sessions, tenant: TenantHandle, fake: FakeRouting, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With LASTMILE_REDIS_URL set, a matrix computed once is found in Redis by a process whose
    own cache is empty (here: after clearing it)."""
    shared = Settings(redis_url="redis://127.0.0.1:6379/15")
    monkeypatch.setattr(service, "get_settings", lambda: shared)
    configure(tenant, provider="osrm", base_url=fake.url)
    points = grid(12, seed=secrets.randbelow(10_000))
    first = await matrix_for(sessions, tenant, points, CAR)
    service._memory.clear()
    again = await matrix_for(sessions, tenant, points, CAR)
    assert len(fake.requests) == 1
    assert again.durations.tolist() == first.durations.tolist()
    assert again.provider == "osrm"


async def test_redis_down_costs_a_miss_not_the_matrix(caplog: pytest.LogCaptureFixture) -> None:
    """A Redis that refuses connections gives None (get) and nothing (put), with a warning."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    store = matrix_cache.RedisMatrixStore(f"redis://127.0.0.1:{port}/0")
    m = OfflineProvider().compute(AMSTERDAM, CAR)
    with structlog.testing.capture_logs() as logs:
        assert await store.get("k") is None
        await store.put("k", m)
    assert [e["event"] for e in logs] == ["routing_matrix_cache_redis_failed"] * 2
