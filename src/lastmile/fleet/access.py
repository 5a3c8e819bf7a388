"""Who sees which fleet objects: the visibility rule every fleet read goes through.

- admins, viewers and the system see the whole tenant; so do API keys of those roles and
  dispatcher API keys (a key is not a person: it acts tenant-wide with its role);
- a dispatcher *user* sees the teams they manage (team_dispatchers) and those teams' drivers;
- a driver user sees their own driver record and its teams; a driver-role API key, which is
  nobody's driver record, sees no driver and no team.
Objects outside the caller's view are reported as not found (404), never as forbidden.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, false, true
from sqlalchemy.ext.asyncio import AsyncSession

from lastmile.core.tenancy import TenantContext, scoped
from lastmile.fleet.models import Driver, DriverTeam, Team, TeamDispatcher
from lastmile.tenancy.enums import Role


def is_dispatcher_user(tenant: TenantContext) -> bool:
    return tenant.actor_kind == "user" and tenant.role == Role.dispatcher


def is_driver(tenant: TenantContext) -> bool:
    return tenant.role == Role.driver


def tenant_wide(tenant: TenantContext) -> bool:
    """True when the caller sees every fleet object of the tenant."""
    return not is_dispatcher_user(tenant) and not is_driver(tenant)


def managed_teams_query(tenant: TenantContext) -> Any:
    """`SELECT team_id` of the teams the calling dispatcher user manages."""
    return (
        scoped(TeamDispatcher, tenant)
        .with_only_columns(TeamDispatcher.team_id)
        .where(TeamDispatcher.user_id == tenant.actor_id)
    )


def own_driver_ids_query(tenant: TenantContext) -> Any:
    """`SELECT id` of the calling user's own driver record."""
    return (
        scoped(Driver, tenant).with_only_columns(Driver.id).where(Driver.user_id == tenant.actor_id)
    )


def driver_filter(tenant: TenantContext) -> ColumnElement[bool]:
    """A condition on `Driver` true for the drivers the caller may see."""
    if tenant_wide(tenant):
        return true()
    if is_dispatcher_user(tenant):
        members = (
            scoped(DriverTeam, tenant)
            .with_only_columns(DriverTeam.driver_id)
            .where(DriverTeam.team_id.in_(managed_teams_query(tenant)))
        )
        return Driver.id.in_(members)
    if tenant.actor_kind == "user":
        return Driver.user_id == tenant.actor_id
    return false()


def team_filter(tenant: TenantContext) -> ColumnElement[bool]:
    """A condition on `Team` true for the teams the caller may see."""
    if tenant_wide(tenant):
        return true()
    if is_dispatcher_user(tenant):
        return Team.id.in_(managed_teams_query(tenant))
    if tenant.actor_kind == "user":
        own_teams = (
            scoped(DriverTeam, tenant)
            .with_only_columns(DriverTeam.team_id)
            .where(DriverTeam.driver_id.in_(own_driver_ids_query(tenant)))
        )
        return Team.id.in_(own_teams)
    return false()


async def visible_team_ids(*, session: AsyncSession, tenant: TenantContext) -> set[str] | None:
    """None when the caller sees the whole tenant, else the ids of the teams they see."""
    if tenant_wide(tenant):
        return None
    stmt = scoped(Team, tenant).with_only_columns(Team.id).where(team_filter(tenant))
    return set((await session.execute(stmt)).scalars())
