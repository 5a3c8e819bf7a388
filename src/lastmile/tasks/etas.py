"""Live ETAs on tasks: stored as tracking computes them, announced when they move a lot
(`task.eta_changed`) or fall after the window (`task.delayed`, once), and measured against the
actual arrival."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from prometheus_client import Histogram
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from lastmile.core import clock
from lastmile.core.tenancy import TenantContext, scoped, scoped_update
from lastmile.events import service as events
from lastmile.tasks.enums import ACTIVE
from lastmile.tasks.events import TASK_DELAYED, TASK_ETA_CHANGED
from lastmile.tasks.models import Task
from lastmile.tasks.views import view

ETA_ERROR = Histogram(
    "lastmile_tracking_eta_error_ratio",
    "Per stop on arrival: |actual arrival - ETA when the driver set off| / predicted travel time.",
    buckets=(0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 2.0),
)
MIN_TRAVEL = timedelta(seconds=60)  # a shorter predicted leg counts as one minute
QUIET = timedelta(seconds=30)  # an ETA moving less than this is not written again


def error_ratio(*, predicted: datetime, started: datetime, arrived: datetime) -> float:
    """The ETA error of one stop: |arrived - predicted| / max(predicted - started, 1 min)."""
    travel = max(predicted - started, MIN_TRAVEL)
    return abs((arrived - predicted).total_seconds()) / travel.total_seconds()


def on_start(*, task: Task) -> None:
    """The driver sets off: the ETA known now is the one this stop is judged by."""
    task.eta_at_start = task.eta_at or task.planned_arrival_at


def on_arrive(*, task: Task) -> None:
    """The driver is there: record how far off the ETA at start was."""
    if task.eta_at_start is None or task.started_at is None or task.arrived_at is None:
        return
    ratio = error_ratio(
        predicted=task.eta_at_start, started=task.started_at, arrived=task.arrived_at
    )
    task.eta_error_ratio = ratio
    ETA_ERROR.observe(ratio)


def on_new_driver(*, task: Task) -> None:
    """A new driver: ETAs of the previous route no longer apply."""
    for name in ("eta_at", "eta_announced_at", "eta_at_dispatch", "eta_at_start", "delayed_at"):
        setattr(task, name, None)


async def refresh(
    *,
    session: AsyncSession,
    tenant: TenantContext,
    etas: Mapping[str, datetime],
    change_seconds: int,
) -> list[tuple[str, str]]:
    """Store the live ETAs of open tasks; returns the (task id, event type) emitted."""
    if not etas:
        return []
    stmt = scoped(Task, tenant).where(
        Task.id.in_(list(etas)), Task.state.in_([s.value for s in ACTIVE])
    )
    now, emitted = clock.now(), []
    for task in (await session.execute(stmt)).scalars():
        eta = etas[task.id]
        values: dict[str, Any] = {}
        if task.eta_at is None or abs(eta - task.eta_at) >= QUIET:
            values["eta_at"] = eta
        if task.eta_at_dispatch is None:
            values["eta_at_dispatch"] = eta
        last = task.eta_announced_at
        moved = last is not None and abs((eta - last).total_seconds()) > change_seconds
        if last is None or moved:
            values["eta_announced_at"] = eta
        late = task.complete_before is not None and eta > task.complete_before
        if late and task.delayed_at is None:
            values["delayed_at"] = now
        if not values:
            continue
        # Not a change of the task itself: route plans made earlier stay applicable.
        await session.execute(
            scoped_update(Task, tenant)
            .where(Task.id == task.id)
            .values(**values, updated_at=Task.updated_at)
            .execution_options(synchronize_session=False)
        )
        for name, value in values.items():
            set_committed_value(task, name, value)
        if moved:
            events.emit(
                session=session, tenant=tenant, event_type=TASK_ETA_CHANGED, data=view(task)
            )
            emitted.append((task.id, TASK_ETA_CHANGED.name))
        if "delayed_at" in values:
            events.emit(session=session, tenant=tenant, event_type=TASK_DELAYED, data=view(task))
            emitted.append((task.id, TASK_DELAYED.name))
    return emitted
