"""Materialisation: a template's stops for one date become tasks, exactly once.

Idempotent by construction: the run row (unique per tenant, template and date) is inserted
before the tasks, in the same transaction. A second materialisation of the same day, later or
concurrent, finds the row (PostgreSQL makes the loser's insert wait for the winner's commit,
then fail; SQLite runs writers one at a time) and returns the tasks of the first run instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from lastmile.core import clock
from lastmile.core.errors import DomainError, FieldError, ValidationFailed
from lastmile.core.ids import new_id
from lastmile.core.tenancy import TenantContext, owned, scoped
from lastmile.fleet import hubs as fleet_hubs
from lastmile.tasks import lifecycle
from lastmile.tasks import service as tasks_service
from lastmile.tasks.enums import Kind
from lastmile.templates import localtime
from lastmile.templates import service as templates_service
from lastmile.templates.errors import NotMaterializable, TemplateInactive, TemplateNotFound
from lastmile.templates.models import RouteTemplate, RouteTemplateRun
from lastmile.templates.schemas import META_DATE, META_STOP, META_TEMPLATE

MAX_DAYS_AHEAD = 366
_DAY_NAMES = {
    "mon": "Mondays",
    "tue": "Tuesdays",
    "wed": "Wednesdays",
    "thu": "Thursdays",
    "fri": "Fridays",
    "sat": "Saturdays",
    "sun": "Sundays",
}


@dataclass
class Materialized:
    """A day of a template: its run, its tasks in stop order, and whether this call made them."""

    run: RouteTemplateRun
    tasks: list[Any]  # tasks.models.Task (or the freshly inserted rows), for tasks' to_read()
    created: bool
    warnings: list[str] = field(default_factory=list)


def runs_on(
    *, weekdays: list[str], valid_from: date | None, valid_until: date | None, day: date
) -> bool:
    """True when `day` is one of the template's weekdays within its validity."""
    return (
        localtime.weekday(day) in weekdays
        and (valid_from is None or day >= valid_from)
        and (valid_until is None or day <= valid_until)
    )


def _check_day(template: RouteTemplate, day: date, now: datetime) -> None:
    if not template.active:
        raise TemplateInactive(f"route template {template.id} is not active")
    today = localtime.local_today(now, ZoneInfo(template.timezone))
    problem = None
    if localtime.weekday(day) not in template.weekdays:
        problem = f"the template runs on {', '.join(_DAY_NAMES[d] for d in template.weekdays)}"
    elif template.valid_from is not None and day < template.valid_from:
        problem = f"the template is valid from {template.valid_from.isoformat()}"
    elif template.valid_until is not None and day > template.valid_until:
        problem = f"the template is valid until {template.valid_until.isoformat()}"
    elif day < today:
        problem = f"in the past: today is {today.isoformat()} in {template.timezone}"
    elif day > today + timedelta(days=MAX_DAYS_AHEAD):
        problem = f"more than {MAX_DAYS_AHEAD} days ahead"
    if problem is not None:
        raise ValidationFailed(
            f"cannot materialise {day.isoformat()}: {problem}",
            [FieldError("body.date", problem, "not-a-template-day")],
        )


async def _run(
    session: AsyncSession, tenant: TenantContext, template_id: str, day: date
) -> RouteTemplateRun | None:
    stmt = scoped(RouteTemplateRun, tenant).where(
        RouteTemplateRun.template_id == template_id, RouteTemplateRun.date == day
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def _existing(
    session: AsyncSession, tenant: TenantContext, run: RouteTemplateRun
) -> Materialized:
    """The run's tasks the caller sees, in stop order."""
    filters = tasks_service.TaskFilters(
        metadata={META_TEMPLATE: run.template_id, META_DATE: run.date.isoformat()}
    )
    found, _ = await tasks_service.search(
        session=session, tenant=tenant, filters=filters, limit=len(run.task_ids) + 50
    )
    by_id = {t.id: t for t in found}
    return Materialized(run, [by_id[i] for i in run.task_ids if i in by_id], created=False)


def _broken(template: RouteTemplate, day: date, errors: list[FieldError]) -> NotMaterializable:
    reasons = "; ".join(f"{e.field}: {e.message}" for e in errors)
    return NotMaterializable(
        f"route template {template.id} cannot be materialised for {day.isoformat()}: {reasons}",
        errors,
    )


async def _rows(
    session: AsyncSession, tenant: TenantContext, template: RouteTemplate, day: date
) -> list[dict[str, Any]]:
    """One task body per stop, its place resolved and its window in UTC for that day."""
    zone = ZoneInfo(template.timezone)
    hubs: dict[str, Any] = {}
    for hub_id in sorted({s["place"]["hub_id"] for s in template.stops if "hub_id" in s["place"]}):
        hubs[hub_id] = await fleet_hubs.get(session=session, tenant=tenant, hub_id=hub_id)
    rows: list[dict[str, Any]] = []
    errors: list[FieldError] = []
    for i, stop in enumerate(template.stops):
        place = stop["place"]
        if "hub_id" in place:
            hub = hubs[place["hub_id"]]
            if hub is None:
                errors.append(
                    FieldError(f"stops[{i}].place.hub_id", f"hub {place['hub_id']} is gone")
                )
                continue
            lat, lng, address = hub.lat, hub.lng, hub.address
        else:
            lat, lng, address = place["lat"], place["lng"], place.get("address", "")
        window = stop.get("window") or {}
        after, before = localtime.window(day, window.get("start"), window.get("end"), zone)
        rows.append(
            {
                "kind": stop["kind"],
                "lat": lat,
                "lng": lng,
                "address": address,
                "recipient": stop["recipient"],
                "complete_after": after,
                "complete_before": before,
                "service_seconds": stop["service_minutes"] * 60,
                "quantities": stop["quantities"],
                "required_skills": stop["required_skills"],
                "priority": stop["priority"],
                "requirements": stop["requirements"],
                "metadata": {
                    **stop["metadata"],
                    META_TEMPLATE: template.id,
                    META_DATE: day.isoformat(),
                    META_STOP: i,
                },
                "team_id": template.team_id,
                "notes": stop["notes"],
            }
        )
    if errors:
        raise _broken(template, day, errors)
    return rows


async def _create(
    session: AsyncSession, tenant: TenantContext, template: RouteTemplate, day: date
) -> list[Any]:
    """Create the day's tasks through the tasks service: pickups and unlinked stops first, then
    the drop-offs linked to them (`depends_on`). Returns them in stop order."""
    rows = await _rows(session, tenant, template, day)
    refs = {s["ref"]: i for i, s in enumerate(template.stops) if s.get("ref")}
    linked = [i for i, s in enumerate(template.stops) if s.get("depends_on_ref")]
    first = [i for i in range(len(rows)) if i not in set(linked)]
    tasks: dict[int, Any] = {}
    for batch in (first, linked):
        bodies = []
        for i in batch:
            body = dict(rows[i])
            ref = template.stops[i].get("depends_on_ref")
            if ref is not None:
                pickup = tasks.get(refs.get(ref, -1))
                if pickup is None or template.stops[refs[ref]]["kind"] != Kind.pickup:
                    raise _broken(
                        template,
                        day,
                        [FieldError(f"stops[{i}].depends_on_ref", f"no pickup stop {ref!r}")],
                    )
                body["depends_on"] = pickup.id
            bodies.append(body)
        if not bodies:
            continue
        outcomes = await tasks_service.create_many(session=session, tenant=tenant, rows=bodies)
        errors = []
        for i, outcome in zip(batch, outcomes, strict=True):
            if outcome.error is not None:
                prefix = f"body.tasks[{outcome.index}]"
                errors += [
                    FieldError(e.field.replace(prefix, f"stops[{i}]", 1), e.message, e.code)
                    for e in outcome.error.errors
                ] or [FieldError(f"stops[{i}]", outcome.error.detail)]
            else:
                tasks[i] = outcome.task
        if errors:
            raise _broken(template, day, errors)
    return [tasks[i] for i in sorted(tasks)]


async def materialize(
    *,
    session: AsyncSession,
    tenant: TenantContext,
    template_id: str,
    day: date,
    now: datetime | None = None,
) -> Materialized:
    """The template's tasks for `day` (a date of its time zone): created now, or, when the day
    was materialised before, the tasks that run created. With a driver, the new tasks are
    assigned to them (appended to their route) through the tasks' assignment rules."""
    template = await templates_service.require(
        session=session, tenant=tenant, template_id=template_id
    )
    done = await _run(session, tenant, template.id, day)
    if done is not None:
        return await _existing(session, tenant, done)
    _check_day(template, day, now or clock.now())
    run = owned(
        RouteTemplateRun(
            id=new_id("rtr"),
            template_id=template.id,
            date=day,
            task_ids=[],
            actor_id=tenant.actor_id,
            actor_kind=tenant.actor_kind,
            created_at=clock.now(),
        ),
        tenant,
    )
    try:
        async with session.begin_nested():
            session.add(run)
            await session.flush()
    except IntegrityError:
        # Another run of this day committed first (or the template was deleted meanwhile).
        done = await _run(session, tenant, template.id, day)
        if done is None:
            raise TemplateNotFound(f"no route template {template_id}") from None
        return await _existing(session, tenant, done)
    tasks = await _create(session, tenant, template, day)
    warnings: list[str] = []
    if template.driver_id is not None and tasks:
        try:
            assigned = await lifecycle.assign(
                session=session,
                tenant=tenant,
                task_ids=[t.id for t in tasks],
                driver_id=template.driver_id,
            )
        except DomainError as exc:
            raise _broken(template, day, [FieldError("driver_id", exc.detail)]) from exc
        tasks, warnings = assigned.tasks, assigned.warnings
    run.task_ids = [t.id for t in tasks]
    await templates_service.clear_error(session=session, tenant=tenant, template=template)
    await session.flush()
    return Materialized(run, tasks, created=True, warnings=warnings)


async def due(
    *, session: AsyncSession, tenant: TenantContext, now: datetime, horizon_days: int
) -> list[tuple[str, date]]:
    """(template id, date) of every day of an active template, from today to `horizon_days`
    ahead in each template's time zone, that has no run yet; earliest first."""
    stmt = (
        scoped(RouteTemplate, tenant)
        .with_only_columns(
            RouteTemplate.id,
            RouteTemplate.timezone,
            RouteTemplate.weekdays,
            RouteTemplate.valid_from,
            RouteTemplate.valid_until,
        )
        .where(RouteTemplate.active.is_(True))
    )
    wanted: list[tuple[str, date]] = []
    for tid, tz, weekdays, valid_from, valid_until in (await session.execute(stmt)).all():
        today = localtime.local_today(now, ZoneInfo(tz))
        days = (today + timedelta(days=k) for k in range(horizon_days + 1))
        wanted += [
            (tid, d)
            for d in days
            if runs_on(weekdays=weekdays, valid_from=valid_from, valid_until=valid_until, day=d)
        ]
    if not wanted:
        return []
    runs = (
        scoped(RouteTemplateRun, tenant)
        .with_only_columns(RouteTemplateRun.template_id, RouteTemplateRun.date)
        .where(
            RouteTemplateRun.template_id.in_(sorted({t for t, _ in wanted})),
            RouteTemplateRun.date >= min(d for _, d in wanted),
        )
    )
    done = {(t, d) for t, d in (await session.execute(runs)).all()}
    return sorted((w for w in wanted if w not in done), key=lambda w: (w[1], w[0]))
