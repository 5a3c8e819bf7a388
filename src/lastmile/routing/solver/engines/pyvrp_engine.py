"""PyVRP 0.14 (MIT): the best plans per CPU-second on time windows and pairs; no breaks.

How a solve spends its budget (all wall clock, model build included):
- every job required, one ILS per core with its own seed (seed, seed+1, ...); the best wins;
- a run that finds nothing feasible by a quarter of the budget gives up, and the rest of the
  budget goes to runs where jobs are optional (prizes by priority), so an overloaded day still
  gets a plan that leaves out the fewest, lowest-priority jobs;
- from `SearchParams.decompose_at` stops on (and a model without alternative windows), the first
  fifth of the budget builds a solution from clusters solved side by side, the rest improves it
  by rounds of route groups (`_pyvrp_decompose`).
Time limits make the answer depend on machine load; the seed fixes everything else. Processes
report their best solution as they go and are stopped at the deadline (`_parallel`).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from lastmile.routing.solver.engines import _parallel
from lastmile.routing.solver.engines._pyvrp_decompose import (
    SearchParams,
    cluster_start,
    decompose,
)
from lastmile.routing.solver.engines._pyvrp_model import PyvrpModel, build, to_steps, unsupported
from lastmile.routing.solver.engines._pyvrp_search import Found, SearchCall, Tuning, better
from lastmile.routing.solver.engines.base import (
    Deadline,
    UnsupportedProblem,
    costs_for,
    stop_count,
)
from lastmile.routing.solver.model import Plan, Problem

log = logging.getLogger(__name__)

NEIGHBOURS = {False: 25, True: 50}
"""Granular neighbourhood size without / with pickup-delivery pairs (measured, ADR 0002: 25 is
better than PyVRP's default 50 on time windows alone, clearly worse on pairs)."""

ABORT_SHARE = 0.25
"""Share of the budget after which a run with every job required gives up if nothing fits."""


def _reserve(stops: int) -> float:
    """Seconds kept back for returning the answer (mapping, joining processes)."""
    return 0.02 + stops * 3e-5


@dataclass
class PyvrpEngine:
    """The PyVRP engine (see the module docstring)."""

    name: str = "pyvrp"
    params: SearchParams = field(default_factory=SearchParams)
    neighbours: int | None = None  # default: `NEIGHBOURS` by kind of problem
    workers: int | None = None

    def supports(self, problem: Problem) -> str | None:
        return unsupported(problem)

    def solve(self, problem: Problem, budget_seconds: float, seed: int = 0) -> Plan:
        deadline = Deadline(budget_seconds)
        costs = costs_for(problem)
        reason = unsupported(problem, costs)
        if reason:
            raise UnsupportedProblem(f"pyvrp: {reason}")
        if not problem.jobs:
            return Plan(routes={}, unassigned=(), engine=self.name)
        if not problem.vehicles:
            return Plan(routes={}, unassigned=[j.id for j in problem.jobs], engine=self.name)
        stops = stop_count(problem)
        until = deadline.at - _reserve(stops)
        workers = self.workers or _parallel.workers()
        model = build(problem, required=True, costs=costs)
        best = self._run(model, seed, until, workers, stops, deadline, abort=True)
        if best is None or not best.feasible:
            log.info("pyvrp: no plan serves every job; leaving the lowest priorities out")
            model = build(problem, required=False, costs=costs)
            found = self._run(model, seed, until, workers, stops, deadline, abort=False)
            best = found if found is not None and found.feasible else None
        if best is None:
            return Plan(routes={}, unassigned=[j.id for j in problem.jobs], engine=self.name)
        routes = to_steps(model, best.routes)
        done = {step.ref for steps in routes.values() for step in steps}
        return Plan(
            routes=routes,
            unassigned=[j.id for j in problem.jobs if j.id not in done],
            engine=self.name,
        )

    def _run(
        self,
        model: PyvrpModel,
        seed: int,
        until: float,
        workers: int,
        stops: int,
        deadline: Deadline,
        *,
        abort: bool,
    ) -> Found | None:
        data = model.data
        params = self.params
        pairs = data.num_shipments > 0
        neighbours = self.neighbours or NEIGHBOURS[pairs]
        tuning = Tuning(neighbours=neighbours, max_penalty=model.max_penalty)
        abort_at = deadline.start + ABORT_SHARE * (deadline.at - deadline.start) if abort else None
        big = stops >= params.decompose_at and not model.has_groups
        first_until = until
        if big:
            first_until = time.monotonic() + params.first_share * (until - time.monotonic())
        best: Found | None = None
        if big and params.cluster_start:
            best = cluster_start(data, seed, first_until, params, workers, tuning)
            if best is None:
                log.info("pyvrp: a cluster found no plan; starting from a global search")
                first_until = time.monotonic() + params.first_share * (until - time.monotonic())
        if best is None:
            calls = [
                SearchCall(data, seed + i, first_until, tuning, abort_at=abort_at)
                for i in range(workers)
            ]
            for answer in _parallel.run(calls, first_until):
                best = better(best, answer)
        if best is None or not best.feasible or not big:
            return best
        log.debug("pyvrp: first solution cost %d", best.cost)
        budget = deadline.at - deadline.start
        return decompose(
            data, best, seed, until, params, workers, tuning, params.round_seconds(budget)
        )
