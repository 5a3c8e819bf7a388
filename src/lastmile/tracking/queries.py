"""Reads of tracking for other domains (route planning): drivers' latest positions."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from lastmile.core.tenancy import TenantContext, scoped
from lastmile.tracking.models import DriverPosition


async def latest_positions(
    session: AsyncSession, tenant: TenantContext, driver_ids: Sequence[str], since: datetime
) -> dict[str, tuple[datetime, tuple[float, float]]]:
    """Each driver's latest tracked position recorded since `since`: (recorded_at, (lat, lng))."""
    if not driver_ids:
        return {}
    stmt = (
        scoped(DriverPosition, tenant)
        .with_only_columns(
            DriverPosition.driver_id,
            DriverPosition.recorded_at,
            DriverPosition.lat,
            DriverPosition.lng,
        )
        .where(DriverPosition.driver_id.in_(list(driver_ids)), DriverPosition.recorded_at >= since)
    )
    return {
        driver_id: (at, (lat, lng))
        for driver_id, at, lat, lng in (await session.execute(stmt)).all()
    }
