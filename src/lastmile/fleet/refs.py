"""Checks that ids given in a request body name objects the caller may use (422 otherwise)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import String as SAString
from sqlalchemy import cast
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from lastmile.core.errors import DomainError, FieldError, ValidationFailed
from lastmile.core.tenancy import TenantContext, scoped
from lastmile.fleet import access
from lastmile.fleet.models import Hub, Team, Vehicle


def unknown(field: str, what: str, value: str) -> FieldError:
    return FieldError(field, f"no {what} {value} in this tenant", "unknown-reference")


async def _existing(session: AsyncSession, stmt: Any) -> set[str]:
    return set((await session.execute(stmt)).scalars())


async def hub_errors(
    *, session: AsyncSession, tenant: TenantContext, hub_id: str | None, field: str
) -> list[FieldError]:
    if hub_id is None:
        return []
    stmt = scoped(Hub, tenant).with_only_columns(Hub.id).where(Hub.id == hub_id)
    return [] if await _existing(session, stmt) else [unknown(field, "hub", hub_id)]


async def vehicle_errors(
    *, session: AsyncSession, tenant: TenantContext, vehicle_id: str | None, field: str
) -> list[FieldError]:
    if vehicle_id is None:
        return []
    stmt = scoped(Vehicle, tenant).with_only_columns(Vehicle.id).where(Vehicle.id == vehicle_id)
    return [] if await _existing(session, stmt) else [unknown(field, "vehicle", vehicle_id)]


async def team_errors(
    *, session: AsyncSession, tenant: TenantContext, team_ids: list[str], field: str
) -> list[FieldError]:
    """Errors for the ids that are not teams the caller sees (a dispatcher: teams they manage)."""
    if not team_ids:
        return []
    stmt = (
        scoped(Team, tenant)
        .with_only_columns(Team.id)
        .where(Team.id.in_(set(team_ids)), access.team_filter(tenant))
    )
    found = await _existing(session, stmt)
    return [
        unknown(f"{field}[{i}]", "team", tid) for i, tid in enumerate(team_ids) if tid not in found
    ]


def raise_if(errors: list[FieldError], detail: str = "invalid references") -> None:
    if errors:
        raise ValidationFailed(detail, errors)


def json_mentions(column: Any, value: str) -> Any:
    """A portable condition: the JSON document in `column` contains the string `value`
    (as a whole JSON string). Values here are ids or skill names: no quotes or backslashes."""
    escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return cast(column, SAString).like(f'%"{escaped}"%', escape="\\")


async def flush_or_raise(session: AsyncSession, error: DomainError) -> None:
    """Flush inside a savepoint; a unique-key race lost to a concurrent request becomes `error`
    (the same 409 the pre-check gives) instead of a 500."""
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:
        raise error from exc
