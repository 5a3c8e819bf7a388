"""Which tasks a caller may see: the whole tenant, their teams' tasks, or their own route."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, false
from sqlalchemy.ext.asyncio import AsyncSession

from lastmile.core.tenancy import TenantContext
from lastmile.fleet import service as fleet_service
from lastmile.tasks.models import Task


def is_driver_user(tenant: TenantContext) -> bool:
    return tenant.actor_kind == "user" and tenant.role == "driver"


async def own_driver_id(*, session: AsyncSession, tenant: TenantContext) -> str | None:
    """The driver record of a signed-in driver user."""
    if not is_driver_user(tenant):
        return None
    driver = await fleet_service.get_driver_for_user(
        session=session, tenant=tenant, user_id=tenant.actor_id
    )
    return driver.id if driver else None


async def visibility(*, session: AsyncSession, tenant: TenantContext) -> ColumnElement[Any] | None:
    """An extra WHERE clause limiting tasks to what the caller may see (None: the whole tenant)."""
    if is_driver_user(tenant):
        driver_id = await own_driver_id(session=session, tenant=tenant)
        return false() if driver_id is None else Task.driver_id == driver_id
    teams = await fleet_service.visible_team_ids(session=session, tenant=tenant)
    if teams is None:
        return None
    return Task.team_id.in_(sorted(teams)) if teams else false()
