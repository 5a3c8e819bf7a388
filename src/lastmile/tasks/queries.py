"""Reads of tasks for other domains (route planning): open tasks, routes, positions."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, literal, or_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlalchemy.orm.attributes import set_committed_value

from lastmile.core.tenancy import TenantContext, scoped, scoped_update
from lastmile.tasks.enums import Kind, State
from lastmile.tasks.models import Task, TaskEvent

OPEN = (State.unassigned.value, State.assigned.value)
UNDER_WAY = (State.started.value, State.arrived.value)


async def by_ids(
    session: AsyncSession, tenant: TenantContext, ids: Sequence[str]
) -> dict[str, Task]:
    """The tasks with these ids, whatever their state."""
    found: dict[str, Task] = {}
    for start in range(0, len(ids), 1000):
        part = list(ids[start : start + 1000])
        for t in (await session.execute(scoped(Task, tenant).where(Task.id.in_(part)))).scalars():
            found[t.id] = t
    return found


async def open_partners(
    session: AsyncSession, tenant: TenantContext, tasks: Sequence[Task]
) -> list[Task]:
    """The open pickups and drop-offs linked to these tasks."""
    wanted = {t.depends_on for t in tasks if t.depends_on} | {
        t.id for t in tasks if t.kind == Kind.pickup
    }
    if not wanted:
        return []
    stmt = scoped(Task, tenant).where(
        or_(Task.id.in_(sorted(wanted)), Task.depends_on.in_(sorted(wanted))),
        Task.state.in_(OPEN),
    )
    return list((await session.execute(stmt)).scalars())


async def ids_matching(
    session: AsyncSession,
    tenant: TenantContext,
    *,
    states: Sequence[str],
    team_id: str | None,
    zone_id: str | None,
    window_from: datetime | None,
    window_to: datetime | None,
    limit: int,
) -> list[str]:
    """Ids of tasks in these states, of the team and zone, whose window touches the period."""
    stmt = scoped(Task, tenant).with_only_columns(Task.id).where(Task.state.in_(list(states)))
    if team_id is not None:
        stmt = stmt.where(Task.team_id == team_id)
    if zone_id is not None:
        stmt = stmt.where(Task.zone_id == zone_id)
    if window_from is not None:
        stmt = stmt.where(or_(Task.complete_before.is_(None), Task.complete_before >= window_from))
    if window_to is not None:
        stmt = stmt.where(or_(Task.complete_after.is_(None), Task.complete_after < window_to))
    return list((await session.execute(stmt.limit(limit))).scalars())


async def routes_of(
    session: AsyncSession, tenant: TenantContext, driver_ids: Sequence[str]
) -> list[Task]:
    """The drivers' open and under-way tasks, in route order."""
    stmt = (
        scoped(Task, tenant)
        .where(Task.driver_id.in_(list(driver_ids)), Task.state.in_((*OPEN, *UNDER_WAY)))
        .order_by(Task.route_position, Task.id)
    )
    return list((await session.execute(stmt)).scalars())


@dataclass(frozen=True, slots=True)
class StopRow:
    """What planning reads of a task on a route, without loading the task itself."""

    id: str
    kind: str
    state: str
    driver_id: str | None
    depends_on: str | None
    team_id: str | None
    lat: float
    lng: float
    complete_after: datetime | None
    complete_before: datetime | None
    service_seconds: int
    quantities: dict[str, float]
    required_skills: list[str]
    priority: int
    arrived_at: datetime | None
    route_position: int | None


_STOP_COLUMNS = (
    Task.id,
    Task.kind,
    Task.state,
    Task.driver_id,
    Task.depends_on,
    Task.team_id,
    Task.lat,
    Task.lng,
    Task.complete_after,
    Task.complete_before,
    Task.service_seconds,
    Task.quantities,
    Task.required_skills,
    Task.priority,
    Task.arrived_at,
    Task.route_position,
)


async def route_stops(
    session: AsyncSession, tenant: TenantContext, driver_ids: Sequence[str]
) -> list[StopRow]:
    """The drivers' open and under-way tasks in route order, as light rows."""
    stmt = (
        scoped(Task, tenant)
        .with_only_columns(*_STOP_COLUMNS)
        .where(Task.driver_id.in_(list(driver_ids)), Task.state.in_((*OPEN, *UNDER_WAY)))
        .order_by(Task.route_position, Task.id)
    )
    rows: list[tuple[Any, ...]] = [tuple(r) for r in (await session.execute(stmt)).all()]
    return [StopRow(*row) for row in rows]


async def on_board(
    session: AsyncSession, tenant: TenantContext, driver_ids: Sequence[str]
) -> list[Task]:
    """Assigned drop-offs of these drivers whose pickup is done: the goods are on board."""
    pickup = aliased(Task)
    picked_up = (
        scoped(pickup, tenant)
        .with_only_columns(pickup.id)
        .where(pickup.state == State.completed.value)
    )
    stmt = scoped(Task, tenant).where(
        Task.state == State.assigned.value,
        Task.driver_id.in_(list(driver_ids)),
        Task.depends_on.in_(picked_up),
    )
    return list((await session.execute(stmt)).scalars())


async def positions(
    session: AsyncSession, tenant: TenantContext, driver_ids: Sequence[str], since: datetime
) -> dict[str, tuple[datetime, tuple[float, float]]]:
    """Each driver's latest position reported with a task action since `since`."""
    stmt = (
        scoped(TaskEvent, tenant)
        .with_only_columns(TaskEvent.driver_id, TaskEvent.lat, TaskEvent.lng, TaskEvent.at)
        .where(
            TaskEvent.driver_id.in_(list(driver_ids)),
            TaskEvent.lat.is_not(None),
            TaskEvent.at >= since,
        )
    )
    seen: dict[str, tuple[datetime, tuple[float, float]]] = {}
    for driver_id, lat, lng, at in (await session.execute(stmt)).all():
        newer = driver_id not in seen or seen[driver_id][0] < at
        if driver_id and lat is not None and lng is not None and newer:
            seen[driver_id] = (at, (lat, lng))
    return seen


async def set_planned(
    session: AsyncSession,
    tenant: TenantContext,
    task_id: str,
    *,
    position: int,
    arrival: datetime,
    departure: datetime,
    plan_id: str,
) -> None:
    """Record a route plan's schedule for an assigned task."""
    task = (await session.execute(scoped(Task, tenant).where(Task.id == task_id))).scalar_one()
    task.route_position = position
    task.planned_arrival_at = arrival
    task.planned_departure_at = departure
    task.route_plan_id = plan_id
    if task.eta_at_dispatch is None:
        task.eta_at_dispatch = arrival


async def set_positions(
    session: AsyncSession,
    tenant: TenantContext,
    planned: dict[str, tuple[int, datetime, datetime]],
) -> None:
    """Move assigned tasks to new route positions with planned arrival and departure times
    (task id -> (position, arrival, departure)), in one statement; tasks this session holds
    are brought up to date in memory."""
    if not planned:
        return
    await session.flush()
    ids = list(planned)

    def per_task(i: int, type_: Any) -> Any:
        return case({tid: literal(planned[tid][i], type_) for tid in ids}, value=Task.id)

    await session.execute(
        scoped_update(Task, tenant)
        .where(Task.id.in_(ids))
        .values(
            route_position=per_task(0, Task.route_position.type),
            planned_arrival_at=per_task(1, Task.planned_arrival_at.type),
            planned_departure_at=per_task(2, Task.planned_departure_at.type),
            # The first ETA a stop gets once assigned is the one "at dispatch".
            eta_at_dispatch=func.coalesce(
                Task.eta_at_dispatch, per_task(1, Task.planned_arrival_at.type)
            ),
        )
        .execution_options(synchronize_session=False)
    )
    for obj in list(session.identity_map.values()):
        if isinstance(obj, Task) and obj.id in planned:
            position, arrival, departure = planned[obj.id]
            set_committed_value(obj, "route_position", position)
            set_committed_value(obj, "planned_arrival_at", arrival)
            set_committed_value(obj, "planned_departure_at", departure)


async def nearest_stops(
    session: AsyncSession,
    tenant: TenantContext,
    driver_ids: Sequence[str],
    point: tuple[float, float],
) -> dict[str, float]:
    """For each driver, how close (squared degrees, longitude scaled to the latitude) the
    nearest of their open and under-way stops comes to `point`: one row per driver."""
    lat, lng = point
    k = math.cos(math.radians(lat)) ** 2
    gap = (Task.lat - lat) * (Task.lat - lat) + (Task.lng - lng) * (Task.lng - lng) * k
    stmt = (
        scoped(Task, tenant)
        .with_only_columns(Task.driver_id, func.min(gap))
        .where(Task.driver_id.in_(list(driver_ids)), Task.state.in_((*OPEN, *UNDER_WAY)))
        .group_by(Task.driver_id)
    )
    return {d: float(g) for d, g in (await session.execute(stmt)).all() if d is not None}


async def stop_under_way(
    session: AsyncSession, tenant: TenantContext, driver_id: str
) -> tuple[str, float, float] | None:
    """The driver's task in state `started` (id, lat, lng): the stop they are heading to."""
    stmt = (
        scoped(Task, tenant)
        .with_only_columns(Task.id, Task.lat, Task.lng)
        .where(Task.driver_id == driver_id, Task.state == State.started.value)
        .order_by(Task.started_at.desc())
        .limit(1)
    )
    row = (await session.execute(stmt)).first()
    return (row[0], row[1], row[2]) if row else None


@dataclass(frozen=True)
class EtaResult:
    """One arrived stop's ETA record."""

    team_id: str | None
    arrived_at: datetime
    error_ratio: float
    eta_at_start: datetime
    eta_at_dispatch: datetime | None


async def eta_results(
    session: AsyncSession,
    tenant: TenantContext,
    since: datetime,
    until: datetime,
    team_ids: Sequence[str] | None,
) -> list[EtaResult]:
    """Stops that arrived in [since, until) with a measured ETA error (optionally of teams)."""
    stmt = (
        scoped(Task, tenant)
        .with_only_columns(
            Task.team_id,
            Task.arrived_at,
            Task.eta_error_ratio,
            Task.eta_at_start,
            Task.eta_at_dispatch,
        )
        .where(
            Task.arrived_at >= since,
            Task.arrived_at < until,
            Task.eta_error_ratio.is_not(None),
            Task.eta_at_start.is_not(None),
        )
    )
    if team_ids is not None:
        stmt = stmt.where(Task.team_id.in_(list(team_ids)))
    out = []
    for team_id, arrived, ratio, at_start, at_dispatch in (await session.execute(stmt)).all():
        if arrived is not None and ratio is not None and at_start is not None:
            out.append(EtaResult(team_id, arrived, ratio, at_start, at_dispatch))
    return out


async def dropoff_ids(
    session: AsyncSession, tenant: TenantContext, after: str | None, limit: int
) -> list[str]:
    """Ids of the tenant's drop-offs in id order, the next `limit` after `after` (backfills)."""
    stmt = scoped(Task, tenant).with_only_columns(Task.id).where(Task.kind == Kind.dropoff.value)
    if after is not None:
        stmt = stmt.where(Task.id > after)
    return list((await session.execute(stmt.order_by(Task.id).limit(limit))).scalars())
