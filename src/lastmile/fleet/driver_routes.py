"""HTTP routes of drivers: records, duty status and its history."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query
from sqlalchemy.ext.asyncio import AsyncSession

from lastmile.api.deps import get_session, idempotent, require
from lastmile.api.params import Cursor, Limit
from lastmile.api.routing import CREATE_ERRORS, make_router
from lastmile.core.pagination import Page
from lastmile.core.tenancy import TenantContext
from lastmile.fleet import drivers, service
from lastmile.fleet.fields import SKILL_PATTERN
from lastmile.fleet.models import Driver
from lastmile.fleet.schemas import (
    DriverCreate,
    DriverRead,
    DriverUpdate,
    DutyChange,
    DutyEventRead,
)
from lastmile.tenancy.enums import Role

Session = Annotated[AsyncSession, Depends(get_session)]
Reader = Annotated[
    TenantContext,
    Depends(require(Role.admin, Role.dispatcher, Role.viewer, Role.driver, scope="drivers:read")),
]
Manager = Annotated[
    TenantContext, Depends(require(Role.admin, Role.dispatcher, scope="drivers:write"))
]
Admin = Annotated[TenantContext, Depends(require(Role.admin, scope="drivers:write"))]
Actor = Annotated[
    TenantContext,
    Depends(require(Role.admin, Role.dispatcher, Role.driver, scope="drivers:write")),
]
IdFilter = Annotated[str | None, Query(max_length=40, pattern=r"^[A-Za-z0-9_-]+$")]

router = make_router()  # mounted under /v1 by fleet.routes


async def _reads(session: AsyncSession, ctx: TenantContext, rows: list[Driver]) -> list[DriverRead]:
    return await drivers.views(session=session, tenant=ctx, rows=rows)


async def _read(session: AsyncSession, ctx: TenantContext, driver: Driver) -> DriverRead:
    return (await _reads(session, ctx, [driver]))[0]


@router.post(
    "/drivers",
    status_code=201,
    response_model=DriverRead,
    tags=["drivers"],
    dependencies=[Depends(idempotent)],
    responses=CREATE_ERRORS,
)
async def create_driver(data: DriverCreate, session: Session, ctx: Admin) -> DriverRead:
    """Make an existing user with the role driver a driver (admins): phone, default vehicle,
    skills, teams, shifts, start and end place."""
    return await _read(session, ctx, await drivers.create(session=session, tenant=ctx, data=data))


@router.get("/drivers", response_model=Page[DriverRead], tags=["drivers"])
async def list_drivers(
    session: Session,
    ctx: Reader,
    team_id: IdFilter = None,
    on_duty: bool | None = None,
    skill: Annotated[str | None, Query(pattern=SKILL_PATTERN)] = None,
    vehicle_id: IdFilter = None,
    user_id: IdFilter = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[DriverRead]:
    """Drivers the caller sees, newest first: all of them for admins and viewers, those of
    their teams for a dispatcher, their own record for a driver."""
    rows, nxt = await drivers.search(
        session=session,
        tenant=ctx,
        team_id=team_id,
        on_duty=on_duty,
        skill=skill,
        vehicle_id=vehicle_id,
        user_id=user_id,
        limit=limit,
        cursor=cursor,
    )
    return Page[DriverRead](data=await _reads(session, ctx, rows), next_cursor=nxt)


@router.get("/drivers/me", response_model=DriverRead, tags=["drivers"])
async def get_my_driver(session: Session, ctx: Reader) -> DriverRead:
    """The signed-in user's own driver record (404 when they are not a driver)."""
    return await _read(session, ctx, await drivers.require_me(session=session, tenant=ctx))


@router.get("/drivers/{driver_id}", response_model=DriverRead, tags=["drivers"])
async def get_driver(driver_id: str, session: Session, ctx: Reader) -> DriverRead:
    """One driver the caller sees."""
    driver = await service.require_driver(session=session, tenant=ctx, driver_id=driver_id)
    return await _read(session, ctx, driver)


@router.patch("/drivers/{driver_id}", response_model=DriverRead, tags=["drivers"])
async def update_driver(
    driver_id: str, data: DriverUpdate, session: Session, ctx: Manager
) -> DriverRead:
    """Change a driver (admins, and dispatchers for the drivers of their teams)."""
    driver = await drivers.update(session=session, tenant=ctx, driver_id=driver_id, data=data)
    return await _read(session, ctx, driver)


@router.post("/drivers/{driver_id}/duty", response_model=DriverRead, tags=["drivers"])
async def set_duty(driver_id: str, data: DutyChange, session: Session, ctx: Actor) -> DriverRead:
    """Put a driver on or off duty (the driver themself, a dispatcher of their team, admins);
    each change is kept in the duty history with who made it, when and where."""
    driver = await drivers.set_duty(session=session, tenant=ctx, driver_id=driver_id, change=data)
    return await _read(session, ctx, driver)


@router.get(
    "/drivers/{driver_id}/duty-history", response_model=Page[DutyEventRead], tags=["drivers"]
)
async def duty_history(
    driver_id: str, session: Session, ctx: Reader, limit: Limit = 50, cursor: Cursor = None
) -> Page[DutyEventRead]:
    """The driver's on/off duty changes, newest first."""
    rows, nxt = await drivers.duty_history(
        session=session, tenant=ctx, driver_id=driver_id, limit=limit, cursor=cursor
    )
    return Page[DutyEventRead](
        data=[DutyEventRead.model_validate(r) for r in rows], next_cursor=nxt
    )
