"""Shapes of the events API: event types, the polling feed, webhook endpoints."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, JsonValue, StringConstraints

from lastmile.core.schemas import InputModel, Instant, OutputModel
from lastmile.events.catalogue import Envelope

MAX_OVERLAP_SECONDS = 7 * 24 * 3600
DEFAULT_OVERLAP_SECONDS = 24 * 3600


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


def _example(**fields: JsonValue) -> ConfigDict:
    """Config giving a request model one whole-body example in the OpenAPI schema."""
    return ConfigDict(extra="forbid", json_schema_extra={"examples": [fields]})


Url = Annotated[
    str,
    StringConstraints(min_length=8, max_length=2000, pattern=r"^https?://[^\s\x00]+$"),
    Field(
        description="Where events are POSTed: https (http only outside production), a public "
        "address (see the SSRF rules in docs/api/webhooks.md).",
        examples=["https://pos.example.com/hooks/lastmile"],
    ),
]
Description = Annotated[str, StringConstraints(max_length=500, pattern=r"^[^\x00]*$")]
EventTypeName = Annotated[
    str, StringConstraints(min_length=1, max_length=60, pattern=r"^[a-z0-9_]+(\.[a-z0-9_]+)+$")
]
EventTypes = Annotated[
    list[EventTypeName],
    Field(
        max_length=100,
        description="Event types sent to the endpoint (see GET /v1/event-types); empty: all.",
    ),
]


class WebhookEndpointRead(OutputModel):
    """A webhook endpoint as the API shows it (never its secret)."""

    id: str
    url: str
    description: str
    event_types: list[str] = Field(description="Types sent to it; empty means every type.")
    enabled: bool
    disabled_reason: str | None
    disabled_at: datetime | None
    failing_since: datetime | None = Field(
        default=None,
        description="Since when every attempt failed (null after a success); 5 days of "
        "failures disable the endpoint.",
    )
    previous_secret_expires_at: datetime | None = Field(
        default=None,
        description="After a rotation: until when the previous secret still signs too.",
    )
    created_at: datetime
    updated_at: datetime


class WebhookEndpointCreated(WebhookEndpointRead):
    secret: str = Field(
        description="The signing secret (`whsec_` + base64). Shown once; store it now."
    )


class WebhookEndpointCreate(InputModel):
    """A new endpoint: its URL, the event types it takes, a note for people."""

    model_config = _example(
        url="https://pos.example.com/hooks/lastmile",
        description="POS order status",
        event_types=["task.completed", "task.failed"],
        enabled=True,
    )

    url: Url
    description: Description = ""
    event_types: EventTypes = Field(default_factory=list)
    enabled: bool = True


class WebhookEndpointUpdate(InputModel):
    """What to change; fields left out stay as they are. Enabling clears the disabled reason."""

    model_config = _example(event_types=[], enabled=True)

    url: Url | None = None
    description: Description | None = None
    event_types: EventTypes | None = None
    enabled: bool | None = None


class SecretRotate(InputModel):
    """How long the old secret keeps signing next to the new one."""

    model_config = _example(overlap_seconds=DEFAULT_OVERLAP_SECONDS)

    overlap_seconds: int = Field(
        default=DEFAULT_OVERLAP_SECONDS,
        ge=0,
        le=MAX_OVERLAP_SECONDS,
        description="Seconds both secrets sign (0: the old one stops at once; at most 7 days).",
    )


class SecretRotated(OutputModel):
    id: str
    secret: str = Field(description="The new signing secret. Shown once; store it now.")
    previous_secret_expires_at: datetime | None = Field(
        description="Until when the previous secret also signs."
    )


class DeliveryRead(OutputModel):
    """One delivery attempt: one HTTP request made for one message."""

    id: str
    message_id: str
    event_id: str = Field(description="Also the `webhook-id` header of the request.")
    event_type: str
    attempt: int = Field(description="1 for the first attempt of the message, and so on.")
    trigger: Literal["schedule", "replay", "test"] = Field(
        description="schedule (first send and retries), replay (asked for) or test (a ping)."
    )
    started_at: datetime
    succeeded: bool = Field(description="The endpoint answered 2xx.")
    status_code: int | None = Field(description="The HTTP status; null when none came back.")
    latency_ms: int | None
    response_excerpt: str | None = Field(description="The first 1000 characters of the answer.")
    error: str | None = Field(description="Why it failed, when it did.")


class MessageRead(OutputModel):
    """One event owed to one endpoint, and where its delivery stands."""

    id: str
    endpoint_id: str
    event_id: str
    state: Literal["pending", "succeeded", "failed"]
    attempts: int
    next_attempt_at: datetime | None
    last_status: int | None
    last_error: str | None
    created_at: datetime
    finished_at: datetime | None


class ReplaySince(InputModel):
    """Send every failed message of the endpoint created at or after `since` again."""

    model_config = _example(since="2026-11-20T00:00:00Z")

    since: Instant


class ReplayQueued(OutputModel):
    queued: int = Field(description="How many failed messages were queued again.")
