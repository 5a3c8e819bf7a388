"""Teams and the dispatchers who manage them."""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from lastmile.core.errors import FieldError, ValidationFailed
from lastmile.core.ids import new_id
from lastmile.core.pagination import paginate
from lastmile.core.tenancy import TenantContext, owned, scoped, scoped_delete
from lastmile.fleet import access, refs
from lastmile.fleet.errors import InUse, TeamNameTaken
from lastmile.fleet.models import DriverTeam, Team, TeamDispatcher
from lastmile.fleet.schemas import TeamCreate, TeamUpdate
from lastmile.fleet.service import require_team
from lastmile.places import service as places_service
from lastmile.tenancy import service as tenancy_service
from lastmile.tenancy.enums import Role


async def _name_free(
    session: AsyncSession, tenant: TenantContext, name: str, except_id: str | None = None
) -> None:
    stmt = scoped(Team, tenant).with_only_columns(Team.id).where(Team.name == name)
    if except_id is not None:
        stmt = stmt.where(Team.id != except_id)
    if (await session.execute(stmt)).first() is not None:
        raise _taken(name)


def _taken(name: str) -> TeamNameTaken:
    return TeamNameTaken(
        f"a team named {name!r} already exists",
        [FieldError("body.name", "already used by another team", "taken")],
    )


async def create(*, session: AsyncSession, tenant: TenantContext, data: TeamCreate) -> Team:
    """A new team; 409 when the name is taken, 422 when `hub_id` is not a hub."""
    refs.raise_if(
        await refs.hub_errors(
            session=session, tenant=tenant, hub_id=data.hub_id, field="body.hub_id"
        )
    )
    await _name_free(session, tenant, data.name)
    team = owned(
        Team(
            id=new_id("team"),
            name=data.name,
            description=data.description,
            hub_id=data.hub_id,
            auto_assign=data.auto_assign.value,
        ),
        tenant,
    )
    session.add(team)
    await refs.flush_or_raise(session, _taken(data.name))
    return team


async def update(
    *, session: AsyncSession, tenant: TenantContext, team_id: str, data: TeamUpdate
) -> Team:
    """Rename or re-describe a team, or change (null: clear) its hub."""
    team = await require_team(session=session, tenant=tenant, team_id=team_id)
    changes = data.model_dump(exclude_unset=True)
    if "hub_id" in changes:
        refs.raise_if(
            await refs.hub_errors(
                session=session, tenant=tenant, hub_id=changes["hub_id"], field="body.hub_id"
            )
        )
        team.hub_id = changes.pop("hub_id")
    if changes.get("name") is not None and changes["name"] != team.name:
        await _name_free(session, tenant, changes["name"], except_id=team.id)
    for field, value in changes.items():
        if value is not None:
            setattr(team, field, value)
    await refs.flush_or_raise(session, _taken(team.name))
    return team


async def delete(*, session: AsyncSession, tenant: TenantContext, team_id: str) -> None:
    """Delete a team, its dispatcher links and its zone links; 409 while it has drivers or
    tasks."""
    team = await require_team(session=session, tenant=tenant, team_id=team_id)
    members = await session.execute(
        scoped(DriverTeam, tenant)
        .with_only_columns(func.count())
        .where(DriverTeam.team_id == team.id)
    )
    count = members.scalar_one()
    if count:
        raise InUse(f"team {team.id} still has {count} driver(s); move them to another team first")
    try:
        async with session.begin_nested():
            await places_service.forget_team(session=session, tenant=tenant, team_id=team.id)
            await session.execute(
                scoped_delete(TeamDispatcher, tenant).where(TeamDispatcher.team_id == team.id)
            )
            await session.delete(team)
            await session.flush()
    except IntegrityError as exc:
        raise InUse(f"team {team_id} still has tasks") from exc


async def search(
    *,
    session: AsyncSession,
    tenant: TenantContext,
    hub_id: str | None = None,
    name: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> tuple[list[Team], str | None]:
    """Teams the caller sees, newest first."""
    stmt = scoped(Team, tenant).where(access.team_filter(tenant))
    if hub_id is not None:
        stmt = stmt.where(Team.hub_id == hub_id)
    if name is not None:
        stmt = stmt.where(Team.name == name)
    return await paginate(session, stmt, Team, limit=limit, cursor=cursor)


async def dispatcher_ids(
    *, session: AsyncSession, tenant: TenantContext, team_ids: list[str]
) -> dict[str, list[str]]:
    """The dispatchers (user ids, sorted) of each of the teams."""
    out: dict[str, list[str]] = defaultdict(list)
    if not team_ids:
        return out
    rows = await session.execute(
        scoped(TeamDispatcher, tenant)
        .with_only_columns(TeamDispatcher.team_id, TeamDispatcher.user_id)
        .where(TeamDispatcher.team_id.in_(team_ids))
        .order_by(TeamDispatcher.user_id)
    )
    for tid, uid in rows.all():
        out[tid].append(uid)
    return out


async def set_dispatchers(
    *, session: AsyncSession, tenant: TenantContext, team_id: str, user_ids: list[str]
) -> Team:
    """Make exactly these users (each a dispatcher of the tenant) the team's dispatchers."""
    team = await require_team(session=session, tenant=tenant, team_id=team_id)
    errors = []
    wanted: list[str] = []
    for i, uid in enumerate(user_ids):
        user = await tenancy_service.get_user(session=session, tenant=tenant, user_id=uid)
        if user is None:
            errors.append(refs.unknown(f"body.user_ids[{i}]", "user", uid))
        elif user.role != Role.dispatcher:
            errors.append(
                FieldError(
                    f"body.user_ids[{i}]",
                    f"user {uid} has the role {user.role}, not dispatcher",
                    "not-a-dispatcher",
                )
            )
        elif uid not in wanted:
            wanted.append(uid)
    if errors:
        raise ValidationFailed("only dispatchers of this tenant can manage a team", errors)
    current = await dispatcher_ids(session=session, tenant=tenant, team_ids=[team.id])
    have = set(current.get(team.id, []))
    gone = have - set(wanted)
    if gone:
        await session.execute(
            scoped_delete(TeamDispatcher, tenant).where(
                TeamDispatcher.team_id == team.id, TeamDispatcher.user_id.in_(gone)
            )
        )
    for uid in wanted:
        if uid not in have:
            session.add(owned(TeamDispatcher(team_id=team.id, user_id=uid), tenant))
    await session.flush()
    return team
