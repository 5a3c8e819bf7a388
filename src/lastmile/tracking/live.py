"""What a driver's new latest position sets off, inside the ingest's transaction: the live
feed message (published after commit), arrival by geofence, zone entry and exit, a
`driver.stopped` alert, and the refresh of the live ETAs of the driver's stops."""

from __future__ import annotations

import math
import time
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from lastmile.core import broker, clock
from lastmile.core.config import get_settings
from lastmile.core.tenancy import TenantContext, owned, scoped
from lastmile.events import service as events
from lastmile.fleet import service as fleet_service
from lastmile.places import service as places_service
from lastmile.routing import etas as route_etas
from lastmile.routing.matrix.offline import EARTH_RADIUS_M
from lastmile.tasks import etas as task_etas
from lastmile.tasks import lifecycle
from lastmile.tasks import queries as task_queries
from lastmile.tracking.events import (
    DRIVER_STOPPED,
    DRIVER_ZONE_ENTERED,
    DRIVER_ZONE_EXITED,
    DriverMovement,
)
from lastmile.tracking.models import DriverMotion

TEAMS_TTL = 60.0  # seconds a driver's team ids are reused for live feed messages
_teams: dict[tuple[str, str], tuple[float, list[str]]] = {}


def metres(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle distance between two (lat, lng) points."""
    lat1, lng1, lat2, lng2 = map(math.radians, (*a, *b))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lng2 - lng1) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(min(1.0, h)))


async def _team_ids(session: AsyncSession, tenant: TenantContext, driver_id: str) -> list[str]:
    key, now = (tenant.tenant_id, driver_id), time.monotonic()
    hit = _teams.get(key)
    if hit is None or hit[0] < now:
        found = await fleet_service.driver_team_ids(
            session=session, tenant=tenant, driver_id=driver_id
        )
        hit = _teams[key] = (now + TEAMS_TTL, sorted(found))
    return hit[1]


async def on_position(*, session: AsyncSession, tenant: TenantContext, fix: Any) -> None:
    """React to `fix` (a driver's new latest position: driver_id, recorded_at, lat, lng,
    accuracy, speed, heading)."""
    settings = get_settings()
    teams = await _team_ids(session, tenant, fix.driver_id)
    broker.publish_after_commit(
        session.info,
        tenant.tenant_id,
        {
            "type": "position",
            "driver_id": fix.driver_id,
            "lat": fix.lat,
            "lng": fix.lng,
            "accuracy": fix.accuracy,
            "speed": fix.speed,
            "heading": fix.heading,
            "recorded_at": fix.recorded_at.isoformat(),
            "team_ids": teams,
        },
    )
    point = (fix.lat, fix.lng)
    system = TenantContext.system(tenant.tenant_id)
    heading_to = await task_queries.stop_under_way(session, system, fix.driver_id)
    if heading_to is not None:
        task_id, lat, lng = heading_to
        if metres(point, (lat, lng)) <= settings.tracking_arrival_radius_m:
            await lifecycle.arrive(
                session=session,
                tenant=system,
                task_id=task_id,
                lat=fix.lat,
                lng=fix.lng,
                source="geofence",
            )
    motion = await _motion(session, system, fix, teams)
    now = clock.now()
    due = timedelta(seconds=settings.tracking_eta_refresh_seconds)
    if motion.etas_at is None or now - motion.etas_at >= due:
        motion.etas_at = now
        found = await route_etas.route_etas(
            session=session, tenant=system, driver_id=fix.driver_id, position=point
        )
        await task_etas.refresh(
            session=session,
            tenant=system,
            etas=found,
            change_seconds=settings.tracking_eta_change_seconds,
        )


def _movement(fix: Any, teams: list[str], **extra: Any) -> DriverMovement:
    return DriverMovement(
        id=fix.driver_id,
        driver_id=fix.driver_id,
        lat=fix.lat,
        lng=fix.lng,
        recorded_at=fix.recorded_at,
        team_ids=teams,
        **extra,
    )


async def _motion(
    session: AsyncSession, tenant: TenantContext, fix: Any, teams: list[str]
) -> DriverMotion:
    """Update where the driver stands still since when, and the zones they are in; emit
    driver.stopped, driver.zone_entered and driver.zone_exited."""
    settings = get_settings()
    point = (fix.lat, fix.lng)
    zones = await places_service.zones_containing(
        session=session, tenant=tenant, lat=fix.lat, lng=fix.lng
    )
    inside = sorted(z.id for z in zones)
    stmt = scoped(DriverMotion, tenant).where(DriverMotion.driver_id == fix.driver_id)
    motion = (await session.execute(stmt.with_for_update())).scalar_one_or_none()
    if motion is None:
        motion = owned(
            DriverMotion(
                driver_id=fix.driver_id,
                anchor_lat=fix.lat,
                anchor_lng=fix.lng,
                still_since=fix.recorded_at,
                zone_ids=[],
            ),
            tenant,
        )
        session.add(motion)
    before = set(motion.zone_ids or [])
    for zone_id in inside:
        if zone_id not in before:
            _emit(session, tenant, DRIVER_ZONE_ENTERED, _movement(fix, teams, zone_id=zone_id))
    for zone_id in sorted(before - set(inside)):
        _emit(session, tenant, DRIVER_ZONE_EXITED, _movement(fix, teams, zone_id=zone_id))
    motion.zone_ids = inside
    if metres(point, (motion.anchor_lat, motion.anchor_lng)) > settings.tracking_still_radius_m:
        motion.anchor_lat, motion.anchor_lng = fix.lat, fix.lng
        motion.still_since, motion.stopped_at = fix.recorded_at, None
    elif (
        motion.stopped_at is None
        and _still_too_long(motion.still_since, fix.recorded_at)
        and not await _near_a_stop(session, tenant, fix.driver_id, point)
    ):
        motion.stopped_at = clock.now()
        movement = _movement(fix, teams, still_since=motion.still_since)
        _emit(session, tenant, DRIVER_STOPPED, movement)
    return motion


def _still_too_long(since: datetime, now: datetime) -> bool:
    return now - since >= timedelta(minutes=get_settings().tracking_stopped_minutes)


async def _near_a_stop(
    session: AsyncSession, tenant: TenantContext, driver_id: str, point: tuple[float, float]
) -> bool:
    """Whether one of the driver's open or under-way stops is within the arrival radius."""
    gaps = await task_queries.nearest_stops(session, tenant, [driver_id], point)
    if driver_id not in gaps:
        return False
    degrees = math.sqrt(gaps[driver_id])  # squared degrees of latitude
    return degrees * 111_320 <= get_settings().tracking_arrival_radius_m


def _emit(session: AsyncSession, tenant: TenantContext, event_type: Any, data: Any) -> None:
    events.emit(session=session, tenant=tenant, event_type=event_type, data=data)
