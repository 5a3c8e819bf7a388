"""Unassigned jobs get the reason code that explains them, tried alone on each vehicle."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from lastmile.routing.solver.model import Job, Plan, Reason, StepKind, Unassigned, Vehicle
from lastmile.routing.solver.reasons import alone, diagnose, diagnose_job, placements
from tests.support.solverkit import d, drop, p, pair, problem, rest, van

pytestmark = pytest.mark.unit

COLD = frozenset({"cold"})


def reason_of(jobs: Sequence[Job], vehicles: Sequence[Vehicle], job_id: str) -> Reason:
    prob = problem(jobs, vehicles)
    return diagnose_job(prob, prob.job_by_id[job_id])


def test_no_driver_with_skill() -> None:
    """Nobody in the fleet has the skill."""
    assert reason_of([drop("a", 1, skills=COLD)], [van("v1"), van("v2")], "a") == Reason.SKILL


def test_skill_wins_over_a_manual_assignment() -> None:
    """A job restricted to a vehicle but needing a skill nobody has is a skill problem."""
    job = drop("a", 1, skills=COLD, vehicles=frozenset({"v1"}))
    assert reason_of([job], [van("v1"), van("v2")], "a") == Reason.SKILL


def test_driver_not_available_when_the_allowed_vehicle_cannot_take_it() -> None:
    """Restricted to v1, which lacks the skill (v2 has it): the chosen driver is not available."""
    job = drop("a", 1, skills=COLD, vehicles=frozenset({"v1"}))
    assert reason_of([job], [van("v1"), van("v2", skills=COLD)], "a") == Reason.VEHICLE


def test_driver_not_available_for_any_cause_alone() -> None:
    """Restricted to a vehicle too small, or to one that does not exist: not available."""
    small = drop("a", 1, amount=5, vehicles=frozenset({"v1"}))
    assert reason_of([small], [van("v1", capacity=2), van("v2")], "a") == Reason.VEHICLE
    ghost = drop("a", 1, vehicles=frozenset({"v9"}))
    assert reason_of([ghost], [van("v1")], "a") == Reason.VEHICLE


def test_restricted_job_that_fits_its_vehicle_had_no_room() -> None:
    """A manual assignment the vehicle could serve alone is a room problem."""
    job = drop("a", 1, vehicles=frozenset({"v2"}))
    assert reason_of([job], [van("v1"), van("v2")], "a") == Reason.NO_ROOM


def test_capacity() -> None:
    """Larger than every skilled vehicle; a larger vehicle without the skill does not count."""
    job = drop("a", 1, amount=20, skills=COLD)
    fleet = [van("v1", capacity=10, skills=COLD), van("big", capacity=50)]
    assert reason_of([job], fleet, "a") == Reason.CAPACITY


def test_capacity_counts_max_stops() -> None:
    """A pair needs two stops: a vehicle allowed only one cannot take it."""
    assert reason_of([pair("x", 1, 2)], [van(max_stops=1)], "x") == Reason.CAPACITY


def test_window_unreachable() -> None:
    """The window closes before any vehicle can get there, even leaving first thing."""
    job = drop("a", 5, (0, 20))  # 50 s away
    assert reason_of([job], [van("v1"), van("v2")], "a") == Reason.WINDOW


def test_window_unreachable_because_the_shift_starts_too_late() -> None:
    """A shift starting after the window closes cannot reach it either."""
    job = drop("a", 1, (0, 100))
    assert reason_of([job], [van(shift=(200, 1000))], "a") == Reason.WINDOW


def test_reaching_a_window_as_it_closes_is_in_time() -> None:
    """Arriving exactly at a window's end (single, or a pair's delivery) fits alone."""
    assert reason_of([drop("a", 5, (0, 50))], [van()], "a") == Reason.NO_ROOM
    assert reason_of([drop("a", 5, (0, 49))], [van()], "a") == Reason.WINDOW
    late = pair("x", 3, 5, delivery_windows=[(0, 50)], pickup_windows=[(0, 30)])
    assert reason_of([late], [van()], "x") == Reason.NO_ROOM
    later = pair("x", 3, 5, delivery_windows=[(0, 49)])
    assert reason_of([later], [van()], "x") == Reason.WINDOW


def test_outside_shift() -> None:
    """Reachable in its window, but service and the way back do not fit before the shift ends."""
    job = drop("a", 5, (0, 100), service=30)  # there at 50, back at 130
    assert reason_of([job], [van(shift=(0, 120))], "a") == Reason.SHIFT


def test_outside_shift_because_of_a_break() -> None:
    """The vehicle's break must fit in the shift too."""
    job = drop("a", 5)  # back at 100
    fleet = [van(shift=(0, 120), breaks=[rest("lunch", (0, 1000), service=30)])]
    assert reason_of([job], fleet, "a") == Reason.SHIFT


def test_no_room() -> None:
    """Each job alone fits; together they do not, and the plan kept the other one."""
    prob = problem([drop("a", 1, amount=6), drop("b", 2, amount=6)], [van(capacity=10)])
    assert diagnose(prob, Plan({"v1": [d("a")]}, ["b"])) == [Unassigned("b", Reason.NO_ROOM)]


def test_diagnose_answers_once_per_unassigned_id_in_order() -> None:
    """One answer per unassigned id, in the plan's order; unknown ids are a KeyError."""
    prob = problem(
        [drop("w", 5, (0, 20)), drop("s", 1, skills=COLD), drop("c", 1, amount=99)],
        [van()],
    )
    got = diagnose(prob, Plan({}, ["s", "w", "c"]))
    assert got == [
        Unassigned("s", Reason.SKILL),
        Unassigned("w", Reason.WINDOW),
        Unassigned("c", Reason.CAPACITY),
    ]
    with pytest.raises(KeyError):
        diagnose(prob, Plan({}, ["ghost"]))


def test_alone_places_the_break_where_it_fits() -> None:
    """A break whose window closes early goes before the job; a late one after it."""
    early = van(breaks=[rest("lunch", (0, 10), service=30)])
    prob = problem([drop("a", 3, (0, 1000))], [early])
    result = alone(prob, early, prob.job_by_id["a"])
    assert result.steps is not None
    assert [s.kind for s in result.steps] == [StepKind.BREAK, StepKind.DELIVERY]
    late = van(breaks=[rest("lunch", (100, 200), service=30)])
    prob = problem([drop("a", 3, (0, 40))], [late])
    result = alone(prob, late, prob.job_by_id["a"])
    assert result.steps is not None
    assert [s.kind for s in result.steps] == [StepKind.DELIVERY, StepKind.BREAK]


def test_placements_cover_every_slot_of_every_break() -> None:
    """Two breaks around a pair: 3 slots each, 9 routes, each with every step exactly once."""
    vehicle = van(breaks=[rest("r1", (0, 100)), rest("r2", (200, 300))])
    routes = list(placements(vehicle, [p("x"), d("x")]))
    assert len(routes) == 9
    assert len({tuple(r) for r in routes}) == 9
    assert all(len(r) == 4 for r in routes)
