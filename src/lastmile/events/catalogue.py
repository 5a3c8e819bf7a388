"""The event catalogue: every event type lastmile emits, its version, meaning and payload.

Each domain declares the types it emits in its own `events.py`; this module gathers them."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from pydantic import BaseModel, Field

EVENT_MODULES = (
    "lastmile.tasks.events",
    "lastmile.fleet.events",
    "lastmile.routing.events",
    "lastmile.tracking.events",
    "lastmile.events.own",
)


@dataclass(frozen=True)
class EventType:
    """One event type: `name` (e.g. `task.created`), its payload model and what orders it."""

    name: str
    description: str
    data: type[BaseModel]
    subject: str  # the kind of object whose events are delivered in order (task, driver...)
    version: int = 1


@cache
def catalogue() -> dict[str, EventType]:
    """Every event type by name."""
    found: dict[str, EventType] = {}
    for module in EVENT_MODULES:
        for event_type in importlib.import_module(module).EVENT_TYPES:
            if event_type.name in found:
                raise ValueError(f"event type {event_type.name} declared twice")
            found[event_type.name] = event_type
    return dict(sorted(found.items()))


def require(name: str) -> EventType:
    try:
        return catalogue()[name]
    except KeyError:
        raise KeyError(f"{name} is not in the event catalogue") from None


class Envelope(BaseModel):
    """What every event looks like, on a webhook and in the polling feed."""

    id: str = Field(description="Unique event id; the `webhook-id` of its deliveries.")
    type: str = Field(description="The event type, e.g. `task.completed`.")
    timestamp: datetime = Field(description="When the change happened (UTC).")
    tenant_id: str
    data: dict[str, Any] = Field(description="The resource as the API shows it.")


def envelope_schema(event_type: EventType) -> dict[str, Any]:
    """The JSON schema of one event type's envelope, its `data` being the resource's schema."""
    schema = Envelope.model_json_schema()
    data_schema = event_type.data.model_json_schema(ref_template="#/$defs/{model}")
    defs = {**schema.pop("$defs", {}), **data_schema.pop("$defs", {})}
    schema["title"] = event_type.name
    schema["properties"]["type"] = {"const": event_type.name, "type": "string"}
    schema["properties"]["data"] = data_schema
    if defs:
        schema["$defs"] = defs
    return schema
