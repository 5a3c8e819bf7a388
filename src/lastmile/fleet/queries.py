"""Reads of the fleet for other domains (route planning): drivers, vehicles, hubs, positions."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from lastmile.core.tenancy import TenantContext, scoped
from lastmile.fleet.models import Driver, DriverTeam, DutyEvent, Hub, Team, Vehicle


async def drivers_by_ids(
    session: AsyncSession, tenant: TenantContext, ids: Sequence[str]
) -> list[Driver]:
    stmt = scoped(Driver, tenant).where(Driver.id.in_(list(ids)))
    return list((await session.execute(stmt)).scalars())


async def drivers_on_duty(
    session: AsyncSession, tenant: TenantContext, team_id: str | None, limit: int
) -> list[Driver]:
    """On-duty drivers (of the team), by id."""
    stmt = scoped(Driver, tenant).where(Driver.on_duty.is_(True))
    if team_id is not None:
        stmt = stmt.where(
            Driver.id.in_(
                scoped(DriverTeam, tenant)
                .with_only_columns(DriverTeam.driver_id)
                .where(DriverTeam.team_id == team_id)
            )
        )
    return list((await session.execute(stmt.order_by(Driver.id).limit(limit))).scalars())


async def vehicles_by_ids(
    session: AsyncSession, tenant: TenantContext, ids: Sequence[str]
) -> dict[str, Vehicle]:
    stmt = scoped(Vehicle, tenant).where(Vehicle.id.in_(list(ids)))
    return {v.id: v for v in (await session.execute(stmt)).scalars()}


async def hubs(session: AsyncSession, tenant: TenantContext) -> dict[str, Hub]:
    return {h.id: h for h in (await session.execute(scoped(Hub, tenant))).scalars()}


async def duty_positions(
    session: AsyncSession, tenant: TenantContext, driver_ids: Sequence[str], since: datetime
) -> dict[str, tuple[datetime, tuple[float, float]]]:
    """Each driver's latest position reported with a duty change since `since`."""
    stmt = (
        scoped(DutyEvent, tenant)
        .with_only_columns(DutyEvent.driver_id, DutyEvent.lat, DutyEvent.lng, DutyEvent.at)
        .where(
            DutyEvent.driver_id.in_(list(driver_ids)),
            DutyEvent.lat.is_not(None),
            DutyEvent.at >= since,
        )
    )
    seen: dict[str, tuple[datetime, tuple[float, float]]] = {}
    for driver_id, lat, lng, at in (await session.execute(stmt)).all():
        newer = driver_id not in seen or seen[driver_id][0] < at
        if lat is not None and lng is not None and newer:
            seen[driver_id] = (at, (lat, lng))
    return seen


async def auto_assign_mode(session: AsyncSession, tenant: TenantContext, team_id: str) -> str:
    """The team's auto-assign mode (`off` when there is no such team)."""
    stmt = scoped(Team, tenant).with_only_columns(Team.auto_assign).where(Team.id == team_id)
    return (await session.execute(stmt)).scalar_one_or_none() or "off"


async def auto_assign_modes(
    session: AsyncSession, tenant: TenantContext, team_ids: Sequence[str]
) -> dict[str, str]:
    """Each team's auto-assign mode."""
    stmt = (
        scoped(Team, tenant)
        .with_only_columns(Team.id, Team.auto_assign)
        .where(Team.id.in_(list(team_ids)))
    )
    return {row[0]: row[1] for row in (await session.execute(stmt)).all()}
