"""Cheapest feasible insertion of one job into existing routes, and greedy insertion of many.

`best_insertions` answers "where would this new task go, and which drivers suit it best": every
position of the job (a single visit, or a pickup and a later delivery on the same route) in every
vehicle's current route, ranked by the plan's objective, the best `k` returned with the distance
and duration they add. `insert_all` repairs a plan (or builds one from nothing) by inserting jobs
one at a time, always the cheapest insertion left, higher priorities first.

How it stays fast (pure Python, no engine):

* Each route is timed once (`_Route`): per gap between two steps, the earliest time the vehicle
  can be there and its load; per job step, the latest arrival that keeps every later step inside
  a window and the return inside the shift (the backward "latest start", exact with several
  windows per stop: the first-open-window rule of `schedule.evaluate` is monotone in time).
* A position is then feasible in O(1): arrive from the gap's earliest time, serve, take the
  breaks that follow at the new place, drive on, and arrive no later than the next step's latest
  arrival. Capacity is a per-gap room test (pairs: every gap between pickup and delivery).
* Positions are visited cheapest-bound first; a pickup gap whose lower bound cannot beat the
  `k`-th best candidate found is skipped, and a delivery scan stops as soon as the pushed time or
  the load makes every later delivery impossible.
* The checker is the judge: every candidate returned has been confirmed with
  `checker.check_route` (its exact added distance and duration come from that schedule); one it
  rejects is discarded and the search runs again without it.

Breaks keep their places in a route that has jobs (the job goes before or after them). A vehicle
with no job yet gets a fresh route: the job alone with its breaks placed where they fit best
(`reasons.alone`); it adds the whole route's distance and duration, plus its fixed cost.

Ranking key per objective, lower first (the second element breaks ties, then vehicle order):

| objective | key |
|---|---|
| distance | (added distance + fixed cost of a vehicle not used yet, added travel time) |
| duration | (added duration + fixed cost, added distance) |
| vehicles | (1 for a vehicle not used yet else 0, added distance + fixed cost) |
| balanced | (the route's stop count after insertion, added distance) |
| lateness | (service start of the job's last visit, added distance) |

Positions are searched on an estimate for `duration` (added travel time; waiting is only known
after timing the whole route), so more candidates than `k` are confirmed and re-ranked on the
exact added duration.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from lastmile.routing.solver.checker import check_route
from lastmile.routing.solver.model import (
    HORIZON,
    Job,
    Objective,
    Plan,
    Problem,
    Reason,
    Schedule,
    Step,
    StepKind,
    Vehicle,
    Window,
)
from lastmile.routing.solver.reasons import Alone, alone, diagnose_job, job_steps, signature
from lastmile.routing.solver.schedule import evaluate

__all__ = ["Insertion", "InsertionResult", "best_insertions", "insert_all"]

NEG = -(1 << 62)
"""Minus infinity for latest-arrival times (no arrival keeps the route feasible)."""
_NEG_HALF = NEG // 2
_FAR = HORIZON * 4
Key = tuple[int, int]


@dataclass(frozen=True, slots=True)
class Insertion:
    """One feasible way to add the job: where, what it adds, and the vehicle's new route.

    Indices are positions in the *new* route (`steps`): `pickup_index` is None for a single
    delivery, `delivery_index` None for a single pickup; for a pair pickup comes first.
    """

    vehicle_id: str
    pickup_index: int | None
    delivery_index: int | None
    added_distance: int
    added_duration: int
    steps: tuple[Step, ...]
    cost: Key  # the objective's ranking key (module docstring), lower is better


@dataclass(frozen=True, slots=True)
class InsertionResult:
    """The best insertions of one job, best first, or the reason there is none.

    `rejected` counts positions the O(1) tests accepted but the checker refused (they were
    discarded and the search ran again): always 0 unless those tests have a bug, so log it.
    """

    job_id: str
    candidates: tuple[Insertion, ...]
    reason: Reason | None = None
    rejected: int = 0

    @property
    def best(self) -> Insertion | None:
        return self.candidates[0] if self.candidates else None


# Timing helpers mirroring schedule.evaluate (first window still open at the arrival).


def _begin(windows: Sequence[Window], t: int) -> int | None:
    """When service starts after arriving at `t`; None when every window has closed."""
    if not windows:
        return t
    for w in windows:
        if w.end >= t:
            return w.start if w.start > t else t
    return None


def _latest(windows: Sequence[Window], bound: int) -> int:
    """The latest arrival whose service starts no later than `bound` (NEG when none does)."""
    if bound < _NEG_HALF:
        return NEG
    if not windows:
        return bound
    if len(windows) == 1:
        w = windows[0]
        if w.start > bound:
            return NEG
        return w.end if w.end < bound else bound
    best = NEG
    for w in windows:
        if w.start <= bound:
            t = w.end if w.end < bound else bound
            if t > best:
                start = _begin(windows, t)
                if start is not None and start <= bound:
                    best = t
    return best


def _last_end(windows: Sequence[Window]) -> int:
    return max((w.end for w in windows), default=_FAR)


class _Route:
    """A vehicle's current route timed once, for O(1) insertion tests at each gap.

    Gap g sits before step g (gap n after the last step). `dep[g]` is the earliest time the
    vehicle is free at gap g, `prev[g]` where it is then (the last job's place, or the start),
    `nxt[g]`/`nextjob[g]` the place and index of the next job step (n: the route's end), `room`
    per dimension the capacity left at gap g. `latest[k]` is the latest arrival at job step k
    (or at the end, k = n) that keeps the rest of the route feasible.
    """

    __slots__ = (
        "dep",
        "dist",
        "dur",
        "is_break",
        "latest",
        "loc",
        "n",
        "nextjob",
        "nxt",
        "ok",
        "order",
        "prev",
        "room",
        "service",
        "steps",
        "stops",
        "vehicle",
        "windows",
    )

    def __init__(self, problem: Problem, order: int, vehicle: Vehicle, steps: Sequence[Step]):
        self.order = order
        self.vehicle = vehicle
        self.steps = list(steps)
        n = self.n = len(self.steps)
        matrix = problem.matrices[vehicle.profile]
        dur = self.dur = matrix.durations
        self.dist = matrix.distances
        rests = {r.id: r for r in vehicle.breaks}
        jobs = problem.job_by_id
        dims = problem.dimensions
        is_break: list[bool] = []
        loc: list[int] = []
        service: list[int] = []
        windows: list[Sequence[Window]] = []
        changes: list[Sequence[int] | None] = []  # load change per step (None: none)
        on_board = [0] * dims  # single deliveries ride from the start
        ok = True
        pickup_kind, break_kind = StepKind.PICKUP, StepKind.BREAK
        for step in self.steps:
            if step.kind is break_kind:
                rest = rests.get(step.ref)
                is_break.append(True)
                loc.append(-1)
                changes.append(None)
                if rest is None:
                    ok = False
                    service.append(0)
                    windows.append(())
                else:
                    service.append(rest.service)
                    windows.append(rest.windows)
                continue
            job = jobs.get(step.ref)
            is_break.append(False)
            if job is None:
                ok = False
                loc.append(vehicle.start if vehicle.start is not None else 0)
                service.append(0)
                windows.append(())
                changes.append(None)
                continue
            pickup, delivery = job.pickup, job.delivery
            if pickup is not None and delivery is not None:
                visit = pickup if step.kind is pickup_kind else delivery
                gain = step.kind is pickup_kind
            else:
                single = delivery if delivery is not None else pickup
                assert single is not None, f"job {job.id} has no visit"
                visit = single
                gain = delivery is None
                if not gain:
                    for d, qty in enumerate(job.amount):
                        on_board[d] += qty
            loc.append(visit.location)
            service.append(visit.service)
            windows.append(visit.windows)
            amount = job.amount
            changes.append(amount if gain else tuple(-q for q in amount))
        self.is_break, self.loc, self.service, self.windows = is_break, loc, service, windows
        self.stops = n - sum(is_break)

        # Forward: earliest times (leaving at the shift start, as evaluate's first pass).
        t = vehicle.shift.start
        here = vehicle.start
        dep = [t]
        prev: list[int | None] = [here]
        for s in range(n):
            ws = windows[s]
            if not is_break[s]:
                if here is not None:
                    t += dur[here][loc[s]]
                here = loc[s]
            if ws:
                start = _begin(ws, t)
                if start is None:
                    ok = False
                else:
                    t = start
            t += service[s]
            dep.append(t)
            prev.append(here)
        end = vehicle.end
        if here is not None and end is not None:
            t += dur[here][end]
        ok = ok and t <= vehicle.shift.end
        self.dep, self.prev = dep, prev

        # Next job step (or the end) from each gap.
        nextjob = [n] * (n + 1)
        nxt: list[int | None] = [end] * (n + 1)
        for s in range(n - 1, -1, -1):
            if is_break[s]:
                nextjob[s], nxt[s] = nextjob[s + 1], nxt[s + 1]
            else:
                nextjob[s], nxt[s] = s, loc[s]
        self.nextjob, self.nxt = nextjob, nxt

        # Backward: latest arrivals at job steps.
        latest = [NEG] * (n + 1)
        latest[n] = vehicle.shift.end
        for s in range(n - 1, -1, -1):
            if is_break[s]:
                continue
            k = nextjob[s + 1]
            place = nxt[s + 1]
            bound = latest[k] - (0 if place is None else dur[loc[s]][place])
            for r in range(k - 1, s, -1):
                bound = _latest(windows[r], bound - service[r])
            latest[s] = _latest(windows[s], bound - service[s])
        self.latest = latest

        # Room left per dimension at each gap.
        cap = vehicle.capacity
        room = []
        for d in range(dims):
            left = (cap[d] if d < len(cap) else 0) - on_board[d]
            row = [left]
            for change in changes:
                if change is not None and d < len(change):
                    left -= change[d]
                row.append(left)
            ok = ok and min(row) >= 0 and max(row) <= (cap[d] if d < len(cap) else 0)
            room.append(row)
        self.room = room
        self.ok = ok

    def capok(self, amount: Sequence[int]) -> list[bool]:
        """Per gap: whether the job's amount fits on top of the load there."""
        fits = [True] * (self.n + 1)
        for d, qty in enumerate(amount):
            if qty > 0:
                row = self.room[d]
                fits = [f and r >= qty for f, r in zip(fits, row, strict=True)]
        return fits


@dataclass(frozen=True, slots=True)
class _Cand:
    """A position found feasible by the O(1) tests, before the checker confirms it."""

    key: Key
    order: tuple[int, int, int]  # vehicle order, pickup gap, delivery gap (-1 for singles)
    route: _Route | None  # None for a fresh route, described by `fresh`
    fresh: Alone | None = None


class _Search:
    """One job's insertion search over a set of routes, keeping the best `pool` candidates
    (with `per_vehicle`, the best candidate of each of the best `pool` vehicles)."""

    def __init__(self, problem: Problem, job: Job, pool: int, per_vehicle: bool = False):
        self.problem = problem
        self.job = job
        self.objective = problem.objective
        self.pool = pool
        self.heap: list[tuple[int, int, int, int, int, int, _Cand]] = []  # max-heap: (key, order)
        self.count = 0
        self.per_vehicle = per_vehicle
        self.by_vehicle: dict[int, _Cand] = {}
        self._worst: tuple[Key, tuple[int, int, int]] | None = None
        first = job.pickup if job.pickup is not None else job.delivery
        assert first is not None, f"job {job.id} has no visit"
        second = job.delivery if job.is_pair else None
        self.first = first
        self.second = second
        self.single_pickup = not job.is_pair and job.delivery is None
        self.stops = 2 if job.is_pair else 1

    # The pool of best candidates.

    def worst(self) -> tuple[Key, tuple[int, int, int]] | None:
        """The (key, order) a candidate must beat to enter the full pool (None: not full)."""
        if self.per_vehicle:
            if len(self.by_vehicle) < self.pool:
                return None
            if self._worst is None:
                self._worst = max((c.key, c.order) for c in self.by_vehicle.values())
            return self._worst
        if len(self.heap) < self.pool:
            return None
        top = self.heap[0]
        return (-top[0], -top[1]), (-top[2], -top[3], -top[4])

    def offer(self, cand: _Cand) -> None:
        if self.per_vehicle:
            self._offer_per_vehicle(cand)
            return
        self.count += 1
        key, order = cand.key, cand.order
        entry = (-key[0], -key[1], -order[0], -order[1], -order[2], self.count, cand)
        if len(self.heap) < self.pool:
            heapq.heappush(self.heap, entry)
        elif entry[:5] > self.heap[0][:5]:
            heapq.heapreplace(self.heap, entry)

    def _offer_per_vehicle(self, cand: _Cand) -> None:
        vehicle, rank = cand.order[0], (cand.key, cand.order)
        held = self.by_vehicle.get(vehicle)
        if held is not None:
            if rank < (held.key, held.order):
                self.by_vehicle[vehicle] = cand
                self._worst = None
            return
        worst = self.worst()
        if worst is not None:
            if rank >= worst:
                return
            del self.by_vehicle[worst[1][0]]
        self.by_vehicle[vehicle] = cand
        self._worst = None

    def beaten(self, key: Key, order: tuple[int, int, int]) -> bool:
        worst = self.worst()
        return worst is not None and (key, order) >= worst

    def results(self) -> list[_Cand]:
        found = self.by_vehicle.values() if self.per_vehicle else (e[6] for e in self.heap)
        return sorted(found, key=lambda c: (c.key, c.order))

    # Which vehicles may take the job at all.

    def eligible(self, vehicle: Vehicle) -> bool:
        """Skills, manual assignment and capacity: what rules a vehicle out before timing."""
        job = self.job
        if not job.skills <= vehicle.skills:
            return False
        if job.vehicles is not None and vehicle.id not in job.vehicles:
            return False
        cap = vehicle.capacity
        return all(qty <= (cap[d] if d < len(cap) else 0) for d, qty in enumerate(job.amount))

    def room_for_stops(self, vehicle: Vehicle, stops: int) -> bool:
        return vehicle.max_stops is None or stops + self.stops <= vehicle.max_stops

    def key(self, route: _Route, dd: int, dt: int, begin: int) -> Key:
        objective = self.objective
        if objective is Objective.DISTANCE:
            return dd, dt
        if objective is Objective.DURATION:
            return dt, dd
        if objective is Objective.VEHICLES:
            return 0, dd
        if objective is Objective.BALANCED:
            return route.stops + self.stops, dd
        return begin, dd

    def fresh_key(self, vehicle: Vehicle, schedule: Schedule) -> Key:
        objective = self.objective
        fixed = vehicle.fixed_cost
        if objective is Objective.DISTANCE:
            return schedule.distance + fixed, schedule.travel
        if objective is Objective.DURATION:
            return schedule.duration + fixed, schedule.distance
        if objective is Objective.VEHICLES:
            return 1, schedule.distance + fixed
        if objective is Objective.BALANCED:
            return self.stops, schedule.distance
        last = [t for t in schedule.steps if t.ref == self.job.id][-1]
        return last.start, schedule.distance

    # Fresh routes.

    def fresh(self, order: int, vehicle: Vehicle, result: Alone) -> None:
        if result.schedule is None:
            return
        self.offer(_Cand(self.fresh_key(vehicle, result.schedule), (order, 0, 0), None, result))

    # Single visits.

    def singles(self, routes: Sequence[_Route], excluded: set[tuple[int, int, int]]) -> None:
        visit = self.first
        x, xs, xw = visit.location, visit.service, visit.windows
        lateness = self.objective is Objective.LATENESS
        found: list[tuple[Key, tuple[int, int, int], _Route, int]] = []
        for route in routes:
            fits = route.capok(self.job.amount)
            if self.single_pickup:
                bad = [g for g, f in enumerate(fits) if not f]
                lo, hi = (bad[-1] + 1 if bad else 0), route.n
            else:
                lo = 0
                hi = fits.index(False) - 1 if False in fits else route.n
            dist, dur, prev, nxt = route.dist, route.dur, route.prev, route.nxt
            last_end = _last_end(xw)
            for g in range(lo, hi + 1):
                if route.dep[g] > last_end:
                    break
                a, z = prev[g], nxt[g]
                if a is None:
                    dd = 0 if z is None else dist[x][z]
                    dt = 0 if z is None else dur[x][z]
                elif z is None:
                    dd, dt = dist[a][x], dur[a][x]
                else:
                    dd = dist[a][x] + dist[x][z] - dist[a][z]
                    dt = dur[a][x] + dur[x][z] - dur[a][z]
                begin = 0
                if lateness:
                    start = self._fits_single(route, g, x, xs, xw)
                    if start is None:
                        continue
                    begin = start
                order = (route.order, g, -1)
                found.append((self.key(route, dd, dt, begin), order, route, g))
        found.sort(key=lambda f: (f[0], f[1]))
        for key, order, route, g in found:
            if self.beaten(key, order):
                break
            if order in excluded:
                continue
            if lateness or self._fits_single(route, g, x, xs, xw) is not None:
                self.offer(_Cand(key, order, route))

    @staticmethod
    def _fits_single(route: _Route, g: int, x: int, xs: int, xw: Sequence[Window]) -> int | None:
        """Service start at the new visit in gap g, or None when the route breaks."""
        a = route.prev[g]
        dur = route.dur
        t = route.dep[g] + (0 if a is None else dur[a][x])
        begin = _begin(xw, t)
        if begin is None:
            return None
        t = begin + xs
        k = route.nextjob[g]
        for r in range(g, k):
            start = _begin(route.windows[r], t)
            if start is None:
                return None
            t = start + route.service[r]
        z = route.nxt[g]
        if z is not None:
            t += dur[x][z]
        return begin if t <= route.latest[k] else None

    # Pairs.

    def pairs(self, routes: Sequence[_Route], excluded: set[tuple[int, int, int]]) -> None:
        assert self.second is not None
        pv, qv = self.first, self.second
        P, Q = pv.location, qv.location
        p_end = _last_end(pv.windows)
        objective = self.objective
        groups: list[tuple[Key, int, int, _Route, list[int], list[int], list[int], list[int]]] = []
        fitmap: dict[int, list[bool]] = {}
        for route in routes:
            fits = route.capok(self.job.amount)
            fitmap[route.order] = fits
            dist, dur, prev, nxt = route.dist, route.dur, route.prev, route.nxt
            n = route.n
            dp, tp, dq, tq = [0] * (n + 1), [0] * (n + 1), [0] * (n + 1), [0] * (n + 1)
            _detours(dist, prev, nxt, P, dp)
            _detours(dur, prev, nxt, P, tp)
            _detours(dist, prev, nxt, Q, dq)
            _detours(dur, prev, nxt, Q, tq)
            best_d = [0] * (n + 2)
            best_t = [0] * (n + 2)
            best_d[n + 1] = best_t[n + 1] = _FAR
            for g in range(n, -1, -1):
                best_d[g] = min(best_d[g + 1], dq[g])
                best_t[g] = min(best_t[g + 1], tq[g])
            for i in range(n + 1):
                if not fits[i]:
                    continue
                if route.dep[i] > p_end:
                    break
                a, z = prev[i], nxt[i]
                adj_d = _chain(dist, a, P, Q, z)
                adj_t = _chain(dur, a, P, Q, z)
                lb_d = min(adj_d, dp[i] + best_d[i + 1])
                lb_t = min(adj_t, tp[i] + best_t[i + 1])
                if objective is Objective.DISTANCE:
                    bound: Key = (lb_d, NEG)
                elif objective is Objective.DURATION:
                    bound = (lb_t, NEG)
                elif objective is Objective.VEHICLES:
                    bound = (0, lb_d)
                elif objective is Objective.BALANCED:
                    bound = (route.stops + 2, lb_d)
                else:
                    bound = (NEG, NEG)
                groups.append((bound, route.order, i, route, dp, tp, dq, tq))
        groups.sort(key=lambda gr: (gr[0], gr[1], gr[2]))
        for bound, _, i, route, dp, tp, dq, tq in groups:
            worst = self.worst()
            if worst is not None and bound > worst[0]:
                break
            self._scan(route, i, fitmap[route.order], dp, tp, dq, tq, excluded)

    def _scan(
        self,
        route: _Route,
        i: int,
        fits: list[bool],
        dp: list[int],
        tp: list[int],
        dq: list[int],
        tq: list[int],
        excluded: set[tuple[int, int, int]],
    ) -> None:
        """Every delivery gap j >= i for a pickup in gap i, while the route can still take it."""
        assert self.second is not None
        pv, qv = self.first, self.second
        P, Q = pv.location, qv.location
        qs, qw = qv.service, qv.windows
        q_end = _last_end(qw)
        dist, dur = route.dist, route.dur
        prev, nxt, nextjob, latest = route.prev, route.nxt, route.nextjob, route.latest
        windows, service, is_break, loc = route.windows, route.service, route.is_break, route.loc
        n = route.n
        a = prev[i]
        t = route.dep[i] + (0 if a is None else dur[a][P])
        begin = _begin(pv.windows, t)
        if begin is None:
            return
        t = begin + pv.service
        cur = P
        lateness = self.objective is Objective.LATENESS
        order0 = route.order
        adjacent_until = nextjob[i]  # gaps i..nextjob[i] have no job step between them and i
        j = i
        while True:
            z = nxt[j]
            if j <= adjacent_until:
                dd = _chain(dist, a, P, Q, z)
                dt = _chain(dur, a, P, Q, z)
            else:
                dd = dp[i] + dq[j]
                dt = tp[i] + tq[j]
            order = (order0, i, j)
            key = self.key(route, dd, dt, 0)
            if lateness or not self.beaten(key, order):
                start = _begin(qw, t + dur[cur][Q])
                if start is not None:
                    tt = start + qs
                    k = nextjob[j]
                    for r in range(j, k):  # the breaks that follow, taken at the delivery
                        rest = _begin(windows[r], tt)
                        if rest is None:
                            tt = _FAR
                            break
                        tt = rest + service[r]
                    if z is not None:
                        tt += dur[Q][z]
                    if tt <= latest[k] and order not in excluded:
                        if lateness:
                            key = self.key(route, dd, dt, start)
                        self.offer(_Cand(key, order, route))
            if j == n or t > q_end or not fits[j + 1]:
                return
            if is_break[j]:
                start = _begin(windows[j], t)
            else:
                start = _begin(windows[j], t + dur[cur][loc[j]])
                cur = loc[j]
            if start is None:
                return
            t = start + service[j]
            j += 1


def _detours(
    matrix: Sequence[Sequence[int]],
    prev: Sequence[int | None],
    nxt: Sequence[int | None],
    x: int,
    out: list[int],
) -> None:
    """Added cost of visiting x in each gap (no leg from or to an open end)."""
    from_x = matrix[x]
    for g, (a, z) in enumerate(zip(prev, nxt, strict=True)):
        if a is None:
            out[g] = 0 if z is None else from_x[z]
        elif z is None:
            out[g] = matrix[a][x]
        else:
            row = matrix[a]
            out[g] = row[x] + from_x[z] - row[z]


def _chain(matrix: Sequence[Sequence[int]], a: int | None, p: int, q: int, z: int | None) -> int:
    """Added cost of a -> p -> q -> z instead of a -> z (no leg from or to an open end)."""
    cost = matrix[p][q]
    if a is not None:
        cost += matrix[a][p]
    if z is not None:
        cost += matrix[q][z]
    if a is not None and z is not None:
        cost -= matrix[a][z]
    return cost


def _new_steps(
    steps: Sequence[Step], job: Job, order: tuple[int, int, int]
) -> tuple[list[Step], int | None, int | None]:
    """The route with the job inserted at the candidate's gaps, and the new step indices."""
    _, i, j = order
    new = list(steps)
    if job.is_pair:
        new.insert(j, Step(StepKind.DELIVERY, job.id))
        new.insert(i, Step(StepKind.PICKUP, job.id))
        return new, i, j + 1
    (step,) = job_steps(job)
    new.insert(i, step)
    if step.kind is StepKind.PICKUP:
        return new, i, None
    return new, None, i


def _indices(steps: Sequence[Step], job_id: str) -> tuple[int | None, int | None]:
    pickup = delivery = None
    for index, step in enumerate(steps):
        if step.ref == job_id and step.kind is StepKind.PICKUP:
            pickup = index
        elif step.ref == job_id and step.kind is StepKind.DELIVERY:
            delivery = index
    return pickup, delivery


class _Planner:
    """Routes of a plan being extended, with each vehicle's timing kept until its route changes."""

    def __init__(self, problem: Problem, routes: Mapping[str, Sequence[Step]]):
        self.problem = problem
        self.routes = {vid: list(steps) for vid, steps in routes.items()}
        self.order = {v.id: index for index, v in enumerate(problem.vehicles)}
        self._timed: dict[str, _Route] = {}
        self._base: dict[str, Schedule] = {}
        self._alone: dict[tuple[tuple[object, ...], str], Alone] = {}
        self.rejected = 0  # candidates the checker refused (a bug in the O(1) tests)

    def has_jobs(self, vehicle_id: str) -> bool:
        return any(s.kind is not StepKind.BREAK for s in self.routes.get(vehicle_id, ()))

    def timed(self, vehicle: Vehicle) -> _Route:
        route = self._timed.get(vehicle.id)
        if route is None:
            steps = self.routes.get(vehicle.id, ())
            route = _Route(self.problem, self.order[vehicle.id], vehicle, steps)
            self._timed[vehicle.id] = route
        return route

    def base(self, vehicle: Vehicle) -> Schedule:
        """The vehicle's current route timed (what an insertion's added figures start from)."""
        schedule = self._base.get(vehicle.id)
        if schedule is None:
            schedule = evaluate(self.problem, vehicle, self.routes.get(vehicle.id, ()))
            self._base[vehicle.id] = schedule
        return schedule

    def alone(self, vehicle: Vehicle, job: Job) -> Alone:
        """The job alone on the vehicle (shared by vehicles alike but for their id)."""
        key = (signature(vehicle), job.id)
        result = self._alone.get(key)
        if result is None:
            result = alone(self.problem, vehicle, job)
            self._alone[key] = result
        return result

    def set_route(self, vehicle_id: str, steps: Sequence[Step]) -> None:
        self.routes[vehicle_id] = list(steps)
        self._timed.pop(vehicle_id, None)
        self._base.pop(vehicle_id, None)

    def candidates(
        self,
        job: Job,
        vehicles: Sequence[Vehicle],
        pool: int,
        excluded: set[tuple[int, int, int]],
        skipped: set[str],
        per_vehicle: bool = False,
    ) -> list[_Cand]:
        """The best `pool` insertions by the O(1) tests, not yet confirmed by the checker."""
        search = _Search(self.problem, job, pool, per_vehicle)
        routes = []
        for vehicle in vehicles:
            if vehicle.id in skipped or not search.eligible(vehicle):
                continue
            if not self.has_jobs(vehicle.id):
                order = self.order[vehicle.id]
                if search.room_for_stops(vehicle, 0) and (order, 0, 0) not in excluded:
                    search.fresh(order, vehicle, self.alone(vehicle, job))
                continue
            route = self.timed(vehicle)
            if route.ok and search.room_for_stops(vehicle, route.stops):
                routes.append(route)
        if job.is_pair:
            search.pairs(routes, excluded)
        else:
            search.singles(routes, excluded)
        return search.results()

    def search(
        self, job: Job, vehicles: Sequence[Vehicle], k: int, per_vehicle: bool = False
    ) -> list[Insertion]:
        """The best `k` insertions of the job on these vehicles, each confirmed by the checker
        (with `per_vehicle`, each vehicle's best, for the best `k` vehicles)."""
        duration = self.problem.objective is Objective.DURATION
        pool = 2 * k + 4 if duration else k + 2
        excluded: set[tuple[int, int, int]] = set()
        skipped: set[str] = set()
        while True:
            found = self.candidates(job, vehicles, pool, excluded, skipped, per_vehicle)
            confirmed, rejected = self.confirm(job, found, len(found) if duration else k)
            if not rejected or len(confirmed) >= k:
                break
            self.reject(rejected, excluded, skipped)
        if duration:
            confirmed = [
                replace(c, cost=(c.added_duration + self._fresh_fixed(c), c.added_distance))
                for c in confirmed
            ]
            confirmed.sort(key=lambda c: (c.cost, self.order[c.vehicle_id]))
        return confirmed[:k]

    def reject(
        self, rejected: list[_Cand], excluded: set[tuple[int, int, int]], skipped: set[str]
    ) -> None:
        """The checker disagreed: leave out the position, or the vehicle if its route is bad."""
        self.rejected += len(rejected)
        for cand in rejected:
            if cand.route is not None:
                vehicle_id = cand.route.vehicle.id
                if not check_route(self.problem, vehicle_id, cand.route.steps).feasible:
                    skipped.add(vehicle_id)
            excluded.add(cand.order)

    def _fresh_fixed(self, insertion: Insertion) -> int:
        if self.has_jobs(insertion.vehicle_id):
            return 0
        return self.problem.vehicle_by_id[insertion.vehicle_id].fixed_cost

    def confirm(
        self, job: Job, cands: list[_Cand], limit: int
    ) -> tuple[list[Insertion], list[_Cand]]:
        """Candidates in order, timed and judged by the checker, until `limit` pass."""
        confirmed: list[Insertion] = []
        rejected: list[_Cand] = []
        vehicles = self.problem.vehicles
        for cand in cands:
            if len(confirmed) >= limit:
                break
            vehicle = vehicles[cand.order[0]]
            if cand.route is None:
                assert cand.fresh is not None
                assert cand.fresh.steps is not None and cand.fresh.schedule is not None
                steps, schedule = list(cand.fresh.steps), cand.fresh.schedule
                pickup, delivery = _indices(steps, job.id)
                added_distance, added_duration = schedule.distance, schedule.duration
            else:
                steps, pickup, delivery = _new_steps(cand.route.steps, job, cand.order)
                schedule = check_route(self.problem, vehicle.id, steps)
                if not schedule.feasible:
                    rejected.append(cand)
                    continue
                base = self.base(vehicle)
                added_distance = schedule.distance - base.distance
                added_duration = schedule.duration - base.duration
            confirmed.append(
                Insertion(
                    vehicle.id,
                    pickup,
                    delivery,
                    added_distance,
                    added_duration,
                    tuple(steps),
                    cand.key,
                )
            )
        return confirmed, rejected


def _with_job(problem: Problem, job: Job) -> Problem:
    known = problem.job_by_id.get(job.id)
    if known is None:
        return replace(problem, jobs=[*problem.jobs, job])
    if known != job:
        raise ValueError(f"job {job.id} differs from the problem's job of that id")
    return problem


def best_insertions(
    problem: Problem, plan: Plan, job: Job, k: int = 1, *, per_vehicle: bool = False
) -> InsertionResult:
    """The `k` cheapest feasible insertions of `job` into the plan's routes, best first.

    With `per_vehicle` ("best drivers for this task"), only each vehicle's cheapest position
    counts: the answer is the best `k` vehicles, one candidate each.

    The job may be new (not in `problem.jobs`) or one of its jobs, but not already on a route.
    Vehicles without a route in the plan start a fresh one. With no feasible insertion the
    result has no candidates and the job's reason code (`reasons.diagnose_job`).
    """
    if k < 1:
        raise ValueError("k must be at least 1")
    for vehicle_id, steps in plan.routes.items():
        if any(s.ref == job.id and s.kind is not StepKind.BREAK for s in steps):
            raise ValueError(f"job {job.id} is already on the route of {vehicle_id}")
    problem = _with_job(problem, job)
    planner = _Planner(problem, _known_routes(problem, plan))
    found = planner.search(job, problem.vehicles, k, per_vehicle)
    if found:
        return InsertionResult(job.id, tuple(found), None, planner.rejected)
    return InsertionResult(job.id, (), diagnose_job(problem, job), planner.rejected)


def _known_routes(problem: Problem, plan: Plan) -> dict[str, Sequence[Step]]:
    return {vid: steps for vid, steps in plan.routes.items() if vid in problem.vehicle_by_id}


def insert_all(problem: Problem, plan: Plan, jobs: Iterable[str | Job] | None = None) -> Plan:
    """Insert jobs (default: the plan's unassigned ones) greedily, cheapest insertion first.

    Each round inserts, among the jobs of the highest priority that can still go somewhere, the
    one whose best insertion is cheapest (objective key, module docstring; ties to the first
    vehicle), confirmed by the checker; then only the vehicle that changed is timed again and
    searched again. Jobs that fit nowhere end up (or stay) unassigned. Every job must belong to
    the problem; jobs already on a route stay where they are.
    """
    wanted = [
        j if isinstance(j, str) else j.id for j in (plan.unassigned if jobs is None else jobs)
    ]
    routed = {
        s.ref for steps in plan.routes.values() for s in steps if s.kind is not StepKind.BREAK
    }
    todo = [problem.job_by_id[job_id] for job_id in dict.fromkeys(wanted) if job_id not in routed]
    planner = _Planner(problem, _known_routes(problem, plan))
    vehicles = problem.vehicles
    excluded: dict[str, set[tuple[int, int, int]]] = {job.id: set() for job in todo}
    skipped: set[str] = set()

    def best_on(job: Job, vehicle: Vehicle) -> _Cand | None:
        found = planner.candidates(job, [vehicle], 1, excluded[job.id], skipped)
        return found[0] if found else None

    def rank(job: Job, cand: _Cand) -> tuple[int, Key, tuple[int, int, int]]:
        return (-job.priority, cand.key, cand.order)

    def best_of(job: Job) -> _Cand | None:
        found = [c for c in options[job.id].values() if c is not None]
        return min(found, key=lambda c: rank(job, c)) if found else None

    options = {job.id: {v.id: best_on(job, v) for v in vehicles} for job in todo}
    best = {job.id: best_of(job) for job in todo}
    remaining = {job.id: job for job in todo}
    inserted: set[str] = set()
    while remaining:
        ranked = [(rank(job, c), job, c) for job in remaining.values() if (c := best[job.id])]
        if not ranked:
            break
        _, job, cand = min(ranked, key=lambda r: r[0])
        vehicle = vehicles[cand.order[0]]
        confirmed, rejected = planner.confirm(job, [cand], 1)
        if rejected:
            planner.reject(rejected, excluded[job.id], skipped)
            fresh = best_on(job, vehicle) if vehicle.id not in skipped else None
            options[job.id][vehicle.id] = fresh
            best[job.id] = best_of(job)
            continue
        planner.set_route(vehicle.id, confirmed[0].steps)
        inserted.add(job.id)
        del remaining[job.id]
        for other in remaining.values():
            was = best[other.id]
            now = options[other.id][vehicle.id] = best_on(other, vehicle)
            if was is not None and was.order[0] == cand.order[0]:
                best[other.id] = best_of(other)  # its best was on this vehicle: look again
            elif now is not None and (was is None or rank(other, now) < rank(other, was)):
                best[other.id] = now
    unassigned = [job_id for job_id in plan.unassigned if job_id not in inserted]
    unassigned += [job_id for job_id in remaining if job_id not in unassigned]
    routes = {vid: tuple(steps) for vid, steps in planner.routes.items()}
    return Plan(routes, unassigned, plan.engine)
