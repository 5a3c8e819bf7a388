"""Shapes of the events API: event types, the polling feed, webhook endpoints."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from lastmile.core.schemas import OutputModel
from lastmile.events.catalogue import Envelope


class EventTypeRead(OutputModel):
    """One entry of the event catalogue."""

    type: str = Field(description="The event type, e.g. `task.completed`.")
    version: int
    description: str
    subject: str = Field(
        description="The kind of object whose events reach an endpoint in order (task, driver...)."
    )
    schema_: dict[str, Any] = Field(
        alias="schema", serialization_alias="schema", description="JSON schema of the envelope."
    )


class EventTypeList(OutputModel):
    data: list[EventTypeRead]


class EventPage(OutputModel):
    """Events after the cursor, oldest first. `next_cursor` is never null: poll again with it."""

    data: list[Envelope]
    next_cursor: str = Field(description="Give as `after` on the next poll.")
    has_more: bool = Field(description="True when more events are ready now.")


class WebhookEndpointRead(OutputModel):
    """A webhook endpoint as the API shows it (never its secret)."""

    id: str
    url: str
    description: str
    event_types: list[str] = Field(description="Types sent to it; empty means every type.")
    enabled: bool
    disabled_reason: str | None
    disabled_at: datetime | None
    failing_since: datetime | None
    created_at: datetime
    updated_at: datetime
