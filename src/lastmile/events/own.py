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
WEBHOOK_ENDPOINT_TEST = EventType(
    "webhook_endpoint.test",
    "A test ping, sent only on request (POST /v1/webhook-endpoints/{id}/test) and only to the "
    "endpoint tested, once, without retries.",
    WebhookEndpointRead,
    "webhook_endpoint",
)

EVENT_TYPES = (WEBHOOK_ENDPOINT_DISABLED, WEBHOOK_ENDPOINT_TEST)
