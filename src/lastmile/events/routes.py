"""Event endpoints: the catalogue and the polling feed."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import Depends, Query
from sqlalchemy.ext.asyncio import AsyncSession

from lastmile.api.deps import get_session, principal, require
from lastmile.api.routing import make_router
from lastmile.core.pagination import MAX_LIMIT
from lastmile.core.tenancy import TenantContext
from lastmile.events import service
from lastmile.events.catalogue import catalogue, envelope_schema
from lastmile.events.schemas import EventPage, EventTypeList, EventTypeRead
from lastmile.tenancy.enums import Role

router = make_router(prefix="/v1", tags=["events"])
Session = Annotated[AsyncSession, Depends(get_session)]
Anyone = Annotated[TenantContext, Depends(principal)]
Integrator = Annotated[TenantContext, Depends(require(Role.admin, scope="events:read"))]
_ONE_TYPE = "|".join(re.escape(name) for name in catalogue())
TYPES_PATTERN = f"^({_ONE_TYPE})(,({_ONE_TYPE}))*$"


@router.get("/event-types", response_model=EventTypeList, response_model_by_alias=True)
async def list_event_types(ctx: Anyone) -> EventTypeList:
    """Every event type lastmile emits, with its version, meaning and envelope JSON schema."""
    return EventTypeList(
        data=[
            EventTypeRead(
                type=t.name,
                version=t.version,
                description=t.description,
                subject=t.subject,
                schema=envelope_schema(t),
            )
            for t in catalogue().values()
        ]
    )


@router.get("/events", response_model=EventPage)
async def poll_events(
    session: Session,
    ctx: Integrator,
    after: Annotated[
        str | None,
        Query(
            max_length=100,
            pattern=r"^[A-Za-z0-9_-]+$",
            description="`next_cursor` of the previous poll; omit to start at the oldest kept.",
        ),
    ] = None,
    types: Annotated[
        str | None,
        Query(
            max_length=2000,
            pattern=TYPES_PATTERN,
            description="Comma-separated event types to return (default: all).",
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size.")] = 100,
) -> EventPage:
    """Events in the order they committed, oldest first, kept 30 days: for integrators that
    cannot take webhooks. Store `next_cursor` and poll again with it as `after`."""
    wanted = [t for t in (types or "").split(",") if t]
    rows, cursor, more = await service.feed(
        session=session, tenant=ctx, after=after, types=wanted, limit=limit
    )
    return EventPage(
        data=[service.envelope(event=e) for e in rows], next_cursor=cursor, has_more=more
    )
