"""Webhook delivery: claim due messages under a lease, and record each attempt's outcome
(retry schedule, failure streaks, disabling). Sending happens between the two, outside any
transaction (events/sender.py).

A message is due when it is pending, its `next_attempt_at` has come, no other claim holds its
lease, its endpoint is enabled, and no message of the same endpoint and subject with a smaller
sequence is still pending: the events of one task reach one endpoint in order."""

from __future__ import annotations

import email.utils
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import case, insert, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from lastmile.core import clock
from lastmile.core.ids import new_id
from lastmile.core.tenancy import TenantContext, owned, scoped, scoped_update
from lastmile.events import endpoints, metrics, relay
from lastmile.events import service as events_service
from lastmile.events.models import Event, WebhookAttempt, WebhookEndpoint, WebhookMessage
from lastmile.events.own import WEBHOOK_ENDPOINT_TEST
from lastmile.events.schemas import WebhookEndpointRead

# Seconds before each attempt after the previous one failed: immediately, 5 s, 5 min, 30 min,
# 2 h, 5 h, 10 h, 14 h, 20 h, 24 h (Standard Webhooks' example schedule: 10 attempts, ~3 days).
SCHEDULE = (0, 5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400)
MAX_ATTEMPTS = len(SCHEDULE)
JITTER = 0.2
RETRY_AFTER_CAP = 86400.0  # a Retry-After never pushes one retry further than a day
FAILING_LIMIT = timedelta(days=5)
EXCERPT_CHARS = 1000
ERROR_CHARS = 500
THROTTLING = frozenset({429, 503})

_random = random.Random()  # noqa: S311 - jitter, not cryptography


@dataclass(frozen=True)
class Claimed:
    """One message a claim leased: everything needed to send it without the database."""

    message_id: str
    tenant_id: str
    endpoint_id: str
    event_id: str
    event_type: str
    attempt: int
    trigger: str
    url: str
    secrets: tuple[str, ...]
    body: bytes
    lease_id: str


@dataclass(frozen=True)
class Outcome:
    """What one request gave: a status (or none), how long it took, what came back."""

    started_at: datetime
    status_code: int | None = None
    latency_ms: int | None = None
    excerpt: str | None = None
    error: str | None = None
    retry_after: float | None = None

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300

    @property
    def result(self) -> str:
        """The metric label: success, http_error, timeout, network_error or refused."""
        if self.succeeded:
            return "success"
        if self.status_code is not None:
            return "http_error"
        error = self.error or ""
        if error.startswith("refused"):
            return "refused"
        return "timeout" if error.startswith("timed out") else "network_error"


def clean(value: str | None, limit: int) -> str | None:
    """Text safe to store: no NUL bytes (PostgreSQL refuses them), at most `limit` chars."""
    if value is None:
        return None
    return value.replace("\x00", "\ufffd")[:limit]


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds a `Retry-After` header asks to wait (delay-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - now).total_seconds())


def retry_delay(attempt: int, *, retry_after: float | None = None) -> float | None:
    """Seconds before the next attempt once attempt number `attempt` (1-based, in the current
    round) failed, with ±20 % jitter and at least a `Retry-After`; None when none is left."""
    if attempt >= MAX_ATTEMPTS:
        return None
    delay = SCHEDULE[attempt] * _random.uniform(1 - JITTER, 1 + JITTER)
    if retry_after is not None:
        delay = max(delay, min(retry_after, RETRY_AFTER_CAP))
    return delay


def _due(tenant: TenantContext, now: datetime) -> Any:
    m = WebhookMessage
    earlier = cast(Any, aliased(WebhookMessage))
    blocked = (
        scoped(earlier, tenant)
        .where(
            earlier.endpoint_id == m.endpoint_id,
            earlier.subject == m.subject,
            earlier.state == "pending",
            earlier.sequence < m.sequence,
        )
        .exists()
    )
    enabled = (
        scoped(WebhookEndpoint, tenant)
        .with_only_columns(WebhookEndpoint.id)
        .where(WebhookEndpoint.enabled.is_(True))
    )
    return scoped(m, tenant).where(
        m.state == "pending",
        m.next_attempt_at <= now,
        or_(m.lease_until.is_(None), m.lease_until <= now),
        m.endpoint_id.in_(enabled),
        ~blocked,
    )


async def claim(
    *, session: AsyncSession, tenant: TenantContext, limit: int, lease_seconds: float
) -> list[Claimed]:
    """Lease up to `limit` due messages, oldest first (rows other workers are claiming are
    skipped on PostgreSQL); commit right after, then send."""
    now = clock.now()
    # Oldest due first, in the order of the index on (state, next_attempt_at), so the query
    # stops after `limit` rows however long the backlog (order within a task is kept by _due).
    stmt = _due(tenant, now).order_by(WebhookMessage.next_attempt_at).limit(limit)
    if (await session.connection()).dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True, of=WebhookMessage)
    messages = list((await session.execute(stmt)).scalars())
    if not messages:
        return []
    lease_id = new_id("lse")
    await session.execute(
        scoped_update(WebhookMessage, tenant)
        .where(WebhookMessage.id.in_([m.id for m in messages]))
        .values(lease_id=lease_id, lease_until=now + timedelta(seconds=lease_seconds))
    )
    return await _prepare(session, tenant, messages, lease_id, now)


async def _prepare(
    session: AsyncSession,
    tenant: TenantContext,
    messages: list[WebhookMessage],
    lease_id: str,
    now: datetime,
) -> list[Claimed]:
    event_ids = sorted({m.event_id for m in messages})
    endpoint_ids = sorted({m.endpoint_id for m in messages})
    events = {
        e.id: e
        for e in (
            await session.execute(scoped(Event, tenant).where(Event.id.in_(event_ids)))
        ).scalars()
    }
    hooks = {
        e.id: e
        for e in (
            await session.execute(
                scoped(WebhookEndpoint, tenant).where(WebhookEndpoint.id.in_(endpoint_ids))
            )
        ).scalars()
    }
    secrets = {e.id: tuple(endpoints.signing_secrets(endpoint=e, at=now)) for e in hooks.values()}
    claimed = []
    for m in messages:
        event, endpoint = events[m.event_id], hooks[m.endpoint_id]
        body = events_service.envelope(event=event).model_dump_json().encode()
        claimed.append(
            Claimed(
                message_id=m.id,
                tenant_id=tenant.tenant_id,
                endpoint_id=endpoint.id,
                event_id=event.id,
                event_type=event.type,
                attempt=m.attempts + 1,
                trigger=m.next_trigger,
                url=endpoint.url,
                secrets=secrets[endpoint.id],
                body=body,
                lease_id=lease_id,
            )
        )
    return claimed


async def prepare_ping(
    *, session: AsyncSession, tenant: TenantContext, endpoint_id: str, lease_seconds: float
) -> Claimed:
    """A `webhook_endpoint.test` event for this endpoint only, and its message leased to the
    caller, who commits, sends and records it (a worker sends it once if the caller dies)."""
    endpoint = await endpoints.require(session=session, tenant=tenant, endpoint_id=endpoint_id)
    now = clock.now()
    sequence = await relay.next_sequence(session=session, tenant=tenant)
    data = WebhookEndpointRead.model_validate(endpoint).model_dump(mode="json")
    event = owned(
        Event(
            id=new_id("evt"),
            type=WEBHOOK_ENDPOINT_TEST.name,
            version=WEBHOOK_ENDPOINT_TEST.version,
            subject=endpoint.id,
            occurred_at=now,
            ordinal=0,
            data=data,
            sequence=sequence,
            relayed_at=now,
        ),
        tenant,
    )
    lease_id = new_id("lse")
    message = owned(
        WebhookMessage(
            id=new_id("msg"),
            endpoint_id=endpoint.id,
            event_id=event.id,
            subject=endpoint.id,
            sequence=sequence,
            state="pending",
            attempts=0,
            next_attempt_at=now,
            lease_until=now + timedelta(seconds=lease_seconds),
            lease_id=lease_id,
            round_start=0,
            next_trigger="test",
            created_at=now,
        ),
        tenant,
    )
    session.add(event)
    await session.flush()
    session.add(message)
    await session.flush()
    return (await _prepare(session, tenant, [message], lease_id, now))[0]


@dataclass(frozen=True)
class Recorded:
    attempt: WebhookAttempt
    state: str  # the message's state after this attempt ("" when the message is gone)


async def record(
    *, session: AsyncSession, tenant: TenantContext, claimed: Claimed, outcome: Outcome
) -> Recorded:
    """Log the attempt and move the message on: delivered, retried later, or failed; update the
    endpoint's failure streak, disabling it on 410 Gone or after 5 days of failures. An outcome
    whose claim lost its lease (the endpoint was disabled meanwhile) is only logged."""
    attempt = owned(
        WebhookAttempt(
            id=new_id("wha"),
            message_id=claimed.message_id,
            endpoint_id=claimed.endpoint_id,
            event_id=claimed.event_id,
            attempt=claimed.attempt,
            trigger=claimed.trigger,
            started_at=outcome.started_at,
            status_code=outcome.status_code,
            latency_ms=outcome.latency_ms,
            response_excerpt=clean(outcome.excerpt, EXCERPT_CHARS),
            error=clean(outcome.error, ERROR_CHARS),
        ),
        tenant,
    )
    metrics.DELIVERIES.labels(outcome.result).inc()
    if outcome.latency_ms is not None and outcome.status_code is not None:
        metrics.DELIVERY_LATENCY.observe(outcome.latency_ms / 1000)
    found = scoped(WebhookMessage, tenant).where(WebhookMessage.id == claimed.message_id)
    message = (await session.execute(found.with_for_update())).scalar_one_or_none()
    if message is None:  # its endpoint was deleted meanwhile
        return Recorded(attempt, "")
    session.add(attempt)
    if message.lease_id != claimed.lease_id:
        await session.flush()
        return Recorded(attempt, message.state)
    now = clock.now()
    message.attempts = claimed.attempt
    message.last_status = outcome.status_code
    message.last_error = clean(outcome.error, ERROR_CHARS)
    message.lease_id = message.lease_until = None
    message.next_trigger = "schedule"
    if outcome.succeeded:
        _finish(message, "succeeded", now)
        metrics.ATTEMPTS.observe(message.attempts - message.round_start)
    elif claimed.trigger == "test":
        _finish(message, "failed", now)
    else:
        delay = retry_delay(message.attempts - message.round_start, retry_after=outcome.retry_after)
        if delay is None:
            _finish(message, "failed", now)
            metrics.EXHAUSTED.inc()
        else:
            message.next_attempt_at = now + timedelta(seconds=delay)
    await session.flush()
    if claimed.trigger != "test":
        await _endpoint_health(session, tenant, claimed, outcome, now)
    return Recorded(attempt, message.state)


async def record_many(
    *, session: AsyncSession, tenant: TenantContext, outcomes: list[tuple[Claimed, Outcome]]
) -> None:
    """Record several outcomes of one tenant in one go: the 2xx ones with a few set-based
    statements (the common case), the others one by one as `record` does."""
    done = [(c, o) for c, o in outcomes if o.succeeded and c.trigger != "test"]
    for claimed, outcome in outcomes:
        if not (outcome.succeeded and claimed.trigger != "test"):
            await record(session=session, tenant=tenant, claimed=claimed, outcome=outcome)
    if done:
        await _record_delivered(session, tenant, done)


async def _record_delivered(
    session: AsyncSession, tenant: TenantContext, done: list[tuple[Claimed, Outcome]]
) -> None:
    m = WebhookMessage
    stmt = (
        scoped(m, tenant)
        .with_only_columns(m.id, m.lease_id, m.attempts, m.round_start)
        .where(m.id.in_([c.message_id for c, _ in done]))
        .with_for_update()
    )
    found = {row.id: row for row in (await session.execute(stmt)).all()}
    attempts: list[dict[str, Any]] = []
    owned_now: dict[str, tuple[Claimed, Outcome]] = {}
    for claimed, outcome in done:
        metrics.DELIVERIES.labels(outcome.result).inc()
        if outcome.latency_ms is not None:
            metrics.DELIVERY_LATENCY.observe(outcome.latency_ms / 1000)
        row = found.get(claimed.message_id)
        if row is None:  # its endpoint was deleted meanwhile
            continue
        attempts.append(
            {
                "id": new_id("wha"),
                "tenant_id": tenant.tenant_id,
                "message_id": claimed.message_id,
                "endpoint_id": claimed.endpoint_id,
                "event_id": claimed.event_id,
                "attempt": claimed.attempt,
                "trigger": claimed.trigger,
                "started_at": outcome.started_at,
                "status_code": outcome.status_code,
                "latency_ms": outcome.latency_ms,
                "response_excerpt": clean(outcome.excerpt, EXCERPT_CHARS),
                "error": None,
            }
        )
        if row.lease_id == claimed.lease_id:
            owned_now[claimed.message_id] = (claimed, outcome)
            metrics.ATTEMPTS.observe(claimed.attempt - row.round_start)
    if attempts:
        await session.execute(insert(WebhookAttempt), attempts)
    if not owned_now:
        return
    statuses = {mid: o.status_code for mid, (_, o) in owned_now.items()}
    await session.execute(
        scoped_update(m, tenant)
        .where(m.id.in_(list(owned_now)))
        .values(
            state="succeeded",
            attempts=m.attempts + 1,
            last_status=case(statuses, value=m.id),
            last_error=None,
            lease_id=None,
            lease_until=None,
            next_trigger="schedule",
            next_attempt_at=None,
            finished_at=clock.now(),
        )
        .execution_options(synchronize_session=False)
    )
    endpoint_ids = sorted({c.endpoint_id for c, _ in owned_now.values()})
    await session.execute(
        scoped_update(WebhookEndpoint, tenant)
        .where(WebhookEndpoint.id.in_(endpoint_ids), WebhookEndpoint.failing_since.is_not(None))
        .values(failing_since=None)
        .execution_options(synchronize_session=False)
    )


def _finish(message: WebhookMessage, state: str, now: datetime) -> None:
    message.state, message.finished_at, message.next_attempt_at = state, now, None


async def _endpoint_health(
    session: AsyncSession, tenant: TenantContext, claimed: Claimed, outcome: Outcome, now: datetime
) -> None:
    """A success ends the failure streak; a failure starts it (or continues it) and may
    disable the endpoint."""
    same = WebhookEndpoint.id == claimed.endpoint_id
    if outcome.succeeded:
        await session.execute(
            scoped_update(WebhookEndpoint, tenant)
            .where(same, WebhookEndpoint.failing_since.is_not(None))
            .values(failing_since=None)
        )
        return
    await session.execute(
        scoped_update(WebhookEndpoint, tenant)
        .where(same, WebhookEndpoint.failing_since.is_(None))
        .values(failing_since=outcome.started_at)
    )
    stmt = scoped(WebhookEndpoint, tenant).where(same).execution_options(populate_existing=True)
    endpoint = (await session.execute(stmt)).scalar_one_or_none()
    if endpoint is None or not endpoint.enabled:
        return
    if outcome.status_code == 410:
        reason = "the endpoint answered 410 Gone"
        metrics.DISABLED.labels("gone").inc()
    elif endpoint.failing_since is not None and now - endpoint.failing_since >= FAILING_LIMIT:
        reason = f"every attempt failed since {endpoint.failing_since.isoformat()} (5 days)"
        metrics.DISABLED.labels("failing").inc()
    else:
        return
    await endpoints.disable(session=session, tenant=tenant, endpoint=endpoint, reason=reason)


async def outbox_lag(session: AsyncSession) -> float:
    """Seconds since the oldest event waiting for the relay, or since the oldest sendable
    message fell due (0 when nothing waits; messages queued behind a retry of the same task
    wait for their endpoint, not for us): a cross-tenant read of two timestamps."""
    now = clock.now()
    if (await session.connection()).dialect.name == "postgresql":
        value = await session.execute(text("select lastmile_outbox_lag(:now)"), {"now": now})
        return float(value.scalar_one() or 0.0)
    oldest_event = (
        await session.execute(
            select(Event.occurred_at)
            .where(Event.sequence.is_(None))
            .order_by(Event.occurred_at)
            .limit(1)
        )
    ).scalar_one_or_none()
    m, earlier = WebhookMessage, aliased(WebhookMessage)
    queued_behind = (
        select(earlier.id)
        .where(
            earlier.endpoint_id == m.endpoint_id,
            earlier.subject == m.subject,
            earlier.state == "pending",
            earlier.sequence < m.sequence,
        )
        .exists()
    )
    oldest_due = (
        await session.execute(
            select(m.next_attempt_at)
            .where(m.state == "pending", m.next_attempt_at <= now, ~queued_behind)
            .order_by(m.next_attempt_at)
            .limit(1)
        )
    ).scalar_one_or_none()
    ages = [(now - t).total_seconds() for t in (oldest_event, oldest_due) if t is not None]
    return max([0.0, *ages])
