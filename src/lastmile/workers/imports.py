"""Job `tasks.run_import`: a queued CSV import, chunk by chunk, each chunk committed."""

from __future__ import annotations

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from lastmile.core.tenancy import TenantContext, bind_session
from lastmile.core.uow import UnitOfWork
from lastmile.storage import Storage
from lastmile.tasks import csvrows, imports

CHUNK = 500
log = structlog.get_logger("lastmile.imports")


async def run_import(
    *, sessions: async_sessionmaker[AsyncSession], storage: Storage, tenant_id: str, import_id: str
) -> None:
    """Run one queued import to the end (all-or-nothing imports run as one transaction)."""
    system = TenantContext.system(tenant_id)
    async with UnitOfWork(sessions) as uow:
        await bind_session(uow.session, tenant_id)
        job = await imports.claim(session=uow.session, tenant=system, import_id=import_id)
        if job is None:
            return
        ctx = TenantContext(tenant_id, job.created_by, "import", "admin", frozenset({"*"}))
        key, atomic = job.storage_key, job.all_or_nothing
        await uow.commit()
    failed = False
    try:
        data, _ = await storage.get(key)
        rows = csvrows.parse(data)
        chunks = [rows] if atomic else [rows[i : i + CHUNK] for i in range(0, len(rows), CHUNK)]
        offset = 0
        for chunk in chunks:
            async with UnitOfWork(sessions) as uow:
                await bind_session(uow.session, tenant_id)
                created, errors = await imports.import_rows(
                    session=uow.session, tenant=ctx, rows=chunk, offset=offset
                )
                if atomic and errors:
                    await uow.rollback()  # nothing of an all-or-nothing import with errors
                    created, failed = 0, True
                await imports.record_progress(
                    session=uow.session,
                    tenant=system,
                    import_id=import_id,
                    processed=len(chunk),
                    created=created,
                    errors=errors,
                )
                await uow.commit()
            offset += len(chunk)
    except Exception as exc:
        log.error("import_failed", import_id=import_id, exc_info=exc)
        failed = True
    async with UnitOfWork(sessions) as uow:
        await bind_session(uow.session, tenant_id)
        await imports.finish(session=uow.session, tenant=system, import_id=import_id, failed=failed)
        await uow.commit()


async def run_pending(
    *, sessions: async_sessionmaker[AsyncSession], storage: Storage, tenant_ids: list[str]
) -> int:
    """Run every queued import of these tenants; returns how many were run."""
    count = 0
    for tid in tenant_ids:
        async with UnitOfWork(sessions) as uow:
            await bind_session(uow.session, tid)
            ids = await imports.pending(session=uow.session, tenant=TenantContext.system(tid))
        for import_id in ids:
            await run_import(sessions=sessions, storage=storage, tenant_id=tid, import_id=import_id)
            count += 1
    return count
