"""HTTP routes of route templates: CRUD, runs, and materialising a day by hand."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Query, Response
from sqlalchemy.ext.asyncio import AsyncSession

from lastmile.api.deps import get_session, idempotent, require
from lastmile.api.params import Cursor, Limit
from lastmile.api.routing import CREATE_ERRORS, make_router
from lastmile.core.pagination import Page
from lastmile.core.tenancy import TenantContext
from lastmile.tasks.routes import to_read
from lastmile.templates import materialize, service
from lastmile.templates.models import RouteTemplate
from lastmile.templates.schemas import (
    MaterializeRequest,
    MaterializeResult,
    RouteTemplateCreate,
    RouteTemplateRead,
    RouteTemplateUpdate,
    RunRead,
)
from lastmile.tenancy.enums import Role

Session = Annotated[AsyncSession, Depends(get_session)]
Reader = Annotated[
    TenantContext,
    Depends(require(Role.admin, Role.dispatcher, Role.viewer, scope="templates:read")),
]
Writer = Annotated[
    TenantContext, Depends(require(Role.admin, Role.dispatcher, scope="templates:write"))
]
IdFilter = Annotated[str | None, Query(max_length=40, pattern=r"^[A-Za-z0-9_-]+$")]
CONFLICT: dict[int | str, dict[str, Any]] = {
    409: CREATE_ERRORS[409] | {"description": "The template is inactive or cannot be materialised."}
}

router = make_router(prefix="/v1", tags=["route templates"])


def _read(template: RouteTemplate) -> RouteTemplateRead:
    return RouteTemplateRead.model_validate(template)


@router.post(
    "/route-templates",
    status_code=201,
    response_model=RouteTemplateRead,
    dependencies=[Depends(idempotent)],
    responses=CREATE_ERRORS,
)
async def create_route_template(
    data: RouteTemplateCreate, session: Session, ctx: Writer
) -> RouteTemplateRead:
    """Create a route template: stops that recur on the chosen weekdays, each with a place, a
    local time window and what to carry (admins and dispatchers; a dispatcher for one of their
    teams)."""
    return _read(await service.create(session=session, tenant=ctx, data=data))


@router.get("/route-templates", response_model=Page[RouteTemplateRead])
async def list_route_templates(
    session: Session,
    ctx: Reader,
    team_id: IdFilter = None,
    driver_id: IdFilter = None,
    active: bool | None = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[RouteTemplateRead]:
    """Route templates, newest first, by team, driver or active flag; a dispatcher sees those of
    the teams they manage."""
    rows, nxt = await service.search(
        session=session,
        tenant=ctx,
        team_id=team_id,
        driver_id=driver_id,
        active=active,
        limit=limit,
        cursor=cursor,
    )
    return Page[RouteTemplateRead](data=[_read(r) for r in rows], next_cursor=nxt)


@router.get("/route-templates/{template_id}", response_model=RouteTemplateRead)
async def get_route_template(template_id: str, session: Session, ctx: Reader) -> RouteTemplateRead:
    """One route template with its stops."""
    return _read(await service.require(session=session, tenant=ctx, template_id=template_id))


@router.patch("/route-templates/{template_id}", response_model=RouteTemplateRead)
async def update_route_template(
    template_id: str, data: RouteTemplateUpdate, session: Session, ctx: Writer
) -> RouteTemplateRead:
    """Change a template; `stops` replaces every stop. Days already materialised keep their
    tasks."""
    return _read(
        await service.update(session=session, tenant=ctx, template_id=template_id, data=data)
    )


@router.delete("/route-templates/{template_id}", status_code=204)
async def delete_route_template(template_id: str, session: Session, ctx: Writer) -> Response:
    """Delete a template and its run records; the tasks it created stay."""
    await service.delete(session=session, tenant=ctx, template_id=template_id)
    return Response(status_code=204)


@router.get("/route-templates/{template_id}/runs", response_model=Page[RunRead])
async def list_route_template_runs(
    template_id: str, session: Session, ctx: Reader, limit: Limit = 50, cursor: Cursor = None
) -> Page[RunRead]:
    """The days this template was materialised (by the scheduled job or by hand), newest first,
    with the tasks each created."""
    rows, nxt = await service.runs(
        session=session, tenant=ctx, template_id=template_id, limit=limit, cursor=cursor
    )
    return Page[RunRead](data=[RunRead.model_validate(r) for r in rows], next_cursor=nxt)


@router.post(
    "/route-templates/{template_id}/materialize",
    status_code=201,
    response_model=MaterializeResult,
    dependencies=[Depends(idempotent)],
    responses={
        200: {
            "model": MaterializeResult,
            "description": "The day was materialised before: its tasks, nothing new.",
        },
        **CONFLICT,
    },
)
async def materialize_route_template(
    template_id: str,
    data: MaterializeRequest,
    session: Session,
    ctx: Writer,
    response: Response,
) -> MaterializeResult:
    """Create the template's tasks for one date (in its time zone) now, instead of waiting for
    the scheduled job: 201 with the new tasks (assigned to the template's driver, if any), or
    200 with the existing ones when that day was materialised before. The date must be one of
    the template's weekdays within its validity, from today up to 366 days ahead."""
    result = await materialize.materialize(
        session=session, tenant=ctx, template_id=template_id, day=data.date
    )
    response.status_code = 201 if result.created else 200
    return MaterializeResult(
        created=result.created,
        run=RunRead.model_validate(result.run),
        tasks=[to_read(t) for t in result.tasks],
        warnings=result.warnings,
    )
