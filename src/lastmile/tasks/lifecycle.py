"""Assignment and the driver's actions, each checked against the transition table."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_
from sqlalchemy.ext.asyncio import AsyncSession

from lastmile.core import clock
from lastmile.core.errors import FieldError, Forbidden, ValidationFailed
from lastmile.core.tenancy import TenantContext, scoped
from lastmile.fleet import service as fleet_service
from lastmile.tasks import access, etas
from lastmile.tasks.enums import ACTIVE, FINAL, Action, Kind, State, next_state
from lastmile.tasks.errors import DependencyNotMet, InvalidTransition, MissingProof, TaskNotFound
from lastmile.tasks.models import Task
from lastmile.tasks.service import record, require


def _move(task: Task, action: Action) -> str:
    """Apply `action` to the task's state or refuse with 409; returns the previous state."""
    before = State(task.state)
    after = next_state(action, before)
    if after is None:
        raise InvalidTransition(f"cannot {action} a task that is {before}")
    task.state = after
    return before


async def _route(session: AsyncSession, tenant: TenantContext, driver_id: str) -> list[Task]:
    stmt = (
        scoped(Task, tenant)
        .where(Task.driver_id == driver_id, Task.state.in_([s.value for s in ACTIVE]))
        .order_by(Task.route_position, Task.id)
    )
    return list((await session.execute(stmt)).scalars())


async def _partners(session: AsyncSession, tenant: TenantContext, tasks: list[Task]) -> list[Task]:
    """The linked pickups/drop-offs of these tasks that are not among them yet."""
    ids = {t.id for t in tasks}
    wanted = {t.depends_on for t in tasks if t.depends_on} | {
        t.id for t in tasks if t.kind == Kind.pickup
    }
    if not wanted:
        return []
    stmt = scoped(Task, tenant).where(
        or_(Task.id.in_(sorted(wanted)), Task.depends_on.in_(sorted(wanted)))
    )
    found = [t for t in (await session.execute(stmt)).scalars() if t.id not in ids]
    return [t for t in found if t.state not in FINAL]


def _order_pairs(tasks: list[Task]) -> list[Task]:
    """Keep the given order but put each pickup before the drop-off that depends on it."""
    out: list[Task] = []
    by_id = {t.id: t for t in tasks}
    for t in tasks:
        if t in out:
            continue
        if t.depends_on and t.depends_on in by_id and by_id[t.depends_on] not in out:
            out.append(by_id[t.depends_on])
        out.append(t)
    return out


@dataclass
class AssignResult:
    tasks: list[Task]
    warnings: list[str]


async def assign(
    *,
    session: AsyncSession,
    tenant: TenantContext,
    task_ids: list[str],
    driver_id: str,
    position: int | None = None,
    caller_orders: bool = False,
) -> AssignResult:
    """Put the tasks (and their linked partners) into the driver's route at `position`, atomically.
    With `caller_orders` the route's order is left to the caller, who writes it next."""
    driver = await fleet_service.require_driver(session=session, tenant=tenant, driver_id=driver_id)
    tasks: list[Task] = []
    for i, task_id in enumerate(dict.fromkeys(task_ids)):
        try:
            tasks.append(await require(session=session, tenant=tenant, task_id=task_id))
        except TaskNotFound:
            if len(task_ids) == 1:
                raise
            raise ValidationFailed(
                "unknown task", [FieldError(f"body.task_ids[{i}]", f"no task {task_id}")]
            ) from None
    partners = await _partners(session, tenant, tasks)
    for p in partners:
        if p.state not in (State.unassigned, State.assigned) and p.driver_id != driver.id:
            raise InvalidTransition(f"linked task {p.id} is already {p.state} with another driver")
    moving = _order_pairs(
        tasks + [p for p in partners if p.state in (State.unassigned, State.assigned)]
    )
    warnings: list[str] = []
    missing = {s for t in moving for s in t.required_skills} - set(driver.skills or [])
    if missing:
        warnings.append(f"driver lacks required skills: {', '.join(sorted(missing))}")
    now = clock.now()
    for task in moving:
        before = _move(task, Action.assign)
        previous_driver = task.driver_id
        if previous_driver != driver.id:
            etas.on_new_driver(task=task)
        task.driver_id = driver.id
        task.assigned_at = now
        record(
            session=session,
            tenant=tenant,
            task=task,
            action=Action.assign,
            from_state=before,
            details={"previous_driver_id": previous_driver} if previous_driver else {},
        )
    if not caller_orders:
        route = [t for t in await _route(session, tenant, driver.id) if t not in moving]
        at = len(route) if position is None else min(position, len(route))
        for i, task in enumerate(route[:at] + moving + route[at:]):
            task.route_position = i
    await session.flush()
    return AssignResult(tasks, warnings)


async def unassign(*, session: AsyncSession, tenant: TenantContext, task_id: str) -> Task:
    """Take a task (and its not-started partner) out of its driver's route."""
    task = await require(session=session, tenant=tenant, task_id=task_id)
    partners = [p for p in await _partners(session, tenant, [task]) if p.state == State.assigned]
    for t in [task, *partners]:
        before = _move(t, Action.unassign)
        record(
            session=session,
            tenant=tenant,
            task=t,
            action=Action.unassign,
            from_state=before,
            details={"driver_id": t.driver_id},
        )
        t.driver_id = None
        t.route_position = None
        t.assigned_at = None
    await session.flush()
    return task


async def _driver_action(session: AsyncSession, tenant: TenantContext, task_id: str) -> Task:
    """The task, if the caller is its driver or a dispatcher/admin who can see it."""
    task = await require(session=session, tenant=tenant, task_id=task_id)
    if access.is_driver_user(tenant):
        own = await access.own_driver_id(session=session, tenant=tenant)
        if own is None or task.driver_id != own:
            raise Forbidden("only the assigned driver can do this")
    return task


_STAMP = {Action.start: "started_at", Action.arrive: "arrived_at"}


async def _step(
    session: AsyncSession,
    tenant: TenantContext,
    task: Task,
    action: Action,
    lat: float | None,
    lng: float | None,
    details: dict[str, Any] | None = None,
) -> Task:
    """Move the task by a driver's step, stamp its time and record it with the position."""
    before = _move(task, action)
    setattr(task, _STAMP[action], clock.now())
    if action == Action.start:
        etas.on_start(task=task)
    else:
        etas.on_arrive(task=task)
    record(
        session=session,
        tenant=tenant,
        task=task,
        action=action,
        from_state=before,
        lat=lat,
        lng=lng,
        details=details,
    )
    await session.flush()
    return task


async def start(
    *,
    session: AsyncSession,
    tenant: TenantContext,
    task_id: str,
    lat: float | None = None,
    lng: float | None = None,
) -> Task:
    """The driver sets off for the task; a drop-off waits for its pickup to be completed."""
    task = await _driver_action(session, tenant, task_id)
    if task.depends_on:
        pickup = (
            await session.execute(scoped(Task, tenant).where(Task.id == task.depends_on))
        ).scalar_one()
        if pickup.state != State.completed:
            raise DependencyNotMet(f"pickup {pickup.id} is {pickup.state}, not completed")
    return await _step(session, tenant, task, Action.start, lat, lng)


async def arrive(
    *,
    session: AsyncSession,
    tenant: TenantContext,
    task_id: str,
    lat: float | None = None,
    lng: float | None = None,
    source: str | None = None,
) -> Task:
    """The driver is at the stop (`source`: what noticed it, e.g. `geofence`; default the
    driver saying so)."""
    task = await _driver_action(session, tenant, task_id)
    details = {"source": source} if source else None
    return await _step(session, tenant, task, Action.arrive, lat, lng, details)


@dataclass
class Completion:
    """What the driver reports when finishing a task."""

    success: bool = True
    failure_reason: str | None = None
    notes: str = ""
    barcode: str | None = None
    recipient_age: int | None = None
    lat: float | None = None
    lng: float | None = None
    device_time: Any = None
    photo_count: int = 0
    has_signature: bool = False


def missing_proof(task: Task, c: Completion) -> list[FieldError]:
    """What the task's requirements demand that the completion lacks."""
    req = task.requirements or {}
    out: list[FieldError] = []
    if req.get("photo") and c.photo_count == 0:
        out.append(FieldError("photos", "this task requires a photo", "missing_proof"))
    if req.get("signature") and not c.has_signature:
        out.append(FieldError("signature", "this task requires a signature", "missing_proof"))
    if req.get("notes") and not c.notes.strip():
        out.append(FieldError("notes", "this task requires notes", "missing_proof"))
    if req.get("barcode") and not c.barcode:
        out.append(FieldError("barcode", "this task requires a scanned barcode", "missing_proof"))
    min_age = req.get("min_age")
    if min_age and (c.recipient_age is None or c.recipient_age < int(min_age)):
        out.append(
            FieldError(
                "recipient_age", f"recipient must be checked to be {min_age}+", "missing_proof"
            )
        )
    return out


async def check_completion(
    *, session: AsyncSession, tenant: TenantContext, task_id: str, completion: Completion
) -> Task:
    """The task if this completion may be applied now (state, driver, proof); raises otherwise."""
    task = await _driver_action(session, tenant, task_id)
    action = Action.complete if completion.success else Action.fail
    if next_state(action, State(task.state)) is None:
        raise InvalidTransition(f"cannot {action} a task that is {task.state}")
    if completion.success:
        missing = missing_proof(task, completion)
        if missing:
            raise MissingProof(
                "proof of delivery missing: " + ", ".join(e.field for e in missing), missing
            )
    elif not completion.failure_reason:
        raise ValidationFailed(
            "a failed task needs a reason",
            [FieldError("failure_reason", "required when success is false")],
        )
    return task


async def finish(
    *,
    session: AsyncSession,
    tenant: TenantContext,
    task: Task,
    completion: Completion,
    proof_ids: list[str],
) -> Task:
    """Apply a checked completion: completed or failed, with what the driver reported."""
    action = Action.complete if completion.success else Action.fail
    before = _move(task, action)
    task.completed_at = clock.now()
    task.completion = {
        "success": completion.success,
        "failure_reason": completion.failure_reason,
        "notes": completion.notes,
        "barcode": completion.barcode,
        "recipient_age": completion.recipient_age,
        "lat": completion.lat,
        "lng": completion.lng,
        "device_time": completion.device_time.isoformat() if completion.device_time else None,
        "proof_ids": proof_ids,
    }
    record(
        session=session,
        tenant=tenant,
        task=task,
        action=action,
        from_state=before,
        lat=completion.lat,
        lng=completion.lng,
        details={"failure_reason": completion.failure_reason} if not completion.success else {},
    )
    await session.flush()
    return task


async def cancel(
    *, session: AsyncSession, tenant: TenantContext, task_id: str, reason: str = ""
) -> Task:
    task = await require(session=session, tenant=tenant, task_id=task_id)
    before = _move(task, Action.cancel)
    task.route_position = None
    record(
        session=session,
        tenant=tenant,
        task=task,
        action=Action.cancel,
        from_state=before,
        details={"reason": reason},
    )
    await session.flush()
    return task
