"""What a tracking link shows: exactly these fields, nothing else about anyone."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import ConfigDict, Field

from lastmile.core.schemas import OutputModel


class LinkStatus(StrEnum):
    """The delivery's state in the recipient's words."""

    scheduled = "scheduled"
    on_the_way = "on_the_way"
    arrived = "arrived"
    delivered = "delivered"
    not_delivered = "not_delivered"
    cancelled = "cancelled"


class EtaWindow(OutputModel):
    """When the driver is expected: around the live or planned ETA, else the promised window."""

    start: datetime | None
    end: datetime | None


class LinkDriver(OutputModel):
    first_name: str = Field(description="The driver's first name only.")
    vehicle_type: str | None = Field(description="`car`, `van`, `bicycle`... when known.")


class LinkPosition(OutputModel):
    lat: float
    lng: float
    recorded_at: datetime


class LinkProof(OutputModel):
    completed_at: datetime
    photo: bool = Field(description="A photo was taken on delivery.")
    signature: bool = Field(description="A signature was taken on delivery.")
    notes: str = Field(description="The driver's delivery notes, if any.")


class TrackingLinkRead(OutputModel):
    """A drop-off as its recipient sees it."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "status": "on_the_way",
                    "eta_window": {
                        "start": "2026-12-01T16:05:00Z",
                        "end": "2026-12-01T16:35:00Z",
                    },
                    "driver": {"first_name": "Ada", "vehicle_type": "van"},
                    "position": {
                        "lat": 52.5201,
                        "lng": 13.4049,
                        "recorded_at": "2026-12-01T16:02:11Z",
                    },
                    "proof": None,
                }
            ]
        }
    )

    status: LinkStatus
    eta_window: EtaWindow | None = Field(
        description="Null once the driver has arrived or the delivery is over, or when nothing "
        "is planned yet."
    )
    driver: LinkDriver | None = Field(description="Once a driver has the delivery.")
    position: LinkPosition | None = Field(
        description="The driver's latest position, only while this delivery is the one under "
        "way (status `on_the_way` or `arrived`)."
    )
    proof: LinkProof | None = Field(description="Once delivered.")
