"""Job `templates.materialize_due`: each active route template's days, today and the next
`LASTMILE_TEMPLATE_HORIZON_DAYS` in its time zone, become tasks (one transaction per day)."""

from __future__ import annotations

from datetime import datetime

import structlog
from prometheus_client import Counter
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from lastmile.core import clock
from lastmile.core.config import get_settings
from lastmile.core.errors import DomainError
from lastmile.core.tenancy import TenantContext, bind_session
from lastmile.core.uow import UnitOfWork
from lastmile.templates import materialize
from lastmile.templates import service as templates_service
from lastmile.templates.errors import NotMaterializable

log = structlog.get_logger("lastmile.templates")
RUNS = Counter(
    "lastmile_templates_runs_total",
    "Route template days the scheduled job handled, by outcome (created, existing, failed, "
    "skipped).",
    ["outcome"],
)


async def _fail(
    sessions: async_sessionmaker[AsyncSession], tenant_id: str, template_id: str, message: str
) -> None:
    """Keep the reason on the template (its `last_error`); log it when it is new."""
    async with UnitOfWork(sessions) as uow:
        await bind_session(uow.session, tenant_id)
        new = await templates_service.record_error(
            session=uow.session,
            tenant=TenantContext.system(tenant_id),
            template_id=template_id,
            message=message,
        )
        await uow.commit()
    if new:
        log.warning(
            "route_template_failed", tenant_id=tenant_id, template_id=template_id, reason=message
        )


async def materialize_due(
    *,
    sessions: async_sessionmaker[AsyncSession],
    tenant_ids: list[str],
    now: datetime | None = None,
    horizon_days: int | None = None,
) -> int:
    """Materialise every due day of these tenants' templates; returns how many days were
    created. A day another process materialised meanwhile is skipped; a failing one is retried
    at the next tick."""
    when = now or clock.now()
    horizon = get_settings().template_horizon_days if horizon_days is None else horizon_days
    created = 0
    for tid in tenant_ids:
        system = TenantContext.system(tid)
        async with UnitOfWork(sessions) as uow:
            await bind_session(uow.session, tid)
            pending = await materialize.due(
                session=uow.session, tenant=system, now=when, horizon_days=horizon
            )
        for template_id, day in pending:
            try:
                async with UnitOfWork(sessions) as uow:
                    await bind_session(uow.session, tid)
                    result = await materialize.materialize(
                        session=uow.session,
                        tenant=system,
                        template_id=template_id,
                        day=day,
                        now=when,
                    )
                    await uow.commit()
            except NotMaterializable as exc:
                RUNS.labels("failed").inc()
                await _fail(sessions, tid, template_id, exc.detail)
                continue
            except DomainError as exc:
                # Deleted, paused or rescheduled since `due` listed it: nothing to do.
                RUNS.labels("skipped").inc()
                log.info("route_template_skipped", template_id=template_id, reason=exc.detail)
                continue
            except Exception as exc:
                RUNS.labels("failed").inc()
                log.error(
                    "route_template_crashed",
                    tenant_id=tid,
                    template_id=template_id,
                    date=day.isoformat(),
                    exc_info=exc,
                )
                continue
            RUNS.labels("created" if result.created else "existing").inc()
            created += int(result.created)
    return created
