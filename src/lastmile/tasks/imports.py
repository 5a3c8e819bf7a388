"""CSV imports of tasks: stored, then run in the background in chunks with per-row errors."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from lastmile.core import clock
from lastmile.core.errors import NotFound
from lastmile.core.ids import new_id
from lastmile.core.pagination import paginate
from lastmile.core.tenancy import TenantContext, owned, scoped
from lastmile.events import service as events
from lastmile.storage import Storage
from lastmile.tasks import csvrows, service
from lastmile.tasks.events import IMPORT_COMPLETED
from lastmile.tasks.models import ImportJob
from lastmile.tasks.schemas import ImportRead

MAX_REPORTED_ERRORS = 10_000


class ImportNotFound(NotFound):
    title = "Import not found"


async def create(
    *,
    session: AsyncSession,
    tenant: TenantContext,
    storage: Storage,
    filename: str,
    data: bytes,
    all_or_nothing: bool,
) -> ImportJob:
    """Check the file is a usable CSV, store it, and queue its import."""
    rows = csvrows.parse(data)
    job_id = new_id("imp")
    key = f"{tenant.tenant_id}/imports/{job_id}.csv"
    await storage.put(key, data, "text/csv")
    job = owned(
        ImportJob(
            id=job_id,
            state="queued",
            filename=filename[:200],
            storage_key=key,
            all_or_nothing=all_or_nothing,
            total_rows=len(rows),
            created_by=tenant.actor_id,
        ),
        tenant,
    )
    session.add(job)
    await session.flush()
    return job


async def require(*, session: AsyncSession, tenant: TenantContext, import_id: str) -> ImportJob:
    job = (
        await session.execute(scoped(ImportJob, tenant).where(ImportJob.id == import_id))
    ).scalar_one_or_none()
    if job is None:
        raise ImportNotFound(f"no import {import_id}")
    return job


async def search(
    *, session: AsyncSession, tenant: TenantContext, limit: int, cursor: str | None
) -> tuple[list[ImportJob], str | None]:
    return await paginate(session, scoped(ImportJob, tenant), ImportJob, limit=limit, cursor=cursor)


def _errors(outcomes: list[service.RowOutcome], offset: int) -> list[dict[str, Any]]:
    out = []
    for o in outcomes:
        if o.error is not None:
            out.append(
                {
                    "row": offset + o.index + 1,
                    "title": o.error.title,
                    "detail": o.error.detail,
                    "errors": [
                        {
                            "field": e.field.replace(f"body.tasks[{o.index}].", ""),
                            "message": e.message,
                        }
                        for e in o.error.errors
                    ],
                }
            )
    return out


async def claim(
    *, session: AsyncSession, tenant: TenantContext, import_id: str
) -> ImportJob | None:
    """Mark a queued import running (skipping one another worker holds); None if not queued."""
    stmt = scoped(ImportJob, tenant).where(ImportJob.id == import_id, ImportJob.state == "queued")
    if (await session.connection()).dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    job = (await session.execute(stmt)).scalar_one_or_none()
    if job is not None:
        job.state, job.started_at = "running", clock.now()
        await session.flush()
    return job


async def import_rows(
    *, session: AsyncSession, tenant: TenantContext, rows: list[dict[str, Any]], offset: int
) -> tuple[int, list[dict[str, Any]]]:
    """Create one chunk of rows; returns how many were created and the rows' error report."""
    outcomes = await service.create_many(session=session, tenant=tenant, rows=rows)
    return sum(1 for o in outcomes if o.task is not None), _errors(outcomes, offset)


async def record_progress(
    *,
    session: AsyncSession,
    tenant: TenantContext,
    import_id: str,
    processed: int,
    created: int,
    errors: list[dict[str, Any]],
) -> ImportJob:
    job = await require(session=session, tenant=tenant, import_id=import_id)
    job.processed_rows += processed
    job.created_count += created
    job.error_count += len(errors)
    job.errors = (list(job.errors or []) + errors)[:MAX_REPORTED_ERRORS]
    await session.flush()
    return job


async def finish(
    *, session: AsyncSession, tenant: TenantContext, import_id: str, failed: bool
) -> ImportJob:
    job = await require(session=session, tenant=tenant, import_id=import_id)
    job.state, job.finished_at = ("failed" if failed else "done"), clock.now()
    await session.flush()
    events.emit(
        session=session,
        tenant=tenant,
        event_type=IMPORT_COMPLETED,
        data=ImportRead.model_validate(job),
    )
    return job


async def pending(*, session: AsyncSession, tenant: TenantContext) -> list[str]:
    """Ids of the tenant's queued imports (the worker runs them)."""
    stmt = (
        scoped(ImportJob, tenant).where(ImportJob.state == "queued").order_by(ImportJob.created_at)
    )
    return [j.id for j in (await session.execute(stmt)).scalars()]
