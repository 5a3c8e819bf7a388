"""Cheapest feasible insertion respects every rule the checker enforces and ranks by objective."""

from __future__ import annotations

import pytest

from lastmile.routing.solver import insertion
from lastmile.routing.solver.checker import check, check_route
from lastmile.routing.solver.insertion import InsertionResult, insert_all
from lastmile.routing.solver.model import (
    Job,
    Objective,
    Plan,
    Problem,
    Reason,
    Step,
    StepKind,
    Visit,
)
from lastmile.routing.solver.schedule import evaluate
from tests.support.solverkit import b, collect, d, drop, p, pair, problem, rest, van

pytestmark = pytest.mark.unit


def best_insertions(
    prob: Problem, plan: Plan, job: Job, k: int = 1, per_vehicle: bool = False
) -> InsertionResult:
    """The module's answer, asserting its O(1) tests never disagreed with the checker."""
    result = insertion.best_insertions(prob, plan, job, k, per_vehicle=per_vehicle)
    assert result.rejected == 0
    return result


def route_of(result_steps: tuple[Step, ...]) -> list[str]:
    return [f"{s.kind.value[0]}:{s.ref}" for s in result_steps]


def test_single_goes_to_the_cheapest_gap() -> None:
    """On a line 0-1-5, a stop at 3 goes between 1 and 5 and adds nothing to the distance."""
    prob = problem([drop("a", 1), drop("c", 5), drop("new", 3)], [van()])
    result = best_insertions(prob, Plan({"v1": [d("a"), d("c")]}), prob.job_by_id["new"])
    best = result.best
    assert best is not None
    assert (best.vehicle_id, best.pickup_index, best.delivery_index) == ("v1", None, 1)
    assert best.added_distance == 0
    assert route_of(best.steps) == ["d:a", "d:new", "d:c"]


def test_new_job_not_in_the_problem_is_accepted() -> None:
    """A job the problem does not hold yet (a task just created) can be inserted."""
    prob = problem([drop("a", 1)], [van()])
    new = Job("new", delivery=Visit(2), amount=(1,))
    best = best_insertions(prob, Plan({"v1": [d("a")]}), new).best
    assert best is not None
    assert best.added_distance == 20  # 0-1-0 becomes 0-1-2-0


def test_top_k_ranks_drivers_and_positions() -> None:
    """k candidates, cheapest first, each with the exact distance and duration it adds."""
    prob = problem(
        [drop("a", 4), drop("z", 9), drop("new", 5, service=60)],
        [van("near"), van("far")],
    )
    plan = Plan({"near": [d("a")], "far": [d("z")]})
    result = best_insertions(prob, plan, prob.job_by_id["new"], k=3)
    assert [c.vehicle_id for c in result.candidates] == ["far", "far", "near"]  # 9 on the way
    costs = [c.cost for c in result.candidates]
    assert costs == sorted(costs)
    for c in result.candidates:
        before = evaluate(prob, prob.vehicle_by_id[c.vehicle_id], plan.routes[c.vehicle_id])
        after = check_route(prob, c.vehicle_id, c.steps)
        assert after.feasible
        assert c.added_distance == after.distance - before.distance
        assert c.added_duration == after.duration - before.duration
    assert result.candidates[0].added_distance == 0  # on the way to 9
    assert result.candidates[0].added_duration == 60  # its service only


def test_best_drivers_one_candidate_each() -> None:
    """per_vehicle: each driver's cheapest place, the best drivers first, one line per driver."""
    prob = problem(
        [drop("a", 4), drop("z", 9), drop("y", 2), drop("new", 5, service=60)],
        [van("near"), van("far"), van("other")],
    )
    plan = Plan({"near": [d("a")], "far": [d("z")], "other": [d("y")]})
    result = best_insertions(prob, plan, prob.job_by_id["new"], k=2, per_vehicle=True)
    assert [(c.vehicle_id, c.added_distance) for c in result.candidates] == [
        ("far", 0),
        ("near", 20),
    ]
    everyone = best_insertions(prob, plan, prob.job_by_id["new"], k=5, per_vehicle=True)
    assert [c.vehicle_id for c in everyone.candidates] == ["far", "near", "other"]


def test_downstream_lateness_rules_out_a_position() -> None:
    """The cheap gap would make a later, tight stop late: the job goes after it instead."""
    prob = problem(
        [drop("a", 4, (40, 40)), drop("new", 2, service=100)],
        [van()],
    )
    best = best_insertions(prob, Plan({"v1": [d("a")]}), prob.job_by_id["new"]).best
    assert best is not None
    assert route_of(best.steps) == ["d:a", "d:new"]


@pytest.mark.parametrize(("window_end", "fits_before"), [(45, True), (44, False)])
def test_downstream_window_to_the_second(window_end: int, fits_before: bool) -> None:
    """Pushing a later stop exactly to its window's end is allowed; one second more is not."""
    prob = problem([drop("a", 4, (0, window_end)), drop("new", 2, service=5)], [van()])
    result = best_insertions(prob, Plan({"v1": [d("a")]}), prob.job_by_id["new"], k=5)
    routes = [route_of(c.steps) for c in result.candidates]
    assert (["d:new", "d:a"] in routes) is fits_before
    assert ["d:a", "d:new"] in routes


@pytest.mark.parametrize(("window_end", "count"), [(40, 2), (39, 0)])
def test_own_window_to_the_second(window_end: int, count: int) -> None:
    """Arriving exactly when the job's window closes is on time, from any gap."""
    prob = problem([drop("a", 4), drop("new", 4, (0, window_end))], [van()])
    result = best_insertions(prob, Plan({"v1": [d("a")]}), prob.job_by_id["new"], k=5)
    assert len(result.candidates) == count


@pytest.mark.parametrize(("window_end", "ok"), [(60, True), (59, False)])
def test_pair_delivery_window_to_the_second(window_end: int, ok: bool) -> None:
    """A pair ready at 40 delivers at 60 at best: a window closing at 60 fits, at 59 it does not."""
    job = pair("new", 3, 5, pickup_windows=[(40, 1000)], delivery_windows=[(0, window_end)])
    prob = problem([drop("a", 1), job], [van()])
    result = best_insertions(prob, Plan({"v1": [d("a")]}), prob.job_by_id["new"], k=5)
    assert bool(result.candidates) is ok
    for c in result.candidates:
        timed = check_route(prob, "v1", c.steps)
        assert max(t.start for t in timed.steps if t.ref == "new") <= window_end


@pytest.mark.parametrize(("window_end", "fits_before"), [(130, True), (129, False)])
def test_pair_pushes_a_later_stop_to_the_second(window_end: int, fits_before: bool) -> None:
    """A pair carried before a stop may push it exactly to its window's end, not beyond."""
    prob = problem([drop("a", 5, (0, window_end)), pair("new", 7, 3)], [van()])  # 0-7-3-5
    result = best_insertions(prob, Plan({"v1": [d("a")]}), prob.job_by_id["new"], k=5)
    routes = [route_of(c.steps) for c in result.candidates]
    assert (["p:new", "d:new", "d:a"] in routes) is fits_before
    assert ["d:a", "p:new", "d:new"] in routes


def test_ties_keep_the_first_vehicle_and_position() -> None:
    """Equal costs are ranked by vehicle order, then pickup and delivery position."""
    prob = problem([drop("a", 2), drop("b", 2), pair("new", 2, 2)], [van("v1"), van("v2")])
    plan = Plan({"v1": [d("a")], "v2": [d("b")]})
    result = best_insertions(prob, plan, prob.job_by_id["new"], k=4)
    got = [(c.vehicle_id, c.pickup_index, c.delivery_index) for c in result.candidates]
    assert got == [("v1", 0, 1), ("v1", 0, 2), ("v1", 1, 2), ("v2", 0, 1)]


def test_own_window_and_second_window() -> None:
    """The job is placed where it starts inside a window, the second one if need be."""
    prob = problem(
        [drop("a", 1), drop("c", 9), drop("new", 5, (0, 30), (150, 400))],
        [van()],
    )
    best = best_insertions(prob, Plan({"v1": [d("a"), d("c")]}), prob.job_by_id["new"]).best
    assert best is not None
    timed = check_route(prob, "v1", best.steps)
    assert timed.feasible
    new = next(t for t in timed.steps if t.ref == "new")
    assert 150 <= new.start <= 400 or new.start <= 30


def test_pair_capacity_along_the_route() -> None:
    """A pair cannot ride while another load fills the van: it is carried before or after."""
    prob = problem(
        [pair("big", 2, 6, amount=8), pair("new", 3, 5, amount=4)],
        [van(capacity=10)],
    )
    result = best_insertions(prob, Plan({"v1": [p("big"), d("big")]}), prob.job_by_id["new"], k=10)
    assert result.candidates
    for c in result.candidates:
        order = route_of(c.steps)
        assert not (
            order.index("p:new") < order.index("d:big")
            and order.index("d:new") > order.index("p:big")
        )
        assert check_route(prob, "v1", c.steps).feasible


def test_single_pickup_and_delivery_capacity() -> None:
    """A single delivery rides from the start, a single pickup to the end: both count."""
    prob = problem(
        [collect("c", 1, amount=6), drop("new", 2, amount=6)],
        [van(capacity=10)],
    )
    result = best_insertions(prob, Plan({"v1": [p("c")]}), prob.job_by_id["new"], k=5)
    assert [route_of(c.steps) for c in result.candidates] == [["d:new", "p:c"]]


def test_shift_end() -> None:
    """An insertion that brings the vehicle back after its shift is refused."""
    prob = problem([drop("a", 1), drop("new", 9)], [van("v1", shift=(0, 100)), van("v2")])
    best = best_insertions(prob, Plan({"v1": [d("a")]}), prob.job_by_id["new"]).best
    assert best is not None
    assert best.vehicle_id == "v2"


def test_max_stops() -> None:
    """A route at its stop limit takes nothing more."""
    prob = problem([drop("a", 1), drop("new", 1)], [van("v1", max_stops=1), van("v2")])
    best = best_insertions(prob, Plan({"v1": [d("a")]}), prob.job_by_id["new"]).best
    assert best is not None
    assert best.vehicle_id == "v2"


def test_skills_and_manual_assignment() -> None:
    """Only vehicles with the skills, and among them only the allowed ones, are candidates."""
    prob = problem(
        [drop("a", 1), drop("b", 1), drop("new", 2, skills=frozenset({"cold"}))],
        [van("v1"), van("v2", skills=frozenset({"cold"})), van("v3", skills=frozenset({"cold"}))],
    )
    plan = Plan({"v1": [d("a")], "v2": [d("b")]})
    result = best_insertions(prob, plan, prob.job_by_id["new"], k=5)
    assert {c.vehicle_id for c in result.candidates} == {"v2", "v3"}
    only = Job("only", delivery=Visit(2), amount=(1,), vehicles=frozenset({"v1"}))
    result = best_insertions(prob, plan, only, k=5)
    assert {c.vehicle_id for c in result.candidates} == {"v1"}


def test_breaks_keep_their_windows() -> None:
    """A job that would push the break out of its window goes after the break."""
    lunch = rest("lunch", (0, 25), service=30)
    prob = problem([drop("a", 1), drop("new", 2, service=60)], [van(breaks=[lunch])])
    best = best_insertions(prob, Plan({"v1": [d("a"), b("lunch")]}), prob.job_by_id["new"]).best
    assert best is not None
    assert route_of(best.steps) == ["d:a", "b:lunch", "d:new"]


def test_fresh_vehicle_gets_its_breaks_and_pays_its_fixed_cost() -> None:
    """An unused vehicle starts a route with its breaks; its fixed cost counts in the ranking."""
    lunch = rest("lunch", (0, 1000), service=30)
    prob = problem([drop("a", 5), drop("new", 6)], [van("used"), van("idle", breaks=[lunch])])
    best = best_insertions(prob, Plan({"used": [d("a")]}), prob.job_by_id["new"], k=3)
    assert [c.vehicle_id for c in best.candidates] == ["used", "used", "idle"]
    fresh = best.candidates[2]
    assert {s.kind for s in fresh.steps} == {StepKind.DELIVERY, StepKind.BREAK}
    assert fresh.added_distance == 120

    # The used van detours 20 m; a van parked at 6 drives nothing, unless it costs 21 to use.
    elsewhere = problem(prob.jobs, [van("used"), van("idle", start=6, end=6)])
    result = best_insertions(elsewhere, Plan({"used": [d("a")]}), prob.job_by_id["new"])
    assert result.best is not None and result.best.vehicle_id == "idle"
    fixed = problem(prob.jobs, [van("used"), van("idle", start=6, end=6, fixed_cost=21)])
    result = best_insertions(fixed, Plan({"used": [d("a")]}), prob.job_by_id["new"])
    assert result.best is not None and result.best.vehicle_id == "used"


def test_open_routes() -> None:
    """No start: inserting before the first stop costs only the leg to it; no end: no way back."""
    prob = problem([drop("a", 5), drop("new", 3)], [van(start=None, end=None)])
    best = best_insertions(prob, Plan({"v1": [d("a")]}), prob.job_by_id["new"]).best
    assert best is not None
    assert best.added_distance == 20
    assert check_route(prob, "v1", best.steps).feasible


def test_no_place_comes_with_a_reason() -> None:
    """With nowhere to go the answer is empty and explains why."""
    prob = problem([drop("a", 1, amount=8), drop("new", 2, amount=5)], [van(capacity=10)])
    result = best_insertions(prob, Plan({"v1": [d("a")]}), prob.job_by_id["new"])
    assert result.candidates == ()
    assert result.reason == Reason.NO_ROOM
    huge = Job("huge", delivery=Visit(2), amount=(50,))
    assert best_insertions(prob, Plan({"v1": [d("a")]}), huge).reason == Reason.CAPACITY


def test_refuses_a_routed_or_conflicting_job() -> None:
    """A job already on a route, or a different job reusing an id, is a caller error."""
    prob = problem([drop("a", 1)], [van()])
    with pytest.raises(ValueError, match="already"):
        best_insertions(prob, Plan({"v1": [d("a")]}), prob.job_by_id["a"])
    with pytest.raises(ValueError, match="differs"):
        best_insertions(prob, Plan({}), Job("a", delivery=Visit(3), amount=(1,)))


@pytest.mark.parametrize(
    ("objective", "expected"),
    [
        (Objective.DISTANCE, "idle"),  # 9 -> 8 -> 9 is 20 m, the used van detours 60 m
        (Objective.VEHICLES, "used"),  # no new vehicle while a used one can take it
        (Objective.BALANCED, "idle"),  # the idle van has fewer stops
    ],
)
def test_objective_decides_the_ranking(objective: Objective, expected: str) -> None:
    """The ranking key follows the plan's objective."""
    jobs = [drop("a", 5), drop("new", 8)]
    fleet = [van("used"), van("idle", start=9, end=9)]
    prob = problem(jobs, fleet, objective=objective)
    best = best_insertions(prob, Plan({"used": [d("a")]}), prob.job_by_id["new"]).best
    assert best is not None and best.vehicle_id == expected


def test_lateness_objective_serves_earliest() -> None:
    """Under lateness the job goes where its service starts first."""
    prob = problem(
        [drop("a", 9), drop("new", 5)],
        [van("busy"), van("late", start=5, end=5, shift=(500, 2000))],
        objective=Objective.LATENESS,
    )
    best = best_insertions(prob, Plan({"busy": [d("a")]}), prob.job_by_id["new"], k=3)
    assert [c.vehicle_id for c in best.candidates] == ["busy", "busy", "late"]
    assert [c.cost[0] for c in best.candidates] == [50, 130, 500]


def test_insert_all_repairs_unassigned_jobs() -> None:
    """The plan's unassigned jobs are inserted where they fit; the rest stay unassigned."""
    prob = problem(
        [drop("a", 1), drop("b", 2), pair("x", 3, 4), drop("w", 9, (0, 10))],
        [van("v1", capacity=3), van("v2", capacity=3)],
    )
    plan = insert_all(prob, Plan({"v1": [d("a")]}, ["b", "x", "w"]))
    assert check(prob, plan) == []
    assert list(plan.unassigned) == ["w"]
    assert d("a") in plan.routes["v1"]  # what was planned stays
    assert sum(len(s) for s in plan.routes.values()) == 4


def test_insert_all_keeps_higher_priority_first() -> None:
    """With room for one job only, the higher priority one gets it even if it costs more."""
    prob = problem(
        [drop("cheap", 1, amount=5), drop("vip", 8, amount=5, priority=100)],
        [van(capacity=5)],
    )
    plan = insert_all(prob, Plan({}, ["cheap", "vip"]))
    assert check(prob, plan) == []
    assert [s.ref for s in plan.routes["v1"]] == ["vip"]
    assert list(plan.unassigned) == ["cheap"]


def test_insert_all_builds_a_plan_from_nothing() -> None:
    """As a fallback engine: every job placed or declared unassigned, and the plan feasible."""
    jobs = [drop(f"j{i}", 1 + i % 9, amount=1 + i % 3) for i in range(20)]
    jobs += [pair(f"p{i}", 2 + i % 7, 9 - i % 5, amount=2) for i in range(6)]
    prob = problem(jobs, [van(f"v{i}", capacity=8, shift=(0, 600)) for i in range(3)])
    plan = insert_all(prob, Plan({}), [j.id for j in prob.jobs])
    assert check(prob, plan) == []
    assert plan.unassigned  # not everything fits three short shifts
    assert len(plan.unassigned) < len(jobs)
