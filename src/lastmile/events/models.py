"""Tables of the events domain: the outbox of events, webhook endpoints, the messages each
endpoint is owed and every delivery attempt."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from lastmile.core import clock
from lastmile.core.db import Base, TenantOwned
from lastmile.core.models import Timestamps
from lastmile.core.types import JSONDoc, UTCDateTime


class Event(TenantOwned, Base):
    """One state change, written in the transaction that made it (the transactional outbox).

    `sequence` is given by the relay after commit, in commit order per tenant: it orders the
    polling feed and the deliveries. Until then it is null."""

    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_tenant_sequence", "tenant_id", "sequence", unique=True),
        Index("ix_events_unsequenced", "tenant_id", "occurred_at", "ordinal"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    type: Mapped[str] = mapped_column(String(60))
    version: Mapped[int] = mapped_column(Integer, default=1)
    subject: Mapped[str | None] = mapped_column(String(40), nullable=True)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)
    ordinal: Mapped[int] = mapped_column(Integer, default=0)
    data: Mapped[dict[str, Any]] = mapped_column(JSONDoc, default=dict)
    sequence: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    relayed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class EventCounter(TenantOwned, Base):
    """The last sequence number given to a tenant's events; locked while the relay runs."""

    __tablename__ = "event_counters"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # the tenant id
    last_sequence: Mapped[int] = mapped_column(BigInteger, default=0)


class WebhookEndpoint(TenantOwned, Timestamps, Base):
    """An integrator's URL, the event types it takes and its signing secrets (encrypted)."""

    __tablename__ = "webhook_endpoints"
    __table_args__ = (
        Index("ix_webhook_endpoints_tenant_created", "tenant_id", "created_at", "id"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    url: Mapped[str] = mapped_column(String(2000))
    description: Mapped[str] = mapped_column(String(500), default="")
    event_types: Mapped[list[str]] = mapped_column(JSONDoc, default=list)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    disabled_reason: Mapped[str | None] = mapped_column(String(200), nullable=True)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    secret: Mapped[str] = mapped_column(Text)
    previous_secret: Mapped[str | None] = mapped_column(Text, nullable=True)
    previous_secret_expires_at: Mapped[datetime | None] = mapped_column(
        UTCDateTime(), nullable=True
    )
    failing_since: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_by: Mapped[str] = mapped_column(String(40))


class WebhookMessage(TenantOwned, Base):
    """One event owed to one endpoint: pending until a 2xx, failed when attempts run out."""

    __tablename__ = "webhook_messages"
    __table_args__ = (
        Index("ix_webhook_messages_due", "state", "next_attempt_at"),
        Index("ix_webhook_messages_order", "endpoint_id", "subject", "state", "sequence"),
        Index("ix_webhook_messages_endpoint", "tenant_id", "endpoint_id", "created_at", "id"),
        Index("ix_webhook_messages_event_endpoint", "event_id", "endpoint_id", unique=True),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    endpoint_id: Mapped[str] = mapped_column(ForeignKey("webhook_endpoints.id"))
    event_id: Mapped[str] = mapped_column(ForeignKey("events.id"))
    subject: Mapped[str] = mapped_column(String(40), default="")
    sequence: Mapped[int] = mapped_column(BigInteger)
    state: Mapped[str] = mapped_column(String(12), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # Which claim owns the lease: an outcome is applied only by the claim that still holds it.
    lease_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    # `attempts` when the current round of the retry schedule began (a replay starts a new one).
    round_start: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # What the next attempt is logged as: schedule, replay or test.
    next_trigger: Mapped[str] = mapped_column(
        String(12), default="schedule", server_default="schedule"
    )
    last_status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last_error: Mapped[str | None] = mapped_column(String(500), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class WebhookAttempt(TenantOwned, Base):
    """One HTTP request made for a message: when, what came back, how long it took."""

    __tablename__ = "webhook_attempts"
    __table_args__ = (
        Index("ix_webhook_attempts_endpoint", "tenant_id", "endpoint_id", "started_at", "id"),
        Index("ix_webhook_attempts_message", "message_id", "attempt"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    message_id: Mapped[str] = mapped_column(ForeignKey("webhook_messages.id"))
    endpoint_id: Mapped[str] = mapped_column(String(40))
    event_id: Mapped[str] = mapped_column(String(40))
    attempt: Mapped[int] = mapped_column(Integer)
    trigger: Mapped[str] = mapped_column(String(12), default="schedule")
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    latency_ms: Mapped[int | None] = mapped_column(Integer, nullable=True)
    response_excerpt: Mapped[str | None] = mapped_column(String(1000), nullable=True)
    error: Mapped[str | None] = mapped_column(String(500), nullable=True)
