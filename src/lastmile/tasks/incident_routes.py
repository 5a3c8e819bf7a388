"""HTTP routes of incidents: report, list, read, add a photo, resolve."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Query, Request
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import UploadFile as StarletteUpload

from lastmile.api.deps import get_session, idempotent, require
from lastmile.api.files import get_storage
from lastmile.api.params import Cursor, Limit
from lastmile.api.routing import CREATE_ERRORS, make_router
from lastmile.core.errors import FieldError, ValidationFailed
from lastmile.core.pagination import Page
from lastmile.core.tenancy import TenantContext
from lastmile.tasks import incidents
from lastmile.tasks.incident_schemas import (
    IncidentCreate,
    IncidentRead,
    IncidentResolve,
    IncidentStatus,
    IncidentType,
    RefId,
)
from lastmile.tasks.proof import read_upload, validate_image_async
from lastmile.tenancy.enums import Role

router = make_router(prefix="/v1", tags=["incidents"])

Session = Annotated[AsyncSession, Depends(get_session)]
Reporter = Annotated[
    TenantContext,
    Depends(require(Role.admin, Role.dispatcher, Role.driver, scope="incidents:write")),
]
Reader = Annotated[
    TenantContext,
    Depends(require(Role.admin, Role.dispatcher, Role.viewer, Role.driver, scope="incidents:read")),
]
Resolver = Annotated[
    TenantContext, Depends(require(Role.admin, Role.dispatcher, scope="incidents:write"))
]
IdFilter = Annotated[str | None, Query(max_length=40, pattern=r"^[a-z]{2,5}_[a-z0-9]+$")]
CONFLICT: dict[int | str, dict[str, Any]] = {
    409: CREATE_ERRORS[409] | {"description": "The incident is already resolved."}
}
UPLOAD_ERRORS: dict[int | str, dict[str, Any]] = {
    **CONFLICT,
    413: {**CREATE_ERRORS[409], "description": "The photo exceeds LASTMILE_MAX_PHOTO_BYTES."},
    503: {**CREATE_ERRORS[409], "description": "File storage unavailable."},
}


to_read = incidents.view


@router.post(
    "/incidents",
    status_code=201,
    response_model=IncidentRead,
    dependencies=[Depends(idempotent)],
    responses=CREATE_ERRORS,
)
async def report_incident(data: IncidentCreate, session: Session, ctx: Reporter) -> IncidentRead:
    """Report an incident about a task and/or a driver (drivers: about themselves)."""
    return to_read(await incidents.create(session=session, tenant=ctx, data=data))


@router.get("/incidents", response_model=Page[IncidentRead])
async def list_incidents(
    session: Session,
    ctx: Reader,
    status: IncidentStatus | None = None,
    type: IncidentType | None = None,
    task_id: IdFilter = None,
    driver_id: IdFilter = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[IncidentRead]:
    """Incidents, newest first, filtered by status, type, task or driver (drivers: their own)."""
    rows, nxt = await incidents.search(
        session=session,
        tenant=ctx,
        status=status,
        type=type,
        task_id=task_id,
        driver_id=driver_id,
        limit=limit,
        cursor=cursor,
    )
    return Page[IncidentRead](data=[to_read(r) for r in rows], next_cursor=nxt)


@router.get("/incidents/{incident_id}", response_model=IncidentRead)
async def get_incident(incident_id: RefId, session: Session, ctx: Reader) -> IncidentRead:
    """One incident, with a short-lived URL of its photo (drivers: only their own)."""
    return to_read(await incidents.require(session=session, tenant=ctx, incident_id=incident_id))


_PHOTO_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "properties": {
                    "photo": {
                        "type": "string",
                        "format": "binary",
                        "description": "A JPEG, PNG or WebP image (checked by content; "
                        "metadata removed).",
                    }
                },
                "required": ["photo"],
                "examples": [{"photo": "(the bytes of a JPEG, PNG or WebP file)"}],
            }
        }
    },
}


@router.post(
    "/incidents/{incident_id}/photo",
    response_model=IncidentRead,
    responses=UPLOAD_ERRORS,
    openapi_extra={"requestBody": _PHOTO_BODY},
)
async def add_incident_photo(
    incident_id: RefId, request: Request, session: Session, ctx: Reporter
) -> IncidentRead:
    """Attach a photo to an open incident (multipart field `photo`), replacing any earlier one."""
    # The incident is looked up before the body is read: a stranger learns nothing from a 422.
    await incidents.require(session=session, tenant=ctx, incident_id=incident_id)
    form = await request.form(max_files=1, max_fields=10)
    photo = form.get("photo")
    if not isinstance(photo, StarletteUpload):
        raise ValidationFailed(
            "no photo",
            [
                FieldError(
                    "body.photo", "send the image as the multipart file field `photo`", "missing"
                )
            ],
        )
    limit = request.app.state.settings.max_photo_bytes
    data = await read_upload(photo, field="body.photo", max_bytes=limit)
    image = await validate_image_async(data, field="body.photo", max_bytes=limit)
    incident = await incidents.attach_photo(
        session=session,
        tenant=ctx,
        storage=get_storage(request),
        incident_id=incident_id,
        image=image,
    )
    return to_read(incident)


@router.post("/incidents/{incident_id}/resolve", response_model=IncidentRead, responses=CONFLICT)
async def resolve_incident(
    incident_id: RefId, data: IncidentResolve, session: Session, ctx: Resolver
) -> IncidentRead:
    """Close an open incident with resolution notes (dispatchers and admins)."""
    return to_read(
        await incidents.resolve(
            session=session,
            tenant=ctx,
            incident_id=incident_id,
            resolution_notes=data.resolution_notes,
        )
    )
