"""HTTP routes of the places domain: zones, point lookup, the geocoder and geocoding."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Query, Response
from sqlalchemy.ext.asyncio import AsyncSession

from lastmile.api.deps import get_session, idempotent, require
from lastmile.api.params import Cursor, Limit
from lastmile.api.problems import PROBLEM, Problem
from lastmile.api.routing import CREATE_ERRORS, make_router
from lastmile.core.pagination import Page
from lastmile.core.tenancy import TenantContext
from lastmile.places import service
from lastmile.places.errors import GeocoderNotConfigured
from lastmile.places.models import GeocoderConfig, Zone
from lastmile.places.schemas import (
    GeocoderConfigRead,
    GeocoderConfigUpdate,
    GeocodeRead,
    GeocodeRequest,
    ZoneCreate,
    ZoneMatches,
    ZoneRead,
    ZoneUpdate,
)
from lastmile.tenancy.enums import Role

Session = Annotated[AsyncSession, Depends(get_session)]
READERS = (Role.admin, Role.dispatcher, Role.viewer)
WRITERS = (Role.admin, Role.dispatcher)
ZoneReader = Annotated[TenantContext, Depends(require(*READERS, scope="zones:read"))]
ZoneWriter = Annotated[TenantContext, Depends(require(*WRITERS, scope="zones:write"))]
TeamId = Annotated[
    str | None,
    Query(max_length=40, pattern=r"^[A-Za-z0-9_-]+$", description="Served by this team."),
]


def _problem(description: str) -> dict[str, Any]:
    return {"model": Problem, "description": description, "content": {PROBLEM: {}}}


GEOCODE_ERRORS: dict[int | str, dict[str, Any]] = {
    409: _problem("The tenant has no geocoder (`geocoder-not-configured`)."),
    502: _problem(
        "The provider refused the request (`geocoder-rejected`: bad API key, policy) or sent "
        "an unexpected answer (`geocoder-bad-response`)."
    ),
    503: _problem(
        "The provider is unreachable, too slow or failing (`geocoding-unavailable`), or its "
        "quota is exhausted (`geocoding-quota-exceeded`, with `Retry-After`)."
    ),
}


router = make_router(prefix="/v1")


def _read(zone: Zone, team_ids: list[str]) -> ZoneRead:
    return ZoneRead(
        id=zone.id,
        name=zone.name,
        description=zone.description,
        geometry=zone.geometry,
        bbox=[zone.min_lng, zone.min_lat, zone.max_lng, zone.max_lat],
        team_ids=team_ids,
        created_at=zone.created_at,
        updated_at=zone.updated_at,
    )


async def _reads(session: AsyncSession, ctx: TenantContext, zones: list[Zone]) -> list[ZoneRead]:
    teams = await service.team_ids_by_zone(
        session=session, tenant=ctx, zone_ids=[z.id for z in zones]
    )
    return [_read(z, teams[z.id]) for z in zones]


@router.post(
    "/zones",
    status_code=201,
    response_model=ZoneRead,
    tags=["zones"],
    dependencies=[Depends(idempotent)],
    responses=CREATE_ERRORS,
)
async def create_zone(data: ZoneCreate, session: Session, ctx: ZoneWriter) -> ZoneRead:
    """Create a zone from a GeoJSON Polygon or MultiPolygon, served by the given teams.

    The geometry is validated (closed rings of at least 4 positions, coordinates in range, no
    self-intersection, holes inside their shell) and stored normalised (RFC 7946 winding)."""
    zone = await service.create_zone(session=session, tenant=ctx, data=data)
    return (await _reads(session, ctx, [zone]))[0]


@router.get("/zones", response_model=Page[ZoneRead], tags=["zones"])
async def list_zones(
    session: Session,
    ctx: ZoneReader,
    team_id: TeamId = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[ZoneRead]:
    """Zones of the caller's tenant, newest first, optionally only those a team serves."""
    rows, nxt = await service.search_zones(
        session=session, tenant=ctx, team_id=team_id, limit=limit, cursor=cursor
    )
    return Page[ZoneRead](data=await _reads(session, ctx, rows), next_cursor=nxt)


@router.get("/zones/lookup", response_model=ZoneMatches, tags=["zones"])
async def lookup_zones(
    session: Session,
    ctx: ZoneReader,
    lat: Annotated[float, Query(ge=-90, le=90, description="Latitude, WGS 84 degrees.")],
    lng: Annotated[float, Query(ge=-180, le=180, description="Longitude, WGS 84 degrees.")],
) -> ZoneMatches:
    """The zones containing a point (boundary included, holes excluded), smallest first.

    The first one is the zone a task at this point is tagged with."""
    zones = await service.zones_containing(session=session, tenant=ctx, lat=lat, lng=lng)
    return ZoneMatches(data=await _reads(session, ctx, zones))


@router.get("/zones/{zone_id}", response_model=ZoneRead, tags=["zones"])
async def get_zone(zone_id: str, session: Session, ctx: ZoneReader) -> ZoneRead:
    """One zone."""
    zone = await service.require_zone(session=session, tenant=ctx, zone_id=zone_id)
    return (await _reads(session, ctx, [zone]))[0]


@router.patch("/zones/{zone_id}", response_model=ZoneRead, tags=["zones"])
async def update_zone(
    zone_id: str, data: ZoneUpdate, session: Session, ctx: ZoneWriter
) -> ZoneRead:
    """Change a zone's name, description, geometry or teams (`team_ids` replaces the list).

    Tasks already tagged keep their zone; new and moved tasks use the new geometry."""
    zone = await service.update_zone(session=session, tenant=ctx, zone_id=zone_id, data=data)
    return (await _reads(session, ctx, [zone]))[0]


@router.delete("/zones/{zone_id}", status_code=204, tags=["zones"])
async def delete_zone(zone_id: str, session: Session, ctx: ZoneWriter) -> Response:
    """Delete a zone; it no longer matches lookups and new tasks are not tagged with it."""
    await service.delete_zone(session=session, tenant=ctx, zone_id=zone_id)
    return Response(status_code=204)


def _config_read(config: GeocoderConfig) -> GeocoderConfigRead:
    return GeocoderConfigRead(
        provider=config.provider,
        base_url=config.base_url,
        api_key_set=config.api_key_encrypted is not None,
        updated_at=config.updated_at,
    )


@router.get("/geocoder", response_model=GeocoderConfigRead, tags=["geocoding"])
async def get_geocoder(
    session: Session,
    ctx: Annotated[TenantContext, Depends(require(Role.admin, scope="geocoder:read"))],
) -> GeocoderConfigRead:
    """The tenant's geocoding provider (admins). The API key is never returned."""
    return _config_read(await service.get_geocoder_config(session=session, tenant=ctx))


@router.put("/geocoder", response_model=GeocoderConfigRead, tags=["geocoding"])
async def put_geocoder(
    data: GeocoderConfigUpdate,
    session: Session,
    ctx: Annotated[TenantContext, Depends(require(Role.admin, scope="geocoder:write"))],
) -> GeocoderConfigRead:
    """Choose the tenant's geocoding provider: `none`, `nominatim` or `google` (admins).

    The API key is write-only and stored encrypted; omit it to keep the stored one."""
    return _config_read(await service.put_geocoder_config(session=session, tenant=ctx, data=data))


@router.post("/geocode", response_model=GeocodeRead, tags=["geocoding"], responses=GEOCODE_ERRORS)
async def geocode(
    data: GeocodeRequest,
    session: Session,
    ctx: Annotated[TenantContext, Depends(require(*WRITERS, scope="geocoder:use"))],
) -> GeocodeRead:
    """Geocode an address with the tenant's provider: coordinates and formatted address.

    A 422 `address-not-found` names `body.address` when the provider finds nothing."""
    result = await service.geocode(session=session, tenant=ctx, address=data.address)
    if result is None:
        raise GeocoderNotConfigured(
            "this tenant has no geocoder; configure one with PUT /v1/geocoder"
        )
    return GeocodeRead(
        lat=result.lat,
        lng=result.lng,
        formatted_address=result.formatted_address,
        provider=result.provider,
    )
