"""Dispatch helpers over live routes: best drivers for a task, delivery estimates."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from lastmile.core.errors import InvalidState
from lastmile.core.ids import new_id
from lastmile.core.tenancy import TenantContext
from lastmile.fleet import queries as fleet_queries
from lastmile.fleet.enums import AutoAssign
from lastmile.routing import live as live_routes
from lastmile.routing import planning
from lastmile.routing.metrics import ASSIGNMENT_ERRORS, AUTO_ASSIGN
from lastmile.routing.problem import place_point
from lastmile.routing.rows import DriverRow, TaskRow
from lastmile.routing.solver import model as m
from lastmile.routing.solver.checker import check_route
from lastmile.routing.solver.insertion import Insertion, insert_all
from lastmile.tasks import lifecycle
from lastmile.tasks import queries as task_queries
from lastmile.tasks import service as task_service
from lastmile.tasks.enums import Kind, State


@dataclass
class Draft:
    """A task that does not exist yet (for an estimate): what planning reads of a task."""

    id: str
    kind: str
    lat: float
    lng: float
    complete_after: datetime | None
    complete_before: datetime | None
    service_seconds: int = 0
    quantities: dict[str, float] = field(default_factory=dict)
    required_skills: list[str] = field(default_factory=list)
    depends_on: str | None = None
    team_id: str | None = None
    state: str = State.unassigned.value
    driver_id: str | None = None
    priority: int = 0
    arrived_at: datetime | None = None


log = structlog.get_logger("lastmile.dispatch")
OPEN_OR_UNDER_WAY = (*task_queries.OPEN, *task_queries.UNDER_WAY)


def _etas(live: live_routes.Live, job: m.Job, found: Insertion) -> dict[str, datetime]:
    """Planned arrival at the job's pickup and drop-off on the new route."""
    problem = live.built.problem
    jobs = [j for j in problem.jobs if j.id != job.id] + [job]
    with_job = m.Problem(
        jobs, problem.vehicles, problem.matrices, problem.objective, problem.dimensions
    )
    schedule = check_route(with_job, found.vehicle_id, found.steps)
    out: dict[str, datetime] = {}
    for timed in schedule.steps:
        if timed.ref == job.id:
            key = "pickup_eta" if timed.kind == m.StepKind.PICKUP else "dropoff_eta"
            out[key] = live_routes.at(live, timed.arrival)
    return out


def _candidate(live: live_routes.Live, job: m.Job, found: Insertion) -> dict[str, Any]:
    return {
        "driver_id": found.vehicle_id,
        "added_distance_m": found.added_distance,
        "added_duration_s": found.added_duration,
        "position": found.pickup_index if found.pickup_index is not None else found.delivery_index,
        **_etas(live, job, found),
    }


async def candidates(
    *, session: AsyncSession, tenant: TenantContext, task_id: str, limit: int
) -> tuple[list[dict[str, Any]], str | None]:
    """The best on-duty drivers of the task's team for it, with what each would add."""
    task = await task_service.require(session=session, tenant=tenant, task_id=task_id)
    if task.state not in (State.unassigned, State.assigned):
        raise InvalidState(f"the task is {task.state}; only open tasks have candidates")
    drivers = await live_routes.drivers_on_duty(
        session=session, tenant=tenant, team_id=task.team_id
    )
    if not drivers:
        return [], m.Reason.VEHICLE.value
    drivers = await live_routes.nearest_drivers(
        session=session,
        tenant=tenant,
        drivers=drivers,
        point=(task.lat, task.lng),
        count=max(live_routes.NEAREST, 2 * limit),
    )
    extra = [task]
    partner_id = task.depends_on
    if partner_id is not None:
        extra.append(await task_service.require(session=session, tenant=tenant, task_id=partner_id))
    live = await live_routes.live(session=session, tenant=tenant, drivers=drivers, extra=extra)
    job = live_routes.job_for(live, task.id)
    result = live_routes.best_per_driver(live, task.id, limit)
    return [_candidate(live, job, c) for c in result.candidates], (
        result.reason.value if result.reason else None
    )


async def estimate(
    *,
    session: AsyncSession,
    tenant: TenantContext,
    pickup: tuple[float, float],
    dropoff: tuple[float, float],
    ready_at: datetime | None,
    deadline: datetime | None,
    service_seconds: int,
    quantities: dict[str, float],
    skills: list[str],
    team_id: str | None,
) -> tuple[dict[str, Any] | None, str | None]:
    """Which driver would take a pickup-and-drop-off and when, before the task exists."""
    drivers = await live_routes.drivers_on_duty(session=session, tenant=tenant, team_id=team_id)
    if not drivers:
        return None, m.Reason.VEHICLE.value
    first = Draft(new_id("est"), Kind.pickup.value, pickup[0], pickup[1], ready_at, None)
    second = Draft(new_id("est"), Kind.dropoff.value, dropoff[0], dropoff[1], None, deadline)
    for draft in (first, second):
        draft.service_seconds, draft.quantities = service_seconds, quantities
        draft.required_skills = skills
    second.depends_on = first.id
    drivers = await live_routes.nearest_drivers(
        session=session, tenant=tenant, drivers=drivers, point=pickup
    )
    live = await live_routes.live(
        session=session, tenant=tenant, drivers=drivers, extra=[first, second]
    )
    job = live_routes.job_for(live, second.id)
    result = live_routes.insert(live, second.id, k=1)
    if not result.candidates:
        return None, result.reason.value if result.reason else m.Reason.NO_ROOM.value
    return _candidate(live, job, result.candidates[0]), None


async def route_warnings(
    *, session: AsyncSession, tenant: TenantContext, driver_id: str
) -> list[str]:
    """What the driver's route breaks as it now stands (after a manual assignment), each counted
    in lastmile_dispatch_assignment_errors_total{kind="manual"}; empty when feasible."""
    drivers = await live_routes.drivers_by_id(session=session, tenant=tenant, ids=[driver_id])
    if not drivers:
        return []
    live = await live_routes.live(session=session, tenant=tenant, drivers=drivers, extra=[])
    steps = live.plan.routes.get(driver_id, [])
    schedule = check_route(live.built.problem, driver_id, steps)
    warnings = []
    for v in schedule.violations:
        pair = live.built.job_tasks.get(v.ref or "", (None, None))
        task_id = pair[1] or pair[0] or v.ref
        where = f" at task {task_id}" if task_id else ""
        warnings.append(f"route infeasible: {v.rule}{where}{': ' + v.detail if v.detail else ''}")
    if warnings:
        ASSIGNMENT_ERRORS.labels(kind="manual").inc()
    return warnings


async def auto_assign(*, session: AsyncSession, tenant: TenantContext, task: TaskRow) -> str | None:
    """Place a new task by its team's mode; returns the driver id, or None when it stays
    unassigned (mode off, nobody free or no feasible place). A pickup's drop-off moves with it."""
    if task.state != State.unassigned or task.driver_id is not None:
        return None
    team_id = task.team_id
    if not team_id:
        return None
    mode = await fleet_queries.auto_assign_mode(session, tenant, team_id)
    if mode == AutoAssign.off:
        return None
    if task.depends_on is not None:  # a drop-off follows its pickup's driver, if it has one
        pickup = (await task_queries.by_ids(session, tenant, [task.depends_on])).get(
            task.depends_on
        )
        if pickup is None or pickup.driver_id is None or pickup.state not in OPEN_OR_UNDER_WAY:
            return None
        await lifecycle.assign(
            session=session, tenant=tenant, task_ids=[task.id], driver_id=pickup.driver_id
        )
        AUTO_ASSIGN.labels(mode=mode, outcome="assigned").inc()
        return pickup.driver_id
    drivers = await live_routes.drivers_on_duty(session=session, tenant=tenant, team_id=team_id)
    partners = await task_queries.open_partners(session, tenant, [task])  # type: ignore[list-item]
    extra: list[TaskRow] = [task, *(p for p in partners if p.id != task.id)]
    chosen = None
    if drivers and mode == AutoAssign.nearest_available:
        chosen = await _nearest_free(session, tenant, drivers, task)
        outcome = "assigned" if chosen else "no_driver_free"
    elif drivers:
        drivers = await live_routes.nearest_drivers(
            session=session, tenant=tenant, drivers=drivers, point=(task.lat, task.lng)
        )
        live = await live_routes.live(session=session, tenant=tenant, drivers=drivers, extra=extra)
        result = live_routes.insert(live, task.id, k=1)
        if result.candidates:
            best = result.candidates[0]
            chosen = best.vehicle_id
            await lifecycle.assign(
                session=session,
                tenant=tenant,
                task_ids=[t.id for t in extra],
                driver_id=chosen,
                caller_orders=True,
            )
            await _place(session, tenant, live, best, task.id)
            outcome = "assigned"
        else:
            outcome = result.reason.value if result.reason else "no_room"
    else:
        outcome = "no_driver_on_duty"
    if chosen and mode == AutoAssign.nearest_available:
        await lifecycle.assign(
            session=session, tenant=tenant, task_ids=[t.id for t in extra], driver_id=chosen
        )
    AUTO_ASSIGN.labels(mode=mode, outcome="assigned" if chosen else "unassigned").inc()
    log.info("auto_assign", task_id=task.id, mode=mode, driver_id=chosen, outcome=outcome)
    return chosen


async def _nearest_free(
    session: AsyncSession, tenant: TenantContext, drivers: list[DriverRow], task: TaskRow
) -> str | None:
    """The closest on-duty driver with no open task (by straight line from where they are)."""
    busy = {
        t.driver_id for t in await task_queries.routes_of(session, tenant, [d.id for d in drivers])
    }
    free = [d for d in drivers if d.id not in busy]
    if not free:
        return None
    where = await planning.positions(session, tenant, [d.id for d in free])
    hubs = await fleet_queries.hubs(session, tenant)

    def distance(d: DriverRow) -> float:
        point = where.get(d.id) or place_point(d.start_place, hubs)
        if point is None:
            return float("inf")
        return math.dist(point, (task.lat, task.lng))

    return min(free, key=distance).id


async def _place(
    session: AsyncSession,
    tenant: TenantContext,
    live: live_routes.Live,
    best: Insertion,
    task_id: str,
) -> None:
    """Order the driver's route as the insertion found it, with the planned times."""
    problem = live.built.problem
    job = live_routes.job_for(live, task_id)
    jobs = [j for j in problem.jobs if j.id != job.id] + [
        m.Job(job.id, job.pickup, job.delivery, job.amount, job.skills, job.priority, None)
    ]
    whole = m.Problem(
        jobs, problem.vehicles, problem.matrices, problem.objective, problem.dimensions
    )
    schedule = check_route(whole, best.vehicle_id, best.steps)
    await _write_order(session, tenant, live, best.vehicle_id, schedule)


async def _write_order(
    session: AsyncSession,
    tenant: TenantContext,
    live: live_routes.Live,
    driver_id: str,
    schedule: m.Schedule,
) -> None:
    """Store the route's order and planned times as `schedule` has them."""
    offset = 1 if driver_id in live.built.fixed else 0
    planned: dict[str, tuple[int, datetime, datetime]] = {}
    for i, timed in enumerate(schedule.steps[1:-1]):
        if timed.kind == m.StepKind.BREAK or timed.ref is None:
            continue
        pickup_id, dropoff_id = live.built.job_tasks[timed.ref]
        stop_id = pickup_id if timed.kind == m.StepKind.PICKUP else dropoff_id
        if stop_id is not None:
            arrival = live_routes.at(live, timed.arrival)
            planned[stop_id] = (offset + i, arrival, live_routes.at(live, timed.departure))
    await task_queries.set_positions(session, tenant, planned)


async def auto_assign_many(
    *, session: AsyncSession, tenant: TenantContext, task_ids: Sequence[str]
) -> int:
    """Place many new tasks by their teams' modes (a batch): in `insert` mode all of a team's
    tasks go into its live routes in one greedy pass. Returns how many were placed."""
    found = await task_queries.by_ids(session, tenant, task_ids)
    by_team: dict[str, list[TaskRow]] = {}
    for t in found.values():
        if t.state == State.unassigned and t.driver_id is None and t.team_id:
            by_team.setdefault(t.team_id, []).append(t)
    placed = 0
    for team_id, tasks in by_team.items():
        mode = await fleet_queries.auto_assign_mode(session, tenant, team_id)
        if mode == AutoAssign.nearest_available:
            for one in tasks:
                placed += bool(await auto_assign(session=session, tenant=tenant, task=one))
        elif mode == AutoAssign.insert:
            placed += await _insert_many(session, tenant, team_id, tasks)
    return placed


async def _insert_many(
    session: AsyncSession, tenant: TenantContext, team_id: str, tasks: list[TaskRow]
) -> int:
    drivers = await live_routes.drivers_on_duty(session=session, tenant=tenant, team_id=team_id)
    if not drivers:
        AUTO_ASSIGN.labels(mode="insert", outcome="unassigned").inc(len(tasks))
        return 0
    live = await live_routes.live(session=session, tenant=tenant, drivers=drivers, extra=tasks)
    new_jobs = {
        job_id
        for job_id, pair in live.built.job_tasks.items()
        if any(tid in {t.id for t in tasks} for tid in pair if tid is not None)
    }
    routes = insert_all(live.built.problem, live.plan, sorted(new_jobs)).routes
    placed = 0
    for driver_id, steps in routes.items():
        added = [s for s in steps if s.ref in new_jobs]
        if not added:
            continue
        task_ids = [tid for s in added for tid in live.built.job_tasks[s.ref] if tid is not None]
        await lifecycle.assign(
            session=session,
            tenant=tenant,
            task_ids=list(dict.fromkeys(task_ids)),
            driver_id=driver_id,
            caller_orders=True,
        )
        schedule = check_route(live.built.problem, driver_id, steps)
        await _write_order(session, tenant, live, driver_id, schedule)
        placed += len({s.ref for s in added})
    AUTO_ASSIGN.labels(mode="insert", outcome="assigned").inc(placed)
    AUTO_ASSIGN.labels(mode="insert", outcome="unassigned").inc(len(new_jobs) - placed)
    return placed


async def any_auto_assign(
    *, session: AsyncSession, tenant: TenantContext, team_ids: set[str]
) -> bool:
    """Whether any of these teams auto-assigns its new tasks."""
    if not team_ids:
        return False
    modes = await fleet_queries.auto_assign_modes(session, tenant, sorted(team_ids))
    return any(mode != AutoAssign.off for mode in modes.values())
