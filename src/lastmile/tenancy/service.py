"""Tenants and users."""

from __future__ import annotations

from anyio import to_thread
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from lastmile.core.ids import new_id
from lastmile.core.pagination import paginate
from lastmile.core.tenancy import TenantContext, bind_session, owned, scoped
from lastmile.tenancy import keys
from lastmile.tenancy.enums import Role
from lastmile.tenancy.errors import EmailTaken, UserNotFound
from lastmile.tenancy.models import ApiKey, Tenant, User
from lastmile.tenancy.schemas import UserCreate, UserUpdate
from lastmile.tenancy.security import hash_password


async def tenant_ids(*, session: AsyncSession) -> list[str]:
    """Ids of every tenant (platform jobs iterate over them)."""
    return list((await session.execute(select(Tenant.id).order_by(Tenant.id))).scalars())


async def find_tenant_by_name(*, session: AsyncSession, name: str) -> Tenant | None:
    return (
        await session.execute(select(Tenant).where(Tenant.name == name).limit(1))
    ).scalar_one_or_none()


async def get_tenant(*, session: AsyncSession, tenant_id: str) -> Tenant | None:
    return (
        await session.execute(select(Tenant).where(Tenant.id == tenant_id))
    ).scalar_one_or_none()


async def create_tenant(
    *,
    session: AsyncSession,
    name: str,
    admin_email: str,
    admin_name: str = "Admin",
    admin_password: str | None = None,
) -> tuple[Tenant, User, ApiKey, str]:
    """A new tenant with its first admin user and an admin API key (returned in clear once)."""
    tenant = Tenant(id=new_id("ten"), name=name, status="active")
    session.add(tenant)
    await session.flush()
    await bind_session(session, tenant.id)
    ctx = TenantContext.system(tenant.id)
    admin = await create_user(
        session=session,
        tenant=ctx,
        data=UserCreate(
            email=admin_email, name=admin_name, role=Role.admin, password=admin_password
        ),
    )
    key, plain = await keys.create(
        session=session,
        tenant=ctx,
        name="Initial admin key",
        role=Role.admin,
        scopes=["*"],
        created_by=admin.id,
    )
    return tenant, admin, key, plain


async def get_user(*, session: AsyncSession, tenant: TenantContext, user_id: str) -> User | None:
    return (
        await session.execute(scoped(User, tenant).where(User.id == user_id))
    ).scalar_one_or_none()


async def require_user(*, session: AsyncSession, tenant: TenantContext, user_id: str) -> User:
    user = await get_user(session=session, tenant=tenant, user_id=user_id)
    if user is None:
        raise UserNotFound(f"no user {user_id}")
    return user


async def create_user(*, session: AsyncSession, tenant: TenantContext, data: UserCreate) -> User:
    """A new user; 409 when the email is already used in this tenant."""
    email = data.email.lower()
    taken = await session.execute(scoped(User, tenant).where(User.email == email))
    if taken.first() is not None:
        raise EmailTaken(f"{email} is already a user of this tenant")
    pw_hash = await to_thread.run_sync(hash_password, data.password) if data.password else None
    user = owned(
        User(id=new_id("usr"), email=email, name=data.name, role=data.role, password_hash=pw_hash),
        tenant,
    )
    session.add(user)
    await session.flush()
    return user


async def update_user(
    *, session: AsyncSession, tenant: TenantContext, user_id: str, data: UserUpdate
) -> User:
    user = await require_user(session=session, tenant=tenant, user_id=user_id)
    changes = data.model_dump(exclude_unset=True)
    password = changes.pop("password", None)
    for field, value in changes.items():
        if value is not None:
            setattr(user, field, value)
    if password:
        user.password_hash = await to_thread.run_sync(hash_password, password)
    await session.flush()
    return user


async def search_users(
    *,
    session: AsyncSession,
    tenant: TenantContext,
    role: str | None = None,
    email: str | None = None,
    is_active: bool | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> tuple[list[User], str | None]:
    stmt = scoped(User, tenant)
    if role is not None:
        stmt = stmt.where(User.role == role)
    if email is not None:
        stmt = stmt.where(User.email == email.lower())
    if is_active is not None:
        stmt = stmt.where(User.is_active == is_active)
    return await paginate(session, stmt, User, limit=limit, cursor=cursor)
