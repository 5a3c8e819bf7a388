"""Route plan endpoints: create (and optionally await), read, list, cancel, apply."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import BackgroundTasks, Depends, Query, Request
from sqlalchemy.ext.asyncio import AsyncSession

from lastmile.api.deps import get_session, idempotent, require
from lastmile.api.params import Cursor, Limit
from lastmile.api.routing import commit_now, make_router
from lastmile.core.pagination import Page
from lastmile.core.tenancy import TenantContext
from lastmile.routing import planning
from lastmile.routing.schemas import (
    MAX_WAIT_SECONDS,
    ApplyResult,
    RoutePlanCreate,
    RoutePlanListItem,
    RoutePlanRead,
)
from lastmile.routing.solver.solve import ENGINES
from lastmile.tenancy.enums import Role
from lastmile.workers.plans import run_plan

router = make_router(prefix="/v1", tags=["route-plans"])
Session = Annotated[AsyncSession, Depends(get_session)]
Planner = Annotated[
    TenantContext, Depends(require(Role.admin, Role.dispatcher, scope="routing:write"))
]
Reader = Annotated[
    TenantContext,
    Depends(require(Role.admin, Role.dispatcher, Role.viewer, scope="routing:read")),
]


to_read = planning.view


@router.post(
    "/route-plans",
    status_code=201,
    response_model=RoutePlanRead,
    dependencies=[Depends(idempotent)],
)
async def create_route_plan(
    data: RoutePlanCreate,
    request: Request,
    session: Session,
    ctx: Planner,
    background: BackgroundTasks,
    wait: Annotated[
        bool, Query(description="Answer when the plan is finished (or `wait_seconds` passed).")
    ] = False,
    wait_seconds: Annotated[
        float, Query(gt=0, le=MAX_WAIT_SECONDS, description="Longest wait with `wait=true`.")
    ] = 30.0,
) -> RoutePlanRead:
    """Queue an optimisation run; follow it at `GET /v1/route-plans/{plan_id}`, or wait for it."""
    plan = await planning.create(session=session, tenant=ctx, data=data, engines=list(ENGINES))
    sessions = request.app.state.sessions
    if not wait:
        background.add_task(run_plan, sessions=sessions, tenant_id=ctx.tenant_id, plan_id=plan.id)
        return to_read(plan)
    plan_id = plan.id
    await commit_now(request)
    job = asyncio.ensure_future(
        run_plan(sessions=sessions, tenant_id=ctx.tenant_id, plan_id=plan_id)
    )
    await asyncio.wait({job}, timeout=wait_seconds)  # not cancelled on timeout: it runs on
    session.expire_all()
    return to_read(await planning.require(session=session, tenant=ctx, plan_id=plan_id))


@router.get("/route-plans", response_model=Page[RoutePlanListItem])
async def list_route_plans(
    session: Session,
    ctx: Reader,
    limit: Limit = 50,
    cursor: Cursor = None,
    status: Annotated[str | None, Query(pattern="^(queued|running|done|failed|cancelled)$")] = None,
) -> Page[RoutePlanListItem]:
    """Route plans, newest first."""
    rows, nxt = await planning.search(
        session=session, tenant=ctx, status=status, limit=limit, cursor=cursor
    )
    items = [planning.list_item(p) for p in rows]
    return Page[RoutePlanListItem](data=items, next_cursor=nxt)


@router.get("/route-plans/{plan_id}", response_model=RoutePlanRead)
async def get_route_plan(plan_id: str, session: Session, ctx: Reader) -> RoutePlanRead:
    """A plan: its status and progress, then its routes and unassigned tasks."""
    return to_read(await planning.require(session=session, tenant=ctx, plan_id=plan_id))


@router.post("/route-plans/{plan_id}/cancel", response_model=RoutePlanRead)
async def cancel_route_plan(plan_id: str, session: Session, ctx: Planner) -> RoutePlanRead:
    """Cancel a queued plan at once, or a running one (its result is dropped)."""
    return to_read(await planning.cancel(session=session, tenant=ctx, plan_id=plan_id))


@router.post("/route-plans/{plan_id}/apply", response_model=ApplyResult)
async def apply_route_plan(plan_id: str, session: Session, ctx: Planner) -> ApplyResult:
    """Assign every route of a done plan to its driver, in order, with the planned times."""
    plan, count, warnings = await planning.apply(session=session, tenant=ctx, plan_id=plan_id)
    return ApplyResult(plan=to_read(plan), assigned_tasks=count, warnings=warnings)
