"""Why a job was left out of every route: one reason code per unassigned job.

A job's reason is decided by trying it *alone* on each vehicle (a route holding only that job and
the vehicle's breaks, timed by `schedule.evaluate` and judged by `checker.check_route`), never by
the routes the plan happens to hold. The first rule that holds is the reason:

1. `no_driver_with_skill`: no vehicle of the fleet has every skill the job needs.
2. `driver_not_available`: the job is restricted to some vehicles (`Job.vehicles`, a manual
   assignment) and none of those (that exist and have the skills) can serve it, even alone, for
   whatever cause (capacity, windows, shift, stops).
3. `capacity`: every vehicle with the skills (and allowed) is too small for the job's amount in
   some dimension, or has fewer `max_stops` than the job has steps (a pair has two).
4. `window_unreachable`: no remaining vehicle can start every visit of the job inside one of its
   windows, even alone and leaving at the start of its shift.
5. `outside_shift`: some vehicle can reach the job inside its windows, but none can also finish
   its service, its breaks and the way back (to the end location) before its shift ends.
6. `no_room`: the job fits some vehicle alone; it was left out because the other jobs took the
   room (and, when not everything fits, higher priorities are kept first).

When a vehicle has breaks, the job is tried alone with every placement of the breaks around its
steps (breaks sharing a slot go in order of their earliest window), and the best placement counts.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from lastmile.routing.solver.checker import check_route
from lastmile.routing.solver.model import (
    Job,
    Plan,
    Problem,
    Reason,
    Schedule,
    Step,
    StepKind,
    Unassigned,
    Vehicle,
)

__all__ = [
    "Alone",
    "alone",
    "diagnose",
    "diagnose_job",
    "job_steps",
    "placements",
    "signature",
]

MAX_PLACEMENTS = 256
"""Break placements tried for one job alone on one vehicle (more only with many breaks)."""


@dataclass(frozen=True, slots=True)
class Alone:
    """The outcome of trying one job alone on one vehicle.

    `steps`/`schedule` hold the best feasible route (least distance, then duration) when there is
    one; otherwise `reachable` tells whether some placement reached every visit inside a window.
    """

    steps: tuple[Step, ...] | None
    schedule: Schedule | None
    reachable: bool

    @property
    def feasible(self) -> bool:
        return self.steps is not None


def job_steps(job: Job) -> list[Step]:
    """The steps serving a job: pickup then delivery for a pair, the one visit otherwise."""
    if job.is_pair:
        return [Step(StepKind.PICKUP, job.id), Step(StepKind.DELIVERY, job.id)]
    kind = StepKind.DELIVERY if job.delivery is not None else StepKind.PICKUP
    return [Step(kind, job.id)]


def placements(vehicle: Vehicle, steps: Sequence[Step]) -> Iterator[list[Step]]:
    """Every way to take each of the vehicle's breaks once before, between or after `steps`."""
    rests = sorted(
        vehicle.breaks, key=lambda r: (min((w.start for w in r.windows), default=0), r.id)
    )
    if not rests:
        yield list(steps)
        return
    slots = range(len(steps) + 1)
    for choice in itertools.islice(itertools.product(slots, repeat=len(rests)), MAX_PLACEMENTS):
        route: list[Step] = []
        for slot in slots:
            route.extend(
                Step(StepKind.BREAK, r.id)
                for r, at in zip(rests, choice, strict=True)
                if at == slot
            )
            if slot < len(steps):
                route.append(steps[slot])
        yield route


def _misses_every_window(problem: Problem, vehicle: Vehicle, job: Job) -> bool:
    """Whether even driving straight to the job at the shift's start misses a visit's windows.

    Exact shortcut for "no placement reaches it": breaks and a later departure only delay.
    """
    durations = problem.matrices[vehicle.profile].durations
    t, here = vehicle.shift.start, vehicle.start
    for visit in (job.pickup, job.delivery) if job.is_pair else (job.delivery or job.pickup,):
        assert visit is not None, f"job {job.id} has no visit"
        if here is not None:
            t += durations[here][visit.location]
        if visit.windows:
            window = next((w for w in visit.windows if w.end >= t), None)
            if window is None:
                return True
            t = max(t, window.start)
        t += visit.service
        here = visit.location
    return False


def alone(problem: Problem, vehicle: Vehicle, job: Job) -> Alone:
    """Try the job as the vehicle's only job (the problem must hold both)."""
    if _misses_every_window(problem, vehicle, job):
        return Alone(None, None, False)
    best: tuple[int, int, list[Step], Schedule] | None = None
    reachable = False
    for route in placements(vehicle, job_steps(job)):
        schedule = check_route(problem, vehicle.id, route)
        if schedule.feasible:
            if best is None or (schedule.distance, schedule.duration) < best[:2]:
                best = (schedule.distance, schedule.duration, route, schedule)
        elif not any(v.rule == "time_window" for v in schedule.violations):
            reachable = True
    if best is None:
        return Alone(None, None, reachable)
    return Alone(tuple(best[2]), best[3], True)


def _fits_capacity(job: Job, vehicle: Vehicle) -> bool:
    for dim, qty in enumerate(job.amount):
        limit = vehicle.capacity[dim] if dim < len(vehicle.capacity) else 0
        if qty > limit:
            return False
    stops = 2 if job.is_pair else 1
    return vehicle.max_stops is None or vehicle.max_stops >= stops


def signature(vehicle: Vehicle) -> tuple[object, ...]:
    """What decides a job's fate alone on a vehicle (vehicles alike but for their id share it)."""
    return (
        vehicle.profile,
        vehicle.start,
        vehicle.end,
        vehicle.capacity,
        vehicle.skills,
        vehicle.shift,
        vehicle.breaks,
        vehicle.max_stops,
    )


def diagnose_job(problem: Problem, job: Job) -> Reason:
    """The reason code of one job (rules in the module docstring); the problem must hold it."""
    skilled = [v for v in problem.vehicles if job.skills <= v.skills]
    if not skilled:
        return Reason.SKILL
    eligible = skilled if job.vehicles is None else [v for v in skilled if v.id in job.vehicles]
    tried: dict[tuple[object, ...], Alone] = {}

    def outcome(vehicle: Vehicle) -> Alone:
        key = signature(vehicle)
        if key not in tried:
            tried[key] = alone(problem, vehicle, job)
        return tried[key]

    sized = [v for v in eligible if _fits_capacity(job, v)]
    if job.vehicles is not None:
        return Reason.NO_ROOM if any(outcome(v).feasible for v in sized) else Reason.VEHICLE
    if not sized:
        return Reason.CAPACITY
    reachable = False
    for vehicle in sized:
        result = outcome(vehicle)
        if result.feasible:
            return Reason.NO_ROOM
        reachable = reachable or result.reachable
    return Reason.SHIFT if reachable else Reason.WINDOW


def diagnose(problem: Problem, plan: Plan) -> list[Unassigned]:
    """One `Unassigned` per id in `plan.unassigned`, in that order, with its reason code.

    Raises `KeyError` for an id the problem does not know (the checker reports it as unknown_job).
    """
    reasons: dict[str, Reason] = {}
    out = []
    for job_id in plan.unassigned:
        if job_id not in reasons:
            reasons[job_id] = diagnose_job(problem, problem.job_by_id[job_id])
        out.append(Unassigned(job_id, reasons[job_id]))
    return out
