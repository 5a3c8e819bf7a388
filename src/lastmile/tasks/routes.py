"""HTTP routes of tasks: create, batch, search, update, history, assignment, driver actions."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import BackgroundTasks, Depends, Query, Request
from pydantic import BaseModel, StringConstraints
from sqlalchemy.ext.asyncio import AsyncSession

from lastmile.api.deps import get_session, idempotent, require
from lastmile.api.params import Cursor, Limit
from lastmile.api.routing import CREATE_ERRORS, make_router
from lastmile.core.errors import ValidationFailed
from lastmile.core.pagination import Page
from lastmile.core.schemas import Instant
from lastmile.core.tenancy import TenantContext
from lastmile.routing import dispatch
from lastmile.tasks import lifecycle, service, views
from lastmile.tasks.enums import Kind, State
from lastmile.tasks.schemas import (
    AssignRequest,
    BatchCreate,
    BatchResult,
    BatchRow,
    BulkAssignRequest,
    CancelRequest,
    RowProblem,
    TaskCreate,
    TaskEventRead,
    TaskRead,
    TaskUpdate,
    TransitionRequest,
)
from lastmile.tenancy.enums import Role
from lastmile.workers import plans

Session = Annotated[AsyncSession, Depends(get_session)]
Writer = Annotated[
    TenantContext, Depends(require(Role.admin, Role.dispatcher, scope="tasks:write"))
]
Reader = Annotated[TenantContext, Depends(require(scope="tasks:read"))]
Actor = Annotated[
    TenantContext, Depends(require(Role.admin, Role.dispatcher, Role.driver, scope="tasks:write"))
]
CONFLICT: dict[int | str, dict[str, Any]] = {409: CREATE_ERRORS[409]}

router = make_router(prefix="/v1", tags=["tasks"])


to_read = views.view


class AssignResponse(BaseModel):
    tasks: list[TaskRead]
    warnings: list[str]


@router.post(
    "/tasks",
    status_code=201,
    response_model=TaskRead,
    responses=CREATE_ERRORS,
    dependencies=[Depends(idempotent)],
)
async def create_task(data: TaskCreate, session: Session, ctx: Writer) -> TaskRead:
    """Create a pickup or drop-off; it is tagged with the zone containing its destination, and
    placed in a driver's route at once when its team auto-assigns."""
    task = await service.create(session=session, tenant=ctx, data=data)
    await dispatch.auto_assign(session=session, tenant=ctx, task=task)
    return to_read(task)


@router.post(
    "/tasks/batch",
    response_model=BatchResult,
    responses=CREATE_ERRORS,
    dependencies=[Depends(idempotent)],
)
async def create_tasks(
    data: BatchCreate,
    request: Request,
    session: Session,
    ctx: Writer,
    background: BackgroundTasks,
) -> Any:
    """Create up to 1,000 tasks with a result per row; `all_or_nothing` stores none if any fails.
    Tasks of auto-assigning teams are placed right after the answer (within about a second)."""
    outcomes = await service.create_many(session=session, tenant=ctx, rows=data.tasks)
    failed = [o for o in outcomes if o.error is not None]
    if failed and data.all_or_nothing:
        errors = [e for o in failed for e in (o.error.errors if o.error else [])]
        raise ValidationFailed(
            f"{len(failed)} of {len(outcomes)} rows are invalid; nothing was stored", errors
        )
    rows = [
        BatchRow(index=o.index, status="created", task=to_read(o.task))
        if o.task is not None
        else BatchRow(
            index=o.index,
            status="error",
            problem=RowProblem(
                title=o.error.title if o.error else "",
                status=o.error.status if o.error else 422,
                detail=o.error.detail if o.error else "",
                errors=[
                    {"field": e.field, "message": e.message, "code": e.code}
                    for e in (o.error.errors if o.error else [])
                ],
            ),
        )
        for o in outcomes
    ]
    created = [o.task for o in outcomes if o.task is not None]
    if await dispatch.any_auto_assign(
        session=session, tenant=ctx, team_ids={t.team_id for t in created if t.team_id}
    ):
        background.add_task(
            plans.auto_assign_created,
            sessions=request.app.state.sessions,
            tenant_id=ctx.tenant_id,
            task_ids=[t.id for t in created if t.team_id],
        )
    return BatchResult(created=len(outcomes) - len(failed), failed=len(failed), results=rows)


def _metadata(pairs: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in pairs:
        key, _, raw = pair.partition(":")
        try:
            value = json.loads(raw)
            if isinstance(value, (dict, list)):
                value = raw
        except ValueError:
            value = raw
        out[key] = value
    return out


@router.get("/tasks", response_model=Page[TaskRead])
async def list_tasks(
    session: Session,
    ctx: Reader,
    state: Annotated[list[State], Query(max_length=7)] = [],  # noqa: B006 - FastAPI query list
    kind: Kind | None = None,
    team_id: Annotated[str | None, Query(max_length=40, pattern=r"^[a-z]{2,5}_[a-z0-9]+$")] = None,
    driver_id: Annotated[
        str | None, Query(max_length=40, pattern=r"^[a-z]{2,5}_[a-z0-9]+$")
    ] = None,
    zone_id: Annotated[str | None, Query(max_length=40, pattern=r"^[a-z]{2,5}_[a-z0-9]+$")] = None,
    external_ref: Annotated[str | None, Query(max_length=200, pattern=r"^[\x21-\x7e]+$")] = None,
    created_after: Instant | None = None,
    created_before: Instant | None = None,
    due_after: Instant | None = None,
    due_before: Instant | None = None,
    metadata: Annotated[
        list[Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]{1,64}:[^\x00]*$")]],
        Query(
            max_length=10,
            description="`key:value` pairs the task's metadata must contain (repeatable).",
        ),
    ] = [],  # noqa: B006
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[TaskRead]:
    """Tasks the caller may see, newest first, filtered by state, team, driver, zone, dates, metadata."""
    filters = service.TaskFilters(
        states=[s.value for s in state],
        kind=kind,
        team_id=team_id,
        driver_id=driver_id,
        zone_id=zone_id,
        external_ref=external_ref,
        created_after=created_after,
        created_before=created_before,
        due_after=due_after,
        due_before=due_before,
        metadata=_metadata(metadata),
    )
    rows, nxt = await service.search(
        session=session, tenant=ctx, filters=filters, limit=limit, cursor=cursor
    )
    return Page[TaskRead](data=[to_read(t) for t in rows], next_cursor=nxt)


@router.get("/tasks/{task_id}", response_model=TaskRead)
async def get_task(task_id: str, session: Session, ctx: Reader) -> TaskRead:
    """One task."""
    return to_read(await service.require(session=session, tenant=ctx, task_id=task_id))


@router.patch("/tasks/{task_id}", response_model=TaskRead, responses=CONFLICT)
async def update_task(task_id: str, data: TaskUpdate, session: Session, ctx: Writer) -> TaskRead:
    """Change an unfinished task."""
    return to_read(await service.update(session=session, tenant=ctx, task_id=task_id, data=data))


@router.get("/tasks/{task_id}/history", response_model=list[TaskEventRead])
async def task_history(task_id: str, session: Session, ctx: Reader) -> list[TaskEventRead]:
    """Every transition and assignment of the task, oldest first, with actor, time and place."""
    events = await service.history(session=session, tenant=ctx, task_id=task_id)
    return [TaskEventRead.model_validate(e) for e in events]


@router.post("/tasks/{task_id}/assign", response_model=AssignResponse, responses=CONFLICT)
async def assign_task(
    task_id: str, data: AssignRequest, session: Session, ctx: Writer
) -> AssignResponse:
    """Assign (or reassign, or move) a task in a driver's route; a linked pair moves together."""
    result = await lifecycle.assign(
        session=session,
        tenant=ctx,
        task_ids=[task_id],
        driver_id=data.driver_id,
        position=data.position,
    )
    warnings = result.warnings + await dispatch.route_warnings(
        session=session, tenant=ctx, driver_id=data.driver_id
    )
    return AssignResponse(tasks=[to_read(t) for t in result.tasks], warnings=warnings)


@router.post("/tasks/bulk-assign", response_model=AssignResponse, responses=CONFLICT)
async def bulk_assign(data: BulkAssignRequest, session: Session, ctx: Writer) -> AssignResponse:
    """Assign many tasks to one driver at once: all of them or none."""
    result = await lifecycle.assign(
        session=session,
        tenant=ctx,
        task_ids=data.task_ids,
        driver_id=data.driver_id,
        position=data.position,
    )
    warnings = result.warnings + await dispatch.route_warnings(
        session=session, tenant=ctx, driver_id=data.driver_id
    )
    return AssignResponse(tasks=[to_read(t) for t in result.tasks], warnings=warnings)


@router.post("/tasks/{task_id}/unassign", response_model=TaskRead, responses=CONFLICT)
async def unassign_task(task_id: str, session: Session, ctx: Writer) -> TaskRead:
    """Take a not-yet-started task out of its driver's route."""
    return to_read(await lifecycle.unassign(session=session, tenant=ctx, task_id=task_id))


def _json_example(example: dict[str, Any]) -> dict[str, Any]:
    return {"requestBody": {"content": {"application/json": {"example": example}}}}


POSITION = _json_example({"lat": 52.52, "lng": 13.405})


@router.post(
    "/tasks/{task_id}/start", response_model=TaskRead, responses=CONFLICT, openapi_extra=POSITION
)
async def start_task(
    task_id: str, session: Session, ctx: Actor, data: TransitionRequest | None = None
) -> TaskRead:
    """The driver sets off for this stop."""
    pos = data or TransitionRequest()
    return to_read(
        await lifecycle.start(
            session=session, tenant=ctx, task_id=task_id, lat=pos.lat, lng=pos.lng
        )
    )


@router.post(
    "/tasks/{task_id}/arrive", response_model=TaskRead, responses=CONFLICT, openapi_extra=POSITION
)
async def arrive_task(
    task_id: str, session: Session, ctx: Actor, data: TransitionRequest | None = None
) -> TaskRead:
    """The driver is at the stop."""
    pos = data or TransitionRequest()
    return to_read(
        await lifecycle.arrive(
            session=session, tenant=ctx, task_id=task_id, lat=pos.lat, lng=pos.lng
        )
    )


@router.post(
    "/tasks/{task_id}/cancel",
    response_model=TaskRead,
    responses=CONFLICT,
    openapi_extra=_json_example({"reason": "customer cancelled"}),
)
async def cancel_task(
    task_id: str, session: Session, ctx: Writer, data: CancelRequest | None = None
) -> TaskRead:
    """Cancel a task that is not finished."""
    reason = data.reason if data else ""
    return to_read(
        await lifecycle.cancel(session=session, tenant=ctx, task_id=task_id, reason=reason)
    )
