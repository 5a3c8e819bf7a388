"""`solve`: the one entry point from a `Problem` to a checked `Solution`, within a wall-clock budget.

1. Jobs no vehicle could serve even alone are set aside (they would only slow the engines down).
2. An engine orders the rest: the one named, or PyVRP when it can model the problem (it gave the
   best plans per CPU-second in every measurement, docs/adr/0002-route-solver.md), else VROOM.
3. `checker.check` judges the plan. A violation is an engine bug: the routes involved are dropped
   (their jobs become unassigned) and it is logged; an infeasible plan is never returned.
4. Left-out jobs that fit somewhere are inserted (`insertion.insert_all`, cheapest feasible
   position, higher priorities first). This works around VROOM's shipment-and-break bug (it leaves
   such shipments out; insertion tries every position around the breaks and gives an idle vehicle
   a fresh route with its breaks), lets BALANCED/LATENESS exceed their spreading cap rather than
   leave a job out, and puts back the jobs of a dropped route where they fit.
5. Every route is timed by `schedule.evaluate`; each unassigned job gets its reason
   (`reasons.diagnose`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from lastmile.routing.solver.checker import check
from lastmile.routing.solver.engines import ENGINES, UnsupportedProblem
from lastmile.routing.solver.engines.base import Costs, Deadline, costs_for, stop_count
from lastmile.routing.solver.insertion import insert_all
from lastmile.routing.solver.model import (
    Job,
    Plan,
    Problem,
    Reason,
    Schedule,
    Step,
    StepKind,
    Unassigned,
    Violation,
)
from lastmile.routing.solver.reasons import diagnose, diagnose_job
from lastmile.routing.solver.schedule import evaluate

log = logging.getLogger(__name__)

__all__ = ["ENGINES", "Solution", "UnsupportedProblem", "choose_engine", "solve"]


@dataclass(frozen=True, slots=True)
class Solution:
    """A checked plan: routes, their schedules, the jobs left out and why, and the totals."""

    plan: Plan
    schedules: Mapping[str, Schedule]
    unassigned: Sequence[Unassigned]
    engine: str
    wall_seconds: float
    distance: int  # metres (scaled units for benchmark instances), all routes
    duration: int  # seconds from departure to arrival, all routes
    vehicles: int  # routes with at least one job
    served: int  # jobs on a route
    cost: int  # the objective as the engines price it (engines.base.costs_for)
    notes: Sequence[str] = field(default_factory=tuple)

    @property
    def feasible(self) -> bool:
        return all(s.feasible for s in self.schedules.values())


def choose_engine(problem: Problem) -> str:
    """PyVRP when it can model the problem exactly, else VROOM (which models everything)."""
    if ENGINES["pyvrp"].supports(problem) is None:
        return "pyvrp"
    return "vroom"


def _post_seconds(stops: int) -> float:
    """Wall time kept back after the engine: checking, repair, schedules, reasons."""
    return 0.03 + stops * 1.2e-4


def solve(
    problem: Problem, budget_seconds: float, engine: str | None = None, seed: int = 0
) -> Solution:
    """The best plan the engine finds within `budget_seconds` of wall time, checked.

    Raises `KeyError` for an unknown engine name and `UnsupportedProblem` when the named engine
    cannot model the problem (see `ENGINES[name].supports`).
    """
    started = time.monotonic()
    deadline = Deadline(budget_seconds, started)
    if engine is not None and engine not in ENGINES:
        raise KeyError(f"unknown engine {engine!r}; known: {sorted(ENGINES)}")
    notes: list[str] = []
    costs = costs_for(problem)
    reasons = {j.id: diagnose_job(problem, j) for j in problem.jobs}
    alone = {job_id for job_id, reason in reasons.items() if reason is Reason.NO_ROOM}
    set_aside = [j.id for j in problem.jobs if j.id not in alone]
    workable = _with_jobs(problem, [j for j in problem.jobs if j.id in alone])
    name = engine or choose_engine(workable)
    chosen = ENGINES[name]
    if engine is not None:
        reason = chosen.supports(workable)
        if reason:
            raise UnsupportedProblem(f"{name}: {reason}")
    stops = stop_count(problem)
    budget = max(0.05, deadline.left() - _post_seconds(stops))
    engine_started = time.monotonic()
    try:
        plan = chosen.solve(workable, budget, seed)
        log.debug(
            "solve: %s took %.3f s of %.3f s (%.3f s before it)",
            name,
            time.monotonic() - engine_started,
            budget,
            engine_started - started,
        )
    except UnsupportedProblem:
        raise
    except Exception:
        log.exception("routing engine %s failed; falling back to insertion", name)
        notes.append(f"engine {name} failed")
        plan = Plan(routes={}, unassigned=[j.id for j in workable.jobs], engine=name)
    routes, unassigned = _keep_feasible(problem, plan, set_aside, notes)
    retry = [j for j in unassigned if j in alone]
    if retry:
        routes, unassigned = _insert(problem, routes, unassigned, retry, deadline, notes)
    final = Plan(routes=routes, unassigned=unassigned, engine=name)
    routes, unassigned = _keep_feasible(problem, final, [], notes)
    final = Plan(routes=routes, unassigned=unassigned, engine=name)
    return _solution(problem, final, costs, name, started, notes, reasons)


INSERT_CHUNK = 8
"""Jobs handed to one `insert_all` call; the deadline is checked between calls."""


def _insert(
    problem: Problem,
    routes: dict[str, list[Step]],
    unassigned: list[str],
    retry: list[str],
    deadline: Deadline,
    notes: list[str],
) -> tuple[dict[str, list[Step]], list[str]]:
    """Insert what fits of `retry`, highest priority first, until a little before the deadline."""
    order = sorted(retry, key=lambda j: -problem.job_by_id[j].priority)
    plan = Plan(routes=routes, unassigned=unassigned)
    stop = deadline.at - _post_seconds(stop_count(problem)) / 2
    for i in range(0, len(order), INSERT_CHUNK):
        if time.monotonic() >= stop:
            break
        plan = insert_all(problem, plan, order[i : i + INSERT_CHUNK])
    inserted = len(unassigned) - len(plan.unassigned)
    if inserted:
        notes.append(f"{inserted} left-out job(s) inserted after the engine")
    return {vid: list(steps) for vid, steps in plan.routes.items()}, list(plan.unassigned)


def _with_jobs(problem: Problem, jobs: list[Job]) -> Problem:
    if len(jobs) == len(problem.jobs):
        return problem
    return Problem(
        jobs=jobs,
        vehicles=problem.vehicles,
        matrices=problem.matrices,
        objective=problem.objective,
        dimensions=problem.dimensions,
    )


def _keep_feasible(
    problem: Problem, plan: Plan, extra_unassigned: Sequence[str], notes: list[str]
) -> tuple[dict[str, list[Step]], list[str]]:
    """The plan's routes without any route the checker faults, and every other job unassigned."""
    routes = {vid: list(steps) for vid, steps in plan.routes.items()}
    for _ in range(5):
        routes = {
            vid: steps
            for vid, steps in routes.items()
            if any(s.kind is not StepKind.BREAK for s in steps)
        }
        unassigned = _complement(problem, routes)
        violations = check(problem, Plan(routes=routes, unassigned=unassigned))
        if not violations:
            return routes, _ordered(problem, unassigned, extra_unassigned)
        bad = _faulty_routes(routes, violations)
        for v in violations:
            log.error("engine %s broke a rule: %s", plan.engine, v)
        notes.append(f"{len(bad)} route(s) dropped for {len(violations)} violation(s)")
        if not bad:
            break
        for vid in bad:
            routes.pop(vid, None)
    log.error("engine %s: plan still faulty after dropping routes; returning none", plan.engine)
    return {}, [j.id for j in problem.jobs]


def _complement(problem: Problem, routes: Mapping[str, Sequence[Step]]) -> list[str]:
    served = {s.ref for steps in routes.values() for s in steps if s.kind is not StepKind.BREAK}
    return [j.id for j in problem.jobs if j.id not in served]


def _ordered(problem: Problem, unassigned: list[str], first: Sequence[str]) -> list[str]:
    ids = set(unassigned)
    return [j for j in first if j in ids] + [j for j in unassigned if j not in set(first)]


def _faulty_routes(
    routes: Mapping[str, Sequence[Step]], violations: Sequence[Violation]
) -> set[str]:
    bad: set[str] = set()
    for v in violations:
        if v.vehicle_id is not None and v.vehicle_id in routes:
            bad.add(v.vehicle_id)
        if v.ref is not None:
            bad.update(
                vid
                for vid, steps in routes.items()
                if any(s.ref == v.ref and s.kind is not StepKind.BREAK for s in steps)
            )
    return bad


def _reasons(problem: Problem, plan: Plan, known: Mapping[str, Reason]) -> list[Unassigned]:
    """Each unassigned job's reason: why it fits no vehicle alone, else `no_room`."""
    if not plan.unassigned:
        return []
    try:
        found = {u.job_id: u.reason for u in diagnose(problem, plan)}
    except Exception:
        log.exception("reasons.diagnose failed; using the reasons found before solving")
        found = {}
    return [Unassigned(j, found.get(j) or known.get(j) or Reason.NO_ROOM) for j in plan.unassigned]


def _solution(
    problem: Problem,
    plan: Plan,
    costs: Costs,
    engine: str,
    started: float,
    notes: list[str],
    known: Mapping[str, Reason],
) -> Solution:
    schedules = {
        vid: evaluate(problem, problem.vehicle_by_id[vid], steps)
        for vid, steps in plan.routes.items()
    }
    distance = sum(s.distance for s in schedules.values())
    duration = sum(s.duration for s in schedules.values())
    fixed = sum(problem.vehicle_by_id[v].fixed_cost + costs.vehicle for v in schedules)
    cost = costs.distance * distance + costs.duration * duration + fixed
    unassigned = _reasons(problem, plan, known)
    return Solution(
        plan=plan,
        schedules=schedules,
        unassigned=unassigned,
        engine=engine,
        wall_seconds=time.monotonic() - started,
        distance=distance,
        duration=duration,
        vehicles=len(schedules),
        served=len(problem.jobs) - len(plan.unassigned),
        cost=cost,
        notes=tuple(notes),
    )
