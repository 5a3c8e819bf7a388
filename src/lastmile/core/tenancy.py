"""The tenant context of a request and the one tenant filter, `scoped()`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import Delete, Select, Update, delete, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

T = TypeVar("T")


@dataclass(frozen=True)
class TenantContext:
    """Who is acting, for which tenant, with which role and scopes."""

    tenant_id: str
    actor_id: str
    actor_kind: str  # "user" or "api_key"
    role: str
    scopes: frozenset[str] = field(default_factory=frozenset)

    def has_scope(self, scope: str) -> bool:
        return "*" in self.scopes or scope in self.scopes

    @classmethod
    def system(cls, tenant_id: str) -> TenantContext:
        """The platform itself acting inside one tenant (CLI, jobs)."""
        return cls(tenant_id, "system", "system", "admin", frozenset({"*"}))


def _check(model: Any) -> None:
    if not hasattr(model, "tenant_id"):
        raise TypeError(f"{model!r} is not tenant-owned")


def scoped(model: type[T], tenant: TenantContext) -> Select[T]:
    """`SELECT model` limited to the caller's tenant: the only way to read tenant-owned rows."""
    _check(model)
    return select(model).where(model.tenant_id == tenant.tenant_id)  # type: ignore[attr-defined]


def scoped_update(model: type[Any], tenant: TenantContext) -> Update:
    """`UPDATE model` limited to the caller's tenant."""
    _check(model)
    return update(model).where(model.tenant_id == tenant.tenant_id)


def scoped_delete(model: type[Any], tenant: TenantContext) -> Delete:
    """`DELETE FROM model` limited to the caller's tenant."""
    _check(model)
    return delete(model).where(model.tenant_id == tenant.tenant_id)


def owned(obj: T, tenant: TenantContext) -> T:
    """Stamp a new tenant-owned object with the caller's tenant."""
    _check(obj)
    obj.tenant_id = tenant.tenant_id  # type: ignore[attr-defined]
    return obj


async def bind_session(session: AsyncSession, tenant_id: str) -> None:
    """Bind a session to a tenant: this and every later transaction carries the RLS setting."""
    session.info["tenant_id"] = tenant_id
    if session.in_transaction() and session.bind is not None:
        conn = await session.connection()
        if conn.dialect.name == "postgresql":
            await conn.execute(
                text("select set_config('app.tenant_id', :t, true)"), {"t": tenant_id}
            )
