"""HTTP routes for completing tasks with proof, reading proof, and CSV imports."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import BackgroundTasks, Depends, File, Form, Request, UploadFile
from pydantic import AwareDatetime, BaseModel, WithJsonSchema
from sqlalchemy.ext.asyncio import AsyncSession

from lastmile.api.deps import get_session, idempotent
from lastmile.api.params import Cursor, Limit
from lastmile.api.routing import CREATE_ERRORS, make_router
from lastmile.core.errors import FieldError, ValidationFailed
from lastmile.core.pagination import Page
from lastmile.storage import Storage, storage_for
from lastmile.tasks import completion, imports, proof, service
from lastmile.tasks.lifecycle import Completion
from lastmile.tasks.routes import Actor, Reader, Writer, to_read
from lastmile.tasks.schemas import ImportRead, TaskRead
from lastmile.workers.imports import run_import

Session = Annotated[AsyncSession, Depends(get_session)]
MAX_PHOTOS = 10
MAX_CSV_BYTES = 20 * 1024 * 1024

router = make_router(prefix="/v1")
NO_NUL = r"^[^\x00]*$"


def _schema(**schema: Any) -> WithJsonSchema:
    """An optional form field documented without `null`: a form cannot send null, only omit."""
    return WithJsonSchema(schema)


def get_storage(request: Request) -> Storage:
    return storage_for(request.app.state.settings)


StorageDep = Annotated[Storage, Depends(get_storage)]


def _form_example(example: dict[str, Any]) -> dict[str, Any]:
    return {"requestBody": {"content": {"multipart/form-data": {"example": example}}}}


@router.post(
    "/tasks/{task_id}/complete",
    response_model=TaskRead,
    tags=["tasks"],
    responses={409: CREATE_ERRORS[409]},
    openapi_extra=_form_example(
        {"success": True, "notes": "Left with the neighbour", "lat": 52.52, "lng": 13.405}
    ),
)
async def complete_task(
    task_id: str,
    request: Request,
    session: Session,
    ctx: Actor,
    storage: StorageDep,
    success: Annotated[bool, Form()] = True,
    failure_reason: Annotated[
        str | None,
        Form(max_length=500, pattern=NO_NUL),
        _schema(type="string", maxLength=500, pattern=NO_NUL),
    ] = None,
    notes: Annotated[str, Form(max_length=5000, pattern=r"^[^\x00]*$")] = "",
    barcode: Annotated[
        str | None,
        Form(max_length=200, pattern=NO_NUL),
        _schema(type="string", maxLength=200, pattern=NO_NUL),
    ] = None,
    recipient_age: Annotated[
        int | None, Form(ge=0, le=150), _schema(type="integer", minimum=0, maximum=150)
    ] = None,
    lat: Annotated[
        float | None, Form(ge=-90, le=90), _schema(type="number", minimum=-90, maximum=90)
    ] = None,
    lng: Annotated[
        float | None, Form(ge=-180, le=180), _schema(type="number", minimum=-180, maximum=180)
    ] = None,
    device_time: Annotated[
        AwareDatetime | None, Form(), _schema(type="string", format="date-time")
    ] = None,
    photos: Annotated[list[UploadFile] | None, File(description="JPEG, PNG or WebP")] = None,
    signature: Annotated[UploadFile | None, File(description="JPEG, PNG or WebP")] = None,
) -> TaskRead:
    """Finish the stop (multipart form): `success=false` with a `failure_reason` fails it;
    otherwise the task's requirements (photo, signature, notes, barcode, age) must be met."""
    photos = photos or []
    if len(photos) > MAX_PHOTOS:
        raise ValidationFailed(
            "too many photos", [FieldError("photos", f"at most {MAX_PHOTOS} photos")]
        )
    limit = request.app.state.settings.max_photo_bytes
    photo_data = [
        await proof.read_upload(p, field=f"photos[{i}]", max_bytes=limit)
        for i, p in enumerate(photos)
    ]
    sig_data = (
        await proof.read_upload(signature, field="signature", max_bytes=limit)
        if signature is not None
        else None
    )
    done = await completion.complete(
        session=session,
        tenant=ctx,
        storage=storage,
        task_id=task_id,
        completion=Completion(
            success=success,
            failure_reason=failure_reason,
            notes=notes,
            barcode=barcode,
            recipient_age=recipient_age,
            lat=lat,
            lng=lng,
            device_time=device_time,
            photo_count=len(photo_data),
            has_signature=sig_data is not None,
        ),
        photos=photo_data,
        signature=sig_data,
        max_photo_bytes=limit,
    )
    return to_read(done)


class ProofFileRead(BaseModel):
    id: str
    kind: str
    content_type: str
    size: int
    sha256: str
    created_at: datetime
    url: str
    url_expires_at: datetime


class ProofRead(BaseModel):
    task_id: str
    completion: dict[str, Any] | None
    files: list[ProofFileRead]


@router.get("/tasks/{task_id}/proof", response_model=ProofRead, tags=["tasks"])
async def task_proof(task_id: str, session: Session, ctx: Reader) -> ProofRead:
    """What the driver reported and the proof images, each behind a short-lived signed URL."""
    task = await service.require(session=session, tenant=ctx, task_id=task_id)
    files = await proof.list_proofs(session=session, tenant=ctx, task_id=task.id)
    return ProofRead(
        task_id=task.id,
        completion=task.completion,
        files=[ProofFileRead(**proof.proof_view(f)) for f in files],
    )


@router.post(
    "/task-imports",
    status_code=202,
    response_model=ImportRead,
    tags=["imports"],
    dependencies=[Depends(idempotent)],
    responses=CREATE_ERRORS,
    openapi_extra=_form_example(
        {
            "file": "kind,lat,lng,external_ref\ndropoff,52.52,13.405,ORDER-1\n",
            "all_or_nothing": False,
        }
    ),
)
async def create_import(
    request: Request,
    session: Session,
    ctx: Writer,
    storage: StorageDep,
    background: BackgroundTasks,
    file: Annotated[UploadFile, File(description="UTF-8 CSV with a header row")],
    all_or_nothing: Annotated[bool, Form()] = False,
) -> ImportRead:
    """Queue a CSV import of tasks; follow it at `GET /v1/task-imports/{import_id}`."""
    data = await file.read(MAX_CSV_BYTES + 1)
    if len(data) > MAX_CSV_BYTES:
        raise ValidationFailed("file too large", [FieldError("file", "at most 20 MiB")])
    job = await imports.create(
        session=session,
        tenant=ctx,
        storage=storage,
        filename=file.filename or "",
        data=data,
        all_or_nothing=all_or_nothing,
    )
    background.add_task(
        run_import,
        sessions=request.app.state.sessions,
        storage=storage,
        tenant_id=ctx.tenant_id,
        import_id=job.id,
    )
    return ImportRead.model_validate(job)


@router.get("/task-imports", response_model=Page[ImportRead], tags=["imports"])
async def list_imports(
    session: Session, ctx: Reader, limit: Limit = 50, cursor: Cursor = None
) -> Page[ImportRead]:
    """CSV imports of the tenant, newest first."""
    rows, nxt = await imports.search(session=session, tenant=ctx, limit=limit, cursor=cursor)
    return Page[ImportRead](data=[ImportRead.model_validate(r) for r in rows], next_cursor=nxt)


@router.get("/task-imports/{import_id}", response_model=ImportRead, tags=["imports"])
async def get_import(import_id: str, session: Session, ctx: Reader) -> ImportRead:
    """Progress of an import, with the per-row error report."""
    return ImportRead.model_validate(
        await imports.require(session=session, tenant=ctx, import_id=import_id)
    )
