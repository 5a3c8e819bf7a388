"""Live ETAs: when a driver will reach each remaining stop of their route, from where they are
now, with the tenant's travel times, service times, time windows and shift."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from lastmile.core.tenancy import TenantContext
from lastmile.routing import live as live_routes
from lastmile.routing.solver import model as m
from lastmile.routing.solver.checker import check_route


async def route_etas(
    *,
    session: AsyncSession,
    tenant: TenantContext,
    driver_id: str,
    position: tuple[float, float] | None = None,
) -> dict[str, datetime]:
    """Planned arrival at each open stop of the driver's route (task id -> time), in route
    order, starting now from `position` (default: the last known one). A stop under way that
    the driver has reached is not included."""
    drivers = await live_routes.drivers_by_id(session=session, tenant=tenant, ids=[driver_id])
    if not drivers:
        return {}
    found = await live_routes.live(
        session=session,
        tenant=tenant,
        drivers=drivers,
        extra=[],
        where_now={driver_id: position} if position is not None else None,
    )
    etas: dict[str, datetime] = {}
    fixed = found.built.fixed.get(driver_id)
    if fixed is not None and not fixed.arrived:
        etas[fixed.task_id] = live_routes.at(found, fixed.done - fixed.service_seconds)
    steps = found.plan.routes.get(driver_id, [])
    if not steps:
        return etas
    schedule = check_route(found.built.problem, driver_id, steps)
    for timed in schedule.steps[1:-1]:
        if timed.kind == m.StepKind.BREAK or timed.ref is None:
            continue
        pickup_id, dropoff_id = found.built.job_tasks[timed.ref]
        task_id = pickup_id if timed.kind == m.StepKind.PICKUP else dropoff_id
        if task_id is not None:
            etas[task_id] = live_routes.at(found, timed.arrival)
    return etas
