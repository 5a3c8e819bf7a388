"""Request dependencies: the unit of work, the caller's tenant context, roles, idempotency."""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Annotated

import structlog
from fastapi import Depends, Header, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession

from lastmile.core import idempotency
from lastmile.core.config import get_settings
from lastmile.core.errors import Forbidden, RateLimited, Unauthorized, ValidationFailed
from lastmile.core.metrics import RATE_LIMITED
from lastmile.core.tenancy import TenantContext, bind_session
from lastmile.core.uow import UnitOfWork
from lastmile.tenancy import auth, keys
from lastmile.tenancy import service as tenancy_service

bearer = HTTPBearer(auto_error=False, description="An API key (`lmk_…`) or an access token.")
_TENANT_CACHE_TTL = 60.0
_tenant_cache: dict[str, tuple[float, str, float | None, int | None]] = {}


# Async on purpose: FastAPI runs a plain `def` dependency in its thread pool, which cost a
# thread hop (and a GIL hand-off under load) on every request.
async def get_uow(request: Request) -> UnitOfWork:
    return _uow(request)


async def get_session(request: Request) -> AsyncSession:
    return _uow(request).session


def _uow(request: Request) -> UnitOfWork:
    uow: UnitOfWork = request.state.uow
    return uow


def _unauthorized(detail: str) -> Unauthorized:
    return Unauthorized(detail, headers={"WWW-Authenticate": 'Bearer realm="lastmile"'})


async def _tenant_limits(
    request: Request, session: AsyncSession, tenant_id: str
) -> tuple[str, float, int]:
    """The tenant's status and rate limit: its own override, else this app's settings."""
    now = time.monotonic()
    hit = _tenant_cache.get(tenant_id)
    if hit is None or hit[0] <= now:
        tenant = await tenancy_service.get_tenant(session=session, tenant_id=tenant_id)
        hit = (
            now + _TENANT_CACHE_TTL,
            tenant.status if tenant else "missing",
            tenant.rate_limit_per_second if tenant else None,
            tenant.rate_limit_burst if tenant else None,
        )
        _tenant_cache[tenant_id] = hit
    s = request.app.state.settings
    return hit[1], hit[2] or s.rate_limit_per_second, hit[3] or s.rate_limit_burst


async def principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> TenantContext:
    """The caller's tenant context from `Authorization: Bearer …`; enforces the rate limit."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise _unauthorized("send Authorization: Bearer <API key or access token>")
    session = _uow(request).session
    ctx = await auth.authenticate(session=session, token=credentials.credentials)
    if ctx is None:
        raise _unauthorized("the API key or access token is invalid, revoked or expired")
    key_id = session.info.pop(keys.TOUCH_DUE, None)
    if key_id is not None and request.method not in ("GET", "HEAD", "OPTIONS"):
        await keys.touch(session=session, tenant=ctx, key_id=key_id)
    elif key_id is not None:  # a read-only request writes nothing: touch in a transaction apart
        async with UnitOfWork(request.app.state.sessions) as uow:
            await bind_session(uow.session, ctx.tenant_id)
            await keys.touch(session=uow.session, tenant=ctx, key_id=key_id)
            await uow.commit()
    status, rate, burst = await _tenant_limits(request, session, ctx.tenant_id)
    if status != "active":
        raise Forbidden(f"tenant is {status}")
    decision = await request.app.state.limiter.hit(ctx.tenant_id, rate, burst)
    request.state.ratelimit_headers = decision.headers()
    if not decision.allowed:
        RATE_LIMITED.inc()
        raise RateLimited(f"rate limit of {rate:g} requests/s exceeded")
    request.state.tenant = ctx
    structlog.contextvars.bind_contextvars(tenant_id=ctx.tenant_id)
    query_problems = getattr(request.state, "query_problems", None)
    if query_problems:
        raise ValidationFailed("invalid query parameters", query_problems)
    return ctx


def require(*roles: str, scope: str | None = None) -> Callable[..., Awaitable[TenantContext]]:
    """A dependency admitting callers with one of `roles` (any when empty) and the `scope`."""

    async def check(ctx: Annotated[TenantContext, Depends(principal)]) -> TenantContext:
        if roles and ctx.role not in roles:
            raise Forbidden(f"role {ctx.role} may not do this")
        if scope is not None and not ctx.has_scope(scope):
            raise Forbidden(f"this API key lacks the scope {scope}")
        return ctx

    return check


async def platform_operator(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> None:
    """Admits the platform operator, who holds `LASTMILE_PLATFORM_TOKEN`."""
    expected = get_settings().platform_token
    given = credentials.credentials if credentials else ""
    if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
        raise _unauthorized("platform operator token required")


async def _request_bytes(request: Request) -> bytes:
    """The body as sent, or, for a form FastAPI has already parsed (its stream is consumed), a
    canonical encoding of its fields with each file's SHA-256."""
    if not request.headers.get("content-type", "").startswith(("multipart/", "application/x-www")):
        return await request.body()
    form = await request.form()  # cached by Starlette: the form the endpoint receives
    parts = []
    for name, value in sorted(form.multi_items(), key=lambda item: item[0]):
        if isinstance(value, str):
            parts.append(f"{name}={value}")
        else:
            data = await value.read()
            await value.seek(0)
            parts.append(f"{name}@{value.filename}:{hashlib.sha256(data).hexdigest()}")
    return "\n".join(parts).encode()


async def idempotent(
    request: Request,
    ctx: Annotated[TenantContext, Depends(principal)],
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            description="Makes a retried create safe: same key and body replays the first "
            "response; kept 24 h.",
            max_length=257,
            pattern=r'^(?:"[!#-~]{1,255}"|[!-~]{1,255})$',
        ),
    ] = None,
) -> None:
    """Claims the `Idempotency-Key` for this request, or ends it with the stored replay."""
    if idempotency_key is None:
        return
    key = idempotency.validate_key(idempotency_key)
    fp = idempotency.fingerprint(request.method, request.url.path, await _request_bytes(request))
    ttl = timedelta(seconds=get_settings().idempotency_ttl_seconds)
    result = await idempotency.claim(
        session=_uow(request).session, tenant=ctx, key=key, fp=fp, ttl=ttl
    )
    if isinstance(result, idempotency.Replay):
        raise ReplayResponse(result)
    request.state.idempotency = result


class ReplayResponse(Exception):
    """Ends a request early with a stored idempotent response."""

    def __init__(self, replay: idempotency.Replay) -> None:
        super().__init__("replay")
        self.replay = replay
