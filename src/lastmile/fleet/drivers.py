"""Drivers: create, change, list, and their on/off duty status with its history."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import and_, or_
from sqlalchemy.ext.asyncio import AsyncSession

from lastmile.core import clock
from lastmile.core.errors import FieldError, Forbidden, NotFound, ValidationFailed
from lastmile.core.ids import new_id
from lastmile.core.pagination import decode_cursor, encode_cursor, paginate
from lastmile.core.tenancy import TenantContext, owned, scoped, scoped_delete
from lastmile.events import service as events
from lastmile.fleet import access, refs
from lastmile.fleet.errors import DriverExists
from lastmile.fleet.events import DRIVER_DUTY_CHANGED
from lastmile.fleet.fields import HubPlace, PointPlace
from lastmile.fleet.models import Driver, DriverTeam, DutyEvent
from lastmile.fleet.schemas import DriverCreate, DriverRead, DriverUpdate, DutyChange
from lastmile.fleet.service import (
    driver_team_ids,
    get_driver_for_user,
    known_skills,
    require_driver,
)
from lastmile.tenancy import service as tenancy_service
from lastmile.tenancy.enums import Role


def _place(value: HubPlace | PointPlace | None) -> dict[str, Any] | None:
    return None if value is None else value.model_dump()


def _unique(values: list[str]) -> list[str]:
    return list(dict.fromkeys(values))


async def _reference_errors(
    session: AsyncSession,
    tenant: TenantContext,
    data: DriverCreate | DriverUpdate,
    fields: set[str],
) -> list[FieldError]:
    """An error naming every given reference that does not exist (or the caller may not use)."""
    errors: list[FieldError] = []
    if "vehicle_id" in fields:
        errors += await refs.vehicle_errors(
            session=session, tenant=tenant, vehicle_id=data.vehicle_id, field="body.vehicle_id"
        )
    if "skills" in fields and data.skills:
        known = await known_skills(session=session, tenant=tenant)
        errors += [
            FieldError(f"body.skills[{i}]", f"unknown skill {name!r}", "unknown-skill")
            for i, name in enumerate(data.skills)
            if name not in known
        ]
    if "team_ids" in fields and data.team_ids:
        errors += await refs.team_errors(
            session=session, tenant=tenant, team_ids=data.team_ids, field="body.team_ids"
        )
    for name in ("start_place", "end_place"):
        place = getattr(data, name)
        if name in fields and isinstance(place, HubPlace):
            errors += await refs.hub_errors(
                session=session, tenant=tenant, hub_id=place.hub_id, field=f"body.{name}.hub_id"
            )
    return errors


async def _user_errors(
    session: AsyncSession, tenant: TenantContext, user_id: str
) -> tuple[Any, list[FieldError]]:
    """The user (a tenancy object) when it may become a driver, else the errors."""
    user = await tenancy_service.get_user(session=session, tenant=tenant, user_id=user_id)
    if user is None:
        return None, [refs.unknown("body.user_id", "user", user_id)]
    if user.role != Role.driver:
        message = f"user {user.id} has the role {user.role}; give them the role driver first"
        return None, [FieldError("body.user_id", message, "not-a-driver")]
    return user, []


async def create(*, session: AsyncSession, tenant: TenantContext, data: DriverCreate) -> Driver:
    """The driver record of an existing user with the role driver (one per user)."""
    user, errors = await _user_errors(session, tenant, data.user_id)
    errors += await _reference_errors(session, tenant, data, data.model_fields_set | {"team_ids"})
    if errors or user is None:
        raise ValidationFailed("invalid driver", errors)
    exists = DriverExists(f"user {user.id} already has a driver record")
    if await get_driver_for_user(session=session, tenant=tenant, user_id=user.id) is not None:
        raise exists
    driver = owned(
        Driver(
            id=new_id("drv"),
            user_id=user.id,
            name=data.name or user.name or user.email,
            phone=data.phone or "",
            vehicle_id=data.vehicle_id,
            skills=_unique(data.skills),
            shift=data.shift.stored(),
            start_place=_place(data.start_place),
            end_place=_place(data.end_place),
            on_duty=False,
        ),
        tenant,
    )
    session.add(driver)
    await refs.flush_or_raise(session, exists)
    for team_id in _unique(data.team_ids):
        session.add(owned(DriverTeam(driver_id=driver.id, team_id=team_id), tenant))
    await session.flush()
    return driver


async def update(
    *, session: AsyncSession, tenant: TenantContext, driver_id: str, data: DriverUpdate
) -> Driver:
    """Change the given fields. `team_ids` replaces the teams the caller sees: a dispatcher's
    list leaves the driver's memberships of teams they do not manage untouched."""
    driver = await require_driver(session=session, tenant=tenant, driver_id=driver_id)
    given = data.model_fields_set
    errors = await _reference_errors(session, tenant, data, given)
    if errors:
        raise ValidationFailed("invalid driver", errors)
    if data.name is not None:
        driver.name = data.name
    if "phone" in given:
        driver.phone = data.phone or ""
    if "vehicle_id" in given:
        driver.vehicle_id = data.vehicle_id
    if data.skills is not None:
        driver.skills = _unique(data.skills)
    if data.shift is not None:
        driver.shift = data.shift.stored()
    if "start_place" in given:
        driver.start_place = _place(data.start_place)
    if "end_place" in given:
        driver.end_place = _place(data.end_place)
    if data.team_ids is not None:
        await _replace_teams(session, tenant, driver.id, _unique(data.team_ids))
    await session.flush()
    return driver


async def _replace_teams(
    session: AsyncSession, tenant: TenantContext, driver_id: str, wanted: list[str]
) -> None:
    current = await driver_team_ids(session=session, tenant=tenant, driver_id=driver_id)
    visible = await access.visible_team_ids(session=session, tenant=tenant)
    editable = current if visible is None else current & visible
    gone = editable - set(wanted)
    if gone:
        await session.execute(
            scoped_delete(DriverTeam, tenant).where(
                DriverTeam.driver_id == driver_id, DriverTeam.team_id.in_(gone)
            )
        )
    for team_id in wanted:
        if team_id not in current:
            session.add(owned(DriverTeam(driver_id=driver_id, team_id=team_id), tenant))


async def team_ids_of(
    *, session: AsyncSession, tenant: TenantContext, driver_ids: list[str]
) -> dict[str, list[str]]:
    """The team ids (sorted) of each of the drivers."""
    out: dict[str, list[str]] = defaultdict(list)
    if not driver_ids:
        return out
    rows = await session.execute(
        scoped(DriverTeam, tenant)
        .with_only_columns(DriverTeam.driver_id, DriverTeam.team_id)
        .where(DriverTeam.driver_id.in_(driver_ids))
        .order_by(DriverTeam.team_id)
    )
    for did, tid in rows.all():
        out[did].append(tid)
    return out


async def search(
    *,
    session: AsyncSession,
    tenant: TenantContext,
    team_id: str | None = None,
    on_duty: bool | None = None,
    skill: str | None = None,
    vehicle_id: str | None = None,
    user_id: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> tuple[list[Driver], str | None]:
    """Drivers the caller sees, newest first, filtered by team, duty, skill, vehicle, user."""
    stmt = scoped(Driver, tenant).where(access.driver_filter(tenant))
    if team_id is not None:
        members = (
            scoped(DriverTeam, tenant)
            .with_only_columns(DriverTeam.driver_id)
            .where(DriverTeam.team_id == team_id)
        )
        stmt = stmt.where(Driver.id.in_(members))
    if on_duty is not None:
        stmt = stmt.where(Driver.on_duty == on_duty)
    if skill is not None:
        stmt = stmt.where(refs.json_mentions(Driver.skills, skill))
    if vehicle_id is not None:
        stmt = stmt.where(Driver.vehicle_id == vehicle_id)
    if user_id is not None:
        stmt = stmt.where(Driver.user_id == user_id)
    return await paginate(session, stmt, Driver, limit=limit, cursor=cursor)


async def require_me(*, session: AsyncSession, tenant: TenantContext) -> Driver:
    """The calling user's own driver record; 404 when they have none."""
    driver = None
    if tenant.actor_kind == "user":
        driver = await get_driver_for_user(session=session, tenant=tenant, user_id=tenant.actor_id)
    if driver is None:
        raise NotFound("the caller has no driver record")
    return driver


async def set_duty(
    *, session: AsyncSession, tenant: TenantContext, driver_id: str, change: DutyChange
) -> Driver:
    """Put a driver on or off duty, recording who did it, when and where. Allowed to the
    driver themself, a dispatcher of one of their teams and admins; setting the status the
    driver already has changes nothing and records nothing."""
    driver = await require_driver(session=session, tenant=tenant, driver_id=driver_id)
    if tenant.role not in (Role.admin, Role.dispatcher, Role.driver):
        raise Forbidden(f"role {tenant.role} may not change duty status")
    if (change.lat is None) != (change.lng is None):
        missing = "body.lng" if change.lng is None else "body.lat"
        raise ValidationFailed(
            "give both lat and lng, or neither",
            [FieldError(missing, "required together with the other coordinate", "missing")],
        )
    if driver.on_duty == change.on_duty:
        return driver
    now = clock.now()
    driver.on_duty = change.on_duty
    driver.duty_changed_at = now
    session.add(
        owned(
            DutyEvent(
                id=new_id("duty"),
                driver_id=driver.id,
                on_duty=change.on_duty,
                at=now,
                actor_id=tenant.actor_id,
                lat=change.lat,
                lng=change.lng,
            ),
            tenant,
        )
    )
    await session.flush()
    (data,) = await views(session=session, tenant=tenant, rows=[driver])
    events.emit(session=session, tenant=tenant, event_type=DRIVER_DUTY_CHANGED, data=data)
    return driver


async def duty_history(
    *,
    session: AsyncSession,
    tenant: TenantContext,
    driver_id: str,
    limit: int = 50,
    cursor: str | None = None,
) -> tuple[list[DutyEvent], str | None]:
    """The driver's duty changes, newest first."""
    driver = await require_driver(session=session, tenant=tenant, driver_id=driver_id)
    stmt = scoped(DutyEvent, tenant).where(DutyEvent.driver_id == driver.id)
    if cursor:
        at, row_id = decode_cursor(cursor)
        stmt = stmt.where(or_(DutyEvent.at < at, and_(DutyEvent.at == at, DutyEvent.id < row_id)))
    stmt = stmt.order_by(DutyEvent.at.desc(), DutyEvent.id.desc()).limit(limit + 1)
    rows = list((await session.execute(stmt)).scalars().all())
    nxt = None
    if len(rows) > limit:
        rows = rows[:limit]
        nxt = encode_cursor(rows[-1].at, rows[-1].id)
    return rows, nxt


async def views(
    *, session: AsyncSession, tenant: TenantContext, rows: list[Driver]
) -> list[DriverRead]:
    """The drivers as the API shows them (with their team ids)."""
    teams = await team_ids_of(session=session, tenant=tenant, driver_ids=[d.id for d in rows])
    fields = set(DriverRead.model_fields) - {"team_ids"}
    return [
        DriverRead.model_validate(
            {f: getattr(d, f) for f in fields} | {"team_ids": teams.get(d.id, [])}
        )
        for d in rows
    ]
