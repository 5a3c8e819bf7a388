"""Request and response shapes of incidents."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import ConfigDict, Field, StringConstraints

from lastmile.core.schemas import InputModel, OutputModel

RefId = Annotated[
    str, StringConstraints(min_length=1, max_length=40, pattern=r"^[a-z]{2,5}_[a-z0-9]+$")
]
Notes = Annotated[str, StringConstraints(max_length=5000, pattern=r"^[^\x00]*$")]


class IncidentType(StrEnum):
    recipient_absent = "recipient_absent"
    wrong_address = "wrong_address"
    damaged_goods = "damaged_goods"
    vehicle_breakdown = "vehicle_breakdown"
    accident = "accident"
    other = "other"


class IncidentStatus(StrEnum):
    open = "open"
    resolved = "resolved"


class Location(InputModel):
    """A point in WGS 84 degrees."""

    lat: float = Field(ge=-90, le=90, examples=[52.5200])
    lng: float = Field(ge=-180, le=180, examples=[13.4050])


class LocationRead(OutputModel):
    lat: float
    lng: float


class IncidentCreate(InputModel):
    """A new incident, linked to a task and/or a driver.

    A driver reporting may omit `driver_id` (it is their own) and may name only their own
    tasks; dispatchers and admins give `task_id`, `driver_id` or both (the task's driver is
    linked when only the task is given).
    """

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "type": "damaged_goods",
                    "task_id": "tsk_3x7q2k9v5m1n8b4c6d0f2g4h",
                    "notes": "Box crushed on one corner; recipient refused it.",
                    "location": {"lat": 52.52, "lng": 13.405},
                }
            ]
        }
    )

    type: IncidentType = Field(examples=["damaged_goods"])
    task_id: RefId | None = None
    driver_id: RefId | None = None
    notes: Notes = ""
    location: Location | None = Field(default=None, description="Where it happened.")


class IncidentResolve(InputModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"resolution_notes": "Redelivered the next morning."}]}
    )

    resolution_notes: Notes = Field(default="", examples=["Redelivered the next morning."])


class IncidentPhoto(OutputModel):
    url: str = Field(description="Short-lived signed URL of the photo (no credentials needed).")
    url_expires_at: datetime
    content_type: str


class IncidentRead(OutputModel):
    id: str
    type: IncidentType
    status: IncidentStatus
    task_id: str | None = None
    driver_id: str | None = None
    notes: str
    location: LocationRead | None = None
    photo: IncidentPhoto | None = None
    reported_by: str
    resolution_notes: str
    resolved_by: str | None = None
    resolved_at: datetime | None = None
    created_at: datetime
    updated_at: datetime
