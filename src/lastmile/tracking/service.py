"""Public functions of the tracking domain: ingest a driver's points, read positions and
tracks, and the tenant's tracking settings.

Who may do what: a driver user posts their own points (`ingest_own`); admins, dispatchers of
the driver's teams and API keys post for a driver they see (`ingest_for`). Positions and tracks
follow fleet's visibility (admins, viewers and API keys: the tenant; a dispatcher user: the
drivers of the teams they manage); a driver outside the caller's view is not found (404).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from lastmile.core import clock
from lastmile.core.config import get_settings
from lastmile.core.errors import FieldError, ValidationFailed
from lastmile.core.tenancy import TenantContext, scoped
from lastmile.fleet import queries as fleet_queries
from lastmile.fleet import service as fleet_service
from lastmile.tenancy.enums import Role
from lastmile.tracking import live
from lastmile.tracking import points as point_rules
from lastmile.tracking import track as track_lines
from lastmile.tracking.errors import NotADriver
from lastmile.tracking.models import DriverPosition, Location, TrackingSettings
from lastmile.tracking.schemas import (
    DriverLocationRead,
    IngestResult,
    LineString,
    LocationPoint,
    TrackFeature,
    TrackingSettingsRead,
    TrackProperties,
)

__all__ = [
    "Fix",
    "IngestOutcome",
    "get_tracking_settings",
    "ingest",
    "ingest_for",
    "ingest_own",
    "latest_locations",
    "put_tracking_settings",
    "retention_days",
    "track",
]

MAX_TRACK_RANGE = timedelta(days=7)
DEFAULT_TRACK_RANGE = timedelta(hours=24)
MAX_TRACK_POINTS = 100_000

_LOCATIONS = Location.__table__
_POSITIONS = DriverPosition.__table__
_POSITION_FIELDS = ("recorded_at", "lat", "lng", "accuracy", "speed", "heading", "received_at")


@dataclass(frozen=True)
class Fix:
    """A driver's recorded position."""

    driver_id: str
    recorded_at: datetime
    lat: float
    lng: float
    accuracy: float | None
    speed: float | None
    heading: float | None


@dataclass(frozen=True)
class IngestOutcome:
    """The answer to the device, and the newest point stored (None when nothing new was
    stored) with whether it became the driver's latest position (`moved`)."""

    result: IngestResult
    newest: Fix | None
    moved: bool


def _insert(session: AsyncSession) -> Any:
    return pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert


# -- settings ------------------------------------------------------------------------------------


async def _settings_row(session: AsyncSession, tenant: TenantContext) -> TrackingSettings | None:
    return (await session.execute(scoped(TrackingSettings, tenant))).scalar_one_or_none()


async def retention_days(*, session: AsyncSession, tenant: TenantContext) -> int:
    """Days the tenant's points are kept: its own setting, else LASTMILE_TRACKING_RETENTION_DAYS."""
    stmt = scoped(TrackingSettings, tenant).with_only_columns(TrackingSettings.retention_days)
    days = (await session.execute(stmt)).scalar_one_or_none()
    return int(days) if days is not None else get_settings().tracking_retention_days


async def get_tracking_settings(
    *, session: AsyncSession, tenant: TenantContext
) -> TrackingSettingsRead:
    """The tenant's tracking settings (the server default when never set)."""
    row = await _settings_row(session, tenant)
    if row is None:
        days = get_settings().tracking_retention_days
        return TrackingSettingsRead(retention_days=days, default=True, updated_at=None)
    return TrackingSettingsRead(
        retention_days=row.retention_days, default=False, updated_at=row.updated_at
    )


async def put_tracking_settings(
    *, session: AsyncSession, tenant: TenantContext, retention_days: int
) -> TrackingSettingsRead:
    """Set the tenant's retention: points older than it are refused at ingest and deleted by the
    maintenance job (within its interval, an hour by default)."""
    now = clock.now()
    stmt = _insert(session)(TrackingSettings.__table__).values(
        tenant_id=tenant.tenant_id, retention_days=retention_days, updated_at=now
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=["tenant_id"],
        set_={"retention_days": stmt.excluded.retention_days, "updated_at": now},
    )
    await session.execute(stmt)
    return TrackingSettingsRead(retention_days=retention_days, default=False, updated_at=now)


# -- ingest --------------------------------------------------------------------------------------


async def ingest_own(
    *, session: AsyncSession, tenant: TenantContext, points: Sequence[Any]
) -> IngestOutcome:
    """Store points of the calling driver user's own driver record (403 for anyone else)."""
    if tenant.actor_kind != "user" or tenant.role != Role.driver:
        raise NotADriver("only a signed-in driver posts to /v1/drivers/me/locations")
    driver = await fleet_service.get_driver_for_user(
        session=session, tenant=tenant, user_id=tenant.actor_id
    )
    if driver is None:
        raise NotADriver("this user has no driver record")
    return await ingest(session=session, tenant=tenant, driver_id=driver.id, points=points)


async def ingest_for(
    *, session: AsyncSession, tenant: TenantContext, driver_id: str, points: Sequence[Any]
) -> IngestOutcome:
    """Store points of a driver the caller sees (404 otherwise): telematics, back-office tools."""
    await fleet_service.require_driver(session=session, tenant=tenant, driver_id=driver_id)
    return await ingest(session=session, tenant=tenant, driver_id=driver_id, points=points)


async def ingest(
    *, session: AsyncSession, tenant: TenantContext, driver_id: str, points: Sequence[Any]
) -> IngestOutcome:
    """Check the points one by one and store the valid ones: one multi-row INSERT ... ON
    CONFLICT DO NOTHING (a point already stored is a duplicate), then one upsert of the driver's
    latest position, which only a newer point moves. The caller's unit of work commits."""
    now = clock.now()
    days = await retention_days(session=session, tenant=tenant)
    valid, rejected = point_rules.check(
        points, now=now, oldest=now - timedelta(days=days), retention_days=days
    )
    unique: dict[datetime, LocationPoint] = {}
    for _i, point in valid:
        unique.setdefault(point.recorded_at, point)
    stored = await _store(session, tenant, driver_id, list(unique.values()), now)
    result = IngestResult(
        accepted=len(stored), duplicates=len(valid) - len(stored), rejected=rejected
    )
    if not stored:
        return IngestOutcome(result, None, False)
    p = unique[max(stored)]
    newest = Fix(driver_id, p.recorded_at, p.lat, p.lng, p.accuracy, p.speed, p.heading)
    moved = await _advance(session, tenant, newest, now)
    if moved:  # late, out-of-order points never get here: only a newer latest position
        await live.on_position(session=session, tenant=tenant, fix=newest)
    return IngestOutcome(result, newest, moved)


async def _store(
    session: AsyncSession,
    tenant: TenantContext,
    driver_id: str,
    points: list[LocationPoint],
    now: datetime,
) -> list[datetime]:
    """Insert the points; `recorded_at` of those that were new."""
    if not points:
        return []
    rows = [
        {
            "tenant_id": tenant.tenant_id,
            "driver_id": driver_id,
            "recorded_at": p.recorded_at,
            "lat": p.lat,
            "lng": p.lng,
            "accuracy": p.accuracy,
            "speed": p.speed,
            "heading": p.heading,
            "received_at": now,
        }
        for p in points
    ]
    stmt = (
        _insert(session)(_LOCATIONS)
        .values(rows)
        .on_conflict_do_nothing(index_elements=["driver_id", "recorded_at"])
        .returning(_LOCATIONS.c.recorded_at)
    )
    return list((await session.execute(stmt)).scalars())


async def _advance(session: AsyncSession, tenant: TenantContext, fix: Fix, now: datetime) -> bool:
    """Make `fix` the driver's latest position unless a newer one is stored; True if it is."""
    stmt = _insert(session)(_POSITIONS).values(
        tenant_id=tenant.tenant_id,
        driver_id=fix.driver_id,
        recorded_at=fix.recorded_at,
        lat=fix.lat,
        lng=fix.lng,
        accuracy=fix.accuracy,
        speed=fix.speed,
        heading=fix.heading,
        received_at=now,
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=["driver_id"],
        set_={name: stmt.excluded[name] for name in _POSITION_FIELDS},
        where=_POSITIONS.c.recorded_at < stmt.excluded.recorded_at,
    ).returning(_POSITIONS.c.driver_id)
    return (await session.execute(stmt)).first() is not None


# -- reads ---------------------------------------------------------------------------------------


async def latest_locations(
    *, session: AsyncSession, tenant: TenantContext
) -> list[DriverLocationRead]:
    """The latest position of every on-duty driver the caller sees, by name."""
    teams = await fleet_service.visible_team_ids(session=session, tenant=tenant)
    stmt = scoped(DriverPosition, tenant)
    if teams is not None:
        ids = await fleet_service.team_driver_ids(session=session, tenant=tenant, team_ids=teams)
        if not ids:
            return []
        stmt = stmt.where(DriverPosition.driver_id.in_(sorted(ids)))
    positions = list((await session.execute(stmt)).scalars())
    if not positions:
        return []
    drivers = {
        d.id: d
        for d in await fleet_queries.drivers_by_ids(
            session, tenant, [p.driver_id for p in positions]
        )
        if d.on_duty
    }
    now = clock.now()
    out = [
        DriverLocationRead(
            driver_id=p.driver_id,
            name=drivers[p.driver_id].name,
            lat=p.lat,
            lng=p.lng,
            accuracy=p.accuracy,
            speed=p.speed,
            heading=p.heading,
            recorded_at=p.recorded_at,
            received_at=p.received_at,
            age_seconds=round((now - p.recorded_at).total_seconds(), 3),
        )
        for p in positions
        if p.driver_id in drivers
    ]
    return sorted(out, key=lambda r: (r.name, r.driver_id))


def _track_range(start: datetime | None, end: datetime | None) -> tuple[datetime, datetime]:
    end = end or clock.now()
    start = start or end - DEFAULT_TRACK_RANGE
    if end < start:
        raise ValidationFailed(
            "the range ends before it starts",
            [FieldError("query.to", "must not be before query.from", "range")],
        )
    if end - start > MAX_TRACK_RANGE:
        raise ValidationFailed(
            "a track covers at most 7 days",
            [FieldError("query.from", "must be at most 7 days before query.to", "range")],
        )
    return start, end


async def track(
    *,
    session: AsyncSession,
    tenant: TenantContext,
    driver_id: str,
    start: datetime | None,
    end: datetime | None,
    tolerance_m: float,
) -> TrackFeature:
    """The driver's points from `start` to `end` (both included; default: the 24 hours up to
    now) as a GeoJSON LineString simplified to `tolerance_m` metres."""
    await fleet_service.require_driver(session=session, tenant=tenant, driver_id=driver_id)
    start, end = _track_range(start, end)
    stmt = (
        scoped(Location, tenant)
        .with_only_columns(Location.lat, Location.lng, Location.recorded_at)
        .where(
            Location.driver_id == driver_id,
            Location.recorded_at >= start,
            Location.recorded_at <= end,
        )
        .order_by(Location.recorded_at)
        .limit(MAX_TRACK_POINTS + 1)
    )
    rows = [(lat, lng, at) for lat, lng, at in (await session.execute(stmt)).all()]
    if len(rows) > MAX_TRACK_POINTS:
        raise ValidationFailed(
            "too many points in the range",
            [
                FieldError(
                    "query.from", "the range holds over 100,000 points: ask for less", "range"
                )
            ],
        )
    kept = track_lines.simplify(rows, tolerance_m)
    geometry = (
        LineString(coordinates=[[lng, lat] for lat, lng, _t in kept]) if len(kept) > 1 else None
    )
    return TrackFeature(
        geometry=geometry,
        properties=TrackProperties(
            driver_id=driver_id,
            from_=start,
            to=end,
            tolerance_m=tolerance_m,
            points=len(rows),
            simplified_points=len(kept) if geometry else 0,
            first_recorded_at=rows[0][2] if rows else None,
            last_recorded_at=rows[-1][2] if rows else None,
            times=[t for _lat, _lng, t in kept] if geometry else [],
        ),
    )
