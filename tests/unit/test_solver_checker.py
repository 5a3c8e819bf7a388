"""The feasibility checker catches every kind of broken rule, and the schedule times routes right."""

from __future__ import annotations

import pytest

from lastmile.routing.solver.checker import check, check_route
from lastmile.routing.solver.model import (
    Job,
    Plan,
    Problem,
    Step,
    Vehicle,
    Violation,
    Visit,
)
from lastmile.routing.solver.schedule import evaluate
from tests.support.solverkit import b, collect, d, drop, p, pair, problem, rest, van

pytestmark = pytest.mark.unit


def rules(prob: Problem, plan: Plan) -> list[str]:
    return sorted(v.rule for v in check(prob, plan))


def violations(prob: Problem, plan: Plan, rule: str) -> list[Violation]:
    return [v for v in check(prob, plan) if v.rule == rule]


def base() -> Problem:
    return problem(
        [drop("a", 1), drop("b", 2), pair("pr", 3, 4)],
        [van("v1", capacity=5), van("v2", capacity=5)],
    )


BASE_ROUTE = [d("a"), d("b"), p("pr"), d("pr")]


def test_a_feasible_plan_breaks_no_rule() -> None:
    """The baseline every other test alters by one thing is feasible."""
    assert check(base(), Plan({"v1": BASE_ROUTE})) == []
    assert check(base(), Plan({"v1": [d("a")], "v2": [p("pr"), d("pr")]}, ["b"])) == []


# Capacity and load


@pytest.mark.parametrize("dim", [0, 1])
def test_capacity_is_checked_in_each_dimension(dim: int) -> None:
    """A load above the capacity of either dimension is a capacity violation naming it."""
    amount = (6, 1) if dim == 0 else (1, 6)
    heavy = Job("h", delivery=Visit(1), amount=amount)
    prob = Problem(
        [heavy],
        [Vehicle("v1", start=0, end=0, capacity=(5, 5))],
        base().matrices,
        dimensions=2,
    )
    found = violations(prob, Plan({"v1": [d("h")]}), "capacity")
    assert found
    assert all(f"dimension {dim}:" in v.detail for v in found)


def test_pickups_fill_the_vehicle_along_the_route() -> None:
    """Single pickups stay on board to the end: two that together exceed the capacity break it."""
    prob = problem([collect("x", 1, amount=3), collect("y", 2, amount=3)], [van(capacity=5)])
    assert check(prob, Plan({"v1": [p("x")]}, ["y"])) == []
    found = violations(prob, Plan({"v1": [p("x"), p("y")]}), "capacity")
    assert [v.ref for v in found] == ["y"]


def test_pair_amount_on_board_between_pickup_and_delivery() -> None:
    """A pair's amount counts only while carried: nested pairs add up, sequential ones do not."""
    prob = problem([pair("x", 1, 2, amount=3), pair("y", 3, 4, amount=3)], [van(capacity=5)])
    assert check(prob, Plan({"v1": [p("x"), d("x"), p("y"), d("y")]})) == []
    assert "capacity" in rules(prob, Plan({"v1": [p("x"), p("y"), d("x"), d("y")]}))


def test_negative_load() -> None:
    """Unloading a pair that was never loaded drives the load below zero."""
    prob = problem([pair("x", 1, 2)], [van()])
    found = violations(prob, Plan({"v1": [d("x"), p("x")]}), "negative_load")
    assert [v.ref for v in found] == ["x"]


# Time


def test_time_window_missed() -> None:
    """Arriving after the only window closed is a time-window violation."""
    prob = problem([drop("a", 5, (0, 20))], [van()])  # arrives at 50
    found = violations(prob, Plan({"v1": [d("a")]}), "time_window")
    assert [v.ref for v in found] == ["a"]


def test_second_window_is_accepted() -> None:
    """Too late for the first window but in time for the second: served in the second."""
    prob = problem([drop("a", 5, (0, 20), (100, 200))], [van()])
    assert check(prob, Plan({"v1": [d("a")]})) == []
    timed = evaluate(prob, prob.vehicles[0], [d("a")]).steps[1]
    assert timed.start == 100


def test_all_windows_missed_is_refused() -> None:
    """Arriving after every window closed is refused."""
    prob = problem([drop("a", 5, (0, 20), (30, 40))], [van()])
    assert "time_window" in rules(prob, Plan({"v1": [d("a")]}))


def test_shift_end() -> None:
    """Coming back after the shift ends is a shift_end violation."""
    prob = problem([drop("a", 5)], [van(shift=(0, 99))])  # back at 100
    assert rules(prob, Plan({"v1": [d("a")]})) == ["shift_end"]
    ok = problem([drop("a", 5)], [van(shift=(0, 100))])
    assert check(ok, Plan({"v1": [d("a")]})) == []


def test_break_window() -> None:
    """A break that cannot start inside its window is a break_window violation."""
    prob = problem([drop("a", 5)], [van(breaks=[rest("lunch", (0, 40))])])
    assert check(prob, Plan({"v1": [b("lunch"), d("a")]})) == []
    found = violations(prob, Plan({"v1": [d("a"), b("lunch")]}), "break_window")
    assert [v.ref for v in found] == ["lunch"]


@pytest.mark.parametrize("route", [[d("a")], [b("lunch"), d("a"), b("lunch")]])
def test_break_missing_or_taken_twice(route: list[Step]) -> None:
    """A used vehicle takes each of its breaks exactly once."""
    prob = problem([drop("a", 5)], [van(breaks=[rest("lunch")])])
    found = violations(prob, Plan({"v1": route}), "break_count")
    assert [v.ref for v in found] == ["lunch"]


def test_unused_vehicle_needs_no_break() -> None:
    """An empty route does not have to take its breaks."""
    prob = problem([drop("a", 5)], [van(breaks=[rest("lunch")])])
    assert check(prob, Plan({"v1": []}, ["a"])) == []


def test_unknown_break() -> None:
    """A break the vehicle does not have is reported."""
    prob = problem([drop("a", 5)], [van()])
    assert "unknown_break" in rules(prob, Plan({"v1": [d("a"), b("nap")]}))


# Who may serve what


def test_skills() -> None:
    """A job needing a skill the vehicle lacks is a skills violation naming the skill."""
    prob = problem(
        [drop("a", 1, skills=frozenset({"cold", "lift"}))],
        [van(skills=frozenset({"cold"}))],
    )
    found = violations(prob, Plan({"v1": [d("a")]}), "skills")
    assert [(v.ref, v.detail) for v in found] == [("a", "lift")]


def test_pair_skills_are_checked_once() -> None:
    """A pair missing a skill is reported once, not per step."""
    prob = problem([pair("x", 1, 2, skills=frozenset({"cold"}))], [van()])
    assert len(violations(prob, Plan({"v1": [p("x"), d("x")]}), "skills")) == 1


def test_vehicle_not_allowed() -> None:
    """A job assigned by hand to other vehicles may not ride on this one."""
    prob = problem([drop("a", 1, vehicles=frozenset({"v2"}))], [van("v1"), van("v2")])
    assert check(prob, Plan({"v2": [d("a")]})) == []
    found = violations(prob, Plan({"v1": [d("a")]}), "vehicle_not_allowed")
    assert [(v.vehicle_id, v.ref) for v in found] == [("v1", "a")]


def test_max_stops() -> None:
    """A route with more job steps than the vehicle's maximum breaks max_stops (pairs count 2)."""
    prob = problem([drop("a", 1), pair("x", 2, 3)], [van(max_stops=2)])
    assert check(prob, Plan({"v1": [p("x"), d("x")]}, ["a"])) == []
    assert "max_stops" in rules(prob, Plan({"v1": [d("a"), p("x"), d("x")]}))


# Order and completeness


def test_precedence() -> None:
    """Delivering a pair before picking it up breaks precedence."""
    prob = problem([pair("x", 1, 2)], [van()])
    found = violations(prob, Plan({"v1": [d("x"), p("x")]}), "precedence")
    assert [v.ref for v in found] == ["x"]


def test_pair_split_across_routes() -> None:
    """A pair's pickup and delivery on two vehicles is a split pair."""
    prob = problem([pair("x", 1, 2)], [van("v1"), van("v2")])
    found = violations(prob, Plan({"v1": [p("x")], "v2": [d("x")]}), "pair_split")
    assert [v.ref for v in found] == ["x"]


def test_pair_incomplete() -> None:
    """A pair picked up but never delivered is incomplete."""
    prob = problem([pair("x", 1, 2)], [van()])
    found = violations(prob, Plan({"v1": [p("x")]}), "pair_incomplete")
    assert [v.ref for v in found] == ["x"]


def test_duplicate_step() -> None:
    """The same step twice (same route or two routes) is a duplicate."""
    prob = problem([drop("a", 1)], [van("v1"), van("v2")])
    assert "duplicate_step" in rules(prob, Plan({"v1": [d("a"), d("a")]}))
    assert "duplicate_step" in rules(prob, Plan({"v1": [d("a")], "v2": [d("a")]}))


def test_wrong_step_kind() -> None:
    """Picking up a job that only has a delivery is a wrong step (and leaves it unserved)."""
    prob = problem([drop("a", 1)], [van()])
    got = rules(prob, Plan({"v1": [p("a")]}))
    assert "wrong_step" in got
    assert "job_missing" in got


def test_job_missing() -> None:
    """A job neither routed nor declared unassigned is missing."""
    found = violations(base(), Plan({"v1": [d("a"), p("pr"), d("pr")]}), "job_missing")
    assert [v.ref for v in found] == ["b"]


def test_served_and_unassigned() -> None:
    """A job both on a route and in the unassigned list is reported."""
    found = violations(base(), Plan({"v1": BASE_ROUTE}, ["a"]), "served_and_unassigned")
    assert [(v.vehicle_id, v.ref) for v in found] == [("v1", "a")]


def test_duplicate_unassigned() -> None:
    """A job listed twice as unassigned is reported."""
    plan = Plan({"v1": [d("a"), p("pr"), d("pr")]}, ["b", "b"])
    assert rules(base(), plan) == ["duplicate_unassigned"]


def test_unknown_job_on_a_route_and_unassigned() -> None:
    """Job ids the problem does not know are reported, routed or unassigned."""
    assert "unknown_job" in rules(base(), Plan({"v1": [*BASE_ROUTE, d("ghost")]}))
    assert rules(base(), Plan({"v1": BASE_ROUTE}, ["ghost"])) == ["unknown_job"]


def test_unknown_vehicle() -> None:
    """A route for a vehicle the problem does not have is reported."""
    plan = Plan({"v1": [d("a"), d("b")], "v9": [p("pr"), d("pr")]})
    found = rules(base(), plan)
    assert "unknown_vehicle" in found


# The schedule


def test_waiting_that_cannot_be_cut() -> None:
    """Waiting before a late window stays when an earlier tight window pins the departure."""
    prob = problem([drop("a", 1, (0, 10)), drop("b", 2, (200, 300))], [van()])
    s = evaluate(prob, prob.vehicles[0], [d("a"), d("b")])
    assert s.feasible
    assert [t.start for t in s.steps[1:3]] == [10, 200]
    assert s.waiting == 180
    assert s.steps[0].departure == 0


def test_departure_delayed_to_cut_waiting() -> None:
    """The vehicle leaves later instead of waiting at the stop."""
    prob = problem([drop("a", 1, (100, 200))], [van()])
    s = evaluate(prob, prob.vehicles[0], [d("a")])
    assert s.steps[0].departure == 90
    assert s.steps[1].arrival == s.steps[1].start == 100
    assert s.waiting == 0
    assert s.duration == 20


def test_departure_delay_never_makes_a_stop_late() -> None:
    """The delay stops at the slack of an earlier stop's window."""
    prob = problem([drop("a", 1, (0, 50)), drop("b", 2, (100, 200))], [van()])
    s = evaluate(prob, prob.vehicles[0], [d("a"), d("b")])
    assert s.feasible
    assert s.steps[0].departure == 40
    assert s.steps[1].start == 50
    assert s.steps[2].arrival == 60
    assert s.waiting == 40


def test_open_route_without_start() -> None:
    """Without a start the route begins at its first stop: no travel to it."""
    prob = problem([drop("a", 5), drop("b", 7)], [van(start=None)])
    s = evaluate(prob, prob.vehicles[0], [d("a"), d("b")])
    assert s.steps[1].arrival == 0
    assert s.steps[1].distance == 0
    assert s.distance == 20 + 70  # 5 -> 7 -> back to 0


def test_open_route_without_end() -> None:
    """Without an end the route ends at its last stop: no travel back."""
    prob = problem([drop("a", 5, service=15)], [van(end=None)])
    s = evaluate(prob, prob.vehicles[0], [d("a")])
    assert s.distance == 50
    assert s.steps[-1].location == 5
    assert s.steps[-1].arrival == 65
    assert s.duration == 65


def test_cumulative_distance() -> None:
    """Each step carries the distance driven so far; the total includes the way back."""
    prob = problem([drop("a", 3), drop("b", 1), drop("c", 4)], [van()])
    s = evaluate(prob, prob.vehicles[0], [d("a"), d("b"), d("c")])
    assert [t.distance for t in s.steps] == [0, 30, 50, 80, 120]
    assert s.distance == 120
    assert s.travel == 120


def test_load_profile() -> None:
    """Deliveries are on board from the start, pickups to the end, pairs in between."""
    prob = problem(
        [drop("a", 1, amount=2), collect("c", 2, amount=1), pair("x", 3, 4, amount=4)],
        [van()],
    )
    s = evaluate(prob, prob.vehicles[0], [d("a"), p("x"), p("c"), d("x")])
    assert s.feasible
    assert [t.load for t in s.steps] == [(2,), (0,), (4,), (5,), (1,), (1,)]


def test_break_is_taken_where_the_vehicle_is() -> None:
    """A break adds time at the current place and no distance; its window can make it wait."""
    prob = problem([drop("a", 2), drop("b", 4)], [van(breaks=[rest("lunch", (50, 60))])])
    s = evaluate(prob, prob.vehicles[0], [d("a"), b("lunch"), d("b")])
    assert s.feasible
    lunch = s.steps[2]
    assert (lunch.location, lunch.start, lunch.departure) == (2, 50, 80)
    assert s.steps[3].arrival == 100
    assert s.distance == 80


def test_check_route_reports_route_rules_for_one_vehicle() -> None:
    """check_route times the route and adds the route-level rules."""
    prob = problem([drop("a", 1, skills=frozenset({"cold"}))], [van(max_stops=0)])
    got = sorted(v.rule for v in check_route(prob, "v1", [d("a")]).violations)
    assert got == ["max_stops", "skills"]
