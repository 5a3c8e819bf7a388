"""A `Problem` as PyVRP 0.14 `ProblemData`, and PyVRP routes back as `Step`s.

Mapping (docs/adr/0002-route-solver.md):
- every job visit gets its own PyVRP location, so an arc into one job can be blocked without
  blocking another job at the same place; depots (vehicle starts and ends) come first, then one
  free location (zero to and from everywhere) standing for an open start or end;
- skills and `Job.vehicles` become routing profiles: one pair of matrices per (profile, set of
  jobs the vehicle may not serve), with the arcs into those jobs longer than any shift;
- a single visit with several windows becomes a client group of alternatives, one client per
  window (exactly one is visited); pairs take one window per step (several: unsupported);
- a stop limit (`Vehicle.max_stops`, or the spreading cap of BALANCED / LATENESS) is one more
  load dimension in which every single visit delivers 1 (with pairs: unsupported);
- priorities are prizes of optional jobs when the run allows jobs to be left out; identical
  vehicles share one vehicle type.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import pyvrp

from lastmile.routing.solver.engines.base import (
    Costs,
    IntMatrix,
    arrays,
    costs_for,
    priority_prize,
)
from lastmile.routing.solver.model import HORIZON, Problem, Step, StepKind, Vehicle, Window

BLOCKED_TIME = 2 * HORIZON
"""Travel time of a forbidden arc: later than any shift ends, so using it is never feasible."""
BLOCKED_DISTANCE = 10**12
MAX_MATRIX_CELLS = 120_000_000
"""Cells over all profile matrices PyVRP would need before we call the problem too big for it."""

ActivityKey = tuple[int, int]  # (0 client, 1 pickup, 2 delivery), index
RouteKey = tuple[int, list[ActivityKey]]  # vehicle type, activities


def blocked_jobs(problem: Problem, vehicle: Vehicle) -> frozenset[int]:
    """Indices of the jobs this vehicle may not serve (skills, manual assignment)."""
    return frozenset(
        i
        for i, job in enumerate(problem.jobs)
        if not job.skills <= vehicle.skills
        or (job.vehicles is not None and vehicle.id not in job.vehicles)
    )


def signatures(problem: Problem) -> list[tuple[str, frozenset[int]]]:
    """Per vehicle, its (profile, blocked jobs): vehicles with equal signatures share matrices."""
    restricted = any(job.skills or job.vehicles is not None for job in problem.jobs)
    return [
        (v.profile, blocked_jobs(problem, v) if restricted else frozenset())
        for v in problem.vehicles
    ]


def location_count(problem: Problem) -> int:
    depots = {loc for v in problem.vehicles for loc in (v.start, v.end) if loc is not None}
    visits = sum(2 if job.is_pair else 1 for job in problem.jobs)
    return len(depots) + 1 + visits


def unsupported(problem: Problem, costs: Costs | None = None) -> str | None:
    """Why PyVRP cannot model the problem exactly, or None."""
    if any(v.breaks for v in problem.vehicles):
        return "driver breaks (open-source PyVRP has none)"
    pairs = [job for job in problem.jobs if job.is_pair]
    for job in pairs:
        assert job.pickup is not None and job.delivery is not None
        if len(job.pickup.windows) > 1 or len(job.delivery.windows) > 1:
            return f"several time windows on a pickup or delivery (job {job.id})"
    capped = any(v.max_stops is not None for v in problem.vehicles)
    if pairs and (capped or (costs or costs_for(problem)).cap is not None):
        return (
            "a stop limit (max stops, or the BALANCED/LATENESS spread) with pickup-delivery pairs"
        )
    profiles = len(set(signatures(problem)))
    if profiles * location_count(problem) ** 2 * 2 > MAX_MATRIX_CELLS:
        return f"too many vehicle-job compatibility classes ({profiles}) for per-profile matrices"
    missing = {v.profile for v in problem.vehicles} - set(problem.matrices)
    if missing:
        return f"no matrix for profile(s) {sorted(missing)}"
    return None


@dataclass(slots=True)
class PyvrpModel:
    """The PyVRP data and what each PyVRP index stands for."""

    data: pyvrp.ProblemData
    client_ref: list[tuple[str, StepKind]]  # per client index
    shipment_ref: list[str]  # per shipment index
    type_vehicles: list[list[str]]  # per vehicle type, the vehicle ids it stands for
    client_job: list[int]  # per client index, the job index
    required: bool
    has_groups: bool
    costs: Costs
    max_penalty: float = 100_000.0  # PyVRP's default; more when prizes are at stake


MAX_PENALTY_CAP = 1e8
"""Highest penalty per unit of time warp or excess load: times a forbidden arc (2e9) it stays far
from int64 overflow."""


def max_penalty(problem: Problem, costs: Costs, required: bool) -> float:
    """Penalties must outweigh a job's prize, or the search keeps a job it cannot fit (paying
    the penalty) rather than leave it out; PyVRP's default suffices when every job is required."""
    if required:
        return 100_000.0
    top = max((priority_prize(costs, j.priority) for j in problem.jobs), default=costs.prize)
    return float(min(MAX_PENALTY_CAP, max(100_000, 10 * top)))


def _window(windows: Sequence[Window]) -> tuple[int, int]:
    if not windows:
        return 0, HORIZON
    return windows[0].start, windows[0].end


def build(problem: Problem, *, required: bool, costs: Costs | None = None) -> PyvrpModel:
    """The PyVRP model of `problem`; with `required` every job must be served."""
    costs = costs or costs_for(problem)
    mats = arrays(problem)
    dims = problem.dimensions
    capped = costs.cap is not None or any(v.max_stops is not None for v in problem.vehicles)

    # Locations: depots, the free location, then one per job visit.
    depot_locs = sorted(
        {loc for v in problem.vehicles for loc in (v.start, v.end) if loc is not None}
    )
    depot_index = {loc: i for i, loc in enumerate(depot_locs)}
    free = len(depot_locs)
    src: list[int] = [*depot_locs, -1]
    job_cols: list[list[int]] = []
    for job in problem.jobs:
        cols = []
        for visit in (job.pickup, job.delivery):
            if visit is not None:
                cols.append(len(src))
                src.append(visit.location)
        job_cols.append(cols)
    n_loc = len(src)
    index = np.asarray(src, dtype=np.int64)
    is_free = index < 0
    index[is_free] = 0

    # Profiles: one per (matrix profile, jobs blocked).
    sigs = signatures(problem)
    sig_index: dict[tuple[str, frozenset[int]], int] = {}
    distance_mats: list[IntMatrix] = []
    duration_mats: list[IntMatrix] = []
    for sig in sigs:
        if sig in sig_index:
            continue
        sig_index[sig] = len(distance_mats)
        durations, distances = mats[sig[0]]
        sub_t = durations[np.ix_(index, index)]
        sub_d = distances[np.ix_(index, index)]
        for m in (sub_t, sub_d):
            m[is_free, :] = 0
            m[:, is_free] = 0
        cols = [c for j in sig[1] for c in job_cols[j]]
        if cols:  # into a forbidden job from anywhere, the free location included
            sub_t[:, cols] = BLOCKED_TIME
            sub_d[:, cols] = BLOCKED_DISTANCE
        for m in (sub_t, sub_d):
            np.fill_diagonal(m, 0)
        duration_mats.append(np.ascontiguousarray(sub_t))
        distance_mats.append(np.ascontiguousarray(sub_d))

    # Vehicle types: identical vehicles share one.
    types: dict[tuple[object, ...], list[str]] = {}
    type_args: dict[tuple[object, ...], dict[str, object]] = {}
    total_stops = sum(len(c) for c in job_cols)
    for vehicle, sig in zip(problem.vehicles, sigs, strict=True):
        capacity = list(vehicle.capacity) + [0] * (dims - len(vehicle.capacity))
        if capped:
            limit = total_stops
            if vehicle.max_stops is not None:
                limit = min(limit, vehicle.max_stops)
            if costs.cap is not None:
                limit = min(limit, costs.cap)
            capacity.append(limit)
        args: dict[str, object] = {
            "capacity": capacity,
            "start_depot": free if vehicle.start is None else depot_index[vehicle.start],
            "end_depot": free if vehicle.end is None else depot_index[vehicle.end],
            "fixed_cost": vehicle.fixed_cost + costs.vehicle,
            "tw_early": vehicle.shift.start,
            "tw_late": vehicle.shift.end,
            "unit_distance_cost": costs.distance,
            "unit_duration_cost": costs.duration,
            "profile": sig_index[sig],
        }
        key = tuple((k, tuple(v) if isinstance(v, list) else v) for k, v in args.items())
        types.setdefault(key, []).append(vehicle.id)
        type_args[key] = args
    vehicle_types = [
        pyvrp.VehicleType(num_available=len(ids), **type_args[key])  # type: ignore[arg-type]
        for key, ids in types.items()
    ]

    # Jobs: clients (single visits, alternatives per window) and shipments (pairs).
    depots = [pyvrp.Depot(location=i) for i in range(len(depot_locs) + 1)]
    clients: list[pyvrp.Client] = []
    client_ref: list[tuple[str, StepKind]] = []
    client_job: list[int] = []
    groups: list[pyvrp.ClientGroup] = []
    shipments: list[pyvrp.Shipment] = []
    shipment_ref: list[str] = []
    extra = [1] if capped else []
    for j, job in enumerate(problem.jobs):
        prize = 0 if required else priority_prize(costs, job.priority)
        amount = list(job.amount) + [0] * (dims - len(job.amount))
        if job.is_pair:
            assert job.pickup is not None and job.delivery is not None
            pe, pl = _window(job.pickup.windows)
            de, dl = _window(job.delivery.windows)
            if dl < pe or pl < pe or dl < de:
                continue  # no time can serve it (PyVRP refuses such a shipment): left out
            shipments.append(
                pyvrp.Shipment(
                    pickup_location=job_cols[j][0],
                    delivery_location=job_cols[j][1],
                    pickup_tw_early=pe,
                    pickup_tw_late=pl,
                    pickup_service_duration=job.pickup.service,
                    delivery_tw_early=de,
                    delivery_tw_late=dl,
                    delivery_service_duration=job.delivery.service,
                    amount=amount + ([0] if capped else []),
                    prize=prize,
                    required=required,
                    name=job.id,
                )
            )
            shipment_ref.append(job.id)
            continue
        visit = job.delivery or job.pickup
        assert visit is not None
        kind = StepKind.DELIVERY if job.delivery is not None else StepKind.PICKUP
        zero = [0] * dims
        delivery = (amount if kind is StepKind.DELIVERY else zero) + extra
        pickup = (amount if kind is StepKind.PICKUP else zero) + ([0] if capped else [])
        windows = [w for w in visit.windows if w.start <= w.end] or [Window(0, HORIZON)]
        if visit.windows and not any(w.start <= w.end for w in visit.windows):
            continue  # only empty windows: no time can serve it
        group = len(groups) if len(windows) > 1 else None
        members = []
        for window in windows:
            members.append(len(clients))
            clients.append(
                pyvrp.Client(
                    location=job_cols[j][0],
                    delivery=delivery,
                    pickup=pickup,
                    service_duration=visit.service,
                    tw_early=window.start,
                    tw_late=window.end,
                    prize=prize,
                    required=required and group is None,
                    group=group,
                    name=job.id,
                )
            )
            client_ref.append((job.id, kind))
            client_job.append(j)
        if group is not None:
            groups.append(pyvrp.ClientGroup(members, required=required))

    locations = [pyvrp.Location(0.0, 0.0) for _ in range(n_loc)]
    data = pyvrp.ProblemData(
        locations=locations,
        clients=clients,
        depots=depots,
        vehicle_types=vehicle_types,
        distance_matrices=cast("list[Any]", distance_mats),
        duration_matrices=cast("list[Any]", duration_mats),
        groups=groups,
        shipments=shipments,
    )
    return PyvrpModel(
        data=data,
        client_ref=client_ref,
        shipment_ref=shipment_ref,
        type_vehicles=list(types.values()),
        client_job=client_job,
        required=required,
        has_groups=bool(groups),
        costs=costs,
        max_penalty=max_penalty(problem, costs, required),
    )


_KIND = {
    pyvrp.ActivityType.CLIENT: 0,
    pyvrp.ActivityType.PICKUP: 1,
    pyvrp.ActivityType.DELIVERY: 2,
}
_TYPE = {v: k for k, v in _KIND.items()}


def routes_of(solution: pyvrp.Solution) -> list[RouteKey]:
    """A solution's routes as plain tuples (they cross process boundaries)."""
    out: list[RouteKey] = []
    for route in solution.routes():
        acts = [(_KIND[a.type], a.idx) for a in route if not a.is_depot()]
        if acts:
            out.append((route.vehicle_type(), acts))
    return out


def solution_of(data: pyvrp.ProblemData, routes: Sequence[RouteKey]) -> pyvrp.Solution:
    """A PyVRP solution from plain routes (a warm start)."""
    return pyvrp.Solution(
        data,
        [
            pyvrp.Route(data, [pyvrp.Activity(_TYPE[k], i) for k, i in acts], vtype)
            for vtype, acts in routes
        ],
    )


def to_steps(model: PyvrpModel, routes: Sequence[RouteKey]) -> dict[str, list[Step]]:
    """Steps per vehicle id: each type's routes go to its vehicles in order."""
    free = {t: list(ids) for t, ids in enumerate(model.type_vehicles)}
    plan: dict[str, list[Step]] = {}
    for vtype, acts in routes:
        vehicle_id = free[vtype].pop(0)
        steps = []
        for kind, idx in acts:
            if kind == 0:
                job_id, step_kind = model.client_ref[idx]
                steps.append(Step(step_kind, job_id))
            else:
                step_kind = StepKind.PICKUP if kind == 1 else StepKind.DELIVERY
                steps.append(Step(step_kind, model.shipment_ref[idx]))
        plan[vehicle_id] = steps
    return plan
