"""The only cross-tenant reads: resolving a credential to its tenant before a tenant is known.

On PostgreSQL these go through SECURITY DEFINER functions (see the migrations) so the
application role never sees another tenant's rows; on SQLite they are plain queries.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from lastmile.tenancy.models import ApiKey, User


@dataclass(frozen=True)
class Candidate:
    tenant_id: str
    row_id: str


async def api_key_tenant(
    session: AsyncSession, key_digest: str, *, bind: bool = False
) -> Candidate | None:
    """The tenant and id of the API key with this digest, if any.

    With `bind`, a key found also binds the session to its tenant (as `bind_session` does),
    setting `app.tenant_id` in the lookup's own round trip on PostgreSQL.
    """
    conn = await session.connection()
    if conn.dialect.name == "postgresql":
        sql = (
            "select tenant_id, id, set_config('app.tenant_id', tenant_id, true) "
            "from lastmile_lookup_api_key(:d)"
            if bind
            else "select tenant_id, id from lastmile_lookup_api_key(:d)"
        )
        row = (await session.execute(text(sql), {"d": key_digest})).first()
    else:
        row = (
            await session.execute(
                select(ApiKey.tenant_id, ApiKey.id).where(ApiKey.digest == key_digest)
            )
        ).first()
    if row is None:
        return None
    if bind:  # what bind_session records, without its extra round trip
        session.info["tenant_id"] = row[0]
    return Candidate(row[0], row[1])


async def login_candidates(session: AsyncSession, email: str) -> list[Candidate]:
    """The (tenant, user) pairs with this email, at most ten."""
    conn = await session.connection()
    if conn.dialect.name == "postgresql":
        rows = (
            await session.execute(
                text("select tenant_id, id from lastmile_lookup_login(:e)"), {"e": email}
            )
        ).all()
    else:
        rows = (
            await session.execute(
                select(User.tenant_id, User.id).where(User.email == email).limit(10)
            )
        ).all()
    return [Candidate(r[0], r[1]) for r in rows]
