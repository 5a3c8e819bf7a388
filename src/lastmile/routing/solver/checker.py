"""The independent feasibility check every solution passes before anyone sees it."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from lastmile.routing.solver.model import Job, Plan, Problem, Schedule, Step, StepKind, Violation
from lastmile.routing.solver.schedule import evaluate


def check(problem: Problem, plan: Plan) -> list[Violation]:
    """Every rule the plan breaks; empty when it is feasible."""
    violations: list[Violation] = []
    seen: Counter[tuple[str, StepKind]] = Counter()
    route_of: dict[str, str] = {}
    for vehicle_id, steps in plan.routes.items():
        vehicle = problem.vehicle_by_id.get(vehicle_id)
        if vehicle is None:
            violations.append(Violation("unknown_vehicle", vehicle_id))
            continue
        violations.extend(check_route(problem, vehicle_id, steps).violations)
        for step in steps:
            if step.kind is StepKind.BREAK:
                continue
            seen[(step.ref, step.kind)] += 1
            route_of.setdefault(step.ref, vehicle_id)
            if route_of[step.ref] != vehicle_id:
                violations.append(Violation("pair_split", vehicle_id, step.ref))
    for key, count in seen.items():
        if count > 1:
            violations.append(Violation("duplicate_step", route_of[key[0]], key[0], str(key[1])))
    unassigned = Counter(plan.unassigned)
    for job in problem.jobs:
        kinds = [StepKind.PICKUP, StepKind.DELIVERY] if job.is_pair else [_single_kind(job)]
        served = [seen[(job.id, kind)] > 0 for kind in kinds]
        if unassigned[job.id] > 1:
            violations.append(Violation("duplicate_unassigned", None, job.id))
        if all(served):
            if unassigned[job.id]:
                violations.append(Violation("served_and_unassigned", route_of[job.id], job.id))
        elif any(served):
            violations.append(Violation("pair_incomplete", route_of.get(job.id), job.id))
        elif not unassigned[job.id]:
            violations.append(Violation("job_missing", None, job.id))
    for job_id in unassigned:
        if job_id not in problem.job_by_id:
            violations.append(Violation("unknown_job", None, job_id))
    return violations


def _single_kind(job: Job) -> StepKind:
    return StepKind.DELIVERY if job.delivery is not None else StepKind.PICKUP


def check_route(problem: Problem, vehicle_id: str, steps: Sequence[Step]) -> Schedule:
    """The route's schedule, with route-level rules (skills, vehicle, order, stops, breaks) added."""
    vehicle = problem.vehicle_by_id[vehicle_id]
    schedule = evaluate(problem, vehicle, steps)
    violations = schedule.violations
    picked: set[str] = set()
    stops = 0
    breaks: Counter[str] = Counter()
    for step in steps:
        if step.kind is StepKind.BREAK:
            breaks[step.ref] += 1
            continue
        job = problem.job_by_id.get(step.ref)
        if job is None:
            continue
        stops += 1
        if step.kind is StepKind.PICKUP and job.pickup is None:
            violations.append(Violation("wrong_step", vehicle_id, job.id, "no pickup"))
        if step.kind is StepKind.DELIVERY and job.delivery is None:
            violations.append(Violation("wrong_step", vehicle_id, job.id, "no delivery"))
        if job.is_pair:
            if step.kind is StepKind.PICKUP:
                picked.add(job.id)
            elif job.id not in picked:
                violations.append(Violation("precedence", vehicle_id, job.id))
        if step.kind is not StepKind.DELIVERY and job.is_pair:
            continue
        if not job.skills <= vehicle.skills:
            missing = ", ".join(sorted(job.skills - vehicle.skills))
            violations.append(Violation("skills", vehicle_id, job.id, missing))
        if job.vehicles is not None and vehicle_id not in job.vehicles:
            violations.append(Violation("vehicle_not_allowed", vehicle_id, job.id))
    if vehicle.max_stops is not None and stops > vehicle.max_stops:
        violations.append(
            Violation("max_stops", vehicle_id, None, f"{stops} > {vehicle.max_stops}")
        )
    if stops:
        for rest in vehicle.breaks:
            if breaks[rest.id] != 1:
                violations.append(
                    Violation("break_count", vehicle_id, rest.id, f"taken {breaks[rest.id]} times")
                )
    return schedule
