"""Big problems in pieces: a first solution from clusters, then rounds of route groups.

`cluster_start` splits the jobs into compact clusters (k-medoids on the distances), deals the fleet
out in proportion, and solves each cluster from scratch, the clusters shared out over the cores.

`decompose` then improves the merged solution by rounds: the routes are put into compact groups
(nearest route centres), each group is a sub-problem (its jobs, its vehicles and a share of the
idle ones) solved from its current routes, side by side, and a group's routes are replaced only
by better ones. Routes do not interact, so the merged solution stays feasible and never gets
worse. Each round groups the routes differently (a random seed route per group).

Measured on Gehring-Homberger r1_10_1 (1,000 customers, 10 s, 2 cores): docs/adr/0002.
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyvrp

from lastmile.routing.solver.engines import _parallel
from lastmile.routing.solver.engines._parallel import Report
from lastmile.routing.solver.engines._pyvrp_model import RouteKey, solution_of
from lastmile.routing.solver.engines._pyvrp_search import Found, Tuning, found, search

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SearchParams:
    """When and how a problem is decomposed (measured: docs/adr/0002-route-solver.md)."""

    decompose_at: int = 150  # stops from which a problem is decomposed
    group_size: int = 200  # stops per sub-problem (at least one sub-problem per core)
    first_share: float = 0.2  # of the time, for the first solution
    round_share: float = 0.1  # of the budget, one decomposition round ...
    round_min: float = 0.4  # ... but at least this many seconds
    round_max: float = 1.5  # ... and at most this many
    cluster_start: bool = True  # first solution from clusters (else a global search)

    def round_seconds(self, budget: float) -> float:
        return min(self.round_max, max(self.round_min, self.round_share * budget))


def _centres(data: pyvrp.ProblemData, routes: Sequence[RouteKey]) -> list[int]:
    """Per route, the location of its most central stop (the medoid)."""
    dist = data.distance_matrix(0)
    out = []
    for _vtype, acts in routes:
        locs = np.asarray([_location(data, k, i) for k, i in acts], dtype=np.int64)
        sub = dist[np.ix_(locs, locs)].astype(np.float64)
        out.append(int(locs[int(np.argmin(sub.sum(axis=0) + sub.sum(axis=1)))]))
    return out


def _location(data: pyvrp.ProblemData, kind: int, idx: int) -> int:
    if kind == 0:
        return int(data.client(idx).location)
    shipment = data.shipment(idx)
    step = shipment.pickup if kind == 1 else shipment.delivery
    return int(step.location)


def partition(
    data: pyvrp.ProblemData,
    routes: Sequence[RouteKey],
    size: int,
    rng: random.Random,
    least: int = 1,
) -> list[list[int]]:
    """Routes (indices) in compact groups of about `size` stops: a random seed route, then the
    routes whose centres are nearest to it, until the group is full."""
    centres = _centres(data, routes)
    dist = data.distance_matrix(0)
    cen = np.asarray(centres, dtype=np.int64)
    prox = dist[np.ix_(cen, cen)].astype(np.float64)
    prox = prox + prox.T
    stops = [len(acts) for _t, acts in routes]
    total = sum(stops)
    count = min(len(routes), max(least, round(total / size)))
    target = total / count
    left = set(range(len(routes)))
    groups: list[list[int]] = []
    while left:
        if len(groups) == count - 1:
            groups.append(sorted(left))
            break
        seed = rng.choice(sorted(left))
        order = sorted(left, key=lambda r: (prox[seed, r], r))
        group: list[int] = []
        filled = 0
        for r in order:
            if filled >= target:
                break
            group.append(r)
            filled += stops[r]
        left -= set(group)
        groups.append(group)
    return groups


def _restrict(
    data: pyvrp.ProblemData, clients: Sequence[int], shipments: Sequence[int], counts: Sequence[int]
) -> tuple[pyvrp.ProblemData, list[int]]:
    """Only these clients, shipments and vehicles (count per type); the types kept, in order."""
    types = [t for t, n in enumerate(counts) if n > 0]
    vehicle_types = [data.vehicle_type(t).replace(num_available=counts[t]) for t in types]
    sub = data.replace(
        clients=[data.client(c) for c in clients],
        shipments=[data.shipment(s) for s in shipments],
        vehicle_types=vehicle_types,
        groups=[],
    )
    return sub, types


def _lift(
    routes: Sequence[RouteKey],
    clients: Sequence[int],
    shipments: Sequence[int],
    types: Sequence[int],
) -> list[RouteKey]:
    """A sub-problem's routes in the indices of the whole problem."""
    return [
        (types[vtype], [(kind, clients[i] if kind == 0 else shipments[i]) for kind, i in acts])
        for vtype, acts in routes
    ]


def _subproblem(
    data: pyvrp.ProblemData,
    routes: Sequence[RouteKey],
    members: Sequence[int],
    idle: Sequence[int],
) -> tuple[pyvrp.ProblemData, list[RouteKey], list[int], list[int], list[int]]:
    """The group's jobs and vehicles as a problem of their own, with index maps back."""
    clients: list[int] = []
    shipments: list[int] = []
    for r in members:
        for kind, idx in routes[r][1]:
            if kind == 0:
                clients.append(idx)
            elif kind == 1:
                shipments.append(idx)
    cmap = {c: i for i, c in enumerate(clients)}
    smap = {s: i for i, s in enumerate(shipments)}
    counts = list(idle)
    for r in members:
        counts[routes[r][0]] += 1
    sub, types = _restrict(data, clients, shipments, counts)
    tmap = {t: i for i, t in enumerate(types)}
    warm: list[RouteKey] = []
    for r in members:
        vtype, acts = routes[r]
        warm.append((tmap[vtype], [(k, cmap[i] if k == 0 else smap[i]) for k, i in acts]))
    return sub, warm, clients, shipments, types


def _solve_groups(
    data: pyvrp.ProblemData,
    routes: Sequence[RouteKey],
    groups: Sequence[list[int]],
    idle: Sequence[Sequence[int]],
    seed: int,
    until: float,
    tuning: Tuning,
    report: Report,
) -> list[list[RouteKey] | None]:
    """Each group improved in turn (one process), sharing the time by group size; None when a
    group found nothing better. What is done so far is reported after each group."""
    out: list[list[RouteKey] | None] = []
    sizes = [sum(len(routes[r][1]) for r in g) for g in groups]
    for k, group in enumerate(groups):
        now = time.monotonic()
        share = (until - now) * sizes[k] / max(1, sum(sizes[k:]))
        sub, warm, clients, shipments, types = _subproblem(data, routes, group, idle[k])
        start = solution_of(sub, warm)
        before = start.distance_cost() + start.duration_cost() + start.fixed_vehicle_cost()
        answer = search(sub, seed + k, now + share, init=warm, tuning=tuning)
        log.debug(
            "group %d: %d stops, %.2fs, %d iterations, %d -> %d",
            k,
            sizes[k],
            time.monotonic() - now,
            answer.iterations,
            before,
            answer.cost,
        )
        if not answer.feasible or answer.missing or answer.cost >= before:
            out.append(None)
        else:
            out.append(_lift(answer.routes, clients, shipments, types))
        report(out + [None] * (len(groups) - len(out)))
    return out


def _idle_shares(
    data: pyvrp.ProblemData, routes: Sequence[RouteKey], count: int
) -> list[list[int]]:
    """Idle vehicles of each type dealt out over `count` groups."""
    used = [0] * data.num_vehicle_types
    for vtype, _acts in routes:
        used[vtype] += 1
    idle = [data.vehicle_type(t).num_available - used[t] for t in range(data.num_vehicle_types)]
    shares = [[0] * len(idle) for _ in range(count)]
    for t, n in enumerate(idle):
        for g in range(count):
            shares[g][t] = n // count + (1 if g < n % count else 0)
    return shares


def _lanes(sizes: Sequence[int], workers: int) -> list[list[int]]:
    """Items dealt to `workers` lanes, biggest first to the lightest lane."""
    lanes: list[list[int]] = [[] for _ in range(max(1, min(workers, len(sizes))))]
    load = [0] * len(lanes)
    for k in sorted(range(len(sizes)), key=lambda k: -sizes[k]):
        i = load.index(min(load))
        lanes[i].append(k)
        load[i] += sizes[k]
    return lanes


def decompose(
    data: pyvrp.ProblemData,
    start: Found,
    seed: int,
    until: float,
    params: SearchParams,
    workers: int,
    tuning: Tuning,
    round_seconds: float,
) -> Found:
    """Improve a complete, feasible solution by rounds of sub-problems solved side by side."""
    rng = random.Random(seed)  # noqa: S311 - a search heuristic, not security
    best = start
    rounds = 0
    while True:
        left = until - time.monotonic()
        if left < 0.05:
            break
        round_end = time.monotonic() + min(left, round_seconds)
        if until - round_end < round_seconds / 2:
            round_end = until
        routes = best.routes
        groups = partition(data, routes, params.group_size, rng, least=workers)
        shares = _idle_shares(data, routes, len(groups))
        lanes = _lanes([sum(len(routes[r][1]) for r in g) for g in groups], workers)
        calls = [
            _LaneCall(
                data,
                routes,
                [groups[g] for g in lane],
                [shares[g] for g in lane],
                seed + 1000 * rounds + 17 * i,
                round_end,
                tuning,
            )
            for i, lane in enumerate(lanes)
        ]
        answers = _parallel.run(calls, round_end)
        replaced: set[int] = set()
        new_routes: list[RouteKey] = []
        for members, answer in zip(lanes, answers, strict=True):
            if answer is None:
                continue
            for g, improved in zip(members, answer, strict=True):
                if improved is not None:
                    replaced.update(groups[g])
                    new_routes.extend(improved)
        rounds += 1
        if not replaced:
            continue
        merged = [r for i, r in enumerate(routes) if i not in replaced] + new_routes
        solution = solution_of(data, merged)
        candidate = found(data, solution, best.iterations, False)
        if candidate.feasible and (candidate.missing, candidate.cost) <= (best.missing, best.cost):
            best = candidate
        log.debug("decompose round %d: %d groups, cost %d", rounds, len(groups), best.cost)
    return best


class _LaneCall:
    def __init__(
        self,
        data: pyvrp.ProblemData,
        routes: Sequence[RouteKey],
        groups: list[list[int]],
        idle: list[list[int]],
        seed: int,
        until: float,
        tuning: Tuning,
    ) -> None:
        self.args = (data, routes, groups, idle, seed, until, tuning)

    def __call__(self, report: Report) -> list[list[RouteKey] | None]:
        return _solve_groups(*self.args, report)


# --- a start from clusters -------------------------------------------------------------------


def clusters(
    data: pyvrp.ProblemData, size: int, rng: random.Random, least: int = 2
) -> list[tuple[list[int], list[int]]]:
    """Clients and shipments in compact clusters of about `size` stops (k-medoids on the first
    profile's distances, seeded k-means++ style), as (clients, shipments) per cluster. Two
    shipments are as far apart as their pickups and their deliveries on average."""
    units = [(0, c, int(data.client(c).location)) for c in range(data.num_clients)]
    units += [(1, s, int(data.shipment(s).pickup.location)) for s in range(data.num_shipments)]
    ends = [int(data.client(c).location) for c in range(data.num_clients)]
    ends += [int(data.shipment(s).delivery.location) for s in range(data.num_shipments)]
    weight = np.asarray([1 if k == 0 else 2 for k, _i, _l in units], dtype=np.float64)
    locs = np.asarray([loc for _k, _i, loc in units], dtype=np.int64)
    last = np.asarray(ends, dtype=np.int64)
    full = data.distance_matrix(0)
    dist = full[np.ix_(locs, locs)].astype(np.float64) + full[np.ix_(last, last)]
    dist = dist + dist.T
    count = min(len(units), max(least, round(float(weight.sum()) / size)))
    first = rng.randrange(len(units))
    medoids = [first]
    near = dist[first].copy()
    while len(medoids) < count:
        total = float((near**2).sum())
        if total <= 0:
            break
        pick = rng.random() * total
        nxt = int(np.searchsorted(np.cumsum(near**2), pick))
        nxt = min(nxt, len(units) - 1)
        medoids.append(nxt)
        near = np.minimum(near, dist[nxt])
    for _ in range(3):
        label = np.argmin(dist[:, medoids], axis=1)
        new = []
        for k in range(len(medoids)):
            members = np.flatnonzero(label == k)
            if members.size == 0:
                new.append(medoids[k])
                continue
            inner = dist[np.ix_(members, members)].sum(axis=1)
            new.append(int(members[int(np.argmin(inner))]))
        medoids = new
    label = np.argmin(dist[:, medoids], axis=1)
    out: list[tuple[list[int], list[int]]] = []
    for k in range(len(medoids)):
        members = np.flatnonzero(label == k)
        if members.size:
            cl = [units[m][1] for m in members if units[m][0] == 0]
            sh = [units[m][1] for m in members if units[m][0] == 1]
            out.append((cl, sh))
    return out


def _fleet_shares(data: pyvrp.ProblemData, sizes: Sequence[int]) -> list[list[int]]:
    """Vehicles of each type dealt out over clusters in proportion to their stops."""
    total = max(1, sum(sizes))
    shares = [[0] * data.num_vehicle_types for _ in sizes]
    for t in range(data.num_vehicle_types):
        n = data.vehicle_type(t).num_available
        exact = [n * s / total for s in sizes]
        base = [math.floor(x) for x in exact]
        rest = n - sum(base)
        for k in sorted(range(len(sizes)), key=lambda k: base[k] - exact[k])[:rest]:
            base[k] += 1
        for k in range(len(sizes)):
            shares[k][t] = base[k]
    return shares


class _ClusterLane:
    def __init__(
        self,
        data: pyvrp.ProblemData,
        parts: list[tuple[list[int], list[int], list[int]]],
        seed: int,
        until: float,
        tuning: Tuning,
    ) -> None:
        self.args = (data, parts, seed, until, tuning)

    def __call__(self, report: Report) -> list[list[RouteKey] | None]:
        data, parts, seed, until, tuning = self.args
        out: list[list[RouteKey] | None] = []
        sizes = [len(c) + 2 * len(s) for c, s, _n in parts]
        for k, (clients, shipments, counts) in enumerate(parts):
            now = time.monotonic()
            share = (until - now) * sizes[k] / max(1, sum(sizes[k:]))
            sub, types = _restrict(data, clients, shipments, counts)
            answer = search(sub, seed + k, now + share, tuning=tuning)
            ok = answer.feasible
            out.append(_lift(answer.routes, clients, shipments, types) if ok else None)
            report(out + [None] * (len(parts) - len(out)))
        return out


def cluster_start(
    data: pyvrp.ProblemData,
    seed: int,
    until: float,
    params: SearchParams,
    workers: int,
    tuning: Tuning,
) -> Found | None:
    """A first complete solution from clusters solved side by side, or None if a cluster fails."""
    rng = random.Random(seed)  # noqa: S311 - a search heuristic, not security
    parts = clusters(data, params.group_size, rng, least=max(2, workers))
    sizes = [len(c) + 2 * len(s) for c, s in parts]
    shares = _fleet_shares(data, sizes)
    if any(sum(share) == 0 for share in shares):
        return None  # too few vehicles to deal out: start from a global search
    lanes = _lanes(sizes, workers)
    calls = [
        _ClusterLane(data, [(*parts[k], shares[k]) for k in lane], seed + 31 * i, until, tuning)
        for i, lane in enumerate(lanes)
    ]
    routes: list[RouteKey] = []
    for members, answer in zip(lanes, _parallel.run(calls, until), strict=True):
        if answer is None or len(answer) != len(members) or any(a is None for a in answer):
            return None
        for a in answer:
            assert a is not None
            routes.extend(a)
    solution = solution_of(data, routes)
    result = found(data, solution, 0, False)
    return result if result.feasible else None
