"""The one cross-tenant read of tracking links: a token's digest to its tenant and task, before
any tenant is known. On PostgreSQL through a SECURITY DEFINER function returning only ids
(migration 0012), as API keys are found (lastmile.tenancy.lookup); a plain query on SQLite."""

from __future__ import annotations

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from lastmile.tracking.links.models import TrackingLink

LOOKUP = (
    "select tenant_id, task_id, set_config('app.tenant_id', tenant_id, true) "
    "from lastmile_lookup_tracking_link(:d)"
)


async def link_task(session: AsyncSession, link_digest: str) -> tuple[str, str] | None:
    """(tenant id, task id) of the link with this digest, or None; a link found binds the
    session to its tenant (the RLS setting is made in the same round trip on PostgreSQL)."""
    conn = await session.connection()
    if conn.dialect.name == "postgresql":
        row = (await session.execute(text(LOOKUP), {"d": link_digest})).first()
    else:
        stmt = select(TrackingLink.tenant_id, TrackingLink.task_id).where(
            TrackingLink.digest == link_digest
        )
        row = (await session.execute(stmt)).first()
    if row is None:
        return None
    session.info["tenant_id"] = row[0]
    return str(row[0]), str(row[1])
