"""Each engine on small hand-made problems, one feature at a time, through `solve`: the checker
accepts every plan, and the feature visibly shaped it."""

from __future__ import annotations

import time

import pytest

from lastmile.routing.solver.checker import check
from lastmile.routing.solver.engines import ENGINES, UnsupportedProblem
from lastmile.routing.solver.engines._pyvrp_decompose import SearchParams
from lastmile.routing.solver.engines.base import costs_for, priority_prize
from lastmile.routing.solver.engines.pyvrp_engine import PyvrpEngine
from lastmile.routing.solver.engines.vroom_engine import level_for
from lastmile.routing.solver.model import (
    Job,
    Matrix,
    Objective,
    Problem,
    Reason,
    StepKind,
    Vehicle,
    Visit,
    Window,
)
from lastmile.routing.solver.solve import Solution, choose_engine, solve
from tests.support.solverkit import drop, line, pair, problem, rest, van

pytestmark = pytest.mark.unit

NAMES = sorted(ENGINES)
BUDGET = 0.5


def solved(prob: Problem, engine: str | None, budget: float = BUDGET) -> Solution:
    """Solve, check, and make sure the engine itself made the plan (no route dropped)."""
    solution = solve(prob, budget, engine=engine, seed=0)
    assert check(prob, solution.plan) == []
    assert solution.feasible
    assert not any("dropped" in n or "failed" in n for n in solution.notes), solution.notes
    assert [u.job_id for u in solution.unassigned] == list(solution.plan.unassigned)
    return solution


def route_of(solution: Solution, job_id: str) -> str:
    return next(
        vid
        for vid, steps in solution.plan.routes.items()
        if any(s.ref == job_id and s.kind is not StepKind.BREAK for s in steps)
    )


def stops(solution: Solution, vehicle_id: str) -> list[str]:
    return [s.ref for s in solution.plan.routes.get(vehicle_id, []) if s.kind is not StepKind.BREAK]


@pytest.mark.parametrize("engine", NAMES)
def test_capacity_in_two_dimensions_pairs_up_complementary_loads(engine: str) -> None:
    """Loads of (3, 1) and (1, 3) fill two (4, 4) vehicles only when mixed."""
    jobs = [
        Job("a", delivery=Visit(2), amount=(3, 1)),
        Job("b", delivery=Visit(3), amount=(3, 1)),
        Job("c", delivery=Visit(12), amount=(1, 3)),
        Job("d", delivery=Visit(13), amount=(1, 3)),
    ]
    fleet = [
        Vehicle("v1", start=0, end=0, capacity=(4, 4)),
        Vehicle("v2", start=0, end=0, capacity=(4, 4)),
    ]
    sol = solved(problem(jobs, fleet, dimensions=2), engine)
    assert sol.served == 4 and sol.vehicles == 2
    for vid in sol.plan.routes:
        assert sorted(stops(sol, vid)) in (["a", "c"], ["a", "d"], ["b", "c"], ["b", "d"])


@pytest.mark.parametrize("engine", NAMES)
def test_time_windows_decide_the_order(engine: str) -> None:
    """The farther job opens first, so it is served first."""
    jobs = [drop("near", 2, (300, 400)), drop("far", 9, (0, 100))]
    sol = solved(problem(jobs, [van()]), engine)
    assert stops(sol, "v1") == ["far", "near"]


@pytest.mark.parametrize("engine", NAMES)
def test_the_second_window_is_used_when_the_first_cannot_be_reached(engine: str) -> None:
    """Location 5 is 50 s away; the window [0, 10] is out of reach, [200, 300] is taken."""
    sol = solved(problem([drop("j", 5, (0, 10), (200, 300))], [van()]), engine)
    served = [s for s in sol.schedules["v1"].steps if s.ref == "j"]
    assert 200 <= served[0].start <= 300


@pytest.mark.parametrize("engine", NAMES)
def test_pairs_are_picked_up_before_delivery_on_one_route(engine: str) -> None:
    """With room for one parcel, each pickup is followed by its own delivery."""
    jobs = [pair("p1", 8, 3), pair("p2", 12, 15), pair("p3", 4, 9)]
    sol = solved(problem(jobs, [van(capacity=1)]), engine)
    order = [(s.kind, s.ref) for s in sol.plan.routes["v1"]]
    assert len(order) == 6
    for k in range(0, 6, 2):
        assert order[k][0] is StepKind.PICKUP and order[k + 1] == (StepKind.DELIVERY, order[k][1])


@pytest.mark.parametrize("engine", NAMES)
def test_skills_send_the_job_to_a_vehicle_that_has_them(engine: str) -> None:
    """Only v2 has "cold", though v1 starts next to the job."""
    jobs = [drop("cold", 10, skills=frozenset({"cold"})), drop("plain", 1)]
    fleet = [van("v1", start=10, end=10), van("v2", skills=frozenset({"cold"}))]
    sol = solved(problem(jobs, fleet), engine)
    assert route_of(sol, "cold") == "v2"


@pytest.mark.parametrize("engine", NAMES)
def test_manual_assignment_is_respected(engine: str) -> None:
    """A job restricted to v2 goes to v2, though v1 sits on it."""
    jobs = [drop("mine", 10, vehicles=frozenset({"v2"}))]
    fleet = [van("v1", start=10, end=10), van("v2", start=0, end=0)]
    sol = solved(problem(jobs, fleet), engine)
    assert route_of(sol, "mine") == "v2"


@pytest.mark.parametrize("engine", NAMES)
def test_open_routes_and_own_start_and_end_places(engine: str) -> None:
    """Open start and end cost only the way between the jobs; a start and end elsewhere count."""
    jobs = [drop("a", 10), drop("b", 12)]
    open_van = van("v1", start=None, end=None)
    sol = solved(problem(jobs, [open_van]), engine)
    assert sol.distance == 20
    placed = van("v1", start=3, end=7)
    sol = solved(problem(jobs, [placed]), engine)
    assert sol.distance == 70 + 20 + 50  # 3 -> 10 -> 12 -> 7


@pytest.mark.parametrize("engine", NAMES)
def test_shifts_bound_the_day(engine: str) -> None:
    """A job 80 s out with 60 s of service does not fit a 200 s shift; the long shift takes it."""
    jobs = [drop("late", 8, service=60)]
    fleet = [van("short", shift=(0, 200)), van("long", shift=(0, 1000))]
    sol = solved(problem(jobs, fleet), engine)
    assert route_of(sol, "late") == "long"
    end = sol.schedules["long"].steps[-1]
    assert end.arrival == 80 + 60 + 80


@pytest.mark.parametrize("engine", NAMES)
def test_max_stops_limits_each_route(engine: str) -> None:
    """Five jobs, vehicles of two stops: three routes, none longer than two."""
    jobs = [drop(f"j{i}", 2 + i) for i in range(5)]
    fleet = [van(f"v{i}", max_stops=2) for i in range(3)]
    sol = solved(problem(jobs, fleet), engine)
    assert sol.served == 5
    assert all(len(stops(sol, vid)) <= 2 for vid in sol.plan.routes)


@pytest.mark.parametrize("engine", NAMES)
def test_when_not_everything_fits_the_lowest_priority_is_left_out(engine: str) -> None:
    """Room for two of three parcels: the priority-0 job is the one left out."""
    jobs = [
        drop("low", 2, priority=0),
        drop("high", 3, priority=100),
        drop("mid", 4, priority=50),
    ]
    sol = solved(problem(jobs, [van(capacity=2)]), engine)
    assert [(u.job_id, u.reason) for u in sol.unassigned] == [("low", Reason.NO_ROOM)]


@pytest.mark.parametrize("engine", NAMES)
def test_service_times_push_the_next_stop(engine: str) -> None:
    """A 100 s service at the first stop makes the second stop start 110 s after the first."""
    jobs = [drop("a", 2, (0, 20), service=100), drop("b", 3, (0, 500))]
    sol = solved(problem(jobs, [van()]), engine)
    timed = {s.ref: s for s in sol.schedules["v1"].steps if s.ref}
    assert timed["b"].start - timed["a"].start >= 110


@pytest.mark.parametrize("engine", NAMES)
def test_several_depots_each_vehicle_serves_its_side(engine: str) -> None:
    """Vehicles based at both ends of the line each take the jobs near them."""
    jobs = [drop("w1", 1), drop("w2", 2), drop("e1", 18), drop("e2", 17)]
    fleet = [van("west", start=0, end=0), van("east", start=19, end=19)]
    sol = solved(problem(jobs, fleet, points=20), engine)
    assert sorted(stops(sol, "west")) == ["w1", "w2"]
    assert sorted(stops(sol, "east")) == ["e1", "e2"]


@pytest.mark.parametrize("engine", NAMES)
def test_each_vehicle_drives_on_its_own_profile(engine: str) -> None:
    """A window only the car reaches in time: the bike (three times slower) cannot take it."""
    car = line(20)
    bike = Matrix(
        durations=[[3 * c for c in row] for row in car.durations],
        distances=[row[:] for row in car.distances],
    )
    jobs = [drop("rush", 10, (0, 150))]
    fleet = [
        Vehicle("bike", profile="bike", start=0, end=0, capacity=(10,)),
        Vehicle("car", profile="car", start=0, end=0, capacity=(10,)),
    ]
    prob = Problem(jobs, fleet, {"car": car, "bike": bike}, dimensions=1)
    sol = solved(prob, engine)
    assert route_of(sol, "rush") == "car"
    assert sol.schedules["car"].steps[1].start == 100


@pytest.mark.parametrize("engine", NAMES)
def test_fixed_cost_picks_the_cheaper_vehicle(engine: str) -> None:
    """Two identical vans; the one without a fixed cost is used."""
    fleet = [van("dear", fixed_cost=5000), van("cheap")]
    sol = solved(problem([drop("a", 4), drop("b", 6)], fleet), engine)
    assert list(sol.plan.routes) == ["cheap"]


def _two_bases(objective: Objective) -> Problem:
    """Open-ended vans based at 0 and 10, jobs at 2 and 12."""
    fleet = [van("v1", start=0, end=None), van("v2", start=10, end=None)]
    return problem([drop("a", 2), drop("b", 12)], fleet, objective=objective)


@pytest.mark.parametrize("engine", NAMES)
def test_objective_vehicles_uses_fewer_vehicles_than_distance(engine: str) -> None:
    """Distance sends both vans (40 m); VEHICLES one van for both jobs (120 m)."""
    by_distance = solved(_two_bases(Objective.DISTANCE), engine)
    assert (by_distance.vehicles, by_distance.distance) == (2, 40)
    by_vehicles = solved(_two_bases(Objective.VEHICLES), engine)
    assert (by_vehicles.vehicles, by_vehicles.distance) == (1, 120)


@pytest.mark.parametrize("engine", NAMES)
def test_objective_duration_avoids_waiting(engine: str) -> None:
    """Serving the early window first and the late one last is shortest in time."""
    jobs = [drop("early", 5, (0, 60)), drop("late", 6, (400, 500)), drop("any", 7)]
    sol = solved(problem(jobs, [van()], objective=Objective.DURATION), engine)
    assert stops(sol, "v1")[0] == "early"
    assert sol.duration == sol.schedules["v1"].duration


@pytest.mark.parametrize("engine", NAMES)
@pytest.mark.parametrize("objective", [Objective.BALANCED, Objective.LATENESS])
def test_balanced_and_lateness_spread_the_stops(engine: str, objective: Objective) -> None:
    """Six jobs in one street and three vans: two stops each (distance alone would use one)."""
    jobs = [drop(f"j{i}", 5 + i % 2) for i in range(6)]
    fleet = [van(f"v{i}") for i in range(3)]
    sol = solved(problem(jobs, fleet, objective=objective), engine)
    assert sorted(len(stops(sol, vid)) for vid in sol.plan.routes) == [2, 2, 2]


def test_vroom_plans_breaks() -> None:
    """A driver's break is placed inside its window, between the jobs."""
    jobs = [drop("a", 5, (0, 100)), drop("b", 6, (300, 400))]
    fleet = [van(breaks=[rest("lunch", (100, 250), service=60)])]
    sol = solved(problem(jobs, fleet), "vroom")
    kinds = [s.kind for s in sol.plan.routes["v1"]]
    assert kinds.count(StepKind.BREAK) == 1
    timed = next(s for s in sol.schedules["v1"].steps if s.kind is StepKind.BREAK)
    assert 100 <= timed.start <= 250


def test_vroom_shipment_before_a_late_break_is_not_lost() -> None:
    """VROOM #1337/#1345: a delivery due before a break window opens makes VROOM leave the
    shipment out; `solve` inserts it again (pickup, delivery, then the break)."""
    job = pair("ship", 1, 2, delivery_windows=[(0, 100)])
    fleet = [van(breaks=[rest("lunch", (900, 9000), service=300)])]
    sol = solve(problem([job], fleet), BUDGET, engine="vroom")
    assert check(problem([job], fleet), sol.plan) == []
    assert sol.served == 1
    assert [s.kind for s in sol.plan.routes["v1"]] == [
        StepKind.PICKUP,
        StepKind.DELIVERY,
        StepKind.BREAK,
    ]


@pytest.mark.parametrize("engine", NAMES)
def test_a_job_no_vehicle_can_serve_is_unassigned_with_its_reason(engine: str) -> None:
    """A skill nobody has: the job is left out as `no_driver_with_skill`, the rest is served."""
    jobs = [drop("odd", 3, skills=frozenset({"crane"})), drop("ok", 4)]
    sol = solved(problem(jobs, [van()]), engine)
    assert [(u.job_id, u.reason) for u in sol.unassigned] == [("odd", Reason.SKILL)]
    assert sol.served == 1


@pytest.mark.parametrize("engine", NAMES)
def test_nothing_to_do_and_no_one_to_do_it(engine: str) -> None:
    """No jobs: no routes. No vehicles: every job unassigned."""
    assert solved(problem([], [van()]), engine).plan.routes == {}
    sol = solved(problem([drop("a", 2)], []), engine)
    assert sol.plan.unassigned == ["a"]


def test_engines_are_named_and_refuse_what_they_cannot_model() -> None:
    """PyVRP refuses breaks; an unknown name is a KeyError; the default picks VROOM for breaks."""
    assert NAMES == ["pyvrp", "vroom"]
    prob = problem([drop("a", 2)], [van(breaks=[rest("lunch", (0, 500))])])
    assert ENGINES["pyvrp"].supports(prob) is not None
    with pytest.raises(UnsupportedProblem):
        solve(prob, BUDGET, engine="pyvrp")
    with pytest.raises(KeyError):
        solve(prob, BUDGET, engine="ortools")
    assert choose_engine(prob) == "vroom"
    assert choose_engine(problem([drop("a", 2)], [van()])) == "pyvrp"


def test_pyvrp_refuses_several_windows_on_a_pair_and_stop_limits_with_pairs() -> None:
    """What PyVRP cannot model exactly is refused, with the reason."""
    two = pair("p", 1, 2, delivery_windows=[(0, 10), (50, 60)])
    reason = ENGINES["pyvrp"].supports(problem([two], [van()]))
    assert reason is not None and "windows" in reason
    reason = ENGINES["pyvrp"].supports(problem([pair("p", 1, 2)], [van(max_stops=4)]))
    assert reason is not None and "stop limit" in reason


def test_vroom_is_deterministic() -> None:
    """The same problem gives the same plan twice."""
    jobs = [drop(f"j{i}", 1 + (7 * i) % 19, (0, 200 + 50 * i)) for i in range(12)]
    prob = problem(jobs, [van("v1", capacity=5), van("v2", capacity=5), van("v3", capacity=5)])
    first = solve(prob, BUDGET, engine="vroom")
    assert solve(prob, BUDGET, engine="vroom").plan.routes == first.plan.routes


def test_pyvrp_same_seed_same_plan_on_a_small_problem() -> None:
    """A small problem converges before its budget, so the seed alone fixes the plan."""
    jobs = [drop(f"j{i}", 1 + (7 * i) % 19, (0, 300 + 40 * i)) for i in range(10)]
    prob = problem(jobs, [van("v1", capacity=4), van("v2", capacity=4), van("v3", capacity=4)])
    first = solve(prob, 2.0, engine="pyvrp", seed=3)
    again = solve(prob, 2.0, engine="pyvrp", seed=3)
    assert again.distance == first.distance and again.vehicles == first.vehicles


def test_the_budget_is_wall_time_for_the_whole_call() -> None:
    """A 300-stop problem with a 1 s budget returns within it (model build included)."""
    jobs = [drop(f"j{i}", 1 + (13 * i) % 199, (0, 40_000)) for i in range(300)]
    fleet = [van(f"v{i}", capacity=20) for i in range(20)]
    prob = problem(jobs, fleet, points=200)
    for engine in NAMES:
        started = time.monotonic()
        sol = solve(prob, 1.0, engine=engine)
        assert time.monotonic() - started < 1.1
        assert check(prob, sol.plan) == []


def test_decomposition_keeps_every_job_and_the_plan_feasible() -> None:
    """The big-problem path (clusters, then rounds of route groups) on a small problem."""
    jobs = [drop(f"j{i}", 1 + (13 * i) % 59, (0, 3000 + 20 * i)) for i in range(80)]
    fleet = [van(f"v{i}", capacity=10) for i in range(12)]
    prob = problem(jobs, fleet, points=60)
    engine = PyvrpEngine(params=SearchParams(decompose_at=40, group_size=25, round_max=0.4))
    plan = engine.solve(prob, 2.0, seed=1)
    assert check(prob, plan) == []
    assert not plan.unassigned


def test_vroom_level_grows_with_budget_and_shrinks_with_size() -> None:
    """Exploration level from the measured cost model: more time, higher; more stops, lower."""
    assert level_for(100, 0.1) == 0
    assert level_for(100, 2.0) <= level_for(100, 20.0) == 5
    assert level_for(1000, 2.0) == 0
    assert level_for(200, 2.0) <= level_for(100, 2.0)


def test_prizes_grow_with_priority_and_exceed_any_detour() -> None:
    """A job's prize beats the longest detour plus a vehicle; priority 100 is worth 11 times."""
    prob = problem([drop("a", 19)], [van(fixed_cost=700)])
    costs = costs_for(prob)
    assert costs.prize > 2 * 190 + 700
    assert priority_prize(costs, 100) == 11 * priority_prize(costs, 0)
    assert costs_for(problem([drop("a", 2)], [van()], objective=Objective.BALANCED)).cap == 1


def test_window_ends_and_overlong_pairs_reach_the_engines_only_when_servable() -> None:
    """A pair whose delivery closes before its pickup opens is set aside before any engine."""
    impossible = pair("no", 1, 2, pickup_windows=[(500, 600)], delivery_windows=[(0, 100)])
    for engine in NAMES:
        sol = solved(problem([impossible, drop("ok", 3)], [van()]), engine)
        assert [u.job_id for u in sol.unassigned] == ["no"]
        assert sol.unassigned[0].reason is Reason.WINDOW


def test_pyvrp_leaves_out_jobs_when_the_fleet_is_too_small() -> None:
    """Everything required is infeasible; the optional run keeps the higher priorities."""
    jobs = [drop(f"j{i}", 2 + i, (0, 100), priority=10 * i) for i in range(6)]
    sol = solved(problem(jobs, [van(capacity=3)]), "pyvrp", budget=1.0)
    assert sol.served == 3
    assert sorted(u.job_id for u in sol.unassigned) == ["j0", "j1", "j2"]


def test_shift_window_bounds_departure() -> None:
    """A shift starting at 500 leaves no earlier."""
    sol = solved(problem([drop("a", 3)], [van(shift=(500, 5000))]), None)
    assert sol.schedules["v1"].steps[0].departure >= 500
    assert sol.schedules["v1"].steps[1].start == Window(530, 530).start
