"""Tasks: create (one or a batch), read, search, update."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from types import SimpleNamespace
from typing import Any

from pydantic import ValidationError
from sqlalchemy import func, insert, type_coerce
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession

from lastmile.core import clock
from lastmile.core.errors import DomainError, FieldError, Forbidden, ValidationFailed
from lastmile.core.ids import new_id
from lastmile.core.pagination import paginate
from lastmile.core.tenancy import TenantContext, owned, scoped
from lastmile.events import service as events
from lastmile.fleet import service as fleet_service
from lastmile.places import service as places_service
from lastmile.tasks import access
from lastmile.tasks.enums import FINAL, Action, Kind, State
from lastmile.tasks.errors import DuplicateExternalRef, InvalidTransition, TaskNotFound
from lastmile.tasks.events import BY_ACTION, TASK_CREATED
from lastmile.tasks.models import Task, TaskEvent
from lastmile.tasks.schemas import TaskCreate, TaskUpdate
from lastmile.tasks.views import view
from lastmile.tracking.links import service as links_service

_SHORT_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"


def short_id() -> str:
    """A short human id such as `K7F-3QX` (unique per tenant, checked on create)."""
    raw = "".join(secrets.choice(_SHORT_ALPHABET) for _ in range(6))
    return f"{raw[:3]}-{raw[3:]}"


async def get(*, session: AsyncSession, tenant: TenantContext, task_id: str) -> Task | None:
    stmt = scoped(Task, tenant).where(Task.id == task_id)
    clause = await access.visibility(session=session, tenant=tenant)
    if clause is not None:
        stmt = stmt.where(clause)
    return (await session.execute(stmt)).scalar_one_or_none()


async def require(*, session: AsyncSession, tenant: TenantContext, task_id: str) -> Task:
    """The task if the caller may see it; 404 otherwise."""
    task = await get(session=session, tenant=tenant, task_id=task_id)
    if task is None:
        raise TaskNotFound(f"no task {task_id}")
    return task


def record(
    *,
    session: AsyncSession,
    tenant: TenantContext,
    task: Task,
    action: Action,
    from_state: str | None,
    lat: float | None = None,
    lng: float | None = None,
    details: dict[str, Any] | None = None,
) -> TaskEvent:
    """Append one history entry for the task and emit its event (read at the next flush, so
    it shows the task as the caller leaves it)."""
    now = clock.now()
    task.updated_at = now
    events.emit(
        session=session, tenant=tenant, event_type=BY_ACTION[action], data=partial(view, task)
    )
    event = owned(
        TaskEvent(
            id=new_id("tev"),
            task_id=task.id,
            action=action,
            from_state=from_state,
            to_state=task.state,
            actor_id=tenant.actor_id,
            actor_kind=tenant.actor_kind,
            driver_id=task.driver_id,
            lat=lat,
            lng=lng,
            at=now,
            details=details or {},
        ),
        tenant,
    )
    session.add(event)
    return event


async def history(*, session: AsyncSession, tenant: TenantContext, task_id: str) -> list[TaskEvent]:
    await require(session=session, tenant=tenant, task_id=task_id)
    stmt = scoped(TaskEvent, tenant).where(TaskEvent.task_id == task_id)
    return list((await session.execute(stmt.order_by(TaskEvent.at, TaskEvent.id))).scalars())


_TASK_COLUMNS = [c.key for c in Task.__mapper__.column_attrs]
_BLANK = {k: None for k in _TASK_COLUMNS if k not in ("id", "tenant_id")}


class NewTask(SimpleNamespace):
    """A validated task not yet inserted: plain attributes named like Task's columns."""

    id: str
    tenant_id: str
    kind: str
    state: str
    short_id: str
    external_ref: str | None
    team_id: str | None
    zone_id: str | None
    depends_on: str | None
    lat: float
    lng: float


@dataclass
class _Lookups:
    """What creating many tasks needs, fetched once per request."""

    skills: set[str]
    teams: set[str] | None
    team_cache: dict[str, bool] = field(default_factory=dict)
    refs_taken: set[str] = field(default_factory=set)
    pickups: dict[str, Task | NewTask] = field(default_factory=dict)
    short_ids: set[str] = field(default_factory=set)


async def _lookups(
    session: AsyncSession, tenant: TenantContext, rows: list[TaskCreate | None], refs: list[str]
) -> _Lookups:
    skills = await fleet_service.known_skills(session=session, tenant=tenant)
    teams = await fleet_service.visible_team_ids(session=session, tenant=tenant)
    lk = _Lookups(skills=skills, teams=teams)
    wanted_refs = {r.external_ref for r in rows if r and r.external_ref} | set(refs)
    if wanted_refs:
        found = await session.execute(
            scoped(Task, tenant).where(Task.external_ref.in_(sorted(wanted_refs)))
        )
        for t in found.scalars():
            lk.refs_taken.add(t.external_ref or "")
            if t.kind == Kind.pickup:
                lk.pickups[f"ref:{t.external_ref}"] = t
    dep_ids = {r.depends_on for r in rows if r and r.depends_on}
    if dep_ids:
        found = await session.execute(scoped(Task, tenant).where(Task.id.in_(sorted(dep_ids))))
        for t in found.scalars():
            lk.pickups[t.id] = t
    return lk


async def _team_ok(
    session: AsyncSession, tenant: TenantContext, lk: _Lookups, team_id: str
) -> bool:
    if team_id not in lk.team_cache:
        try:
            await fleet_service.require_team(session=session, tenant=tenant, team_id=team_id)
            lk.team_cache[team_id] = lk.teams is None or team_id in lk.teams
        except DomainError:
            lk.team_cache[team_id] = False
    return lk.team_cache[team_id]


async def _build(
    session: AsyncSession,
    tenant: TenantContext,
    data: TaskCreate,
    lk: _Lookups,
    prefix: str,
    pickup: Task | NewTask | None,
) -> NewTask:
    """A validated, unsaved task; raises a DomainError naming the field otherwise."""
    errors: list[FieldError] = []
    for i, skill in enumerate(data.required_skills):
        if skill not in lk.skills:
            errors.append(FieldError(f"{prefix}required_skills[{i}]", f"unknown skill {skill!r}"))
    if data.external_ref and data.external_ref in lk.refs_taken:
        raise DuplicateExternalRef(
            f"external_ref {data.external_ref!r} is already used",
            [FieldError(f"{prefix}external_ref", "already used in this tenant", "duplicate")],
        )
    team_id = data.team_id
    if team_id is not None and not await _team_ok(session, tenant, lk, team_id):
        errors.append(FieldError(f"{prefix}team_id", "no such team (or not one you manage)"))
    if data.depends_on is not None or pickup is not None:
        if data.kind != Kind.dropoff:
            errors.append(
                FieldError(f"{prefix}depends_on", "only a dropoff can depend on a pickup")
            )
        elif pickup is None or pickup.kind != Kind.pickup or pickup.state in FINAL:
            errors.append(
                FieldError(f"{prefix}depends_on", "must name an unfinished pickup of this tenant")
            )
    if errors:
        raise ValidationFailed("invalid task", errors)
    lat, lng, address = data.lat, data.lng, data.address
    if lat is None or lng is None:
        if not address:
            raise ValidationFailed(
                "a destination is needed",
                [FieldError(f"{prefix}lat", "give lat/lng or an address")],
            )
        found = await places_service.geocode(
            session=session, tenant=tenant, address=address, field=f"{prefix}address"
        )
        if found is None:
            raise ValidationFailed(
                "no geocoder is configured; send coordinates",
                [FieldError(f"{prefix}lat", "required when the tenant has no geocoder")],
            )
        lat, lng = found.lat, found.lng
        address = address or found.formatted_address
    sid = short_id()
    while sid in lk.short_ids:
        sid = short_id()
    lk.short_ids.add(sid)
    if data.external_ref:
        lk.refs_taken.add(data.external_ref)
    fields: dict[str, Any] = dict(
        id=new_id("tsk"),
        tenant_id=tenant.tenant_id,
        short_id=sid,
        kind=data.kind,
        state=State.unassigned,
        external_ref=data.external_ref,
        team_id=team_id,
        depends_on=pickup.id if pickup else None,
        address=address,
        lat=lat,
        lng=lng,
        recipient_name=data.recipient.name,
        recipient_phone=data.recipient.phone,
        recipient_notes=data.recipient.notes,
        complete_after=data.complete_after,
        complete_before=data.complete_before,
        service_seconds=data.service_seconds,
        quantities=dict(data.quantities),
        required_skills=list(data.required_skills),
        priority=data.priority,
        requirements=data.requirements.model_dump(exclude_defaults=True),
        meta=dict(data.metadata),
        notes=data.notes,
    )
    return NewTask(**{**_BLANK, **fields})


async def _tag_zones(
    session: AsyncSession, tenant: TenantContext, lk: _Lookups, items: list[tuple[NewTask, str]]
) -> list[DomainError | None]:
    """Tag each task with the zone containing it (and that zone's team when it has only one);
    a dispatcher's task must end up in one of their teams."""
    zones = await places_service.zones_for_points(
        session=session, tenant=tenant, points=[(t.lat, t.lng) for t, _ in items]
    )
    teams_of = await places_service.team_ids_by_zone(
        session=session, tenant=tenant, zone_ids=sorted({z.id for z in zones if z is not None})
    )
    errors: list[DomainError | None] = []
    for (task, prefix), zone in zip(items, zones, strict=True):
        task.zone_id = zone.id if zone else None
        if task.team_id is None and zone is not None and len(teams_of[zone.id]) == 1:
            task.team_id = teams_of[zone.id][0]
        if lk.teams is not None and (task.team_id is None or task.team_id not in lk.teams):
            errors.append(
                Forbidden(
                    "dispatchers create tasks for the teams they manage",
                    [FieldError(f"{prefix}team_id", "must be one of your teams")],
                )
            )
        else:
            errors.append(None)
    return errors


async def _reserve_short_ids(
    session: AsyncSession, tenant: TenantContext, tasks: list[NewTask]
) -> None:
    """Re-draw the rare short ids that collide with stored ones."""
    while True:
        stmt = (
            scoped(Task, tenant)
            .with_only_columns(Task.short_id)
            .where(Task.short_id.in_([t.short_id for t in tasks]))
        )
        taken = set((await session.execute(stmt)).scalars())
        if not taken:
            return
        for t in tasks:
            if t.short_id in taken:
                t.short_id = short_id()


async def create(*, session: AsyncSession, tenant: TenantContext, data: TaskCreate) -> Task:
    """A new unassigned task, tagged with its zone (and the zone's team when unambiguous)."""
    lk = await _lookups(session, tenant, [data], [])
    pickup = lk.pickups.get(data.depends_on) if data.depends_on else None
    task = await _build(session, tenant, data, lk, "body.", pickup)
    (error,) = await _tag_zones(session, tenant, lk, [(task, "body.")])
    if error is not None:
        raise error
    await _reserve_short_ids(session, tenant, [task])
    await _insert_many(session, tenant, [task])
    return await require(session=session, tenant=tenant, task_id=task.id)


@dataclass
class RowOutcome:
    index: int
    task: NewTask | None = None
    error: DomainError | None = None


def _row_error(exc: ValidationError, prefix: str) -> ValidationFailed:
    errors = [
        FieldError(".".join([prefix.rstrip("."), *(str(p) for p in e["loc"])]), e["msg"], e["type"])
        for e in exc.errors()
    ]
    return ValidationFailed(f"{len(errors)} field(s) are invalid", errors)


async def create_many(
    *, session: AsyncSession, tenant: TenantContext, rows: list[dict[str, Any]]
) -> list[RowOutcome]:
    """Validate and stage every row; rows that fail carry their problem and store nothing."""
    outcomes = [RowOutcome(i) for i in range(len(rows))]
    parsed: list[TaskCreate | None] = []
    dep_refs: list[str | None] = []
    for i, raw in enumerate(rows):
        prefix = f"body.tasks[{i}]."
        raw = dict(raw)
        ref = raw.pop("depends_on_ref", None)
        dep_refs.append(ref if isinstance(ref, str) else None)
        try:
            parsed.append(TaskCreate.model_validate(raw))
        except ValidationError as exc:
            parsed.append(None)
            outcomes[i].error = _row_error(exc, prefix)
    lk = await _lookups(session, tenant, parsed, [r for r in dep_refs if r])
    staged: dict[str, NewTask] = {}
    created: list[NewTask] = []
    for i, data in enumerate(parsed):
        if data is None:
            continue
        prefix = f"body.tasks[{i}]."
        ref = dep_refs[i]
        pickup = None
        if ref is not None:
            pickup = staged.get(ref) or lk.pickups.get(f"ref:{ref}")
            if pickup is None:
                outcomes[i].error = ValidationFailed(
                    "unknown depends_on_ref",
                    [FieldError(f"{prefix}depends_on_ref", "no pickup with this external_ref")],
                )
                continue
        elif data.depends_on:
            pickup = lk.pickups.get(data.depends_on)
        try:
            task = await _build(session, tenant, data, lk, prefix, pickup)
        except DomainError as exc:
            outcomes[i].error = exc
            continue
        if task.external_ref and task.kind == Kind.pickup:
            staged[task.external_ref] = task
        outcomes[i].task = task
        created.append(task)
    placed = await _tag_zones(
        session,
        tenant,
        lk,
        [(t, f"body.tasks[{o.index}].") for o in outcomes if (t := o.task) is not None],
    )
    for outcome, error in zip([o for o in outcomes if o.task is not None], placed, strict=True):
        if error is not None:
            created.remove(outcome.task)  # type: ignore[arg-type]
            outcome.task, outcome.error = None, error
    dropped = {o.index for o in outcomes if o.task is None}
    kept = {t.id for t in created}
    for o in outcomes:  # a drop-off whose pickup row failed fails with it
        if (
            o.task is not None
            and o.task.depends_on
            and o.task.depends_on not in kept
            and o.task.depends_on in {t.id for t in staged.values()}
        ):
            created.remove(o.task)
            o.task, o.error = (
                None,
                ValidationFailed(
                    "its pickup row failed",
                    [
                        FieldError(
                            f"body.tasks[{o.index}].depends_on_ref", "the linked pickup failed"
                        )
                    ],
                ),
            )
    del dropped
    if created:
        await _reserve_short_ids(session, tenant, created)
        await _insert_many(session, tenant, created)
    return outcomes


async def _insert_many(session: AsyncSession, tenant: TenantContext, tasks: list[NewTask]) -> None:
    """Insert new tasks and their `create` history with two multi-row INSERTs (no ORM unit of
    work: a 1,000-row batch spends its time in the database, not in bookkeeping)."""
    now = clock.now()
    rows = []
    for t in tasks:
        t.created_at = t.updated_at = now
        rows.append({k: getattr(t, k) for k in _TASK_COLUMNS})
    history: list[dict[str, Any]] = [
        {
            "id": new_id("tev"),
            "tenant_id": tenant.tenant_id,
            "task_id": t.id,
            "action": "create",
            "from_state": None,
            "to_state": t.state,
            "actor_id": tenant.actor_id,
            "actor_kind": tenant.actor_kind,
            "driver_id": None,
            "lat": None,
            "lng": None,
            "at": now,
            "details": {},
        }
        for t in tasks
    ]
    await session.execute(insert(Task), rows)
    await session.execute(insert(TaskEvent), history)
    await links_service.register(
        session=session, tenant=tenant, task_ids=[t.id for t in tasks if t.kind == Kind.dropoff]
    )
    await events.emit_many(
        session=session, tenant=tenant, event_type=TASK_CREATED, items=[view(t) for t in tasks]
    )


@dataclass
class TaskFilters:
    states: list[str] = field(default_factory=list)
    kind: str | None = None
    team_id: str | None = None
    driver_id: str | None = None
    zone_id: str | None = None
    external_ref: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    due_after: datetime | None = None
    due_before: datetime | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


async def search(
    *,
    session: AsyncSession,
    tenant: TenantContext,
    filters: TaskFilters,
    limit: int = 50,
    cursor: str | None = None,
) -> tuple[list[Task], str | None]:
    """Tasks the caller may see, newest first, narrowed by the filters."""
    stmt = scoped(Task, tenant)
    clause = await access.visibility(session=session, tenant=tenant)
    if clause is not None:
        stmt = stmt.where(clause)
    f = filters
    if f.states:
        stmt = stmt.where(Task.state.in_(f.states))
    for col, value in (
        (Task.kind, f.kind),
        (Task.team_id, f.team_id),
        (Task.driver_id, f.driver_id),
        (Task.zone_id, f.zone_id),
        (Task.external_ref, f.external_ref),
    ):
        if value is not None:
            stmt = stmt.where(col == value)
    if f.created_after is not None:
        stmt = stmt.where(Task.created_at >= f.created_after)
    if f.created_before is not None:
        stmt = stmt.where(Task.created_at < f.created_before)
    if f.due_after is not None:
        stmt = stmt.where(Task.complete_before >= f.due_after)
    if f.due_before is not None:
        stmt = stmt.where(Task.complete_before < f.due_before)
    if f.metadata:
        dialect = (await session.connection()).dialect.name
        if dialect == "postgresql":
            stmt = stmt.where(type_coerce(Task.meta, JSONB).contains(f.metadata))
        else:
            for key, value in f.metadata.items():
                path = '$."' + key.replace('"', "") + '"'
                stmt = stmt.where(func.json_extract(Task.meta, path) == value)
    return await paginate(session, stmt, Task, limit=limit, cursor=cursor)


async def update(
    *, session: AsyncSession, tenant: TenantContext, task_id: str, data: TaskUpdate
) -> Task:
    """Change an unfinished task; its zone is re-tagged when it moves."""
    task = await require(session=session, tenant=tenant, task_id=task_id)
    if task.state in FINAL:
        raise InvalidTransition(f"a {task.state} task cannot be changed")
    changes = data.model_dump(exclude_unset=True)
    errors: list[FieldError] = []
    skills = changes.get("required_skills")
    if skills:
        known = await fleet_service.known_skills(session=session, tenant=tenant)
        errors += [
            FieldError(f"body.required_skills[{i}]", f"unknown skill {s!r}")
            for i, s in enumerate(skills)
            if s not in known
        ]
    after = changes.get("complete_after", task.complete_after)
    before = changes.get("complete_before", task.complete_before)
    if after is not None and before is not None and before <= after:
        errors.append(FieldError("body.complete_before", "must be later than complete_after"))
    if ("lat" in changes) != ("lng" in changes):
        errors.append(FieldError("body.lat", "give both lat and lng"))
    if changes.get("team_id") is not None:
        teams = await fleet_service.visible_team_ids(session=session, tenant=tenant)
        if teams is not None and changes["team_id"] not in teams:
            errors.append(FieldError("body.team_id", "must be one of your teams"))
        else:
            await fleet_service.require_team(
                session=session, tenant=tenant, team_id=changes["team_id"]
            )
    ref = changes.get("external_ref")
    if ref is not None and ref != task.external_ref:
        clash = await session.execute(scoped(Task, tenant).where(Task.external_ref == ref))
        if clash.first() is not None:
            raise DuplicateExternalRef(
                f"external_ref {ref!r} is already used",
                [FieldError("body.external_ref", "already used in this tenant", "duplicate")],
            )
    if errors:
        raise ValidationFailed("invalid change", errors)
    recipient = changes.pop("recipient", None)
    if recipient is not None:
        task.recipient_name = recipient.get("name", task.recipient_name)
        task.recipient_phone = recipient.get("phone", task.recipient_phone)
        task.recipient_notes = recipient.get("notes", task.recipient_notes)
    if "requirements" in changes and changes["requirements"] is not None:
        changes["requirements"] = {
            k: v for k, v in changes["requirements"].items() if v not in (False, None)
        }
    if "metadata" in changes:
        changes["meta"] = changes.pop("metadata") or {}
    for key, value in changes.items():
        if value is not None or key in ("complete_after", "complete_before", "external_ref"):
            setattr(task, key, value)
    if "lat" in changes:
        zone = await places_service.zone_for_point(
            session=session, tenant=tenant, lat=task.lat, lng=task.lng
        )
        task.zone_id = zone.id if zone else None
    record(
        session=session,
        tenant=tenant,
        task=task,
        action=Action.update,
        from_state=task.state,
        details={"fields": sorted(changes)},
    )
    await session.flush()
    return task
