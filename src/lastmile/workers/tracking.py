"""Job `tracking.maintain_storage`: day partitions ahead, expired ones dropped, and each
tenant's points past its retention deleted. Safe to run twice, or in two processes at once."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import structlog
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from lastmile.core import clock
from lastmile.core.config import Settings, get_settings
from lastmile.core.db import make_engine
from lastmile.core.tenancy import TenantContext, bind_session
from lastmile.core.uow import UnitOfWork
from lastmile.tenancy import service as tenancy_service
from lastmile.tracking import partitions, retention
from lastmile.tracking import service as tracking_service
from lastmile.tracking.links import service as links_service

log = structlog.get_logger("lastmile.worker")
_next_run: dict[str, float] = {}  # admin URL -> monotonic time the loop may run it again


@dataclass
class MaintenanceReport:
    longest_retention_days: int = 0
    created: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    moved_rows: int = 0
    deleted_rows: int = 0
    error: str | None = None  # why the partition step failed (the deletes still ran)


def admin_url(settings: Settings) -> str:
    return settings.database_admin_url or settings.database_url


async def _retention(sessions: async_sessionmaker[AsyncSession]) -> dict[str, int]:
    """Each tenant's retention in days."""
    async with UnitOfWork(sessions) as uow:
        tenant_ids = await tenancy_service.tenant_ids(session=uow.session)
    out = {}
    for tid in tenant_ids:
        async with UnitOfWork(sessions) as uow:
            await bind_session(uow.session, tid)
            out[tid] = await tracking_service.retention_days(
                session=uow.session, tenant=TenantContext.system(tid)
            )
    return out


async def _partitions(
    url: str, now: datetime, longest: int, ahead: int, report: MaintenanceReport
) -> None:
    """PostgreSQL only, as the owner, in one transaction: drop day partitions older than the
    longest retention, then make yesterday's to `ahead` days ahead and those DEFAULT has rows of."""
    if make_url(url).get_backend_name() != "postgresql":
        return  # SQLite: a plain table; the per-tenant deletes do it all
    engine = make_engine(url, pool_size=1)
    try:
        async with engine.begin() as conn:
            await partitions.lock(conn)
            cutoff = now - timedelta(days=longest)
            report.dropped = await partitions.drop_before(conn, cutoff)
            today = now.date()
            days = {today + timedelta(days=d) for d in range(-1, ahead + 1)}
            days |= await partitions.stray_days(conn, cutoff)
            for day in sorted(days):
                created, moved = await partitions.ensure(conn, day)
                if created:
                    report.created.append(partitions.name_for(day))
                report.moved_rows += moved
    finally:
        await engine.dispose()


async def maintain(
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings | None = None,
    now: datetime | None = None,
) -> MaintenanceReport:
    """Run the whole upkeep once (the CLI's `lastmile tracking maintain`)."""
    s = settings or get_settings()
    now = now or clock.now()
    days = await _retention(sessions)
    longest = max([s.tracking_retention_days, *days.values()])
    report = MaintenanceReport(longest_retention_days=longest)
    try:
        await _partitions(admin_url(s), now, longest, s.tracking_partitions_ahead_days, report)
    except Exception as exc:  # e.g. no owner URL: the rows still land in DEFAULT and expire
        cause = getattr(exc, "orig", None) or exc
        report.error = f"{type(cause).__name__}: {cause}"[:500]
        log.error("tracking_partitions_failed", error=report.error)
    for tid, keep in days.items():
        async with UnitOfWork(sessions) as uow:
            await bind_session(uow.session, tid)
            report.deleted_rows += await retention.purge(
                session=uow.session,
                tenant=TenantContext.system(tid),
                before=now - timedelta(days=keep),
            )
            await uow.commit()
    return report


async def maintain_if_due(
    sessions: async_sessionmaker[AsyncSession], settings: Settings | None = None
) -> MaintenanceReport | None:
    """Run the upkeep unless this process ran it less than the interval ago (the job loop
    ticks every minute; partitions are made days ahead and retention is counted in days)."""
    s = settings or get_settings()
    url = admin_url(s)
    if time.monotonic() < _next_run.get(url, 0.0):
        return None
    _next_run[url] = time.monotonic() + s.tracking_maintenance_interval_seconds
    return await maintain(sessions, s)


async def backfill_links(sessions: async_sessionmaker[AsyncSession], batch: int) -> dict[str, int]:
    """Give drop-offs made before tracking links existed their link, tenant by tenant, one
    transaction per `batch` drop-offs; how many were added per tenant (idempotent)."""
    async with UnitOfWork(sessions) as uow:
        tenant_ids = await tenancy_service.tenant_ids(session=uow.session)
    added: dict[str, int] = {}
    for tenant_id in tenant_ids:
        after: str | None = None
        while True:
            async with UnitOfWork(sessions) as uow:
                await bind_session(uow.session, tenant_id)
                n, after = await links_service.backfill(
                    session=uow.session,
                    tenant=TenantContext.system(tenant_id),
                    after=after,
                    limit=batch,
                )
                await uow.commit()
            added[tenant_id] = added.get(tenant_id, 0) + n
            if after is None:
                break
    return added
