"""Events the routing domain emits (version 1)."""

from __future__ import annotations

from lastmile.events.catalogue import EventType
from lastmile.routing.schemas import RoutePlanListItem

ROUTE_PLAN_COMPLETED = EventType(
    "route_plan.completed",
    "A route plan finished: `status` done (routes and unassigned tasks), failed (`error`) "
    "or cancelled. Fetch the plan for its routes.",
    RoutePlanListItem,
    "route_plan",
)

EVENT_TYPES = (ROUTE_PLAN_COMPLETED,)
