"""Events the events domain itself emits (version 1)."""

from __future__ import annotations

from lastmile.events.catalogue import EventType
from lastmile.events.schemas import WebhookEndpointRead

WEBHOOK_ENDPOINT_DISABLED = EventType(
    "webhook_endpoint.disabled",
    "An endpoint was disabled: it answered 410 Gone or failed every attempt for 5 days.",
    WebhookEndpointRead,
    "webhook_endpoint",
)

EVENT_TYPES = (WEBHOOK_ENDPOINT_DISABLED,)
