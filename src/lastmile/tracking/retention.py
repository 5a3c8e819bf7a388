"""Retention: a tenant's points older than its retention are deleted (on PostgreSQL, whole day
partitions older than every tenant's retention are dropped first: see partitions.py)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from lastmile.core.tenancy import TenantContext, scoped, scoped_delete
from lastmile.tracking.models import DriverPosition, Location


async def purge(*, session: AsyncSession, tenant: TenantContext, before: datetime) -> int:
    """Delete the tenant's points recorded before `before`; how many.

    Driver by driver (every driver with points has a latest position), so the primary key
    (driver_id, recorded_at) finds the rows and PostgreSQL reads only the partitions that can
    hold them."""
    drivers = scoped(DriverPosition, tenant).with_only_columns(DriverPosition.driver_id)
    stmt = (
        scoped_delete(Location, tenant)
        .where(Location.driver_id.in_(drivers), Location.recorded_at < before)
        .execution_options(synchronize_session=False)
    )
    result = await session.execute(stmt)
    return int(getattr(result, "rowcount", 0) or 0)
