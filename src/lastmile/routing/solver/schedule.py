"""Timing one route: arrivals, waits, loads and distance, and the rules the order breaks.

The single source of truth for what a route costs and whether it is feasible: engines only
order steps; this module times them (the checker, insertion and the API all use it).
"""

from __future__ import annotations

from collections.abc import Sequence

from lastmile.routing.solver.model import (
    HORIZON,
    Amount,
    Job,
    Problem,
    Schedule,
    Step,
    StepKind,
    TimedStep,
    Vehicle,
    Violation,
    Visit,
    Window,
)


def visit_of(job: Job, kind: StepKind) -> Visit:
    """The visit a job step stands for (a single-visit job has only one)."""
    if kind is StepKind.PICKUP and job.pickup is not None:
        return job.pickup
    if kind is StepKind.DELIVERY and job.delivery is not None:
        return job.delivery
    visit = job.delivery or job.pickup
    assert visit is not None, f"job {job.id} has no visit"
    return visit


def load_change(job: Job, kind: StepKind) -> int:
    """+1 when the step loads the job's amount, -1 when it unloads it."""
    if job.is_pair:
        return 1 if kind is StepKind.PICKUP else -1
    return 1 if job.delivery is None else -1


def initial_load(problem: Problem, steps: Sequence[Step]) -> Amount:
    """What is on board at departure: the amounts of single deliveries on the route."""
    load = [0] * problem.dimensions
    for step in steps:
        if step.kind is StepKind.BREAK:
            continue
        job = problem.job_by_id.get(step.ref)
        if job is not None and not job.is_pair and job.delivery is not None:
            for i, qty in enumerate(job.amount):
                load[i] += qty
    return tuple(load)


def _window_for(windows: Sequence[Window], time: int) -> Window | None:
    """The first window still open at `time` (any time when there are none)."""
    if not windows:
        return Window(time, HORIZON)
    for window in windows:
        if window.end >= time:
            return window
    return None


def evaluate(problem: Problem, vehicle: Vehicle, steps: Sequence[Step]) -> Schedule:
    """Time the route with departure delayed as far as it cuts waiting without lateness."""
    first = _forward(problem, vehicle, steps, vehicle.shift.start)
    delay = _useful_delay(first)
    if delay <= 0:
        return first
    return _forward(problem, vehicle, steps, vehicle.shift.start + delay)


def _useful_delay(schedule: Schedule) -> int:
    """How much later the route could leave and still start every service on time."""
    waited = 0
    best = HORIZON
    for step in schedule.steps[1:]:
        waited += step.start - step.arrival
        best = min(best, waited + step.slack)
    return max(0, min(waited, best))


def _forward(problem: Problem, vehicle: Vehicle, steps: Sequence[Step], depart: int) -> Schedule:
    matrix = problem.matrices[vehicle.profile]
    durations, distances = matrix.durations, matrix.distances
    schedule = Schedule(vehicle_id=vehicle.id)
    violations = schedule.violations
    load = list(initial_load(problem, steps))
    capacity = vehicle.capacity
    _check_capacity(load, capacity, vehicle.id, None, violations)
    here = vehicle.start
    time = depart
    distance = 0
    start_step = TimedStep("start", None, here, time, time, time, tuple(load), 0)
    schedule.steps.append(start_step)
    breaks = {b.id: b for b in vehicle.breaks}
    for step in steps:
        if step.kind is StepKind.BREAK:
            rest = breaks.get(step.ref)
            if rest is None:
                violations.append(Violation("unknown_break", vehicle.id, step.ref))
                continue
            window = _window_for(rest.windows, time)
            begin = time if window is None else max(time, window.start)
            if window is None:
                violations.append(Violation("break_window", vehicle.id, rest.id, f"at {time}"))
            timed = TimedStep(
                step.kind, rest.id, here, time, begin, begin + rest.service, tuple(load), distance
            )
            _set_slack(timed, window, begin)
            schedule.steps.append(timed)
            time = begin + rest.service
            continue
        job = problem.job_by_id.get(step.ref)
        if job is None:
            violations.append(Violation("unknown_job", vehicle.id, step.ref))
            continue
        visit = visit_of(job, step.kind)
        if here is None:
            travel = leg = 0
        else:
            travel = durations[here][visit.location]
            leg = distances[here][visit.location]
        arrival = time + travel
        distance += leg
        schedule.travel += travel
        window = _window_for(visit.windows, arrival)
        begin = arrival if window is None else max(arrival, window.start)
        if window is None:
            violations.append(
                Violation("time_window", vehicle.id, job.id, f"{step.kind} arrives at {arrival}")
            )
        sign = load_change(job, step.kind)
        for i, qty in enumerate(job.amount):
            load[i] += sign * qty
        _check_capacity(load, capacity, vehicle.id, job.id, violations)
        timed = TimedStep(
            step.kind,
            job.id,
            visit.location,
            arrival,
            begin,
            begin + visit.service,
            tuple(load),
            distance,
        )
        _set_slack(timed, window, begin)
        schedule.steps.append(timed)
        schedule.waiting += begin - arrival
        here = visit.location
        time = begin + visit.service
    if vehicle.end is not None and here is not None:
        travel = durations[here][vehicle.end]
        distance += distances[here][vehicle.end]
        schedule.travel += travel
        time += travel
        here = vehicle.end
    elif vehicle.end is not None:
        here = vehicle.end
    schedule.steps.append(TimedStep("end", None, here, time, time, time, tuple(load), distance))
    if time > vehicle.shift.end:
        violations.append(
            Violation(
                "shift_end", vehicle.id, None, f"back at {time}, shift ends {vehicle.shift.end}"
            )
        )
    schedule.distance = distance
    schedule.duration = time - depart
    return schedule


def _set_slack(timed: TimedStep, window: Window | None, begin: int) -> None:
    timed.slack = HORIZON if window is None else window.end - begin


def _check_capacity(
    load: list[int], capacity: Amount, vehicle_id: str, ref: str | None, violations: list[Violation]
) -> None:
    for dim, qty in enumerate(load):
        limit = capacity[dim] if dim < len(capacity) else 0
        if qty > limit:
            violations.append(
                Violation("capacity", vehicle_id, ref, f"dimension {dim}: {qty} > {limit}")
            )
        elif qty < 0:
            violations.append(Violation("negative_load", vehicle_id, ref, f"dimension {dim}"))
