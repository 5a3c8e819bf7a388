"""Retention: events (with their messages and delivery attempts) older than the retention
period are deleted once none of their messages is still pending."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from lastmile.core.tenancy import TenantContext, scoped, scoped_delete
from lastmile.events.models import Event, WebhookAttempt, WebhookMessage

BATCH = 1000


async def purge(*, session: AsyncSession, tenant: TenantContext, before: datetime) -> int:
    """Delete up to BATCH expired events and what hangs off them; how many events."""
    pending = exists(
        select(WebhookMessage.id).where(
            WebhookMessage.event_id == Event.id, WebhookMessage.state == "pending"
        )
    )
    stmt = (
        scoped(Event, tenant)
        .with_only_columns(Event.id)
        .where(Event.occurred_at < before, Event.sequence.is_not(None), ~pending)
        .limit(BATCH)
    )
    ids = list((await session.execute(stmt)).scalars())
    if not ids:
        return 0
    messages = scoped(WebhookMessage, tenant).with_only_columns(WebhookMessage.id)
    messages = messages.where(WebhookMessage.event_id.in_(ids))
    result: Any = await session.execute(
        scoped_delete(WebhookAttempt, tenant).where(WebhookAttempt.message_id.in_(messages))
    )
    await session.execute(
        scoped_delete(WebhookMessage, tenant).where(WebhookMessage.event_id.in_(ids))
    )
    result = await session.execute(scoped_delete(Event, tenant).where(Event.id.in_(ids)))
    return int(result.rowcount or 0)
