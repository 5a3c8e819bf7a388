"""HTTP routes of the tenancy domain: tenants, login, users, API keys."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from lastmile.api.deps import get_session, idempotent, platform_operator, principal, require
from lastmile.api.params import Cursor, Limit
from lastmile.api.routing import CREATE_ERRORS, make_router
from lastmile.core.errors import NotFound, RateLimited
from lastmile.core.pagination import Page
from lastmile.core.tenancy import TenantContext
from lastmile.tenancy import auth, keys, service
from lastmile.tenancy.enums import Role
from lastmile.tenancy.schemas import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyRead,
    LoginRequest,
    Me,
    RefreshRequest,
    TenantCreate,
    TenantCreated,
    TenantRead,
    TokenPair,
    UserCreate,
    UserRead,
    UserUpdate,
)

Session = Annotated[AsyncSession, Depends(get_session)]
READERS = (Role.admin, Role.dispatcher, Role.viewer)

router = make_router(prefix="/v1")


@router.post(
    "/tenants",
    status_code=201,
    response_model=TenantCreated,
    tags=["platform"],
    dependencies=[Depends(platform_operator)],
    responses=CREATE_ERRORS,
)
async def create_tenant(data: TenantCreate, session: Session) -> TenantCreated:
    """Create a tenant with its first admin and an admin API key (platform operators only)."""
    tenant, admin, key, plain = await service.create_tenant(
        session=session,
        name=data.name,
        admin_email=data.admin_email,
        admin_name=data.admin_name,
        admin_password=data.admin_password,
    )
    return TenantCreated(
        tenant=TenantRead.model_validate(tenant),
        admin_user=UserRead.model_validate(admin),
        api_key=ApiKeyCreated(**ApiKeyRead.model_validate(key).model_dump(), key=plain),
    )


@router.get(
    "/tenants/{tenant_id}",
    response_model=TenantRead,
    tags=["platform"],
    dependencies=[Depends(platform_operator)],
)
async def get_tenant(tenant_id: str, session: Session) -> TenantRead:
    """One tenant (platform operators only)."""
    tenant = await service.get_tenant(session=session, tenant_id=tenant_id)
    if tenant is None:
        raise NotFound(f"no tenant {tenant_id}")
    return TenantRead.model_validate(tenant)


async def _login_limit(request: Request) -> None:
    ip = request.client.host if request.client else "unknown"
    s = request.app.state.settings
    decision = await request.app.state.limiter.hit(
        f"login:{ip}", s.login_rate_per_second, s.login_burst
    )
    if not decision.allowed:
        raise RateLimited("too many sign-in attempts", headers=decision.headers())


@router.post(
    "/auth/login", response_model=TokenPair, tags=["auth"], dependencies=[Depends(_login_limit)]
)
async def login(data: LoginRequest, session: Session) -> TokenPair:
    """Exchange email and password for a short-lived access token and a refresh token."""
    return await auth.login(
        session=session, email=data.email, password=data.password, tenant_id=data.tenant_id
    )


@router.post(
    "/auth/refresh", response_model=TokenPair, tags=["auth"], dependencies=[Depends(_login_limit)]
)
async def refresh(data: RefreshRequest, session: Session) -> TokenPair:
    """Exchange a refresh token (used up) for a new token pair."""
    return await auth.refresh(session=session, refresh_token=data.refresh_token)


@router.post("/auth/logout", status_code=204, tags=["auth"])
async def logout(data: RefreshRequest, session: Session) -> Response:
    """Revoke the session of a refresh token."""
    await auth.logout(session=session, refresh_token=data.refresh_token)
    return Response(status_code=204)


@router.get("/me", response_model=Me, tags=["auth"])
async def me(ctx: Annotated[TenantContext, Depends(principal)]) -> Me:
    """Who the caller is: tenant, actor, role and scopes."""
    return Me(
        tenant_id=ctx.tenant_id,
        actor_id=ctx.actor_id,
        actor_kind=ctx.actor_kind,
        role=Role(ctx.role),
        scopes=sorted(ctx.scopes),
    )


@router.post(
    "/users",
    status_code=201,
    response_model=UserRead,
    tags=["users"],
    dependencies=[Depends(idempotent)],
    responses=CREATE_ERRORS,
)
async def create_user(
    data: UserCreate,
    session: Session,
    ctx: Annotated[TenantContext, Depends(require(Role.admin, scope="users:write"))],
) -> UserRead:
    """Create a user of the caller's tenant (admins)."""
    return UserRead.model_validate(
        await service.create_user(session=session, tenant=ctx, data=data)
    )


@router.get("/users", response_model=Page[UserRead], tags=["users"])
async def list_users(
    session: Session,
    ctx: Annotated[TenantContext, Depends(require(*READERS, scope="users:read"))],
    role: Role | None = None,
    email: Annotated[str | None, Query(max_length=320, pattern=r"^[^\x00]*$")] = None,
    is_active: bool | None = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[UserRead]:
    """Users of the caller's tenant, newest first, filtered by role, email or activity."""
    rows, nxt = await service.search_users(
        session=session,
        tenant=ctx,
        role=role,
        email=email,
        is_active=is_active,
        limit=limit,
        cursor=cursor,
    )
    return Page[UserRead](data=[UserRead.model_validate(r) for r in rows], next_cursor=nxt)


@router.get("/users/{user_id}", response_model=UserRead, tags=["users"])
async def get_user(
    user_id: str,
    session: Session,
    ctx: Annotated[TenantContext, Depends(require(*READERS, scope="users:read"))],
) -> UserRead:
    """One user."""
    return UserRead.model_validate(
        await service.require_user(session=session, tenant=ctx, user_id=user_id)
    )


@router.patch("/users/{user_id}", response_model=UserRead, tags=["users"])
async def update_user(
    user_id: str,
    data: UserUpdate,
    session: Session,
    ctx: Annotated[TenantContext, Depends(require(Role.admin, scope="users:write"))],
) -> UserRead:
    """Change a user's name, role, password or active flag (admins)."""
    return UserRead.model_validate(
        await service.update_user(session=session, tenant=ctx, user_id=user_id, data=data)
    )


@router.post(
    "/api-keys",
    status_code=201,
    response_model=ApiKeyCreated,
    tags=["api-keys"],
    dependencies=[Depends(idempotent)],
    responses=CREATE_ERRORS,
)
async def create_api_key(
    data: ApiKeyCreate,
    session: Session,
    ctx: Annotated[TenantContext, Depends(require(Role.admin, scope="api_keys:write"))],
) -> ApiKeyCreated:
    """Create an API key; the secret `key` is in this response only."""
    key, plain = await keys.create(
        session=session,
        tenant=ctx,
        name=data.name,
        role=data.role,
        scopes=data.scopes,
        created_by=ctx.actor_id,
        expires_at=data.expires_at,
    )
    return ApiKeyCreated(**ApiKeyRead.model_validate(key).model_dump(), key=plain)


@router.get("/api-keys", response_model=Page[ApiKeyRead], tags=["api-keys"])
async def list_api_keys(
    session: Session,
    ctx: Annotated[TenantContext, Depends(require(Role.admin, scope="api_keys:read"))],
    include_revoked: bool = False,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[ApiKeyRead]:
    """API keys of the caller's tenant (without their secrets)."""
    rows, nxt = await keys.search(
        session=session, tenant=ctx, include_revoked=include_revoked, limit=limit, cursor=cursor
    )
    return Page[ApiKeyRead](data=[ApiKeyRead.model_validate(r) for r in rows], next_cursor=nxt)


@router.get("/api-keys/{key_id}", response_model=ApiKeyRead, tags=["api-keys"])
async def get_api_key(
    key_id: str,
    session: Session,
    ctx: Annotated[TenantContext, Depends(require(Role.admin, scope="api_keys:read"))],
) -> ApiKeyRead:
    """One API key (without its secret)."""
    return ApiKeyRead.model_validate(await keys.require(session=session, tenant=ctx, key_id=key_id))


@router.post("/api-keys/{key_id}/revoke", response_model=ApiKeyRead, tags=["api-keys"])
async def revoke_api_key(
    key_id: str,
    session: Session,
    ctx: Annotated[TenantContext, Depends(require(Role.admin, scope="api_keys:write"))],
) -> ApiKeyRead:
    """Revoke a key; it stops working at once."""
    return ApiKeyRead.model_validate(await keys.revoke(session=session, tenant=ctx, key_id=key_id))
