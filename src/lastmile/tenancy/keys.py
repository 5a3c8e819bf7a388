"""API keys: created with a secret shown once, stored as a SHA-256 digest, revocable."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from lastmile.core import clock
from lastmile.core.config import get_settings
from lastmile.core.errors import FieldError, Forbidden, ValidationFailed
from lastmile.core.ids import new_id
from lastmile.core.pagination import paginate
from lastmile.core.tenancy import TenantContext, bind_session, owned, scoped, scoped_update
from lastmile.tenancy import lookup
from lastmile.tenancy.enums import ROLE_RANK, Role
from lastmile.tenancy.errors import ApiKeyNotFound
from lastmile.tenancy.keycache import CachedKey, KeyCache
from lastmile.tenancy.models import ApiKey
from lastmile.tenancy.security import digest, new_api_key

_cache = KeyCache()


async def create(
    *,
    session: AsyncSession,
    tenant: TenantContext,
    name: str,
    role: Role,
    scopes: list[str],
    created_by: str | None,
    expires_at: datetime | None = None,
) -> tuple[ApiKey, str]:
    """A new key acting with `role` (never above the creator's) and `scopes`."""
    if ROLE_RANK[role] > ROLE_RANK[Role(tenant.role)]:
        raise Forbidden(f"a {tenant.role} cannot create a key with role {role}")
    if expires_at is not None and expires_at.tzinfo is None:
        raise ValidationFailed(
            "expires_at has no timezone",
            [FieldError("body.expires_at", "give a timezone, e.g. 2030-01-01T00:00:00Z")],
        )
    if expires_at is not None and expires_at <= clock.now():
        raise ValidationFailed(
            "expires_at is in the past", [FieldError("body.expires_at", "must be in the future")]
        )
    plain = new_api_key()
    key = owned(
        ApiKey(
            id=new_id("key"),
            name=name,
            prefix=plain[:12],
            digest=digest(plain),
            role=role,
            scopes=sorted(set(scopes)),
            created_by=created_by,
            expires_at=expires_at,
        ),
        tenant,
    )
    session.add(key)
    await session.flush()
    return key, plain


async def require(*, session: AsyncSession, tenant: TenantContext, key_id: str) -> ApiKey:
    key = (
        await session.execute(scoped(ApiKey, tenant).where(ApiKey.id == key_id))
    ).scalar_one_or_none()
    if key is None:
        raise ApiKeyNotFound(f"no API key {key_id}")
    return key


async def search(
    *,
    session: AsyncSession,
    tenant: TenantContext,
    include_revoked: bool = False,
    limit: int = 50,
    cursor: str | None = None,
) -> tuple[list[ApiKey], str | None]:
    stmt = scoped(ApiKey, tenant)
    if not include_revoked:
        stmt = stmt.where(ApiKey.revoked_at.is_(None))
    return await paginate(session, stmt, ApiKey, limit=limit, cursor=cursor)


async def revoke(*, session: AsyncSession, tenant: TenantContext, key_id: str) -> ApiKey:
    """Revoke a key at once; revoking twice keeps the first time."""
    _cache.forget(key_id)
    key = await require(session=session, tenant=tenant, key_id=key_id)
    if key.revoked_at is None:
        key.revoked_at = clock.now()
        await session.flush()
    return key


TOUCH_DUE = "api_key_touch_due"


async def touch(*, session: AsyncSession, tenant: TenantContext, key_id: str) -> None:
    """Record that the key was used now."""
    await session.execute(
        scoped_update(ApiKey, tenant).where(ApiKey.id == key_id).values(last_used_at=clock.now())
    )


async def authenticate(*, session: AsyncSession, token: str) -> TenantContext | None:
    """The context of a valid, unrevoked, unexpired key; binds the session to its tenant."""
    key_digest = digest(token)
    hit = _cache.get(key_digest)
    if hit is not None:
        await bind_session(session, hit.ctx.tenant_id)
        now = clock.now()
        if hit.expires_at is not None and hit.expires_at <= now:
            return None
        if now - hit.last_used_at >= timedelta(
            seconds=get_settings().api_key_touch_interval_seconds
        ):
            hit.last_used_at = now
            session.info[TOUCH_DUE] = hit.ctx.actor_id
        return hit.ctx
    found = await lookup.api_key_tenant(session, key_digest, bind=True)
    if found is None:
        return None
    key = (
        await session.execute(
            scoped(ApiKey, TenantContext(found.tenant_id, "", "", Role.viewer)).where(
                ApiKey.id == found.row_id
            )
        )
    ).scalar_one_or_none()
    now = clock.now()
    if key is None or key.revoked_at is not None:
        return None
    if key.expires_at is not None and key.expires_at <= now:
        return None
    touch = timedelta(seconds=get_settings().api_key_touch_interval_seconds)
    last_used = key.last_used_at
    if last_used is None or now - last_used >= touch:
        # Recorded by `touch` in a transaction of its own: a read-only request must not write.
        session.info[TOUCH_DUE] = key.id
        last_used = now
    ctx = TenantContext(
        tenant_id=key.tenant_id,
        actor_id=key.id,
        actor_kind="api_key",
        role=key.role,
        scopes=frozenset(key.scopes or []),
    )
    _cache.put(key_digest, CachedKey(ctx, key.expires_at, last_used))
    return ctx
