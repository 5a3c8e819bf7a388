"""Drivers' live routes as a solver problem: for inserting one task, ranking candidates and
answering delivery estimates without running a whole plan."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from lastmile.core import clock
from lastmile.core.tenancy import TenantContext
from lastmile.fleet import queries as fleet_queries
from lastmile.routing import planning
from lastmile.routing.matrix.service import matrix_for
from lastmile.routing.problem import Built, Options, Source, build, layout, place_point
from lastmile.routing.rows import DriverRow, HubRow, TaskRow
from lastmile.routing.solver import model as m
from lastmile.routing.solver.insertion import InsertionResult, best_insertions
from lastmile.tasks import queries as task_queries
from lastmile.tasks.enums import State


@dataclass
class Live:
    built: Built
    plan: m.Plan
    epoch: datetime


async def drivers_on_duty(
    *, session: AsyncSession, tenant: TenantContext, team_id: str | None
) -> list[DriverRow]:
    return list(await fleet_queries.drivers_on_duty(session, tenant, team_id, 500))


NEAREST = 8  # drivers whose routes come closest to a new task are the ones searched


async def _hubs(session: AsyncSession, tenant: TenantContext) -> dict[str, HubRow]:
    """The tenant's hubs, read once per unit of work."""
    found: dict[str, HubRow] | None = session.info.get("routing.hubs")
    if found is None:
        found = session.info["routing.hubs"] = dict(await fleet_queries.hubs(session, tenant))
    return found


async def _positions(
    session: AsyncSession, tenant: TenantContext, ids: list[str]
) -> dict[str, tuple[float, float]]:
    """Drivers' last positions, read once per unit of work and set of drivers."""
    memo: dict[tuple[str, ...], dict[str, tuple[float, float]]] = session.info.setdefault(
        "routing.positions", {}
    )
    wanted = set(ids)
    for key, found in memo.items():
        if wanted <= set(key):
            return {d: p for d, p in found.items() if d in wanted}
    found = memo[tuple(sorted(wanted))] = await planning.positions(session, tenant, ids)
    return found


async def nearest_drivers(
    *,
    session: AsyncSession,
    tenant: TenantContext,
    drivers: Sequence[DriverRow],
    point: tuple[float, float],
    count: int = NEAREST,
) -> list[DriverRow]:
    """The `count` drivers whose route (stops, position or start place) passes closest to
    `point`: inserting a task far from a route never beats inserting it near one."""
    if len(drivers) <= count:
        return list(drivers)
    ids = [d.id for d in drivers]
    stops = await task_queries.nearest_stops(session, tenant, ids, point)
    where = await _positions(session, tenant, ids)
    hubs = await _hubs(session, tenant)
    k = math.cos(math.radians(point[0])) ** 2

    def squared(p: tuple[float, float]) -> float:
        return (p[0] - point[0]) ** 2 + (p[1] - point[1]) ** 2 * k

    def gap(d: DriverRow) -> float:
        places = [p for p in (where.get(d.id), place_point(d.start_place, hubs)) if p]
        return min([stops.get(d.id, math.inf), *(squared(p) for p in places)])

    return sorted(drivers, key=gap)[:count]


async def drivers_by_id(
    *, session: AsyncSession, tenant: TenantContext, ids: list[str]
) -> list[DriverRow]:
    return list(await fleet_queries.drivers_by_ids(session, tenant, ids))


async def live(
    *,
    session: AsyncSession,
    tenant: TenantContext,
    drivers: list[DriverRow],
    extra: Sequence[TaskRow],
    objective: m.Objective = m.Objective.DURATION,
    where_now: Mapping[str, tuple[float, float]] | None = None,
) -> Live:
    """The drivers' current routes (open stops in route order) and the `extra` tasks unplaced;
    `where_now` gives drivers' positions known better than the stored ones."""
    epoch = clock.now()
    ids = [d.id for d in drivers]
    active: dict[str, TaskRow] = {}
    routed: list[TaskRow] = []
    for t in await task_queries.route_stops(session, tenant, ids):
        assert t.driver_id is not None
        if t.state in (State.started, State.arrived):
            active.setdefault(t.driver_id, t)
        else:
            routed.append(t)
    vehicle_ids = [d.vehicle_id for d in drivers if d.vehicle_id]
    vehicles = await fleet_queries.vehicles_by_ids(session, tenant, vehicle_ids)
    hubs = await _hubs(session, tenant)
    positions = {**await _positions(session, tenant, ids), **(where_now or {})}
    zones = planning.hub_zones(drivers, hubs)  # shifts in each start hub's time zone
    source = Source([*routed, *extra], drivers, vehicles, hubs, active, {}, positions, {}, zones)
    where = layout(source)
    matrices: dict[str, m.Matrix] = {}
    for profile in sorted(set(where.profiles.values())):
        found = await matrix_for(
            session=session, tenant=tenant, points=where.points, profile=profile
        )
        matrices[profile] = m.Matrix(found.durations.tolist(), found.distances.tolist())
    options = Options(epoch=epoch, zone=ZoneInfo("UTC"), objective=objective)
    built = build(source, options, where, matrices)
    routes: dict[str, list[m.Step]] = {d.id: [] for d in drivers}
    step_of = {}
    for job_id, (pickup_id, dropoff_id) in built.job_tasks.items():
        if pickup_id is not None:
            step_of[pickup_id] = m.Step(m.StepKind.PICKUP, job_id)
        if dropoff_id is not None:
            step_of[dropoff_id] = m.Step(m.StepKind.DELIVERY, job_id)
    for stop in routed:
        if stop.id in step_of and stop.driver_id in routes:
            routes[stop.driver_id].append(step_of[stop.id])
    return Live(built, m.Plan(routes), epoch)


def job_for(live_routes: Live, task_id: str) -> m.Job:
    """The solver job holding this task (a pair's job for either of its tasks)."""
    for job_id, pair in live_routes.built.job_tasks.items():
        if task_id in pair:
            return live_routes.built.problem.job_by_id[job_id]
    raise KeyError(task_id)


def insert(live_routes: Live, task_id: str, k: int = 1) -> InsertionResult:
    """The best `k` places for the task in the live routes."""
    job = job_for(live_routes, task_id)
    problem = live_routes.built.problem
    # Without the job in any route and without restricting it to its current driver.
    free = m.Job(job.id, job.pickup, job.delivery, job.amount, job.skills, job.priority, None)
    jobs = [j for j in problem.jobs if j.id != job.id]
    others = m.Problem(
        jobs, problem.vehicles, problem.matrices, problem.objective, problem.dimensions
    )
    routes = {
        v: [s for s in steps if s.ref != job.id] for v, steps in live_routes.plan.routes.items()
    }
    return best_insertions(others, m.Plan(routes), free, k)


def best_per_driver(live_routes: Live, task_id: str, limit: int) -> InsertionResult:
    """Each driver's best place for the task, the `limit` best drivers first."""
    job = job_for(live_routes, task_id)
    problem = live_routes.built.problem
    free = m.Job(job.id, job.pickup, job.delivery, job.amount, job.skills, job.priority, None)
    jobs = [j for j in problem.jobs if j.id != job.id]
    others = m.Problem(
        jobs, problem.vehicles, problem.matrices, problem.objective, problem.dimensions
    )
    routes = {
        v: [s for s in steps if s.ref != job.id] for v, steps in live_routes.plan.routes.items()
    }
    return best_insertions(others, m.Plan(routes), free, limit, per_vehicle=True)


def at(live_routes: Live, seconds: int) -> datetime:
    return live_routes.epoch + timedelta(seconds=seconds)
