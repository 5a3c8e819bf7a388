"""Route plans: validating a request, loading what it plans, storing results, applying them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from lastmile.core import clock
from lastmile.core.errors import Conflict, FieldError, InvalidState, NotFound, ValidationFailed
from lastmile.core.ids import new_id
from lastmile.core.pagination import paginate
from lastmile.core.tenancy import TenantContext, owned, scoped, scoped_update
from lastmile.events import service as events
from lastmile.fleet import queries as fleet_queries
from lastmile.routing.events import ROUTE_PLAN_COMPLETED
from lastmile.routing.matrix.service import matrix_for
from lastmile.routing.models import RoutePlan
from lastmile.routing.problem import BreakSpec, Built, Options, Source, build, layout
from lastmile.routing.rows import DriverRow, HubRow, StoredTaskRow
from lastmile.routing.schemas import (
    MAX_TASKS,
    PlanSummary,
    RoutePlanCreate,
    RoutePlanListItem,
    RoutePlanRead,
)
from lastmile.routing.solver import model as m
from lastmile.routing.solver.model import Objective
from lastmile.tasks import lifecycle
from lastmile.tasks import queries as task_queries
from lastmile.tasks.enums import State
from lastmile.tracking import queries as tracking_queries

OPEN = task_queries.OPEN
POSITION_MAX_AGE = timedelta(hours=2)
ABANDONED_AFTER = timedelta(minutes=10)


class RoutePlanNotFound(NotFound):
    title = "Route plan not found"


class PlanStale(Conflict):
    code, title = "plan-stale", "Tasks changed since the plan was made"


async def require(*, session: AsyncSession, tenant: TenantContext, plan_id: str) -> RoutePlan:
    plan = (
        await session.execute(scoped(RoutePlan, tenant).where(RoutePlan.id == plan_id))
    ).scalar_one_or_none()
    if plan is None:
        raise RoutePlanNotFound(f"no route plan {plan_id}")
    return plan


async def search(
    *,
    session: AsyncSession,
    tenant: TenantContext,
    status: str | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[RoutePlan], str | None]:
    stmt = scoped(RoutePlan, tenant)
    if status is not None:
        stmt = stmt.where(RoutePlan.status == status)
    return await paginate(session, stmt, RoutePlan, limit=limit, cursor=cursor)


def _epoch(data: RoutePlanCreate, zone: ZoneInfo) -> datetime:
    now = clock.now()
    if data.starts_at is not None:
        return data.starts_at
    if data.filter is not None and data.filter.date is not None:
        midnight = datetime.combine(data.filter.date, datetime.min.time(), tzinfo=zone)
        return max(now, midnight)
    return now


async def _task_ids_by_filter(
    session: AsyncSession, tenant: TenantContext, data: RoutePlanCreate, zone: ZoneInfo
) -> list[str]:
    f = data.filter
    assert f is not None
    start = end = None
    if f.date is not None:
        start = datetime.combine(f.date, datetime.min.time(), tzinfo=zone)
        end = start + timedelta(days=1)
    ids = await task_queries.ids_matching(
        session,
        tenant,
        states=OPEN if f.include_assigned else (State.unassigned.value,),
        team_id=f.team_id,
        zone_id=f.zone_id,
        window_from=start,
        window_to=end,
        limit=MAX_TASKS + 1,
    )
    if len(ids) > MAX_TASKS:
        raise ValidationFailed(
            "too many tasks",
            [FieldError("body.filter", f"more than {MAX_TASKS} tasks match; narrow the filter")],
        )
    return ids


async def _load_tasks(
    session: AsyncSession, tenant: TenantContext, ids: list[str], field: str | None
) -> list[StoredTaskRow]:
    """The tasks with these ids and their open linked partners; unknown or closed ids are 422."""
    found = await task_queries.by_ids(session, tenant, ids)
    errors = []
    for i, task_id in enumerate(ids):
        task = found.get(task_id)
        if task is None:
            errors.append(FieldError(f"{field}[{i}]", f"no task {task_id}"))
        elif task.state not in OPEN and field is not None:
            errors.append(FieldError(f"{field}[{i}]", f"task {task_id} is {task.state}"))
    if errors:
        raise ValidationFailed("tasks cannot be planned", errors)
    tasks: list[StoredTaskRow] = [t for t in found.values() if t.state in OPEN]
    known = {t.id for t in tasks}
    for t in await task_queries.open_partners(session, tenant, list(found.values())):
        if t.id not in known:
            known.add(t.id)
            tasks.append(t)
    return tasks


async def _drivers(
    session: AsyncSession, tenant: TenantContext, data: RoutePlanCreate
) -> list[DriverRow]:
    if data.driver_ids is not None:
        ids = list(dict.fromkeys(data.driver_ids))
        rows = {d.id: d for d in await fleet_queries.drivers_by_ids(session, tenant, ids)}
        errors = [
            FieldError(f"body.driver_ids[{i}]", f"no driver {d}")
            for i, d in enumerate(data.driver_ids)
            if d not in rows
        ]
        if errors:
            raise ValidationFailed("unknown drivers", errors)
        return [rows[i] for i in ids]
    team_id = data.filter.team_id if data.filter is not None else None
    return list(await fleet_queries.drivers_on_duty(session, tenant, team_id, 501))


async def create(
    *, session: AsyncSession, tenant: TenantContext, data: RoutePlanCreate, engines: list[str]
) -> RoutePlan:
    """Check the request against the tenant's data and queue the run."""
    zone = ZoneInfo(data.timezone or "UTC")
    if data.engine is not None and data.engine not in engines:
        raise ValidationFailed(
            "unknown engine", [FieldError("body.engine", f"one of {', '.join(engines)}")]
        )
    drivers = await _drivers(session, tenant, data)
    if not drivers:
        raise ValidationFailed(
            "no drivers to plan for",
            [FieldError("body.driver_ids", "no driver is on duty; list drivers in driver_ids")],
        )
    if len(drivers) > 500:
        raise ValidationFailed("too many drivers", [FieldError("body.driver_ids", "at most 500")])
    driver_ids = {d.id for d in drivers}
    errors = [
        FieldError(f"body.locked_driver_ids[{i}]", f"driver {d} is not among the planned drivers")
        for i, d in enumerate(data.locked_driver_ids)
        if d not in driver_ids
    ]
    if errors:
        raise ValidationFailed("conflicting locks", errors)
    if data.task_ids is not None:
        ids = list(data.task_ids)
        tasks = await _load_tasks(session, tenant, ids, "body.task_ids")
        locked = set(data.locked_driver_ids)
        clash = [
            FieldError(f"body.task_ids[{i}]", f"assigned to locked driver {t.driver_id}")
            for i, task_id in enumerate(ids)
            for t in tasks
            if t.id == task_id and t.driver_id in locked
        ]
        if clash:
            raise ValidationFailed("conflicting locks", clash)
    else:
        ids = await _task_ids_by_filter(session, tenant, data, zone)
    if len(ids) > MAX_TASKS:
        raise ValidationFailed(
            "too many tasks", [FieldError("body.task_ids", f"at most {MAX_TASKS}")]
        )
    request = data.model_dump(mode="json")
    request["resolved_task_ids"] = ids
    request["resolved_driver_ids"] = [d.id for d in drivers]
    plan = owned(
        RoutePlan(
            id=new_id("rpl"),
            status="queued",
            progress=0,
            objective=data.objective.value,
            time_budget_seconds=data.time_budget_seconds,
            starts_at=_epoch(data, zone),
            auto_apply=data.auto_apply,
            cancel_requested=False,
            request=request,
            created_by=tenant.actor_id,
        ),
        tenant,
    )
    session.add(plan)
    await session.flush()
    return plan


async def claim(*, session: AsyncSession, tenant: TenantContext, plan_id: str) -> bool:
    """Move a queued plan to running; False when another worker took it or it was cancelled."""
    res = await session.execute(
        scoped_update(RoutePlan, tenant)
        .where(RoutePlan.id == plan_id, RoutePlan.status == "queued")
        .values(status="running", progress=5, started_at=clock.now())
    )
    return bool(res.rowcount)  # type: ignore[attr-defined]


async def pending(*, session: AsyncSession, tenant: TenantContext) -> list[str]:
    stmt = (
        scoped(RoutePlan, tenant)
        .with_only_columns(RoutePlan.id)
        .where(RoutePlan.status == "queued")
        .order_by(RoutePlan.created_at)
    )
    return list((await session.execute(stmt)).scalars())


async def fail_abandoned(*, session: AsyncSession, tenant: TenantContext) -> int:
    """Mark failed the plans left running by a process that died (running far past budget)."""
    now = clock.now()
    stmt = scoped(RoutePlan, tenant).where(RoutePlan.status == "running")
    count = 0
    for plan in (await session.execute(stmt)).scalars():
        started = plan.started_at or plan.created_at
        if now - started > timedelta(seconds=plan.time_budget_seconds) + ABANDONED_AFTER:
            plan.status, plan.finished_at = "failed", now
            plan.error = {
                "title": "planning interrupted",
                "detail": "the planner stopped; plan again",
            }
            count += 1
            events.emit(
                session=session,
                tenant=tenant,
                event_type=ROUTE_PLAN_COMPLETED,
                data=partial(list_item, plan),
            )
    await session.flush()
    return count


def options(plan: RoutePlan) -> Options:
    req = plan.request
    return Options(
        epoch=plan.starts_at,
        zone=ZoneInfo(req.get("timezone") or "UTC"),
        objective=Objective(plan.objective),
        breaks=[BreakSpec(b["start"], b["end"], b["minutes"]) for b in req.get("breaks") or []],
        max_stops=req.get("max_stops_per_route"),
    )


def hub_zones(drivers: Sequence[DriverRow], hubs: Mapping[str, HubRow]) -> dict[str, ZoneInfo]:
    """Each driver's start-hub time zone (drivers without a start hub are left out)."""
    zones = {}
    for d in drivers:
        hub = hubs.get(str((d.start_place or {}).get("hub_id")))
        if hub is not None:
            zones[d.id] = ZoneInfo(hub.timezone)
    return zones


async def positions(
    session: AsyncSession, tenant: TenantContext, driver_ids: list[str]
) -> dict[str, tuple[float, float]]:
    """Each driver's position of the last hours: the latest tracked point (one query), else,
    for drivers whose phone sent none, the last one reported with a task action or duty change."""
    since = clock.now() - POSITION_MAX_AGE
    seen = await tracking_queries.latest_positions(session, tenant, driver_ids, since)
    missing = [d for d in driver_ids if d not in seen]
    if missing:
        reported = await task_queries.positions(session, tenant, missing, since)
        for driver_id, (at, point) in (
            await fleet_queries.duty_positions(session, tenant, missing, since)
        ).items():
            if driver_id not in reported or reported[driver_id][0] < at:
                reported[driver_id] = (at, point)
        seen.update(reported)
    return {k: v[1] for k, v in seen.items()}


async def load_source(
    *, session: AsyncSession, tenant: TenantContext, plan: RoutePlan
) -> tuple[Source, dict[str, str]]:
    """Everything the plan needs, as the database holds it now, and each planned task's last
    change time (a plan is applied only if none changed since)."""
    req = plan.request
    driver_ids: list[str] = req["resolved_driver_ids"]
    locked_ids = set(req.get("locked_driver_ids") or [])
    drivers = await fleet_queries.drivers_by_ids(session, tenant, driver_ids)
    tasks = await _load_tasks(session, tenant, req["resolved_task_ids"], None)
    tasks = [t for t in tasks if t.driver_id not in locked_ids]
    # Drivers' current routes: open stops stay theirs; started ones are fixed first.
    planned = {t.id for t in tasks}
    active: dict[str, StoredTaskRow] = {}
    locked: dict[str, list[StoredTaskRow]] = {d: [] for d in locked_ids}
    for t in await task_queries.routes_of(session, tenant, driver_ids):
        assert t.driver_id is not None
        if t.state in (State.started, State.arrived):
            active.setdefault(t.driver_id, t)
        elif t.driver_id in locked_ids:
            locked[t.driver_id].append(t)
        elif t.id not in planned:
            tasks.append(t)
            planned.add(t.id)
    on_board: dict[str, list[StoredTaskRow]] = {}
    for t in await task_queries.on_board(session, tenant, driver_ids):
        if t.driver_id is None or t.driver_id in locked_ids:
            continue
        tasks = [x for x in tasks if x.id != t.id]
        on_board.setdefault(t.driver_id, []).append(t)
    vehicle_ids = [d.vehicle_id for d in drivers if d.vehicle_id]
    vehicles = await fleet_queries.vehicles_by_ids(session, tenant, vehicle_ids)
    hubs = await fleet_queries.hubs(session, tenant)
    where = await positions(session, tenant, driver_ids)
    zones = {} if req.get("timezone") else hub_zones(drivers, hubs)
    versions = {t.id: t.updated_at.isoformat() for t in tasks}
    for rows in on_board.values():
        versions.update({t.id: t.updated_at.isoformat() for t in rows})
    source = Source(tasks, list(drivers), vehicles, hubs, active, on_board, where, locked, zones)
    return source, versions


async def build_problem(
    *, session: AsyncSession, tenant: TenantContext, plan: RoutePlan
) -> tuple[Built, dict[str, str]]:
    """The plan's solver problem with travel times from the tenant's provider, and the planned
    tasks' change times."""
    source, versions = await load_source(session=session, tenant=tenant, plan=plan)
    where = layout(source)
    matrices: dict[str, m.Matrix] = {}
    for profile in sorted(set(where.profiles.values())):
        found = await matrix_for(
            session=session, tenant=tenant, points=where.points, profile=profile
        )
        matrices[profile] = m.Matrix(found.durations.tolist(), found.distances.tolist())
    return build(source, options(plan), where, matrices), versions


async def set_progress(
    *, session: AsyncSession, tenant: TenantContext, plan_id: str, progress: int
) -> bool:
    """Record progress; False when the plan was cancelled meanwhile."""
    await session.execute(
        scoped_update(RoutePlan, tenant)
        .where(RoutePlan.id == plan_id, RoutePlan.status == "running")
        .values(progress=progress)
    )
    plan = await require(session=session, tenant=tenant, plan_id=plan_id)
    return not plan.cancel_requested


async def finish(
    *,
    session: AsyncSession,
    tenant: TenantContext,
    plan_id: str,
    result: dict[str, Any] | None,
    engine: str | None,
    error: dict[str, Any] | None = None,
) -> RoutePlan:
    """Store the outcome: done with its routes, failed with the error, or cancelled."""
    plan = await require(session=session, tenant=tenant, plan_id=plan_id)
    if plan.status != "running":
        return plan
    plan.finished_at = clock.now()
    plan.progress = 100
    plan.engine = engine
    if plan.cancel_requested:
        plan.status = "cancelled"
    elif error is not None:
        plan.status, plan.error = "failed", error
    else:
        plan.status, plan.result = "done", result
    await session.flush()
    events.emit(
        session=session, tenant=tenant, event_type=ROUTE_PLAN_COMPLETED, data=list_item(plan)
    )
    return plan


async def cancel(*, session: AsyncSession, tenant: TenantContext, plan_id: str) -> RoutePlan:
    """Cancel a queued plan at once, a running one when its solve returns."""
    plan = await require(session=session, tenant=tenant, plan_id=plan_id)
    if plan.status == "queued":
        plan.status, plan.finished_at, plan.cancel_requested = "cancelled", clock.now(), True
        events.emit(
            session=session,
            tenant=tenant,
            event_type=ROUTE_PLAN_COMPLETED,
            data=partial(list_item, plan),
        )
    elif plan.status == "running":
        plan.cancel_requested = True
    elif plan.status != "cancelled":
        raise InvalidState(
            f"the plan is {plan.status}; only queued or running plans can be cancelled"
        )
    await session.flush()
    return plan


async def apply(
    *, session: AsyncSession, tenant: TenantContext, plan_id: str
) -> tuple[RoutePlan, int, list[str]]:
    """Assign every planned route (refused when any of its tasks changed since planning)."""
    plan = await require(session=session, tenant=tenant, plan_id=plan_id)
    if plan.status != "done" or plan.result is None:
        raise InvalidState(f"the plan is {plan.status}; only a done plan can be applied")
    if plan.applied_at is not None:
        raise InvalidState("the plan was applied already")
    versions: dict[str, str] = plan.result.get("task_versions", {})
    current = await task_queries.by_ids(session, tenant, sorted(versions))
    changed = sorted(
        tid
        for tid, stamp in versions.items()
        if tid not in current or current[tid].updated_at.isoformat() != stamp
    )
    if changed:
        raise PlanStale(
            f"{len(changed)} task(s) changed since planning ({', '.join(changed[:20])}); plan again"
        )
    warnings: list[str] = []
    count = 0
    for route in plan.result["routes"]:
        if route.get("locked"):
            continue
        driver_id = route["driver_id"]
        ordered = [s for s in route["stops"] if s["task_id"] and not s["fixed"]]
        if not ordered:
            continue
        result = await lifecycle.assign(
            session=session,
            tenant=tenant,
            task_ids=[s["task_id"] for s in ordered],
            driver_id=driver_id,
        )
        warnings += [f"{driver_id}: {w}" for w in result.warnings]
        offset = 1 if any(s["fixed"] for s in route["stops"]) else 0
        for i, stop in enumerate(ordered):
            await task_queries.set_planned(
                session,
                tenant,
                stop["task_id"],
                position=offset + i,
                arrival=datetime.fromisoformat(stop["arrival_at"]),
                departure=datetime.fromisoformat(stop["departure_at"]),
                plan_id=plan.id,
            )
            count += 1
    plan.applied_at = clock.now()
    await session.flush()
    return plan, count, warnings


def view(plan: RoutePlan) -> RoutePlanRead:
    """The plan as the API shows it."""
    result: dict[str, Any] = plan.result or {}
    request = {k: v for k, v in plan.request.items() if not k.startswith("resolved_")}
    return RoutePlanRead(
        id=plan.id,
        status=plan.status,
        progress=plan.progress,
        objective=plan.objective,
        time_budget_seconds=plan.time_budget_seconds,
        starts_at=plan.starts_at,
        auto_apply=plan.auto_apply,
        engine=plan.engine,
        request=request,
        summary=result.get("summary"),
        routes=result.get("routes", []),
        unassigned=result.get("unassigned", []),
        warnings=result.get("warnings", []),
        error=plan.error,
        created_at=plan.created_at,
        started_at=plan.started_at,
        finished_at=plan.finished_at,
        applied_at=plan.applied_at,
    )


def list_item(plan: RoutePlan) -> RoutePlanListItem:
    """The plan as lists (and its events) show it: status and summary, not the routes."""
    return RoutePlanListItem(
        id=plan.id,
        status=plan.status,
        progress=plan.progress,
        objective=plan.objective,
        summary=PlanSummary(**plan.result["summary"]) if plan.result else None,
        error=plan.error,
        created_at=plan.created_at,
        finished_at=plan.finished_at,
        applied_at=plan.applied_at,
    )
