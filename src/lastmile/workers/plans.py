"""Job `routing.run_plan`: a queued route plan, from loading its tasks to storing its routes."""

from __future__ import annotations

import asyncio
import time

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from lastmile.core.tenancy import TenantContext, bind_session
from lastmile.core.uow import UnitOfWork
from lastmile.routing import dispatch, executor, planning
from lastmile.routing.problem import engine_problem
from lastmile.routing.results import result_doc

log = structlog.get_logger("lastmile.plans")
PROGRESS_EVERY = 1.0


async def run_plan(
    *, sessions: async_sessionmaker[AsyncSession], tenant_id: str, plan_id: str
) -> None:
    """Run one queued plan to its end: done (and applied when asked), failed or cancelled."""
    system = TenantContext.system(tenant_id)
    async with UnitOfWork(sessions) as uow:
        await bind_session(uow.session, tenant_id)
        if not await planning.claim(session=uow.session, tenant=system, plan_id=plan_id):
            return
        await uow.commit()
    try:
        async with UnitOfWork(sessions) as uow:
            await bind_session(uow.session, tenant_id)
            plan = await planning.require(session=uow.session, tenant=system, plan_id=plan_id)
            built, versions = await planning.build_problem(
                session=uow.session, tenant=system, plan=plan
            )
            budget, engine = plan.time_budget_seconds, plan.request.get("engine")
        started = time.monotonic()
        task = asyncio.ensure_future(executor.solve(engine_problem(built), budget, engine))
        while not task.done():
            await asyncio.wait({task}, timeout=PROGRESS_EVERY)
            if task.done():
                break
            share = min(0.95, (time.monotonic() - started) / max(budget, 0.1))
            async with UnitOfWork(sessions) as uow:
                await bind_session(uow.session, tenant_id)
                await planning.set_progress(
                    session=uow.session,
                    tenant=system,
                    plan_id=plan_id,
                    progress=10 + int(80 * share),
                )
                await uow.commit()
        outcome = task.result()
        async with UnitOfWork(sessions) as uow:
            await bind_session(uow.session, tenant_id)
            plan = await planning.require(session=uow.session, tenant=system, plan_id=plan_id)
            done = await planning.finish(
                session=uow.session,
                tenant=system,
                plan_id=plan_id,
                result=result_doc(built, outcome, plan.starts_at, plan.id, versions),
                engine=outcome.engine,
            )
            if done.status == "done" and done.auto_apply:
                creator = TenantContext(
                    tenant_id, done.created_by, "route_plan", "admin", frozenset({"*"})
                )
                await planning.apply(session=uow.session, tenant=creator, plan_id=plan_id)
            await uow.commit()
    except Exception as exc:
        log.error("route_plan_failed", plan_id=plan_id, exc_info=exc)
        async with UnitOfWork(sessions) as uow:
            await bind_session(uow.session, tenant_id)
            await planning.finish(
                session=uow.session,
                tenant=system,
                plan_id=plan_id,
                result=None,
                engine=None,
                error={"title": "planning failed", "detail": str(exc)[:500]},
            )
            await uow.commit()


async def run_pending(*, sessions: async_sessionmaker[AsyncSession], tenant_ids: list[str]) -> int:
    """Run the queued plans of these tenants (those no request started); returns how many."""
    count = 0
    for tid in tenant_ids:
        async with UnitOfWork(sessions) as uow:
            await bind_session(uow.session, tid)
            system = TenantContext.system(tid)
            lost = await planning.fail_abandoned(session=uow.session, tenant=system)
            if lost:
                log.warning("route_plans_abandoned", tenant_id=tid, count=lost)
            ids = await planning.pending(session=uow.session, tenant=system)
            await uow.commit()
        for plan_id in ids:
            await run_plan(sessions=sessions, tenant_id=tid, plan_id=plan_id)
            count += 1
    return count


async def auto_assign_created(
    *, sessions: async_sessionmaker[AsyncSession], tenant_id: str, task_ids: list[str]
) -> None:
    """Job `routing.auto_assign_batch`: place a batch's new tasks by their teams' modes, right
    after the batch was stored (a failure leaves them unassigned and is logged)."""
    system = TenantContext.system(tenant_id)
    try:
        async with UnitOfWork(sessions) as uow:
            await bind_session(uow.session, tenant_id)
            placed = await dispatch.auto_assign_many(
                session=uow.session, tenant=system, task_ids=task_ids
            )
            await uow.commit()
        log.info("auto_assign_batch", tenant_id=tenant_id, tasks=len(task_ids), placed=placed)
    except Exception as exc:
        log.error("auto_assign_batch_failed", tenant_id=tenant_id, exc_info=exc)
