"""Route templates: create, read, search, change, delete; their runs.

Visibility follows the fleet's rule (fleet/access.py): admins, viewers and API keys see every
template of the tenant; a dispatcher user sees, creates and changes the templates of the teams
they manage. Templates the caller cannot see are reported as not found.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, false
from sqlalchemy.ext.asyncio import AsyncSession

from lastmile.core import clock
from lastmile.core.errors import FieldError, ValidationFailed
from lastmile.core.ids import new_id
from lastmile.core.pagination import paginate
from lastmile.core.tenancy import TenantContext, owned, scoped, scoped_delete
from lastmile.fleet import hubs as fleet_hubs
from lastmile.fleet import service as fleet_service
from lastmile.fleet.fields import HubPlace
from lastmile.tasks.enums import Kind
from lastmile.templates.errors import TemplateNotFound
from lastmile.templates.models import RouteTemplate, RouteTemplateRun
from lastmile.templates.schemas import RouteTemplateCreate, RouteTemplateUpdate, StopIn

__all__ = [
    "clear_error",
    "create",
    "delete",
    "get",
    "record_error",
    "require",
    "runs",
    "search",
    "update",
]


async def _visibility(session: AsyncSession, tenant: TenantContext) -> ColumnElement[bool] | None:
    """None when the caller sees every template, else a condition on the template's team."""
    teams = await fleet_service.visible_team_ids(session=session, tenant=tenant)
    if teams is None:
        return None
    return RouteTemplate.team_id.in_(sorted(teams)) if teams else false()


async def get(
    *, session: AsyncSession, tenant: TenantContext, template_id: str
) -> RouteTemplate | None:
    stmt = scoped(RouteTemplate, tenant).where(RouteTemplate.id == template_id)
    clause = await _visibility(session, tenant)
    if clause is not None:
        stmt = stmt.where(clause)
    return (await session.execute(stmt)).scalar_one_or_none()


async def require(
    *, session: AsyncSession, tenant: TenantContext, template_id: str
) -> RouteTemplate:
    """The template if the caller may see it; 404 otherwise."""
    template = await get(session=session, tenant=tenant, template_id=template_id)
    if template is None:
        raise TemplateNotFound(f"no route template {template_id}")
    return template


def _stop_link_errors(stops: list[StopIn]) -> list[FieldError]:
    """Refs unique; a drop-off's `depends_on_ref` names an earlier pickup stop."""
    errors: list[FieldError] = []
    seen: dict[str, int] = {}
    for i, stop in enumerate(stops):
        at = f"body.stops[{i}]"
        if stop.depends_on_ref is not None:
            j = seen.get(stop.depends_on_ref)
            if stop.kind != Kind.dropoff:
                errors.append(
                    FieldError(f"{at}.depends_on_ref", "only a drop-off can depend on a pickup")
                )
            elif j is None:
                errors.append(
                    FieldError(
                        f"{at}.depends_on_ref",
                        f"no earlier stop has the ref {stop.depends_on_ref!r}",
                        "unknown-reference",
                    )
                )
            elif stops[j].kind != Kind.pickup:
                errors.append(FieldError(f"{at}.depends_on_ref", f"stop {j} is not a pickup"))
        if stop.ref is not None:
            if stop.ref in seen:
                errors.append(
                    FieldError(
                        f"{at}.ref", f"already the ref of stop {seen[stop.ref]}", "duplicate"
                    )
                )
            else:
                seen[stop.ref] = i
    return errors


async def _stop_reference_errors(
    session: AsyncSession, tenant: TenantContext, stops: list[StopIn]
) -> list[FieldError]:
    """Hubs and skills the stops name must exist in the tenant."""
    errors: list[FieldError] = []
    hub_ids = {s.place.hub_id for s in stops if isinstance(s.place, HubPlace)}
    missing = {
        h
        for h in sorted(hub_ids)
        if await fleet_hubs.get(session=session, tenant=tenant, hub_id=h) is None
    }
    skills = (
        await fleet_service.known_skills(session=session, tenant=tenant)
        if any(s.required_skills for s in stops)
        else set()
    )
    for i, stop in enumerate(stops):
        if isinstance(stop.place, HubPlace) and stop.place.hub_id in missing:
            errors.append(
                FieldError(
                    f"body.stops[{i}].place.hub_id",
                    f"no hub {stop.place.hub_id} in this tenant",
                    "unknown-reference",
                )
            )
        errors += [
            FieldError(
                f"body.stops[{i}].required_skills[{k}]", f"unknown skill {name!r}", "unknown-skill"
            )
            for k, name in enumerate(stop.required_skills)
            if name not in skills
        ]
    return errors


async def _team_errors(
    session: AsyncSession, tenant: TenantContext, team_id: str | None
) -> list[FieldError]:
    visible = await fleet_service.visible_team_ids(session=session, tenant=tenant)
    if team_id is None:
        if visible is None:
            return []
        return [FieldError("body.team_id", "required: one of the teams you manage", "missing")]
    if await fleet_service.get_team(session=session, tenant=tenant, team_id=team_id) is None:
        message = f"no team {team_id} in this tenant" + (
            "" if visible is None else " that you manage"
        )
        return [FieldError("body.team_id", message, "unknown-reference")]
    return []


async def _driver_errors(
    session: AsyncSession, tenant: TenantContext, driver_id: str | None
) -> list[FieldError]:
    if driver_id is None:
        return []
    if await fleet_service.get_driver(session=session, tenant=tenant, driver_id=driver_id) is None:
        return [
            FieldError(
                "body.driver_id", f"no driver {driver_id} in this tenant", "unknown-reference"
            )
        ]
    return []


def _stored(stops: list[StopIn]) -> list[dict[str, Any]]:
    """Stops as kept in the template: plain JSON, requirements without their defaults."""
    out = []
    for stop in stops:
        doc = stop.model_dump(mode="json")
        doc["requirements"] = stop.requirements.model_dump(mode="json", exclude_defaults=True)
        out.append(doc)
    return out


async def create(
    *, session: AsyncSession, tenant: TenantContext, data: RouteTemplateCreate
) -> RouteTemplate:
    """A new template; 422 naming each field that is invalid or names an unknown object."""
    errors = await _team_errors(session, tenant, data.team_id)
    errors += await _driver_errors(session, tenant, data.driver_id)
    if data.valid_from and data.valid_until and data.valid_until < data.valid_from:
        errors.append(FieldError("body.valid_until", "must not be before valid_from"))
    errors += _stop_link_errors(data.stops)
    errors += await _stop_reference_errors(session, tenant, data.stops)
    if errors:
        raise ValidationFailed("invalid route template", errors)
    template = owned(
        RouteTemplate(
            id=new_id("rtp"),
            name=data.name,
            notes=data.notes,
            team_id=data.team_id,
            driver_id=data.driver_id,
            weekdays=list(data.weekdays),
            timezone=data.timezone,
            valid_from=data.valid_from,
            valid_until=data.valid_until,
            active=data.active,
            stops=_stored(data.stops),
        ),
        tenant,
    )
    session.add(template)
    await session.flush()
    return template


async def update(
    *, session: AsyncSession, tenant: TenantContext, template_id: str, data: RouteTemplateUpdate
) -> RouteTemplate:
    """Change the given fields (`null` clears team, driver and validity dates; `stops` replaces
    them all). Days already materialised keep their tasks; later days use the new version."""
    template = await require(session=session, tenant=tenant, template_id=template_id)
    given = data.model_fields_set
    errors: list[FieldError] = []
    if "team_id" in given:
        errors += await _team_errors(session, tenant, data.team_id)
    if "driver_id" in given:
        errors += await _driver_errors(session, tenant, data.driver_id)
    valid_from = data.valid_from if "valid_from" in given else template.valid_from
    valid_until = data.valid_until if "valid_until" in given else template.valid_until
    if valid_from and valid_until and valid_until < valid_from:
        field = "body.valid_until" if "valid_until" in given else "body.valid_from"
        errors.append(FieldError(field, "valid_until must not be before valid_from"))
    if data.stops is not None:
        errors += _stop_link_errors(data.stops)
        errors += await _stop_reference_errors(session, tenant, data.stops)
    if errors:
        raise ValidationFailed("invalid route template", errors)
    for field in ("team_id", "driver_id", "valid_from", "valid_until"):
        if field in given:
            setattr(template, field, getattr(data, field))
    for field in ("name", "notes", "timezone", "active"):
        value = getattr(data, field)
        if value is not None:
            setattr(template, field, value)
    if data.weekdays is not None:
        template.weekdays = list(data.weekdays)
    if data.stops is not None:
        template.stops = _stored(data.stops)
    template.last_error = None
    template.last_error_at = None
    await session.flush()
    return template


async def delete(*, session: AsyncSession, tenant: TenantContext, template_id: str) -> None:
    """Delete a template and its run records; the tasks it created stay."""
    template = await require(session=session, tenant=tenant, template_id=template_id)
    await session.execute(
        scoped_delete(RouteTemplateRun, tenant).where(RouteTemplateRun.template_id == template.id)
    )
    await session.delete(template)
    await session.flush()


async def search(
    *,
    session: AsyncSession,
    tenant: TenantContext,
    team_id: str | None = None,
    driver_id: str | None = None,
    active: bool | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> tuple[list[RouteTemplate], str | None]:
    """Templates the caller sees, newest first."""
    stmt = scoped(RouteTemplate, tenant)
    clause = await _visibility(session, tenant)
    if clause is not None:
        stmt = stmt.where(clause)
    if team_id is not None:
        stmt = stmt.where(RouteTemplate.team_id == team_id)
    if driver_id is not None:
        stmt = stmt.where(RouteTemplate.driver_id == driver_id)
    if active is not None:
        stmt = stmt.where(RouteTemplate.active.is_(active))
    return await paginate(session, stmt, RouteTemplate, limit=limit, cursor=cursor)


async def runs(
    *,
    session: AsyncSession,
    tenant: TenantContext,
    template_id: str,
    limit: int = 50,
    cursor: str | None = None,
) -> tuple[list[RouteTemplateRun], str | None]:
    """The days a template was materialised, newest run first."""
    template = await require(session=session, tenant=tenant, template_id=template_id)
    stmt = scoped(RouteTemplateRun, tenant).where(RouteTemplateRun.template_id == template.id)
    return await paginate(session, stmt, RouteTemplateRun, limit=limit, cursor=cursor)


async def record_error(
    *, session: AsyncSession, tenant: TenantContext, template_id: str, message: str
) -> bool:
    """Note why a scheduled materialisation failed; True when the reason is new."""
    template = await get(session=session, tenant=tenant, template_id=template_id)
    if template is None or template.last_error == message:
        return False
    template.last_error = message
    template.last_error_at = clock.now()
    await session.flush()
    return True


async def clear_error(
    *, session: AsyncSession, tenant: TenantContext, template: RouteTemplate
) -> None:
    """Forget the last failure once a materialisation succeeded."""
    if template.last_error is not None:
        template.last_error = None
        template.last_error_at = None
        await session.flush()
