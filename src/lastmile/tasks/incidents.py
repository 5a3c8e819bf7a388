"""Incidents: problems reported by drivers or dispatchers, linked to a task and/or a driver.

Visibility: drivers see the incidents about themselves (and those they reported); every
other role sees the tenant's incidents. A task or driver named in a report must be one the
reporter may see: a driver names only their own tasks and themselves, a dispatcher user
the tasks of the teams they manage and those teams' drivers.
"""

from __future__ import annotations

import contextlib
from typing import Any

from sqlalchemy import ColumnElement, or_
from sqlalchemy.ext.asyncio import AsyncSession

from lastmile.core import clock
from lastmile.core.errors import (
    FieldError,
    Forbidden,
    InvalidState,
    NotFound,
    ValidationFailed,
)
from lastmile.core.ids import new_id
from lastmile.core.pagination import paginate
from lastmile.core.tenancy import TenantContext, owned, scoped, scoped_update
from lastmile.events import service as events
from lastmile.fleet import service as fleet_service
from lastmile.storage import Storage, StorageError, StorageUnavailable
from lastmile.storage.signing import signed_url
from lastmile.tasks import access
from lastmile.tasks import service as task_service
from lastmile.tasks.events import INCIDENT_CREATED, INCIDENT_RESOLVED
from lastmile.tasks.incident_schemas import (
    IncidentCreate,
    IncidentRead,
    IncidentStatus,
    LocationRead,
)
from lastmile.tasks.models import Incident, Task
from lastmile.tasks.proof import ACCEPTED_TYPES, CleanImage

__all__ = [
    "IncidentAlreadyResolved",
    "IncidentNotFound",
    "attach_photo",
    "create",
    "get",
    "photo_view",
    "require",
    "resolve",
    "search",
    "view",
]

_TYPE_OF_EXTENSION = {ext: ct for ct, ext in ACCEPTED_TYPES.items()}


class IncidentNotFound(NotFound):
    title = "Incident not found"


class IncidentAlreadyResolved(InvalidState):
    code, title = "incident-resolved", "Incident already resolved"


class ReferenceNotFound(NotFound):
    """A task or driver named in the body that does not exist for the caller."""

    code, title = "reference-not-found", "Referenced object not found"


def _is_driver(tenant: TenantContext) -> bool:
    return tenant.role == "driver"


async def _visibility(session: AsyncSession, tenant: TenantContext) -> ColumnElement[bool] | None:
    """A WHERE clause limiting incidents to what the caller sees (None: the whole tenant):
    drivers their own; dispatcher users those of their teams' tasks and drivers, and their own."""
    mine = Incident.reported_by == tenant.actor_id
    if _is_driver(tenant):
        own = await access.own_driver_id(session=session, tenant=tenant)
        return or_(mine, Incident.driver_id == own) if own else mine
    teams = await fleet_service.visible_team_ids(session=session, tenant=tenant)
    if teams is None:
        return None
    drivers = await fleet_service.team_driver_ids(session=session, tenant=tenant, team_ids=teams)
    team_tasks = (
        scoped(Task, tenant).with_only_columns(Task.id).where(Task.team_id.in_(sorted(teams)))
    )
    return or_(mine, Incident.driver_id.in_(sorted(drivers)), Incident.task_id.in_(team_tasks))


def _missing_ref(field: str, what: str, value: str) -> ReferenceNotFound:
    return ReferenceNotFound(
        f"no {what} {value}",
        [FieldError(field, f"no {what} {value} that you may see", "not_found")],
    )


async def create(*, session: AsyncSession, tenant: TenantContext, data: IncidentCreate) -> Incident:
    """Record a new open incident; nothing is stored unless every reference checks out."""
    own_driver: str | None = None
    if _is_driver(tenant):
        own_driver = await access.own_driver_id(session=session, tenant=tenant)
        if own_driver is None:
            raise Forbidden("only a driver user with a driver record may report as a driver")
    elif data.task_id is None and data.driver_id is None:
        message = "give task_id, driver_id or both"
        raise ValidationFailed(
            message,
            [
                FieldError("body.task_id", message, "missing"),
                FieldError("body.driver_id", message, "missing"),
            ],
        )
    task = None
    if data.task_id is not None:
        # The same rule as reading the task: drivers their own, dispatchers their teams'.
        task = await task_service.get(session=session, tenant=tenant, task_id=data.task_id)
        if task is None:
            raise _missing_ref("body.task_id", "task", data.task_id)
    driver_id = data.driver_id
    if driver_id is not None:
        try:
            await fleet_service.require_driver(session=session, tenant=tenant, driver_id=driver_id)
        except NotFound:
            raise _missing_ref("body.driver_id", "driver", driver_id) from None
    elif own_driver is not None:
        driver_id = own_driver
    elif task is not None:
        driver_id = task.driver_id
    incident = owned(
        Incident(
            id=new_id("inc"),
            type=data.type,
            status=IncidentStatus.open,
            task_id=data.task_id,
            driver_id=driver_id,
            notes=data.notes,
            lat=data.location.lat if data.location else None,
            lng=data.location.lng if data.location else None,
            reported_by=tenant.actor_id,
        ),
        tenant,
    )
    session.add(incident)
    await session.flush()
    events.emit(session=session, tenant=tenant, event_type=INCIDENT_CREATED, data=view(incident))
    return incident


async def get(*, session: AsyncSession, tenant: TenantContext, incident_id: str) -> Incident | None:
    """The incident, or None when it does not exist or the caller may not see it."""
    stmt = scoped(Incident, tenant).where(Incident.id == incident_id)
    clause = await _visibility(session, tenant)
    if clause is not None:
        stmt = stmt.where(clause)
    return (await session.execute(stmt)).scalar_one_or_none()


async def require(*, session: AsyncSession, tenant: TenantContext, incident_id: str) -> Incident:
    """The incident; 404 when missing or not visible to the caller."""
    incident = await get(session=session, tenant=tenant, incident_id=incident_id)
    if incident is None:
        raise IncidentNotFound(f"no incident {incident_id}")
    return incident


async def search(
    *,
    session: AsyncSession,
    tenant: TenantContext,
    status: str | None = None,
    type: str | None = None,
    task_id: str | None = None,
    driver_id: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> tuple[list[Incident], str | None]:
    """Incidents the caller sees, newest first, filtered by status, type, task and driver."""
    stmt = scoped(Incident, tenant)
    clause = await _visibility(session, tenant)
    if clause is not None:
        stmt = stmt.where(clause)
    if status is not None:
        stmt = stmt.where(Incident.status == status)
    if type is not None:
        stmt = stmt.where(Incident.type == type)
    if task_id is not None:
        stmt = stmt.where(Incident.task_id == task_id)
    if driver_id is not None:
        stmt = stmt.where(Incident.driver_id == driver_id)
    return await paginate(session, stmt, Incident, limit=limit, cursor=cursor)


async def resolve(
    *, session: AsyncSession, tenant: TenantContext, incident_id: str, resolution_notes: str
) -> Incident:
    """Mark an open incident resolved, once (409 when it already is)."""
    incident = await require(session=session, tenant=tenant, incident_id=incident_id)
    now = clock.now()
    result: Any = await session.execute(
        scoped_update(Incident, tenant)
        .where(Incident.id == incident_id, Incident.status == IncidentStatus.open)
        .values(
            status=IncidentStatus.resolved,
            resolution_notes=resolution_notes,
            resolved_by=tenant.actor_id,
            resolved_at=now,
            updated_at=now,
        )
    )
    if not result.rowcount:
        raise IncidentAlreadyResolved(f"incident {incident_id} is already resolved")
    await session.refresh(incident)
    events.emit(session=session, tenant=tenant, event_type=INCIDENT_RESOLVED, data=view(incident))
    return incident


async def attach_photo(
    *,
    session: AsyncSession,
    tenant: TenantContext,
    storage: Storage,
    incident_id: str,
    image: CleanImage,
) -> Incident:
    """Store a validated photo as the incident's photo (replacing any earlier one)."""
    incident = await require(session=session, tenant=tenant, incident_id=incident_id)
    if incident.status != IncidentStatus.open:
        raise IncidentAlreadyResolved(f"incident {incident_id} is resolved; it takes no photo")
    key = f"{tenant.tenant_id}/incidents/{incident.id}/{new_id('pho')}.{image.extension}"
    try:
        await storage.put(key, image.data, image.content_type)
    except StorageError as exc:
        raise StorageUnavailable("the photo could not be stored; retry later") from exc
    previous, incident.photo_key = incident.photo_key, key
    incident.updated_at = clock.now()
    await session.flush()
    if previous:
        with contextlib.suppress(StorageError):
            await storage.delete(previous)
    return incident


def photo_view(incident: Incident, *, ttl: int | None = None) -> dict[str, Any] | None:
    """The incident's photo as the API shows it (fresh signed URL), or None."""
    if not incident.photo_key:
        return None
    content_type = _TYPE_OF_EXTENSION.get(
        incident.photo_key.rsplit(".", 1)[-1], "application/octet-stream"
    )
    url, expires = signed_url(
        tenant_id=incident.tenant_id,
        storage_key=incident.photo_key,
        content_type=content_type,
        ttl=ttl,
    )
    return {"url": url, "url_expires_at": expires, "content_type": content_type}


def view(incident: Incident) -> IncidentRead:
    """The incident as the API shows it."""
    location = (
        LocationRead(lat=incident.lat, lng=incident.lng)
        if incident.lat is not None and incident.lng is not None
        else None
    )
    return IncidentRead.model_validate(
        {
            "id": incident.id,
            "type": incident.type,
            "status": incident.status,
            "task_id": incident.task_id,
            "driver_id": incident.driver_id,
            "notes": incident.notes,
            "location": location,
            "photo": photo_view(incident),
            "reported_by": incident.reported_by,
            "resolution_notes": incident.resolution_notes,
            "resolved_by": incident.resolved_by,
            "resolved_at": incident.resolved_at,
            "created_at": incident.created_at,
            "updated_at": incident.updated_at,
        }
    )
