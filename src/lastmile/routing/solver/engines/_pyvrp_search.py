"""PyVRP's iterated local search under a wall-clock deadline.

`search` runs PyVRP's ILS until a monotonic deadline (the stop is checked every iteration, so the
overshoot is one iteration plus, at worst, one exhaustive pass on a new best), or earlier when it
has not improved for `patience` iterations. Run in a forked process, it reports its best feasible
solution along the way (`_Reporter`), so the parent can stop it at the deadline and keep that.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyvrp
from pyvrp.IteratedLocalSearch import (
    IteratedLocalSearch,
    IteratedLocalSearchCallbacks,
    IteratedLocalSearchParams,
)
from pyvrp.PenaltyManager import PenaltyParams
from pyvrp.search import NeighbourhoodParams
from pyvrp.solve import SolveParams

from lastmile.routing.solver.engines._parallel import Report
from lastmile.routing.solver.engines._pyvrp_model import RouteKey, routes_of, solution_of

INFEASIBLE = np.iinfo(np.int64).max
log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Found:
    """One search's answer, in plain data."""

    routes: list[RouteKey]
    feasible: bool
    cost: int  # the objective without prizes (distance/duration cost and fixed costs)
    missing: int  # jobs (clients or shipments) left out
    iterations: int
    aborted: bool = False


@dataclass(frozen=True, slots=True)
class Tuning:
    """PyVRP settings every search of one solve shares."""

    neighbours: int = 25  # granular neighbourhood size (measured: 25 beats PyVRP's 50 here)
    max_penalty: float = 100_000.0  # see _pyvrp_model.max_penalty


def patience(stops: int) -> int:
    """Iterations without a better solution after which a search stops early (small problems
    converge long before their budget; at 100 stops this is ~2.5x what 2 s allows)."""
    return max(2000, 100 * stops)


STOP_EARLY = 0.02
"""Seconds before its deadline a search stops, to hand its answer over in time."""


class _Stop:
    def __init__(self, until: float, abort_at: float | None, patience: int) -> None:
        self.until = until - STOP_EARLY
        self.abort_at = abort_at
        self.aborted = False
        self.patience = patience
        self.best = INFEASIBLE + 1.0
        self.since = 0

    def __call__(self, best_cost: float) -> bool:
        now = time.monotonic()
        if now >= self.until:
            return True
        if best_cost < self.best:
            self.best = best_cost
            self.since = 0
        else:
            self.since += 1
            if self.since > self.patience and best_cost < INFEASIBLE:
                return True
        if self.abort_at is not None and now >= self.abort_at and best_cost >= INFEASIBLE:
            self.aborted = True
            return True
        return False


REPORT_EVERY = 0.2
"""Seconds between two reports of a search's best solution to the parent process."""


class _Reporter(IteratedLocalSearchCallbacks):
    """Sends the best feasible solution so far, at most every `REPORT_EVERY` seconds and once
    more near the deadline, so a search stopped at the deadline still has an answer."""

    def __init__(self, data: pyvrp.ProblemData, report: Report, until: float) -> None:
        self.data = data
        self.report = report
        self.until = until
        self.pending: pyvrp.Solution | None = None
        self.last = 0.0
        self.iterations = 0

    def on_start(self, ils: IteratedLocalSearch) -> None:
        if ils.initial_solution.is_feasible():
            self.pending = ils.initial_solution
            self._send(time.monotonic())

    def on_best(self, best: pyvrp.Solution) -> None:
        if best.is_feasible():
            self.pending = best

    def on_iteration(
        self,
        current: pyvrp.Solution,
        candidate: pyvrp.Solution,
        best: pyvrp.Solution,
        cost_evaluator: pyvrp.CostEvaluator,
    ) -> None:
        self.iterations += 1
        if self.pending is None:
            return
        now = time.monotonic()
        if now - self.last >= REPORT_EVERY or now >= self.until - 2 * REPORT_EVERY:
            self._send(now)

    def _send(self, now: float) -> None:
        assert self.pending is not None
        self.report(found(self.data, self.pending, self.iterations, False))
        self.pending = None
        self.last = now


def _params(
    data: pyvrp.ProblemData, neighbours: int, callbacks: _Reporter | None, max_penalty: float
) -> SolveParams:
    n = data.num_clients + 2 * data.num_shipments
    ils = (
        IteratedLocalSearchParams()
        if callbacks is None
        else IteratedLocalSearchParams(callbacks=callbacks)
    )
    return SolveParams(
        ils=ils,
        neighbourhood=NeighbourhoodParams(num_neighbours=max(1, min(neighbours, n - 1))),
        penalty=PenaltyParams(max_penalty=max_penalty),
        display_interval=3600.0,
    )


def found(
    data: pyvrp.ProblemData, solution: pyvrp.Solution, iterations: int, aborted: bool
) -> Found:
    cost = solution.distance_cost() + solution.duration_cost() + solution.fixed_vehicle_cost()
    return Found(
        routes_of(solution),
        solution.is_feasible(),
        cost,
        missing(data, solution),
        iterations,
        aborted,
    )


def missing(data: pyvrp.ProblemData, solution: pyvrp.Solution) -> int:
    """Jobs left out: clients outside groups, groups with no member visited, and shipments."""
    clients: set[int] = set()
    shipments: set[int] = set()
    for route in solution.routes():
        for a in route:
            if a.is_client():
                clients.add(a.idx)
            elif a.is_pickup():
                shipments.add(a.idx)
    grouped: set[int] = set()
    out = data.num_shipments - len(shipments)
    for g in range(data.num_groups):
        members = data.group(g).clients
        grouped.update(members)
        out += not any(c in clients for c in members)
    out += sum(1 for c in range(data.num_clients) if c not in grouped and c not in clients)
    return out


def search(
    data: pyvrp.ProblemData,
    seed: int,
    until: float,
    *,
    init: Sequence[RouteKey] | None = None,
    abort_at: float | None = None,
    tuning: Tuning = Tuning(),
    report: Report | None = None,
) -> Found:
    """PyVRP's ILS until `until`; with `abort_at`, give up then if nothing feasible was found.

    With `report`, the best feasible solution is also sent along the way (see `_Reporter`)."""
    stop = _Stop(until, abort_at, patience(data.num_clients + 2 * data.num_shipments))
    initial = solution_of(data, init) if init is not None else None
    reporter = None if report is None else _Reporter(data, report, until)
    result = pyvrp.solve(
        data,
        stop=stop,
        seed=seed,
        collect_stats=False,
        display=False,
        params=_params(data, tuning.neighbours, reporter, tuning.max_penalty),
        initial_solution=initial,
    )
    return found(data, result.best, result.num_iterations, stop.aborted)


def better(a: Found | None, b: Found | None) -> Found | None:
    """The better of two answers: feasible first, then fewer jobs left out, then cost."""
    if a is None:
        return b
    if b is None:
        return a
    ka = (not a.feasible, a.missing, a.cost)
    kb = (not b.feasible, b.missing, b.cost)
    return b if kb < ka else a


class SearchCall:
    """One `search` as a callable for `_parallel.run` (a forked process: nothing is pickled)."""

    def __init__(
        self,
        data: pyvrp.ProblemData,
        seed: int,
        until: float,
        tuning: Tuning,
        *,
        abort_at: float | None = None,
        init: Sequence[RouteKey] | None = None,
    ) -> None:
        self.data = data
        self.seed = seed
        self.until = until
        self.tuning = tuning
        self.abort_at = abort_at
        self.init = init

    def __call__(self, report: Report) -> Found:
        return search(
            self.data,
            self.seed,
            self.until,
            init=self.init,
            abort_at=self.abort_at,
            tuning=self.tuning,
            report=report,
        )
