"""Hubs (depots, stores): where routes start and end, with opening hours."""

from __future__ import annotations

from sqlalchemy import or_
from sqlalchemy.ext.asyncio import AsyncSession

from lastmile.core.ids import new_id
from lastmile.core.pagination import paginate
from lastmile.core.tenancy import TenantContext, owned, scoped
from lastmile.fleet import refs
from lastmile.fleet.errors import HubNotFound, InUse
from lastmile.fleet.models import Driver, Hub, Team
from lastmile.fleet.schemas import HubCreate, HubUpdate


async def get(*, session: AsyncSession, tenant: TenantContext, hub_id: str) -> Hub | None:
    return (await session.execute(scoped(Hub, tenant).where(Hub.id == hub_id))).scalar_one_or_none()


async def require(*, session: AsyncSession, tenant: TenantContext, hub_id: str) -> Hub:
    hub = await get(session=session, tenant=tenant, hub_id=hub_id)
    if hub is None:
        raise HubNotFound(f"no hub {hub_id}")
    return hub


async def create(*, session: AsyncSession, tenant: TenantContext, data: HubCreate) -> Hub:
    hub = owned(
        Hub(
            id=new_id("hub"),
            name=data.name,
            address=data.address,
            lat=data.lat,
            lng=data.lng,
            opening_hours=data.opening_hours.stored(),
            timezone=data.timezone,
        ),
        tenant,
    )
    session.add(hub)
    await session.flush()
    return hub


async def update(
    *, session: AsyncSession, tenant: TenantContext, hub_id: str, data: HubUpdate
) -> Hub:
    """Change the given fields (null leaves a field as it is); hours replace the old ones."""
    hub = await require(session=session, tenant=tenant, hub_id=hub_id)
    if data.opening_hours is not None:
        hub.opening_hours = data.opening_hours.stored()
    for field in ("name", "address", "lat", "lng", "timezone"):
        value = getattr(data, field)
        if value is not None:
            setattr(hub, field, value)
    await session.flush()
    return hub


async def delete(*, session: AsyncSession, tenant: TenantContext, hub_id: str) -> None:
    """Delete a hub; 409 while a team has it as home or a driver starts or ends there."""
    hub = await require(session=session, tenant=tenant, hub_id=hub_id)
    team = (
        await session.execute(
            scoped(Team, tenant).with_only_columns(Team.id).where(Team.hub_id == hub.id).limit(1)
        )
    ).scalar_one_or_none()
    if team is not None:
        raise InUse(f"hub {hub.id} is the home hub of team {team}")
    driver = (
        await session.execute(
            scoped(Driver, tenant)
            .with_only_columns(Driver.id)
            .where(
                or_(
                    refs.json_mentions(Driver.start_place, hub.id),
                    refs.json_mentions(Driver.end_place, hub.id),
                )
            )
            .limit(1)
        )
    ).scalar_one_or_none()
    if driver is not None:
        raise InUse(f"hub {hub.id} is the start or end place of driver {driver}")
    await session.delete(hub)
    await session.flush()


async def search(
    *,
    session: AsyncSession,
    tenant: TenantContext,
    name: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> tuple[list[Hub], str | None]:
    stmt = scoped(Hub, tenant)
    if name is not None:
        stmt = stmt.where(Hub.name == name)
    return await paginate(session, stmt, Hub, limit=limit, cursor=cursor)
