"""Events the tracking domain emits (version 1): what a driver's positions reveal."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from lastmile.core.schemas import OutputModel
from lastmile.events.catalogue import EventType


class DriverMovement(OutputModel):
    """Where a driver was when something about their movement was noticed."""

    id: str = Field(description="The driver's id (the subject of the event).")
    driver_id: str
    lat: float
    lng: float
    recorded_at: datetime = Field(description="When the device recorded the position.")
    zone_id: str | None = Field(default=None, description="The zone entered or left.")
    still_since: datetime | None = Field(
        default=None, description="Since when the driver has not moved (driver.stopped)."
    )
    team_ids: list[str] = Field(default_factory=list)


DRIVER_STOPPED = EventType(
    "driver.stopped",
    "A driver has stood still for longer than the tenant's limit away from any of their stops.",
    DriverMovement,
    "driver",
)
DRIVER_ZONE_ENTERED = EventType(
    "driver.zone_entered", "A driver's position entered a zone.", DriverMovement, "driver"
)
DRIVER_ZONE_EXITED = EventType(
    "driver.zone_exited", "A driver's position left a zone.", DriverMovement, "driver"
)

EVENT_TYPES = (DRIVER_STOPPED, DRIVER_ZONE_ENTERED, DRIVER_ZONE_EXITED)
