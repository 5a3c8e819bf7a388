"""Tracking links: written with each drop-off, read by their token before any tenant is known.

The view is built from the task (tasks queries), its driver and vehicle (fleet queries), the
driver's latest position (telemetry from tracking queries, and positions reported with task
actions, whichever is newer) and the proof kinds (tasks proof); it carries nothing else: no ids, no address, no phone number, no
other stop, no last name.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from lastmile.core import clock
from lastmile.core.tenancy import TenantContext, scoped
from lastmile.fleet import queries as fleet_queries
from lastmile.tasks import proof as tasks_proof
from lastmile.tasks import queries as tasks_queries
from lastmile.tasks.enums import Kind, State
from lastmile.tenancy import service as tenancy_service
from lastmile.tracking import queries as tracking_queries
from lastmile.tracking.links import lookup, tokens
from lastmile.tracking.links.models import TrackingLink
from lastmile.tracking.links.schemas import (
    EtaWindow,
    LinkDriver,
    LinkPosition,
    LinkProof,
    LinkStatus,
    TrackingLinkRead,
)

STATUS = {
    State.unassigned: LinkStatus.scheduled,
    State.assigned: LinkStatus.scheduled,
    State.started: LinkStatus.on_the_way,
    State.arrived: LinkStatus.arrived,
    State.completed: LinkStatus.delivered,
    State.failed: LinkStatus.not_delivered,
    State.cancelled: LinkStatus.cancelled,
}
UNDER_WAY = frozenset({State.started, State.arrived})
_ROUND = 5 * 60  # ETA windows are shown on five-minute marks


@dataclass(frozen=True)
class LinkRules:
    """How long a link lives after its delivery ends, and how wide an ETA window is."""

    ttl: timedelta
    eta_margin: timedelta


async def register(
    *, session: AsyncSession, tenant: TenantContext, task_ids: Sequence[str]
) -> None:
    """Record the links of new drop-offs (in the transaction that creates them)."""
    if not task_ids:
        return
    now = clock.now()
    rows = [
        {
            "digest": tokens.digest(tokens.token_for(task_id)),
            "tenant_id": tenant.tenant_id,
            "task_id": task_id,
            "created_at": now,
        }
        for task_id in task_ids
    ]
    await session.execute(insert(TrackingLink), rows)


async def backfill(
    *, session: AsyncSession, tenant: TenantContext, after: str | None, limit: int
) -> tuple[int, str | None]:
    """Record the links of up to `limit` drop-offs after `after` (id order) that have none:
    drop-offs made before links existed. Returns how many were added and where to go on
    (None when done); safe to run again."""
    ids = await tasks_queries.dropoff_ids(session, tenant, after, limit)
    if not ids:
        return 0, None
    have = scoped(TrackingLink, tenant).with_only_columns(TrackingLink.task_id)
    known = set((await session.execute(have.where(TrackingLink.task_id.in_(ids)))).scalars())
    missing = [task_id for task_id in ids if task_id not in known]
    await register(session=session, tenant=tenant, task_ids=missing)
    return len(missing), ids[-1]


async def read(*, session: AsyncSession, token: str, rules: LinkRules) -> TrackingLinkRead | None:
    """What the link shows now; None for an unknown, malformed or expired token (one answer
    for all, so a caller learns nothing about which)."""
    if not tokens.well_formed(token):
        return None
    found = await lookup.link_task(session, tokens.digest(token))
    if found is None:
        return None
    tenant_id, task_id = found
    tenant_row = await tenancy_service.get_tenant(session=session, tenant_id=tenant_id)
    if tenant_row is None or tenant_row.status != "active":
        return None
    tenant = TenantContext(tenant_id, "tracking_link", "public", "viewer")
    task = (await tasks_queries.by_ids(session, tenant, [task_id])).get(task_id)
    if task is None or task.kind != Kind.dropoff:
        return None
    now = clock.now()
    state = State(task.state)
    ended = _ended_at(task, state)
    if ended is not None and now >= ended + rules.ttl:
        return None
    return TrackingLinkRead(
        status=STATUS[state],
        eta_window=_eta_window(task, state, rules.eta_margin),
        driver=await _driver(session, tenant, task, state),
        position=await _position(session, tenant, task, state),
        proof=await _proof(session, tenant, task, state),
    )


def _ended_at(task: Any, state: State) -> datetime | None:
    """When the delivery ended (the link's expiry counts from here); None while it is open."""
    if state in (State.completed, State.failed):
        return task.completed_at or task.updated_at  # type: ignore[no-any-return]
    if state == State.cancelled:
        return task.updated_at  # type: ignore[no-any-return]
    return None


def _floor(at: datetime) -> datetime:
    return at - timedelta(seconds=at.timestamp() % _ROUND, microseconds=at.microsecond)


def _ceil(at: datetime) -> datetime:
    floor = _floor(at)
    return floor if floor == at else floor + timedelta(seconds=_ROUND)


def _eta_window(task: Any, state: State, margin: timedelta) -> EtaWindow | None:
    """Around the live ETA (`eta_at`, when live ETAs exist) or the planned arrival; else the
    window the drop-off was promised in; nothing once the driver is there or it is over."""
    if state not in (State.unassigned, State.assigned, State.started):
        return None
    # `eta_at` (a live ETA) is read when the tasks table has it.
    eta = getattr(task, "eta_at", None) or task.planned_arrival_at
    if eta is not None:
        return EtaWindow(start=_floor(eta - margin), end=_ceil(eta + margin))
    if task.complete_after is None and task.complete_before is None:
        return None
    return EtaWindow(start=task.complete_after, end=task.complete_before)


def _first_name(name: str) -> str:
    parts = name.split()
    return parts[0] if parts else ""


async def _driver(
    session: AsyncSession, tenant: TenantContext, task: Any, state: State
) -> LinkDriver | None:
    driver_id = task.driver_id
    if driver_id is None or state in (State.unassigned, State.cancelled):
        return None
    drivers = await fleet_queries.drivers_by_ids(session, tenant, [driver_id])
    if not drivers:
        return None
    driver = drivers[0]
    vehicle_type = None
    if driver.vehicle_id is not None:
        vehicle = (await fleet_queries.vehicles_by_ids(session, tenant, [driver.vehicle_id])).get(
            driver.vehicle_id
        )
        vehicle_type = vehicle.type if vehicle is not None else None
    return LinkDriver(first_name=_first_name(driver.name), vehicle_type=vehicle_type)


async def _telemetry_position(
    session: AsyncSession, tenant: TenantContext, driver_id: str, since: datetime
) -> tuple[datetime, tuple[float, float]] | None:
    """The driver's latest telemetry point recorded since `since`, if any."""
    found = await tracking_queries.latest_positions(session, tenant, [driver_id], since)
    return found.get(driver_id)


async def _position(
    session: AsyncSession, tenant: TenantContext, task: Any, state: State
) -> LinkPosition | None:
    """The driver's newest position, only while this drop-off is under way, and only one
    recorded since it was started (never one from an earlier stop)."""
    driver_id, since = task.driver_id, task.started_at
    if state not in UNDER_WAY or driver_id is None or since is None:
        return None
    candidates = []
    reported = (await tasks_queries.positions(session, tenant, [driver_id], since)).get(driver_id)
    if reported is not None:
        candidates.append(reported)
    tracked = await _telemetry_position(session, tenant, driver_id, since)
    if tracked is not None:
        candidates.append(tracked)
    if not candidates:
        return None
    at, (lat, lng) = max(candidates, key=lambda c: c[0])
    if not (math.isfinite(lat) and math.isfinite(lng)):
        return None
    return LinkPosition(lat=round(lat, 5), lng=round(lng, 5), recorded_at=at)


async def _proof(
    session: AsyncSession, tenant: TenantContext, task: Any, state: State
) -> LinkProof | None:
    completed_at = task.completed_at
    if state != State.completed or completed_at is None:
        return None
    kinds = {
        p.kind
        for p in await tasks_proof.list_proofs(session=session, tenant=tenant, task_id=task.id)
    }
    completion = task.completion or {}
    notes = completion.get("notes") if isinstance(completion, dict) else None
    return LinkProof(
        completed_at=completed_at,
        photo="photo" in kinds,
        signature="signature" in kinds,
        notes=notes if isinstance(notes, str) else "",
    )
