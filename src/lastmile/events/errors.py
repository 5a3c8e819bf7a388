"""Errors of the events domain."""

from __future__ import annotations

from lastmile.core.errors import InvalidState, NotFound


class EndpointNotFound(NotFound):
    title = "Webhook endpoint not found"


class MessageNotFound(NotFound):
    title = "Webhook message not found"


class EndpointDisabled(InvalidState):
    code, title = "endpoint-disabled", "Webhook endpoint is disabled"


class MessageInFlight(InvalidState):
    code, title = "message-in-flight", "Webhook message is being sent"
