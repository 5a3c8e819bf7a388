"""Travel-time matrices without a server: the offline estimate, the Matrix shape, the block
plans of the adapters, and the in-process cache."""

from __future__ import annotations

import time

import numpy as np
import pytest

from lastmile.fleet.enums import VehicleType
from lastmile.routing.matrix import cache
from lastmile.routing.matrix.base import Matrix, readonly, square_blocks
from lastmile.routing.matrix.google import GoogleRouteMatrix
from lastmile.routing.matrix.offline import DEFAULT_SPEEDS_KMH, OfflineProvider, great_circle_m
from lastmile.routing.matrix.osrm import OsrmTable

pytestmark = pytest.mark.unit

PARIS = (48.8566, 2.3522)
LONDON = (51.5074, -0.1278)
NEW_YORK = (40.7128, -74.0060)
PARIS_LONDON_M = 343_500  # great-circle distance, Notre-Dame area to Charing Cross area
PARIS_NEW_YORK_M = 5_837_000


def test_great_circle_matches_known_distances_within_one_percent() -> None:
    """Paris-London and Paris-New York come out within 1 % of their great-circle distances."""
    d = great_circle_m([PARIS, LONDON, NEW_YORK])
    assert d[0, 1] == pytest.approx(PARIS_LONDON_M, rel=0.01)
    assert d[0, 2] == pytest.approx(PARIS_NEW_YORK_M, rel=0.01)
    assert np.allclose(d, d.T)
    assert np.all(np.diag(d) == 0)


def test_great_circle_handles_the_antimeridian_and_the_poles() -> None:
    """Points either side of 180° are close; pole to pole is half the circumference."""
    d = great_circle_m([(0.0, 179.9), (0.0, -179.9), (90.0, 0.0), (-90.0, 0.0)])
    assert d[0, 1] == pytest.approx(22_239, rel=0.01)
    assert d[2, 3] == pytest.approx(20_015_115, rel=0.001)


def test_offline_matrix_applies_detour_and_speed() -> None:
    """Distance = great circle x detour factor; duration = that distance at the type's speed."""
    m = OfflineProvider().compute([PARIS, LONDON], VehicleType.car)
    assert m.provider == "offline" and m.complete and len(m) == 2
    assert m.distance(0, 1) == pytest.approx(PARIS_LONDON_M * 1.3, rel=0.01)
    assert m.duration(0, 1) == round(m.distances[0, 1] / (30 / 3.6))
    walker = OfflineProvider(detour_factor=1.0, speeds_kmh={VehicleType.walker: 4.0})
    w = walker.compute([PARIS, LONDON], VehicleType.walker)
    assert w.distance(0, 1) == pytest.approx(PARIS_LONDON_M, rel=0.01)
    assert w.duration(0, 1) == pytest.approx(w.distance(0, 1) / (4 / 3.6), abs=1)


def test_every_vehicle_type_has_a_default_speed_and_slower_is_longer() -> None:
    """Each fleet vehicle type has a speed; a bicycle takes twice as long as a car at 30 km/h."""
    assert set(DEFAULT_SPEEDS_KMH) == set(VehicleType)
    offline = OfflineProvider()
    points = [(52.37, 4.89), (52.36, 4.92)]
    car = offline.compute(points, VehicleType.car)
    bike = offline.compute(points, VehicleType.bicycle)
    assert bike.distances.tolist() == car.distances.tolist()
    assert bike.duration(0, 1) == pytest.approx(2 * car.duration(0, 1), abs=1)


def test_offline_refuses_nonsense_parameters_and_coordinates() -> None:
    """A non-positive detour or speed is a ValueError; so is a latitude beyond 90°."""
    with pytest.raises(ValueError):
        OfflineProvider(detour_factor=0)
    with pytest.raises(ValueError):
        OfflineProvider(speeds_kmh={VehicleType.car: -5})
    from lastmile.routing.matrix.base import check_points

    for bad in [(91.0, 0.0), (0.0, 181.0), (float("nan"), 0.0)]:
        with pytest.raises(ValueError):
            check_points([bad])


async def test_offline_empty_single_and_readonly() -> None:
    """No points give a 0x0 matrix, one point [[0]]; the arrays cannot be modified."""
    offline = OfflineProvider()
    assert len(await offline.matrix([], VehicleType.car)) == 0
    one = await offline.matrix([PARIS], VehicleType.car)
    assert one.durations.tolist() == [[0]] and one.distances.tolist() == [[0]]
    with pytest.raises(ValueError):
        one.durations[0, 0] = 5


def test_offline_thousand_points_well_under_a_second() -> None:
    """A 1,000 x 1,000 matrix takes well under a second (median of 3)."""
    rng = np.random.default_rng(7)
    points = [(52.3 + 0.2 * rng.random(), 4.8 + 0.2 * rng.random()) for _ in range(1000)]
    offline = OfflineProvider()
    times = []
    for _ in range(3):
        start = time.perf_counter()
        m = offline.compute(points, VehicleType.van)
        times.append(time.perf_counter() - start)
    assert len(m) == 1000 and m.durations.dtype == np.int64
    assert sorted(times)[1] < 0.5, times


def test_matrix_refuses_ragged_shapes_and_gives_lists() -> None:
    """A Matrix is two square int64 arrays of one size; to_lists gives Python ints."""
    square = readonly(np.array([[0, 5], [6, 0]], dtype=np.int64))
    m = Matrix(square, square, "x")
    assert m.to_lists() == ([[0, 5], [6, 0]], [[0, 5], [6, 0]])
    with pytest.raises(ValueError):
        Matrix(square, readonly(np.zeros((2, 3), dtype=np.int64)), "x")
    with pytest.raises(ValueError):
        Matrix(square, np.zeros((2, 2), dtype=np.float64), "x")  # type: ignore[arg-type]


def test_adapters_cut_matrices_within_their_limits() -> None:
    """OSRM asks at most 100 coordinates a request, Google at most 625 elements; every cell
    is covered exactly once."""
    for source, n, most in [
        (OsrmTable(base_url="http://x"), 100, 100),
        (OsrmTable(base_url="http://x"), 237, 100),
        (GoogleRouteMatrix(api_key="k"), 24, 625),
        (GoogleRouteMatrix(api_key="k"), 60, 625),
    ]:
        covered = np.zeros((n, n), dtype=int)
        for rows, cols in source.blocks(n):
            covered[rows.start : rows.stop, cols.start : cols.stop] += 1
            if isinstance(source, OsrmTable):
                size = len(rows) if rows == cols else len(rows) + len(cols)
            else:
                size = len(rows) * len(cols)
            assert size <= most
        assert np.all(covered == 1), (source.name, n)
    assert len(OsrmTable(base_url="http://x").blocks(100)) == 1
    assert square_blocks(0, 5) == []


def test_canonical_points_merge_order_and_duplicates() -> None:
    """The same places in another order, or repeated, or moved by less than a metre, share one
    canonical set; expand gives the rows back in the caller's order."""
    a, b, c = (52.1, 4.1), (52.2, 4.2), (52.3, 4.3)
    first, where1 = cache.canonical([a, b, c])
    second, where2 = cache.canonical([c, (b[0] + 1e-7, b[1]), a, c])
    assert first == second
    assert cache.key_for(["t"], first) == cache.key_for(["t"], second)
    assert cache.key_for(["t"], first) != cache.key_for(["u"], first)
    base = OfflineProvider().compute(first, VehicleType.car)
    mine = cache.expand(base, where2)
    direct = OfflineProvider().compute([c, b, a, c], VehicleType.car)
    assert mine.durations.tolist() == direct.durations.tolist()
    assert mine.duration(0, 3) == 0
    assert cache.expand(base, where1) is base


def test_memory_cache_expires_and_evicts_by_cells() -> None:
    """Entries expire after the TTL, and the least recently used go when the cells overflow."""
    now = [0.0]
    memo = cache.MatrixCache(max_cells=9, ttl=10, clock=lambda: now[0])
    two = OfflineProvider().compute([(1.0, 1.0), (2.0, 2.0)], VehicleType.car)  # 4 cells
    memo.put("a", two)
    memo.put("b", two)
    assert memo.get("a") is two  # a is now the most recent
    memo.put("c", two)  # 12 cells > 9: b goes
    assert memo.get("b") is None and memo.get("a") is two and memo.get("c") is two
    big = OfflineProvider().compute(
        [(1.0, 1.0), (2.0, 2.0), (3.0, 3.0), (4.0, 4.0)], VehicleType.car
    )
    memo.put("big", big)  # larger than the whole cache: not kept
    assert memo.get("big") is None
    now[0] = 11
    assert memo.get("a") is None and len(memo) == 1


def test_serialised_matrix_round_trips() -> None:
    """What goes to Redis comes back equal, fallback details included."""
    m = OfflineProvider().compute([(1.0, 1.0), (2.0, 2.0), (3.0, 1.0)], VehicleType.truck)
    marked = Matrix(m.durations, m.distances, "osrm", 2, frozenset({"unreachable"}))
    back = cache.loads(cache.dumps(marked))
    assert back.durations.tolist() == m.durations.tolist()
    assert back.distances.tolist() == m.distances.tolist()
    assert (back.provider, back.fallback_cells, back.fallback_reasons) == (
        "osrm",
        2,
        frozenset({"unreachable"}),
    )
    with pytest.raises(ValueError):
        cache.loads(cache.dumps(marked)[:-3] + b"xyz")
