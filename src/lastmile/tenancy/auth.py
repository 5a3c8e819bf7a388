"""Login, token refresh and logout; resolving a bearer token to its tenant context."""

from __future__ import annotations

from datetime import timedelta

from anyio import to_thread
from sqlalchemy.ext.asyncio import AsyncSession

from lastmile.core import clock
from lastmile.core.config import get_settings
from lastmile.core.ids import new_id
from lastmile.core.tenancy import TenantContext, bind_session, owned, scoped, scoped_update
from lastmile.tenancy import keys, lookup
from lastmile.tenancy.enums import Role
from lastmile.tenancy.errors import InvalidCredentials, RefreshTokenReused
from lastmile.tenancy.models import RefreshToken, User
from lastmile.tenancy.schemas import TokenPair
from lastmile.tenancy.security import (
    API_KEY_PREFIX,
    decode_token,
    encode_token,
    verify_password,
)


def _ctx(tenant_id: str) -> TenantContext:
    return TenantContext(tenant_id, "auth", "system", Role.admin, frozenset({"*"}))


async def _issue(session: AsyncSession, user: User, family_id: str | None = None) -> TokenPair:
    s = get_settings()
    access, _ = encode_token(
        {"sub": user.id, "tid": user.tenant_id, "role": user.role, "typ": "access"},
        timedelta(seconds=s.access_token_ttl_seconds),
    )
    jti = new_id("rft")
    refresh, exp = encode_token(
        {"sub": user.id, "tid": user.tenant_id, "typ": "refresh", "jti": jti},
        timedelta(seconds=s.refresh_token_ttl_seconds),
    )
    row = owned(
        RefreshToken(id=jti, user_id=user.id, family_id=family_id or jti, expires_at=exp),
        _ctx(user.tenant_id),
    )
    session.add(row)
    await session.flush()
    return TokenPair(
        access_token=access, refresh_token=refresh, expires_in=s.access_token_ttl_seconds
    )


async def login(
    *, session: AsyncSession, email: str, password: str, tenant_id: str | None = None
) -> TokenPair:
    """Tokens for a user whose password matches; the same 401 whatever was wrong."""
    candidates = await lookup.login_candidates(session, email.lower())
    if tenant_id is not None:
        candidates = [c for c in candidates if c.tenant_id == tenant_id]
    for cand in candidates:
        await bind_session(session, cand.tenant_id)
        user = (
            await session.execute(scoped(User, _ctx(cand.tenant_id)).where(User.id == cand.row_id))
        ).scalar_one()
        ok = await to_thread.run_sync(verify_password, user.password_hash, password)
        if ok and user.is_active:
            user.last_login_at = clock.now()
            return await _issue(session, user)
    if not candidates:
        await to_thread.run_sync(verify_password, None, password)
    raise InvalidCredentials("email or password is wrong")


async def refresh(*, session: AsyncSession, refresh_token: str) -> TokenPair:
    """A new token pair for a valid refresh token, which is used up; reuse revokes its family."""
    claims = decode_token(refresh_token, "refresh")
    if claims is None:
        raise InvalidCredentials("refresh token is invalid or expired")
    ctx = _ctx(str(claims["tid"]))
    await bind_session(session, ctx.tenant_id)
    row = (
        await session.execute(scoped(RefreshToken, ctx).where(RefreshToken.id == claims.get("jti")))
    ).scalar_one_or_none()
    if row is None or row.revoked_at is not None:
        raise InvalidCredentials("refresh token was revoked")
    now = clock.now()
    if row.used_at is not None:
        await session.execute(
            scoped_update(RefreshToken, ctx)
            .where(RefreshToken.family_id == row.family_id)
            .values(revoked_at=now)
        )
        raise RefreshTokenReused("refresh token reused; its session was revoked")
    user = (
        await session.execute(scoped(User, ctx).where(User.id == row.user_id))
    ).scalar_one_or_none()
    if user is None or not user.is_active:
        raise InvalidCredentials("user is inactive")
    row.used_at = now
    return await _issue(session, user, family_id=row.family_id)


async def logout(*, session: AsyncSession, refresh_token: str) -> None:
    """Revoke the session a refresh token belongs to; unknown tokens are ignored."""
    claims = decode_token(refresh_token, "refresh")
    if claims is None:
        return
    ctx = _ctx(str(claims["tid"]))
    await bind_session(session, ctx.tenant_id)
    row = (
        await session.execute(scoped(RefreshToken, ctx).where(RefreshToken.id == claims.get("jti")))
    ).scalar_one_or_none()
    if row is not None:
        await session.execute(
            scoped_update(RefreshToken, ctx)
            .where(RefreshToken.family_id == row.family_id)
            .values(revoked_at=clock.now())
        )


async def authenticate(*, session: AsyncSession, token: str) -> TenantContext | None:
    """The tenant context of an API key or access token; None when neither is valid."""
    if token.startswith(API_KEY_PREFIX + "_"):
        return await keys.authenticate(session=session, token=token)
    claims = decode_token(token, "access")
    if claims is None:
        return None
    ctx = TenantContext(
        tenant_id=str(claims["tid"]),
        actor_id=str(claims["sub"]),
        actor_kind="user",
        role=str(claims.get("role", Role.viewer)),
        scopes=frozenset({"*"}),
    )
    await bind_session(session, ctx.tenant_id)
    return ctx
