"""HTTP routes of tracking: drivers post their points; dispatchers read positions and tracks;
admins set the retention."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query
from pydantic import AwareDatetime
from sqlalchemy.ext.asyncio import AsyncSession

from lastmile.api.deps import get_session, require
from lastmile.api.routing import make_router
from lastmile.core.tenancy import TenantContext
from lastmile.tenancy.enums import Role
from lastmile.tracking import service
from lastmile.tracking.schemas import (
    DriverLocations,
    IngestResult,
    LocationBatch,
    TrackFeature,
    TrackingSettingsRead,
    TrackingSettingsUpdate,
)

Session = Annotated[AsyncSession, Depends(get_session)]
Driver = Annotated[TenantContext, Depends(require(Role.driver, scope="tracking:write"))]
Poster = Annotated[
    TenantContext, Depends(require(Role.admin, Role.dispatcher, scope="tracking:write"))
]
Reader = Annotated[
    TenantContext,
    Depends(require(Role.admin, Role.dispatcher, Role.viewer, scope="tracking:read")),
]
Admin = Annotated[TenantContext, Depends(require(Role.admin, scope="tracking:write"))]
AdminReader = Annotated[TenantContext, Depends(require(Role.admin, scope="tracking:read"))]

INGEST_DOC = """Each point is checked on its own: a point that breaks a rule (a coordinate out
of range, a negative accuracy or speed, a heading outside 0..360, a string for a number, a time
without a time zone, more than 5 minutes ahead of the server or older than the tenant's
retention) is listed in `rejected` with its index and the reasons, and the valid points are
stored. Points are identified by `recorded_at`: one sent again (a retried request) is counted in
`duplicates` and stored once, so resending a batch is always safe. Points may come in any order;
the driver's latest position moves only to a newer point. A 200 means the accepted points are
committed. The request as a whole is refused (422) only when it is not an object with a
`points` list of at most 500 entries."""

router = make_router(prefix="/v1", tags=["tracking"])


@router.post(
    "/drivers/me/locations",
    response_model=IngestResult,
    description="Send the signed-in driver's location points, up to 500 per request (driver "
    "users only; anyone else gets 403).\n\n" + INGEST_DOC,
)
async def post_my_locations(data: LocationBatch, session: Session, ctx: Driver) -> IngestResult:
    """Send the signed-in driver's location points."""
    outcome = await service.ingest_own(session=session, tenant=ctx, points=data.points)
    return outcome.result


@router.post(
    "/drivers/{driver_id}/locations",
    response_model=IngestResult,
    description="Send location points of a driver the caller sees (admins, dispatchers of the "
    "driver's teams, API keys), up to 500 per request: for telematics boxes and back-office "
    "tools.\n\n" + INGEST_DOC,
)
async def post_driver_locations(
    driver_id: str, data: LocationBatch, session: Session, ctx: Poster
) -> IngestResult:
    """Send location points of a driver."""
    outcome = await service.ingest_for(
        session=session, tenant=ctx, driver_id=driver_id, points=data.points
    )
    return outcome.result


@router.get("/drivers/locations", response_model=DriverLocations)
async def get_driver_locations(session: Session, ctx: Reader) -> DriverLocations:
    """The latest position of every on-duty driver the caller sees, for the map: the tenant's
    for admins, viewers and API keys, their teams' drivers for a dispatcher."""
    return DriverLocations(data=await service.latest_locations(session=session, tenant=ctx))


@router.get("/drivers/{driver_id}/track", response_model=TrackFeature)
async def get_driver_track(
    driver_id: str,
    session: Session,
    ctx: Reader,
    start: Annotated[
        AwareDatetime | None,
        Query(alias="from", description="Start (default: 24 hours before `to`)."),
    ] = None,
    end: Annotated[
        AwareDatetime | None,
        Query(alias="to", description="End (default: now); at most 7 days after `from`."),
    ] = None,
    tolerance_m: Annotated[
        float,
        Query(ge=0, le=10_000, description="Simplification tolerance in metres (0: every point)."),
    ] = 5.0,
) -> TrackFeature:
    """The driver's breadcrumbs from `from` to `to` as a GeoJSON Feature whose LineString is
    simplified (Douglas-Peucker) to `tolerance_m` metres; its properties give the point counts
    before and after, the time range, and when each kept position was recorded."""
    return await service.track(
        session=session,
        tenant=ctx,
        driver_id=driver_id,
        start=start,
        end=end,
        tolerance_m=tolerance_m,
    )


@router.get("/tracking-settings", response_model=TrackingSettingsRead)
async def get_tracking_settings(session: Session, ctx: AdminReader) -> TrackingSettingsRead:
    """The tenant's tracking settings (admins): how many days location points are kept."""
    return await service.get_tracking_settings(session=session, tenant=ctx)


@router.put("/tracking-settings", response_model=TrackingSettingsRead)
async def put_tracking_settings(
    data: TrackingSettingsUpdate, session: Session, ctx: Admin
) -> TrackingSettingsRead:
    """Set how many days the tenant's location points are kept (admins). Older points are
    refused at ingest and deleted by the maintenance job within the hour."""
    return await service.put_tracking_settings(
        session=session, tenant=ctx, retention_days=data.retention_days
    )
