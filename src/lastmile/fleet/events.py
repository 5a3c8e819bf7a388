"""Events the fleet domain emits (version 1)."""

from __future__ import annotations

from lastmile.events.catalogue import EventType
from lastmile.fleet.schemas import DriverRead

DRIVER_DUTY_CHANGED = EventType(
    "driver.duty_changed", "A driver went on or off duty (`on_duty`).", DriverRead, "driver"
)

EVENT_TYPES = (DRIVER_DUTY_CHANGED,)
