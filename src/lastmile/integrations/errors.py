"""Errors of the integrations domain."""

from __future__ import annotations

from lastmile.core.errors import InvalidState, NotFound


class OrderNotFound(NotFound):
    title = "Order not found"


class OrderStarted(InvalidState):
    code, title = "order-started", "Order already under way"


class OrderCancelled(InvalidState):
    code, title = "order-cancelled", "Order cancelled"


class OrderFinished(InvalidState):
    code, title = "order-finished", "Order already finished"
