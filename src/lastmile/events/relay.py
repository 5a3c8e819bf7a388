"""The relay: gives committed events their sequence (commit order, per tenant) and turns each
into one message per subscribed endpoint."""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from lastmile.core import broker as live
from lastmile.core import clock
from lastmile.core.ids import new_id
from lastmile.core.tenancy import TenantContext, scoped
from lastmile.events.models import Event, EventCounter, WebhookEndpoint, WebhookMessage
from lastmile.events.service import envelope

BATCH = 500


async def _lock_counter(session: AsyncSession, tenant: TenantContext) -> EventCounter:
    """The tenant's counter row, locked until commit so relays of one tenant run one at a time."""
    dialect = (await session.connection()).dialect.name
    values = {"id": tenant.tenant_id, "tenant_id": tenant.tenant_id, "last_sequence": 0}
    if dialect == "postgresql":
        stmt: Any = postgresql.insert(EventCounter).values(values).on_conflict_do_nothing()
    else:
        stmt = sqlite.insert(EventCounter).values(values).on_conflict_do_nothing()
    await session.execute(stmt)
    found = scoped(EventCounter, tenant).where(EventCounter.id == tenant.tenant_id)
    counter = (
        await session.execute(found.with_for_update().execution_options(populate_existing=True))
    ).scalar_one()
    return counter


async def next_sequence(*, session: AsyncSession, tenant: TenantContext) -> int:
    """Take the tenant's next sequence number for an event written already sequenced (a test
    ping); the counter stays locked until commit, so commit order still follows sequence."""
    counter = await _lock_counter(session, tenant)
    counter.last_sequence += 1
    await session.flush()
    return counter.last_sequence


def wants(endpoint_types: list[str], event_type: str) -> bool:
    """Whether an endpoint with this filter takes this event type (empty filter: all)."""
    return not endpoint_types or event_type in endpoint_types


async def relay(*, session: AsyncSession, tenant: TenantContext, limit: int = BATCH) -> int:
    """Sequence up to `limit` unsequenced events, oldest first, and fan them out; how many."""
    counter = await _lock_counter(session, tenant)
    stmt = (
        scoped(Event, tenant)
        .where(Event.sequence.is_(None))
        .order_by(Event.occurred_at, Event.ordinal, Event.id)
        .limit(limit)
    )
    events = list((await session.execute(stmt)).scalars().all())
    if not events:
        return 0
    endpoints = (
        await session.execute(
            scoped(WebhookEndpoint, tenant)
            .with_only_columns(WebhookEndpoint.id, WebhookEndpoint.event_types)
            .where(WebhookEndpoint.enabled.is_(True))
        )
    ).all()
    now = clock.now()
    sequence = counter.last_sequence
    messages: list[dict[str, Any]] = []
    for event in events:
        sequence += 1
        event.sequence, event.relayed_at = sequence, now
        for endpoint_id, types in endpoints:
            if wants(list(types or []), event.type):
                messages.append(
                    {
                        "id": new_id("msg"),
                        "tenant_id": tenant.tenant_id,
                        "endpoint_id": endpoint_id,
                        "event_id": event.id,
                        "subject": event.subject or "",
                        "sequence": sequence,
                        "state": "pending",
                        "attempts": 0,
                        "next_attempt_at": now,
                        "lease_until": None,
                        "last_status": None,
                        "last_error": None,
                        "created_at": now,
                        "finished_at": None,
                    }
                )
    counter.last_sequence = sequence
    await session.flush()
    for event in events:  # to live feeds, in sequence order, once this commits
        live.publish_after_commit(
            session.info,
            tenant.tenant_id,
            {"type": "event", "event": envelope(event=event).model_dump(mode="json")},
        )
    if messages:
        await session.execute(insert(WebhookMessage), messages)
    return len(events)


async def tenants_with_work(session: AsyncSession) -> list[str]:
    """Tenants with events to relay or messages due now (a cross-tenant read of ids only)."""
    now = clock.now()
    if (await session.connection()).dialect.name == "postgresql":
        rows = await session.execute(
            text("select tenant_id from lastmile_outbox_tenants(:now)"), {"now": now}
        )
        return [r[0] for r in rows]
    unsequenced = select(Event.tenant_id).where(Event.sequence.is_(None))
    due = select(WebhookMessage.tenant_id).where(
        WebhookMessage.state == "pending", WebhookMessage.next_attempt_at <= now
    )
    rows = await session.execute(unsequenced.union(due))
    return sorted(r[0] for r in rows)
