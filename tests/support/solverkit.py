"""Small hand-made routing problems for the solver's unit and property tests."""

from __future__ import annotations

from collections.abc import Sequence

from lastmile.routing.solver.model import (
    HORIZON,
    Break,
    Job,
    Matrix,
    Objective,
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
