"""HTTP routes of the fleet domain: teams, hubs, vehicles, skills (drivers: driver_routes.py)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Query, Response
from sqlalchemy.ext.asyncio import AsyncSession

from lastmile.api.deps import get_session, idempotent, require
from lastmile.api.params import Cursor, Limit
from lastmile.api.routing import CREATE_ERRORS, make_router
from lastmile.core.pagination import Page
from lastmile.core.tenancy import TenantContext
from lastmile.fleet import driver_routes, hubs, service, skills, teams, vehicles
from lastmile.fleet.enums import VehicleType
from lastmile.fleet.models import Team
from lastmile.fleet.schemas import (
    DispatchersSet,
    HubCreate,
    HubRead,
    HubUpdate,
    SkillCreate,
    SkillRead,
    TeamCreate,
    TeamRead,
    TeamUpdate,
    VehicleCreate,
    VehicleRead,
    VehicleUpdate,
)
from lastmile.tenancy.enums import Role

Session = Annotated[AsyncSession, Depends(get_session)]
Reader = Annotated[
    TenantContext, Depends(require(Role.admin, Role.dispatcher, Role.viewer, scope="fleet:read"))
]
Admin = Annotated[TenantContext, Depends(require(Role.admin, scope="fleet:write"))]
IdFilter = Annotated[str | None, Query(max_length=40, pattern=r"^[A-Za-z0-9_-]+$")]
NameFilter = Annotated[str | None, Query(min_length=1, max_length=200, pattern=r"^[^\x00]*$")]
IN_USE: dict[int | str, dict[str, Any]] = {
    409: CREATE_ERRORS[409] | {"description": "Still in use."}
}


router = make_router(prefix="/v1")


async def _team_read(session: AsyncSession, ctx: TenantContext, team: Team) -> TeamRead:
    ids = await teams.dispatcher_ids(session=session, tenant=ctx, team_ids=[team.id])
    return TeamRead.model_validate(team).model_copy(update={"dispatcher_ids": ids.get(team.id, [])})


# --- teams ----------------------------------------------------------------------------------


@router.post(
    "/teams",
    status_code=201,
    response_model=TeamRead,
    tags=["teams"],
    dependencies=[Depends(idempotent)],
    responses=CREATE_ERRORS,
)
async def create_team(data: TeamCreate, session: Session, ctx: Admin) -> TeamRead:
    """Create a team (admins); names are unique in the tenant."""
    return await _team_read(
        session, ctx, await teams.create(session=session, tenant=ctx, data=data)
    )


@router.get("/teams", response_model=Page[TeamRead], tags=["teams"])
async def list_teams(
    session: Session,
    ctx: Reader,
    hub_id: IdFilter = None,
    name: NameFilter = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[TeamRead]:
    """Teams, newest first; a dispatcher sees only the teams they manage."""
    rows, nxt = await teams.search(
        session=session, tenant=ctx, hub_id=hub_id, name=name, limit=limit, cursor=cursor
    )
    ids = await teams.dispatcher_ids(session=session, tenant=ctx, team_ids=[t.id for t in rows])
    data = [
        TeamRead.model_validate(t).model_copy(update={"dispatcher_ids": ids.get(t.id, [])})
        for t in rows
    ]
    return Page[TeamRead](data=data, next_cursor=nxt)


@router.get("/teams/{team_id}", response_model=TeamRead, tags=["teams"])
async def get_team(team_id: str, session: Session, ctx: Reader) -> TeamRead:
    """One team with its dispatchers."""
    return await _team_read(
        session, ctx, await service.require_team(session=session, tenant=ctx, team_id=team_id)
    )


@router.patch("/teams/{team_id}", response_model=TeamRead, tags=["teams"], responses=IN_USE)
async def update_team(team_id: str, data: TeamUpdate, session: Session, ctx: Admin) -> TeamRead:
    """Rename a team, change its description or home hub (admins)."""
    team = await teams.update(session=session, tenant=ctx, team_id=team_id, data=data)
    return await _team_read(session, ctx, team)


@router.delete("/teams/{team_id}", status_code=204, tags=["teams"], responses=IN_USE)
async def delete_team(team_id: str, session: Session, ctx: Admin) -> Response:
    """Delete a team (admins); 409 while it still has drivers."""
    await teams.delete(session=session, tenant=ctx, team_id=team_id)
    return Response(status_code=204)


@router.put("/teams/{team_id}/dispatchers", response_model=TeamRead, tags=["teams"])
async def set_team_dispatchers(
    team_id: str, data: DispatchersSet, session: Session, ctx: Admin
) -> TeamRead:
    """Set who manages the team (admins): each id must be a user with the role dispatcher."""
    team = await teams.set_dispatchers(
        session=session, tenant=ctx, team_id=team_id, user_ids=data.user_ids
    )
    return await _team_read(session, ctx, team)


# --- hubs -----------------------------------------------------------------------------------


@router.post(
    "/hubs",
    status_code=201,
    response_model=HubRead,
    tags=["hubs"],
    dependencies=[Depends(idempotent)],
    responses=CREATE_ERRORS,
)
async def create_hub(data: HubCreate, session: Session, ctx: Admin) -> HubRead:
    """Create a hub or depot with its location, opening hours and time zone (admins)."""
    return HubRead.model_validate(await hubs.create(session=session, tenant=ctx, data=data))


@router.get("/hubs", response_model=Page[HubRead], tags=["hubs"])
async def list_hubs(
    session: Session, ctx: Reader, name: NameFilter = None, limit: Limit = 50, cursor: Cursor = None
) -> Page[HubRead]:
    """Hubs, newest first."""
    rows, nxt = await hubs.search(
        session=session, tenant=ctx, name=name, limit=limit, cursor=cursor
    )
    return Page[HubRead](data=[HubRead.model_validate(r) for r in rows], next_cursor=nxt)


@router.get("/hubs/{hub_id}", response_model=HubRead, tags=["hubs"])
async def get_hub(hub_id: str, session: Session, ctx: Reader) -> HubRead:
    """One hub."""
    return HubRead.model_validate(await hubs.require(session=session, tenant=ctx, hub_id=hub_id))


@router.patch("/hubs/{hub_id}", response_model=HubRead, tags=["hubs"])
async def update_hub(hub_id: str, data: HubUpdate, session: Session, ctx: Admin) -> HubRead:
    """Change a hub (admins); `opening_hours` replaces the previous hours."""
    return HubRead.model_validate(
        await hubs.update(session=session, tenant=ctx, hub_id=hub_id, data=data)
    )


@router.delete("/hubs/{hub_id}", status_code=204, tags=["hubs"], responses=IN_USE)
async def delete_hub(hub_id: str, session: Session, ctx: Admin) -> Response:
    """Delete a hub (admins); 409 while a team or a driver's start or end place uses it."""
    await hubs.delete(session=session, tenant=ctx, hub_id=hub_id)
    return Response(status_code=204)


# --- vehicles -------------------------------------------------------------------------------


@router.post(
    "/vehicles",
    status_code=201,
    response_model=VehicleRead,
    tags=["vehicles"],
    dependencies=[Depends(idempotent)],
    responses=CREATE_ERRORS,
)
async def create_vehicle(data: VehicleCreate, session: Session, ctx: Admin) -> VehicleRead:
    """Create a vehicle with its type and capacity per dimension (admins)."""
    return VehicleRead.model_validate(await vehicles.create(session=session, tenant=ctx, data=data))


@router.get("/vehicles", response_model=Page[VehicleRead], tags=["vehicles"])
async def list_vehicles(
    session: Session,
    ctx: Reader,
    type: VehicleType | None = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[VehicleRead]:
    """Vehicles, newest first, optionally of one type."""
    rows, nxt = await vehicles.search(
        session=session, tenant=ctx, type=type, limit=limit, cursor=cursor
    )
    return Page[VehicleRead](data=[VehicleRead.model_validate(r) for r in rows], next_cursor=nxt)


@router.get("/vehicles/{vehicle_id}", response_model=VehicleRead, tags=["vehicles"])
async def get_vehicle(vehicle_id: str, session: Session, ctx: Reader) -> VehicleRead:
    """One vehicle."""
    return VehicleRead.model_validate(
        await vehicles.require(session=session, tenant=ctx, vehicle_id=vehicle_id)
    )


@router.patch("/vehicles/{vehicle_id}", response_model=VehicleRead, tags=["vehicles"])
async def update_vehicle(
    vehicle_id: str, data: VehicleUpdate, session: Session, ctx: Admin
) -> VehicleRead:
    """Change a vehicle (admins); `capacity` replaces the previous one."""
    return VehicleRead.model_validate(
        await vehicles.update(session=session, tenant=ctx, vehicle_id=vehicle_id, data=data)
    )


@router.delete("/vehicles/{vehicle_id}", status_code=204, tags=["vehicles"], responses=IN_USE)
async def delete_vehicle(vehicle_id: str, session: Session, ctx: Admin) -> Response:
    """Delete a vehicle (admins); 409 while it is a driver's default vehicle."""
    await vehicles.delete(session=session, tenant=ctx, vehicle_id=vehicle_id)
    return Response(status_code=204)


# --- skills ---------------------------------------------------------------------------------


@router.get("/skills", response_model=Page[SkillRead], tags=["skills"])
async def list_skills(
    session: Session,
    ctx: Reader,
    builtin: bool | None = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[SkillRead]:
    """Skills drivers can have and tasks can require: the built-in ones and the tenant's own,
    by name."""
    rows, nxt = await skills.search(
        session=session, tenant=ctx, builtin=builtin, limit=limit, cursor=cursor
    )
    return Page[SkillRead](
        data=[SkillRead.model_validate(r, from_attributes=True) for r in rows], next_cursor=nxt
    )


@router.post(
    "/skills",
    status_code=201,
    response_model=SkillRead,
    tags=["skills"],
    dependencies=[Depends(idempotent)],
    responses=CREATE_ERRORS,
)
async def create_skill(data: SkillCreate, session: Session, ctx: Admin) -> SkillRead:
    """Define a skill of the tenant (admins): lower-case letters, digits and `_`."""
    skill = await skills.create(session=session, tenant=ctx, data=data)
    return SkillRead(
        name=skill.name,
        description=skill.description,
        builtin=False,
        id=skill.id,
        created_at=skill.created_at,
    )


router.include_router(driver_routes.router)
