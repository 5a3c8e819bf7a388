"""Zones (GeoJSON polygons linked to teams), point lookups, and geocoding.

Other domains call `zone_for_point`, `zones_for_points`, `zone_team_ids`, `forget_team` and
`geocode`.
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlsplit

from sqlalchemy import Select, and_
from sqlalchemy.ext.asyncio import AsyncSession

from lastmile.core import clock, keystore
from lastmile.core.config import get_settings
from lastmile.core.errors import FieldError, NotFound, ValidationFailed
from lastmile.core.ids import new_id
from lastmile.core.pagination import paginate
from lastmile.core.tenancy import TenantContext, owned, scoped, scoped_delete
from lastmile.fleet import service as fleet_service
from lastmile.places import geometry
from lastmile.places.errors import AddressNotFound, GeocoderRejected, ZoneNotFound
from lastmile.places.geocoding import base as geocoding_base
from lastmile.places.geocoding.base import Geocoder, GeocodeResult
from lastmile.places.geocoding.cache import ResultCache
from lastmile.places.geocoding.google import GoogleGeocoder
from lastmile.places.geocoding.nominatim import NominatimGeocoder
from lastmile.places.models import GeocoderConfig, Zone, ZoneTeam
from lastmile.places.schemas import GeocoderConfigUpdate, ZoneCreate, ZoneUpdate

__all__ = [
    "GeocodeResult",
    "create_zone",
    "delete_zone",
    "forget_team",
    "geocode",
    "get_geocoder_config",
    "get_zone",
    "put_geocoder_config",
    "require_zone",
    "search_zones",
    "team_ids_by_zone",
    "update_zone",
    "zone_for_point",
    "zone_shape",
    "zone_team_ids",
    "zones_containing",
    "zones_for_points",
]

_shapes = geometry.ShapeCache()
_geocoded = ResultCache()


def zone_shape(*, zone: Zone) -> geometry.ZoneShape:
    """The parsed shape of a stored zone (cached by id and version)."""
    return _shapes.get(zone.id, zone.updated_at.isoformat(), zone.geometry)


# -- zones -----------------------------------------------------------------------------------


def _live(tenant: TenantContext) -> Select[Zone]:
    """The tenant's zones that are not deleted."""
    return scoped(Zone, tenant).where(Zone.deleted_at.is_(None))


async def get_zone(*, session: AsyncSession, tenant: TenantContext, zone_id: str) -> Zone | None:
    return (await session.execute(_live(tenant).where(Zone.id == zone_id))).scalar_one_or_none()


async def require_zone(*, session: AsyncSession, tenant: TenantContext, zone_id: str) -> Zone:
    zone = await get_zone(session=session, tenant=tenant, zone_id=zone_id)
    if zone is None:
        raise ZoneNotFound(f"no zone {zone_id}")
    return zone


async def _check_teams(
    *, session: AsyncSession, tenant: TenantContext, team_ids: Sequence[str]
) -> list[str]:
    """The distinct team ids, in order; a 422 naming each one that is not a team of the tenant."""
    unique = list(dict.fromkeys(team_ids))
    errors = []
    for i, team_id in enumerate(team_ids):
        if team_id in team_ids[:i]:
            continue
        try:
            await fleet_service.require_team(session=session, tenant=tenant, team_id=team_id)
        except NotFound:
            errors.append(FieldError(f"body.team_ids[{i}]", f"no team {team_id}", "not_found"))
    if errors:
        raise ValidationFailed("unknown team(s)", errors)
    return unique


def _apply_shape(zone: Zone, shape: geometry.ZoneShape) -> None:
    zone.geometry = shape.geojson
    zone.min_lng, zone.min_lat = shape.min_lng, shape.min_lat
    zone.max_lng, zone.max_lat = shape.max_lng, shape.max_lat


async def _set_teams(
    *, session: AsyncSession, tenant: TenantContext, zone_id: str, team_ids: list[str]
) -> None:
    await session.execute(scoped_delete(ZoneTeam, tenant).where(ZoneTeam.zone_id == zone_id))
    for team_id in team_ids:
        session.add(owned(ZoneTeam(zone_id=zone_id, team_id=team_id), tenant))


async def create_zone(*, session: AsyncSession, tenant: TenantContext, data: ZoneCreate) -> Zone:
    """A new zone; a 422 naming the field for invalid geometry or unknown teams."""
    shape = geometry.parse(data.geometry)
    team_ids = await _check_teams(session=session, tenant=tenant, team_ids=data.team_ids)
    zone = owned(Zone(id=new_id("zon"), name=data.name, description=data.description), tenant)
    _apply_shape(zone, shape)
    session.add(zone)
    await session.flush()
    for team_id in team_ids:
        session.add(owned(ZoneTeam(zone_id=zone.id, team_id=team_id), tenant))
    await session.flush()
    return zone


async def update_zone(
    *, session: AsyncSession, tenant: TenantContext, zone_id: str, data: ZoneUpdate
) -> Zone:
    """Change a zone's name, description, geometry or teams (the list replaces the old one)."""
    zone = await require_zone(session=session, tenant=tenant, zone_id=zone_id)
    shape = geometry.parse(data.geometry) if data.geometry is not None else None
    team_ids = (
        await _check_teams(session=session, tenant=tenant, team_ids=data.team_ids)
        if data.team_ids is not None
        else None
    )
    if data.name is not None:
        zone.name = data.name
    if data.description is not None:
        zone.description = data.description
    if shape is not None:
        _apply_shape(zone, shape)
    if team_ids is not None:
        await _set_teams(session=session, tenant=tenant, zone_id=zone.id, team_ids=team_ids)
        zone.updated_at = clock.now()  # the teams are part of the zone
    await session.flush()
    return zone


async def delete_zone(*, session: AsyncSession, tenant: TenantContext, zone_id: str) -> None:
    """Delete a zone: it leaves lists and lookups and loses its teams; tasks tagged with it keep
    the tag (the row stays, marked deleted)."""
    zone = await require_zone(session=session, tenant=tenant, zone_id=zone_id)
    await session.execute(scoped_delete(ZoneTeam, tenant).where(ZoneTeam.zone_id == zone.id))
    zone.deleted_at = clock.now()
    await session.flush()


async def search_zones(
    *,
    session: AsyncSession,
    tenant: TenantContext,
    team_id: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> tuple[list[Zone], str | None]:
    """Zones, newest first, optionally only those a team serves."""
    stmt = _live(tenant)
    if team_id is not None:
        served = scoped(ZoneTeam, tenant).where(ZoneTeam.team_id == team_id)
        stmt = stmt.where(Zone.id.in_(served.with_only_columns(ZoneTeam.zone_id)))
    return await paginate(session, stmt, Zone, limit=limit, cursor=cursor)


async def team_ids_by_zone(
    *, session: AsyncSession, tenant: TenantContext, zone_ids: Sequence[str]
) -> dict[str, list[str]]:
    """The sorted team ids of each zone (zones without teams map to [])."""
    found: dict[str, list[str]] = {z: [] for z in zone_ids}
    if not zone_ids:
        return found
    rows = await session.execute(
        scoped(ZoneTeam, tenant)
        .where(ZoneTeam.zone_id.in_(list(zone_ids)))
        .order_by(ZoneTeam.zone_id, ZoneTeam.team_id)
    )
    for link in rows.scalars():
        found[link.zone_id].append(link.team_id)
    return found


async def zone_team_ids(*, session: AsyncSession, tenant: TenantContext, zone_id: str) -> set[str]:
    """The teams that serve a zone (404 when the zone does not exist)."""
    await require_zone(session=session, tenant=tenant, zone_id=zone_id)
    ids = await team_ids_by_zone(session=session, tenant=tenant, zone_ids=[zone_id])
    return set(ids[zone_id])


async def forget_team(*, session: AsyncSession, tenant: TenantContext, team_id: str) -> None:
    """Unlink a team from every zone (for the fleet domain, before it deletes the team)."""
    await session.execute(scoped_delete(ZoneTeam, tenant).where(ZoneTeam.team_id == team_id))


# -- point lookups ---------------------------------------------------------------------------


def _in_box(
    stmt: Select[Zone], min_lat: float, max_lat: float, min_lng: float, max_lng: float
) -> Select[Zone]:
    """Zones whose bounding box meets the box (the SQL prefilter; shapely decides)."""
    return stmt.where(
        and_(
            Zone.min_lat <= max_lat,
            Zone.max_lat >= min_lat,
            Zone.min_lng <= max_lng,
            Zone.max_lng >= min_lng,
        )
    )


def _smallest_first(zones: list[Zone]) -> list[tuple[Zone, geometry.ZoneShape]]:
    shaped = [(z, zone_shape(zone=z)) for z in zones]
    shaped.sort(key=lambda zs: (zs[1].area, zs[0].created_at, zs[0].id))
    return shaped


async def zones_containing(
    *, session: AsyncSession, tenant: TenantContext, lat: float, lng: float
) -> list[Zone]:
    """The zones containing the point (boundary included), smallest area first."""
    stmt = _in_box(_live(tenant), lat, lat, lng, lng)
    candidates = list((await session.execute(stmt)).scalars())
    return [z for z, shape in _smallest_first(candidates) if shape.covers(lng, lat)]


async def zone_for_point(
    *, session: AsyncSession, tenant: TenantContext, lat: float, lng: float
) -> Zone | None:
    """The smallest zone containing the point (ties: oldest, then lowest id), or None."""
    found = await zones_containing(session=session, tenant=tenant, lat=lat, lng=lng)
    return found[0] if found else None


async def zones_for_points(
    *, session: AsyncSession, tenant: TenantContext, points: Sequence[tuple[float, float]]
) -> list[Zone | None]:
    """`zone_for_point` for many (lat, lng) points with one query (batch task creation)."""
    if not points:
        return []
    lats = [p[0] for p in points]
    lngs = [p[1] for p in points]
    stmt = _in_box(_live(tenant), min(lats), max(lats), min(lngs), max(lngs))
    found: list[Zone | None] = [None] * len(points)
    todo = list(range(len(points)))
    for zone, shape in _smallest_first(list((await session.execute(stmt)).scalars())):
        hits = shape.covers_many([lngs[i] for i in todo], [lats[i] for i in todo])
        for i, hit in zip(todo, hits, strict=True):
            if hit:
                found[i] = zone
        todo = [i for i, hit in zip(todo, hits, strict=True) if not hit]
        if not todo:
            break
    return found


# -- geocoding -------------------------------------------------------------------------------


async def _config(*, session: AsyncSession, tenant: TenantContext) -> GeocoderConfig | None:
    return (await session.execute(scoped(GeocoderConfig, tenant))).scalar_one_or_none()


async def get_geocoder_config(*, session: AsyncSession, tenant: TenantContext) -> GeocoderConfig:
    """The tenant's geocoder configuration (provider `none` when never set; not stored)."""
    config = await _config(session=session, tenant=tenant)
    if config is None:
        return owned(GeocoderConfig(id="", provider="none"), tenant)
    return config


def _check_base_url(url: str) -> None:
    try:
        parts = urlsplit(url)
        _ = parts.port
    except ValueError as exc:  # a bad port, an unclosed [IPv6] bracket...
        raise ValidationFailed(
            "invalid base_url", [FieldError("body.base_url", f"not a valid URL: {exc}")]
        ) from exc
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise ValidationFailed(
            "invalid base_url",
            [FieldError("body.base_url", "an http or https URL without query or fragment")],
        )


async def put_geocoder_config(
    *, session: AsyncSession, tenant: TenantContext, data: GeocoderConfigUpdate
) -> GeocoderConfig:
    """Set the tenant's provider; the API key is stored encrypted and kept when not sent."""
    if data.base_url is not None:
        _check_base_url(data.base_url)
    config = await _config(session=session, tenant=tenant)
    if config is None:
        config = owned(GeocoderConfig(id=new_id("gcf")), tenant)
        session.add(config)
    config.provider = data.provider
    if data.provider == "none":
        config.base_url = None
        config.api_key_encrypted = None
    else:
        config.base_url = data.base_url
        if "api_key" in data.model_fields_set:
            config.api_key_encrypted = (
                keystore.encrypt(
                    data.api_key,
                    secret_key=get_settings().secret_key,
                    purpose=keystore.GEOCODER,
                )
                if data.api_key is not None
                else None
            )
    if config.provider == "google" and not config.api_key_encrypted:
        raise ValidationFailed(
            "google needs an API key", [FieldError("body.api_key", "required for google")]
        )
    await session.flush()
    return config


def _geocoder(config: GeocoderConfig) -> Geocoder:
    settings = get_settings()
    agent = geocoding_base.user_agent(settings.public_url)
    timeout = geocoding_base.TIMEOUT_SECONDS
    if config.provider == "nominatim":
        return NominatimGeocoder(base_url=config.base_url, user_agent=agent, timeout=timeout)
    key = (
        keystore.decrypt(
            config.api_key_encrypted, secret_key=settings.secret_key, purpose=keystore.GEOCODER
        )
        if config.api_key_encrypted
        else None
    )
    if key is None:
        raise GeocoderRejected(
            "the stored Google API key cannot be read (was LASTMILE_SECRET_KEY changed?); "
            "set it again with PUT /v1/geocoder"
        )
    return GoogleGeocoder(base_url=config.base_url, api_key=key, user_agent=agent, timeout=timeout)


async def geocode(
    *, session: AsyncSession, tenant: TenantContext, address: str, field: str = "body.address"
) -> GeocodeResult | None:
    """Where the address is, by the tenant's geocoder; None when the tenant has none.

    Raises `AddressNotFound` (422 naming `field`) when the provider finds nothing, and a
    `GeocodingError` (502 `geocoder-rejected` / `geocoder-bad-response`, 503
    `geocoding-unavailable` / `geocoding-quota-exceeded`) when the provider fails.
    """
    config = await _config(session=session, tenant=tenant)
    if config is None or config.provider == "none":
        return None
    query = " ".join(address.split())
    if not query:
        raise ValidationFailed("empty address", [FieldError(field, "the address is empty")])
    # Keyed by the configuration's version too: a new provider, URL or key asks afresh.
    key = (tenant.tenant_id, config.id, config.updated_at.isoformat(), query)
    cached = _geocoded.get(key)
    if cached is not None:
        return cached
    result = await _geocoder(config).geocode(query)
    if result is None:
        raise AddressNotFound.for_field(field, query)
    _geocoded.put(key, result)
    return result
