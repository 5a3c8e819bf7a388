"""Small hand-made routing problems for the solver's unit and property tests."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

from lastmile.routing.solver.checker import check_route
from lastmile.routing.solver.model import (
    HORIZON,
    Break,
    Job,
    Matrix,
    Objective,
    Plan,
    Problem,
    Step,
    StepKind,
    Vehicle,
    Visit,
    Window,
)

UNIT = 10
"""Seconds (and metres) between two neighbouring points of the line."""


def line(n: int, unit: int = UNIT) -> Matrix:
    """Points 0..n-1 on a line, `unit` seconds and metres apart: easy to time by hand."""
    cells = [[abs(i - j) * unit for j in range(n)] for i in range(n)]
    return Matrix(durations=cells, distances=[row[:] for row in cells])


def problem(
    jobs: Sequence[Job],
    vehicles: Sequence[Vehicle],
    *,
    points: int = 20,
    dimensions: int = 1,
    objective: Objective = Objective.DISTANCE,
) -> Problem:
    return Problem(
        jobs=list(jobs),
        vehicles=list(vehicles),
        matrices={"car": line(points)},
        objective=objective,
        dimensions=dimensions,
    )


def drop(
    job_id: str,
    location: int,
    *windows: tuple[int, int],
    amount: int = 1,
    service: int = 0,
    skills: frozenset[str] = frozenset(),
    vehicles: frozenset[str] | None = None,
    priority: int = 0,
) -> Job:
    """A single delivery (its amount on board from the start)."""
    visit = Visit(location, service=service, windows=_windows(windows))
    return Job(
        job_id,
        delivery=visit,
        amount=(amount,),
        skills=skills,
        vehicles=vehicles,
        priority=priority,
    )


def collect(job_id: str, location: int, *windows: tuple[int, int], amount: int = 1) -> Job:
    """A single pickup (its amount on board to the end)."""
    return Job(job_id, pickup=Visit(location, windows=_windows(windows)), amount=(amount,))


def pair(
    job_id: str,
    origin: int,
    target: int,
    amount: int = 1,
    *,
    pickup_windows: Sequence[tuple[int, int]] = (),
    delivery_windows: Sequence[tuple[int, int]] = (),
    skills: frozenset[str] = frozenset(),
) -> Job:
    """A pickup at `origin` carried to `target`."""
    return Job(
        job_id,
        pickup=Visit(origin, windows=_windows(pickup_windows)),
        delivery=Visit(target, windows=_windows(delivery_windows)),
        amount=(amount,),
        skills=skills,
    )


def van(
    vehicle_id: str = "v1",
    capacity: int = 10,
    *,
    start: int | None = 0,
    end: int | None = 0,
    shift: tuple[int, int] = (0, HORIZON),
    skills: frozenset[str] = frozenset(),
    breaks: Sequence[Break] = (),
    max_stops: int | None = None,
    fixed_cost: int = 0,
) -> Vehicle:
    """A vehicle starting and ending at point 0 unless told otherwise."""
    return Vehicle(
        vehicle_id,
        start=start,
        end=end,
        capacity=(capacity,),
        skills=skills,
        shift=Window(*shift),
        breaks=tuple(breaks),
        max_stops=max_stops,
        fixed_cost=fixed_cost,
    )


def rest(break_id: str, *windows: tuple[int, int], service: int = 30) -> Break:
    return Break(break_id, _windows(windows), service)


def d(ref: str) -> Step:
    return Step(StepKind.DELIVERY, ref)


def p(ref: str) -> Step:
    return Step(StepKind.PICKUP, ref)


def b(ref: str) -> Step:
    return Step(StepKind.BREAK, ref)


def _windows(windows: Sequence[tuple[int, int]]) -> tuple[Window, ...]:
    return tuple(Window(a, z) for a, z in windows)


# Random problems for property tests (seeded, so every failure replays).


def random_problem(
    rnd: random.Random,
    *,
    jobs: int,
    vehicles: int,
    dimensions: int = 1,
    objective: Objective = Objective.DISTANCE,
    plain: bool = False,
    grid: bool = False,
) -> Problem:
    """Jobs (single deliveries, single pickups, pairs) and vehicles with every kind of rule.

    Windows (none, one or two), services, amounts per dimension, skills, manual assignments,
    priorities; vehicles with open or closed ends, shifts, breaks, max stops and two profiles.
    `plain` leaves out breaks, stop limits and second windows (what every engine models).
    `grid` puts places on a 6 x 6 grid (Manhattan distances) and every time on whole minutes,
    so arrivals often fall exactly on a window's edge and many positions cost the same.
    """
    most = 1 if plain else 2
    depot_count = 2
    places = depot_count + 2 * jobs
    if grid:
        coords = [(float(rnd.randint(0, 5)), float(rnd.randint(0, 5))) for _ in range(places)]
    else:
        coords = [(rnd.uniform(0, 100), rnd.uniform(0, 100)) for _ in range(places)]
    minute = 60 if grid else 1

    def cells(scale: float) -> list[list[int]]:
        if grid:
            scale *= 20  # a grid step is 2 minutes by car
            return [
                [round((abs(a[0] - z[0]) + abs(a[1] - z[1])) * scale) for z in coords]
                for a in coords
            ]
        return [[round(math.dist(a, z) * scale) for z in coords] for a in coords]

    matrices = {
        "car": Matrix(durations=cells(6), distances=cells(13)),
        "bike": Matrix(durations=cells(11), distances=cells(12)),
    }
    vehicle_ids = [f"v{i}" for i in range(vehicles)]
    out: list[Job] = []
    for index in range(jobs):
        a, z = depot_count + 2 * index, depot_count + 2 * index + 1
        amount = tuple(rnd.randint(0, 4) for _ in range(dimensions))
        skills = frozenset(rnd.sample(["cold", "lift"], rnd.choice([0, 0, 0, 1])))
        allowed = None
        if rnd.random() < 0.08:
            allowed = frozenset(rnd.sample(vehicle_ids, rnd.randint(1, vehicles)))
        kind = rnd.random()
        first = Visit(a, rnd.choice([0, 60, 300]), _random_windows(rnd, most=most, unit=minute))
        second = Visit(z, rnd.choice([0, 60, 300]), _random_windows(rnd, most=most, unit=minute))
        pickup = first if kind >= 0.45 else None
        delivery = second if kind >= 0.6 else first if kind < 0.45 else None
        out.append(
            Job(
                f"j{index}",
                pickup=pickup,
                delivery=delivery,
                amount=amount,
                skills=skills,
                priority=rnd.choice([0, 0, 0, 50, 100]),
                vehicles=allowed,
            )
        )
    fleet = []
    for vid in vehicle_ids:
        start = rnd.choice([0, 0, 1, None])
        end = rnd.choice([0, 0, 1, None])
        shift_start = rnd.choice([0, 0, 600])
        breaks: tuple[Break, ...] = ()
        if not plain and rnd.random() < 0.3:
            breaks = (Break(f"{vid}-lunch", _random_windows(rnd, at_least=1), 300),)
            if rnd.random() < 0.3:
                breaks += (Break(f"{vid}-coffee", (Window(5000, 7000),), 120),)
        fleet.append(
            Vehicle(
                vid,
                profile=rnd.choice(["car", "car", "bike"]),
                start=start,
                end=end,
                capacity=tuple(rnd.randint(3, 14) for _ in range(dimensions)),
                skills=frozenset(rnd.sample(["cold", "lift"], rnd.randint(0, 2))),
                shift=Window(shift_start, rnd.choice([6000, 8000, 9000])),
                breaks=breaks,
                max_stops=None if plain else rnd.choice([None, None, None, 3, 6]),
                fixed_cost=rnd.choice([0, 0, 1000]),
            )
        )
    return Problem(out, fleet, matrices, objective=objective, dimensions=dimensions)


def _random_windows(
    rnd: random.Random, at_least: int = 0, most: int = 2, unit: int = 1
) -> tuple[Window, ...]:
    count = rnd.choice([min(most, max(at_least, c)) for c in (0, 1, 1, 2)])
    windows = []
    t = rnd.randint(0, 3000 // unit) * unit
    for _ in range(count):
        length = rnd.randint(300 // unit, 2500 // unit) * unit
        windows.append(Window(t, t + length))
        t += length + rnd.randint(max(1, 100 // unit), 2500 // unit) * unit
    return tuple(windows)


def random_plan(rnd: random.Random, prob: Problem, tries: int = 6) -> Plan:
    """Feasible routes built blindly: each job tried at a few random places, kept if the checker
    accepts the route (independent of the insertion code). The others are unassigned."""
    routes: dict[str, list[Step]] = {v.id: [] for v in prob.vehicles}
    unassigned = []
    for job in rnd.sample(list(prob.jobs), len(prob.jobs)):
        steps = (
            [Step(StepKind.PICKUP, job.id), Step(StepKind.DELIVERY, job.id)]
            if job.is_pair
            else [Step(StepKind.DELIVERY if job.delivery else StepKind.PICKUP, job.id)]
        )
        for _ in range(tries):
            vehicle = rnd.choice(prob.vehicles)
            route = list(routes[vehicle.id])
            if not route:
                route = [Step(StepKind.BREAK, r.id) for r in vehicle.breaks]
            i = rnd.randint(0, len(route))
            route.insert(i, steps[0])
            if len(steps) == 2:
                route.insert(rnd.randint(i + 1, len(route)), steps[1])
            if check_route(prob, vehicle.id, route).feasible:
                routes[vehicle.id] = route
                break
        else:
            unassigned.append(job.id)
    return Plan({vid: steps for vid, steps in routes.items() if steps}, unassigned)
