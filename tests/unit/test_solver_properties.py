"""Properties on random small problems: whatever insertion and the engines return, the checker accepts.

Problems come from `solverkit.random_problem` (2-25 jobs, 1-4 vehicles, windows, capacities in one or
two dimensions, pairs, skills, manual assignments, breaks, stop limits, open routes) seeded by
hypothesis; runs are derandomized, so a failure replays with the same seed.
"""

from __future__ import annotations

import importlib
import random
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lastmile.routing.solver.checker import check, check_route
from lastmile.routing.solver.insertion import best_insertions, insert_all
from lastmile.routing.solver.model import (
    Objective,
    Plan,
    Problem,
    Reason,
    Step,
    StepKind,
    Vehicle,
)
from lastmile.routing.solver.reasons import diagnose, job_steps, placements
from tests.support import solverkit
from tests.support.solverkit import random_plan, random_problem

pytestmark = pytest.mark.unit

PROPERTY = settings(
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

seeds = st.integers(min_value=0, max_value=2**32 - 1)
sizes = st.tuples(st.integers(2, 25), st.integers(1, 4), st.integers(1, 2), st.booleans())
objectives = st.sampled_from(list(Objective))


def make(seed: int, size: tuple[int, int, int, bool], objective: Objective) -> tuple[Problem, Plan]:
    """A random problem (on a grid or not, size[3]) and a feasible plan serving part of it."""
    jobs, vehicles, dimensions, grid = size
    rnd = random.Random(seed)
    problem = random_problem(
        rnd, jobs=jobs, vehicles=vehicles, dimensions=dimensions, objective=objective, grid=grid
    )
    return problem, random_plan(rnd, problem)


def without(plan: Plan, job_id: str) -> Plan:
    return Plan(plan.routes, [j for j in plan.unassigned if j != job_id])


def every_position(problem: Problem, plan: Plan, job_id: str) -> set[tuple[str, tuple[Step, ...]]]:
    """Brute force: each vehicle with a route, each gap (each pair of gaps), judged by the checker."""
    job = problem.job_by_id[job_id]
    out = set()
    for vehicle_id, steps in plan.routes.items():
        if not any(s.kind is not StepKind.BREAK for s in steps):
            continue
        n = len(steps)
        for i in range(n + 1):
            if job.is_pair:
                for j in range(i, n + 1):
                    new = [*steps[:i], Step(StepKind.PICKUP, job_id), *steps[i:j]]
                    new += [Step(StepKind.DELIVERY, job_id), *steps[j:]]
                    if check_route(problem, vehicle_id, new).feasible:
                        out.add((vehicle_id, tuple(new)))
            else:
                kind = StepKind.DELIVERY if job.delivery is not None else StepKind.PICKUP
                new = [*steps[:i], Step(kind, job_id), *steps[i:]]
                if check_route(problem, vehicle_id, new).feasible:
                    out.add((vehicle_id, tuple(new)))
    return out


@settings(PROPERTY, max_examples=400)
@given(seed=seeds, size=sizes, objective=objectives)
def test_insertions_pass_the_checker(
    seed: int, size: tuple[int, int, int, bool], objective: Objective
) -> None:
    """Every insertion returned is feasible, and the plan with it passes the full check."""
    problem, plan = make(seed, size, objective)
    assert check(problem, plan) == []
    for job_id in plan.unassigned:
        result = best_insertions(problem, without(plan, job_id), problem.job_by_id[job_id], k=3)
        assert result.rejected == 0  # the O(1) tests never disagree with the checker
        assert (result.reason is None) == bool(result.candidates)
        costs = [c.cost for c in result.candidates]
        assert costs == sorted(costs)
        for c in result.candidates:
            assert check_route(problem, c.vehicle_id, c.steps).feasible
            routes = {**plan.routes, c.vehicle_id: c.steps}
            assert check(problem, Plan(routes, without(plan, job_id).unassigned)) == []


@settings(PROPERTY, max_examples=300)
@given(seed=seeds, size=sizes)
def test_insertion_finds_exactly_the_positions_the_checker_accepts(
    seed: int, size: tuple[int, int, int, bool]
) -> None:
    """With k unbounded, the fast tests keep every feasible position in used routes, no other."""
    problem, plan = make(seed, size, Objective.DISTANCE)
    for job_id in plan.unassigned:
        expected = every_position(problem, plan, job_id)
        result = best_insertions(problem, without(plan, job_id), problem.job_by_id[job_id], k=10**6)
        used = {
            vid
            for vid, steps in plan.routes.items()
            if any(s.kind is not StepKind.BREAK for s in steps)
        }
        found = {(c.vehicle_id, c.steps) for c in result.candidates if c.vehicle_id in used}
        assert found == expected
        assert result.rejected == 0


@settings(PROPERTY, max_examples=300)
@given(seed=seeds, size=sizes, objective=objectives)
def test_pruned_search_returns_the_true_top_k(
    seed: int, size: tuple[int, int, int, bool], objective: Objective
) -> None:
    """The bounded search returns exactly the first k of the exhaustive ranking, ties included.

    (Under the duration objective positions are searched on added travel time and re-ranked on
    the exact added duration, so only its exhaustive ranking's order is checked.)"""
    problem, plan = make(seed, size, objective)
    for job_id in plan.unassigned:
        job, rest = problem.job_by_id[job_id], without(plan, job_id)
        everything = best_insertions(problem, rest, job, k=10**6).candidates
        if objective is Objective.DURATION:
            costs = [c.cost for c in everything]
            assert costs == sorted(costs)
            continue
        top = best_insertions(problem, rest, job, k=3).candidates
        assert top == everything[:3]
        per_vehicle = best_insertions(problem, rest, job, k=2, per_vehicle=True)
        firsts = list({c.vehicle_id: c for c in reversed(everything)}.values())[::-1]
        assert list(per_vehicle.candidates) == sorted(firsts, key=lambda c: everything.index(c))[:2]
        assert per_vehicle.rejected == 0


@settings(PROPERTY, max_examples=400)
@given(seed=seeds, size=sizes, objective=objectives, share=st.floats(0, 1))
def test_insert_all_plans_pass_the_checker(
    seed: int, size: tuple[int, int, int, bool], objective: Objective, share: float
) -> None:
    """Greedy insertion over a partial plan (or from nothing) always yields a feasible plan."""
    problem, plan = make(seed, size, objective)
    rnd = random.Random(seed)
    routed = {s.ref for steps in plan.routes.values() for s in steps}
    asked = [j for j in plan.unassigned if rnd.random() < share]
    repaired = insert_all(problem, plan, asked)
    assert check(problem, repaired) == []
    still = {s.ref for steps in repaired.routes.values() for s in steps}
    assert routed <= still  # nothing planned is dropped
    assert set(repaired.unassigned) == set(plan.unassigned) - still
    scratch = insert_all(problem, Plan({}), [j.id for j in problem.jobs])
    assert check(problem, scratch) == []


def oracle_reason(problem: Problem, job_id: str) -> Reason:
    """The reasons module's rules, written plainly: every placement judged by the checker."""
    job = problem.job_by_id[job_id]
    skilled = [v for v in problem.vehicles if job.skills <= v.skills]
    if not skilled:
        return Reason.SKILL
    allowed = [v for v in skilled if job.vehicles is None or v.id in job.vehicles]

    def rules(vehicle: Vehicle) -> list[set[str]]:
        return [
            {x.rule for x in check_route(problem, vehicle.id, route).violations}
            for route in placements(vehicle, job_steps(job))
        ]

    if job.vehicles is not None:
        fits = any(set() in rules(v) for v in allowed)
        return Reason.NO_ROOM if fits else Reason.VEHICLE
    sized = [
        v
        for v in allowed
        if all(q <= c for q, c in zip(job.amount, v.capacity, strict=True))
        and (v.max_stops is None or v.max_stops >= len(job_steps(job)))
    ]
    if not sized:
        return Reason.CAPACITY
    outcomes = [r for v in sized for r in rules(v)]
    if set() in outcomes:
        return Reason.NO_ROOM
    if any("time_window" not in r for r in outcomes):
        return Reason.SHIFT
    return Reason.WINDOW


@settings(PROPERTY, max_examples=200)
@given(seed=seeds, size=sizes)
def test_reason_codes_follow_the_documented_rules(
    seed: int, size: tuple[int, int, int, bool]
) -> None:
    """diagnose gives each unassigned job the reason the plain rules give (shortcuts included)."""
    problem, plan = make(seed, size, Objective.DISTANCE)
    everyone = Plan(plan.routes, [j.id for j in problem.jobs])
    for found in diagnose(problem, everyone):
        assert found.reason == oracle_reason(problem, found.job_id), found.job_id


def _solver() -> Any:
    """The engines' entry point, once it exists (it is written alongside this file)."""
    try:
        return importlib.import_module("lastmile.routing.solver.solve")
    except ImportError:
        return None


SOLVE = _solver()
ENGINES: list[str] = sorted(getattr(SOLVE, "ENGINES", {}))
needs_solve = pytest.mark.skipif(
    SOLVE is None, reason="lastmile.routing.solver.solve is not written yet"
)


@needs_solve
@pytest.mark.parametrize("engine", ENGINES)
@settings(PROPERTY, max_examples=25)
@given(seed=seeds, size=sizes, objective=objectives, plain=st.booleans())
def test_every_engine_returns_a_feasible_plan(
    engine: str, seed: int, size: tuple[int, int, int, bool], objective: Objective, plain: bool
) -> None:
    """Each engine, on a short budget, returns a plan the checker accepts without crashing; one
    that cannot model the problem refuses it (never a wrong plan), and the default still answers."""
    jobs, vehicles, dimensions, grid = size
    problem = random_problem(
        random.Random(seed),
        jobs=jobs,
        vehicles=vehicles,
        dimensions=dimensions,
        objective=objective,
        plain=plain,
        grid=grid,
    )
    supported = SOLVE.ENGINES[engine].supports(problem) is None
    try:
        solution = SOLVE.solve(problem, 0.3, engine=engine, seed=0)
        assert solution.engine == engine
        assert not [n for n in solution.notes if "failed" in n]  # no crash behind the plan
    except SOLVE.UnsupportedProblem:
        # Only jobs some vehicle could serve reach the engine, so it may accept a problem it
        # could not model whole; one it can model whole it never refuses.
        assert not supported
        solution = SOLVE.solve(problem, 0.3, seed=0)
    assert check(problem, solution.plan) == []
    assert [u.job_id for u in solution.unassigned] == list(solution.plan.unassigned)


def _engine_answers(engine: str, problem: Problem) -> None:
    solution = SOLVE.solve(problem, 0.3, engine=engine, seed=0)
    assert check(problem, solution.plan) == []
    assert not [n for n in solution.notes if "failed" in n], solution.notes


@needs_solve
def test_vroom_takes_a_vehicle_with_neither_start_nor_end() -> None:
    """A fully open route (starts at its first stop, ends at its last) is a valid vehicle
    (VROOM itself refuses a vehicle with neither: found by the property above)."""
    problem = solverkit.problem([solverkit.drop("a", 3)], [solverkit.van(start=None, end=None)])
    _engine_answers("vroom", problem)


@needs_solve
def test_pyvrp_takes_jobs_with_skills() -> None:
    """Skills (modelled with per-profile matrices) keep PyVRP's matrices valid (a zero
    diagonal: found by the property above)."""
    cold = frozenset({"cold"})
    problem = solverkit.problem(
        [solverkit.drop("a", 3, skills=cold), solverkit.drop("b", 5)],
        [solverkit.van("v1", skills=cold), solverkit.van("v2")],
    )
    _engine_answers("pyvrp", problem)
