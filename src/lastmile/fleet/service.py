"""Public functions of the fleet domain (other domains call these, never the tables).

Visibility (see `access.py`): admins, viewers and API keys see the whole tenant; a dispatcher
user sees the teams they manage and those teams' drivers; a driver user sees only their own
driver record. What the caller cannot see is reported as not found.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from lastmile.core.errors import FieldError, ValidationFailed
from lastmile.core.tenancy import TenantContext, scoped
from lastmile.fleet import access
from lastmile.fleet.enums import BUILTIN_SKILLS
from lastmile.fleet.errors import DriverNotFound, TeamNotFound
from lastmile.fleet.models import Driver, DriverTeam, Skill, Team

__all__ = [
    "driver_team_ids",
    "get_driver",
    "get_driver_for_user",
    "get_team",
    "known_skills",
    "require_driver",
    "require_team",
    "team_driver_ids",
    "validate_skills",
    "visible_team_ids",
]


async def visible_team_ids(*, session: AsyncSession, tenant: TenantContext) -> set[str] | None:
    """None when the caller sees the whole tenant; else the teams a dispatcher user manages,
    or a driver user's own teams (empty for a driver-role API key)."""
    return await access.visible_team_ids(session=session, tenant=tenant)


async def get_driver(
    *, session: AsyncSession, tenant: TenantContext, driver_id: str
) -> Driver | None:
    """The driver, or None when it does not exist or the caller may not see it."""
    stmt = scoped(Driver, tenant).where(Driver.id == driver_id, access.driver_filter(tenant))
    return (await session.execute(stmt)).scalar_one_or_none()


async def require_driver(*, session: AsyncSession, tenant: TenantContext, driver_id: str) -> Driver:
    """The driver; DriverNotFound (404) when missing or invisible to the caller."""
    driver = await get_driver(session=session, tenant=tenant, driver_id=driver_id)
    if driver is None:
        raise DriverNotFound(f"no driver {driver_id}")
    return driver


async def get_driver_for_user(
    *, session: AsyncSession, tenant: TenantContext, user_id: str
) -> Driver | None:
    """The driver record of a user of the tenant, or None (no visibility filter)."""
    stmt = scoped(Driver, tenant).where(Driver.user_id == user_id)
    return (await session.execute(stmt)).scalar_one_or_none()


async def driver_team_ids(
    *, session: AsyncSession, tenant: TenantContext, driver_id: str
) -> set[str]:
    """Ids of the teams the driver belongs to (empty for an unknown driver)."""
    stmt = (
        scoped(DriverTeam, tenant)
        .with_only_columns(DriverTeam.team_id)
        .where(DriverTeam.driver_id == driver_id)
    )
    return set((await session.execute(stmt)).scalars())


async def team_driver_ids(
    *, session: AsyncSession, tenant: TenantContext, team_ids: set[str]
) -> set[str]:
    """Ids of the drivers who belong to any of these teams."""
    if not team_ids:
        return set()
    stmt = scoped(DriverTeam, tenant).where(DriverTeam.team_id.in_(sorted(team_ids)))
    return {link.driver_id for link in (await session.execute(stmt)).scalars()}


async def get_team(*, session: AsyncSession, tenant: TenantContext, team_id: str) -> Team | None:
    """The team, or None when it does not exist or the caller may not see it."""
    stmt = scoped(Team, tenant).where(Team.id == team_id, access.team_filter(tenant))
    return (await session.execute(stmt)).scalar_one_or_none()


async def require_team(*, session: AsyncSession, tenant: TenantContext, team_id: str) -> Team:
    """The team; TeamNotFound (404) when missing or invisible to the caller (a dispatcher
    user sees only the teams they manage)."""
    team = await get_team(session=session, tenant=tenant, team_id=team_id)
    if team is None:
        raise TeamNotFound(f"no team {team_id}")
    return team


async def known_skills(*, session: AsyncSession, tenant: TenantContext) -> set[str]:
    """Names of the built-in skills and the tenant's own."""
    stmt = scoped(Skill, tenant).with_only_columns(Skill.name)
    return set(BUILTIN_SKILLS) | set((await session.execute(stmt)).scalars())


async def validate_skills(
    *, session: AsyncSession, tenant: TenantContext, names: list[str], field: str
) -> None:
    """ValidationFailed (422) with `{field}[i]` for every name that is not a known skill."""
    if not names:
        return
    known = await known_skills(session=session, tenant=tenant)
    errors = [
        FieldError(f"{field}[{i}]", f"unknown skill {name!r}", "unknown-skill")
        for i, name in enumerate(names)
        if name not in known
    ]
    if errors:
        raise ValidationFailed("unknown skills", errors)
