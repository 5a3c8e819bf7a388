"""The job loop: periodic jobs, each in its own unit of work per tenant."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from lastmile.core import clock, idempotency
from lastmile.core.config import Settings, get_settings
from lastmile.core.tenancy import TenantContext, bind_session
from lastmile.core.uow import UnitOfWork
from lastmile.events import retention
from lastmile.storage import storage_for
from lastmile.tenancy import service as tenancy_service
from lastmile.workers import plans, tracking
from lastmile.workers.imports import run_pending
from lastmile.workers.templates import materialize_due

log = structlog.get_logger("lastmile.worker")


async def tenant_ids(sessions: async_sessionmaker[AsyncSession]) -> list[str]:
    async with UnitOfWork(sessions) as uow:
        return await tenancy_service.tenant_ids(session=uow.session)


async def purge_idempotency_keys(sessions: async_sessionmaker[AsyncSession]) -> int:
    """Job `core.purge_idempotency_keys`: drop stored responses older than the TTL."""
    ttl = timedelta(seconds=get_settings().idempotency_ttl_seconds)
    total = 0
    for tid in await tenant_ids(sessions):
        async with UnitOfWork(sessions) as uow:
            await bind_session(uow.session, tid)
            total += await idempotency.purge_expired(
                session=uow.session, tenant=TenantContext.system(tid), ttl=ttl
            )
            await uow.commit()
    return total


async def purge_events(sessions: async_sessionmaker[AsyncSession]) -> int:
    """Job `events.purge_expired`: drop events (and their deliveries) past the retention."""
    before = clock.now() - timedelta(days=get_settings().event_retention_days)
    total = 0
    for tid in await tenant_ids(sessions):
        while True:
            async with UnitOfWork(sessions) as uow:
                await bind_session(uow.session, tid)
                n = await retention.purge(
                    session=uow.session, tenant=TenantContext.system(tid), before=before
                )
                await uow.commit()
            total += n
            if n < retention.BATCH:
                break
    return total


async def tick(
    sessions: async_sessionmaker[AsyncSession], settings: Settings | None = None
) -> None:
    """Run every periodic job once (`settings`: the server's, else the environment's)."""
    purged = await purge_idempotency_keys(sessions)
    if purged:
        log.info("idempotency_keys_purged", count=purged)
    expired = await purge_events(sessions)
    if expired:
        log.info("events_purged", count=expired)
    ran = await run_pending(
        sessions=sessions,
        storage=storage_for(get_settings()),
        tenant_ids=await tenant_ids(sessions),
    )
    if ran:
        log.info("imports_run", count=ran)
    planned = await plans.run_pending(sessions=sessions, tenant_ids=await tenant_ids(sessions))
    if planned:
        log.info("route_plans_run", count=planned)
    made = await materialize_due(sessions=sessions, tenant_ids=await tenant_ids(sessions))
    if made:
        log.info("route_templates_materialized", count=made)
    upkeep = await tracking.maintain_if_due(sessions, settings)
    if upkeep is not None and (upkeep.created or upkeep.dropped or upkeep.deleted_rows):
        log.info("tracking_storage_maintained", **vars(upkeep))


async def run_forever(
    sessions: async_sessionmaker[AsyncSession],
    interval: float = 60.0,
    settings: Settings | None = None,
) -> None:
    """Run the periodic jobs until cancelled; a failing job is logged, never fatal."""
    while True:
        try:
            await tick(sessions, settings)
        except Exception as exc:
            log.error("worker_tick_failed", exc_info=exc)
        await asyncio.sleep(interval)
