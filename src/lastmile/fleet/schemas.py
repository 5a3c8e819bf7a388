"""Request and response shapes of the fleet domain."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import ConfigDict, Field, JsonValue, StringConstraints

from lastmile.core.schemas import InputModel, Name, OutputModel
from lastmile.fleet.enums import AutoAssign, VehicleType
from lastmile.fleet.fields import (
    Address,
    Amount,
    Description,
    Dimension,
    Lat,
    Lng,
    OpeningHours,
    Phone,
    Place,
    PlaceRead,
    Ref,
    Shift,
    SkillName,
    TimeZone,
)


def _example(**fields: JsonValue) -> ConfigDict:
    """Config giving a request model one whole-body example in the OpenAPI schema."""
    return ConfigDict(json_schema_extra={"examples": [fields]})


# --- teams ----------------------------------------------------------------------------------


class TeamCreate(InputModel):
    model_config = _example(name="North", description="Drivers of the northern districts")

    name: Name = Field(examples=["North"])
    description: Description = ""
    hub_id: Ref | None = Field(default=None, description="The team's home hub.")
    auto_assign: AutoAssign = Field(
        default=AutoAssign.off,
        description="New tasks of the team: `off`, `nearest_available` (the closest on-duty "
        "driver with no open task) or `insert` (the cheapest feasible place in the live routes).",
    )


class TeamUpdate(InputModel):
    model_config = _example(description="Northern districts and the airport")

    name: Name | None = None
    description: Description | None = None
    hub_id: Ref | None = Field(default=None, description="The team's home hub; null clears it.")
    auto_assign: AutoAssign | None = None


class DispatchersSet(InputModel):
    model_config = _example(user_ids=["usr_abcdefghijklmnopqrstuvwx"])

    user_ids: list[Ref] = Field(
        max_length=100, description="Every dispatcher of the team (replaces the current list)."
    )


class TeamRead(OutputModel):
    id: str
    name: str
    description: str
    hub_id: str | None = None
    auto_assign: AutoAssign = AutoAssign.off
    dispatcher_ids: list[str] = Field(default_factory=list)
    created_at: datetime
    updated_at: datetime


# --- hubs -----------------------------------------------------------------------------------


class HubCreate(InputModel):
    model_config = _example(
        name="Main depot",
        address="Lagerstrasse 1, 20357 Hamburg",
        lat=53.5611,
        lng=9.9622,
        opening_hours={
            "mon": [["06:00", "12:00"], ["13:00", "20:00"]],
            "sat": [["08:00", "14:00"]],
        },
        timezone="Europe/Berlin",
    )

    name: Name = Field(examples=["Main depot"])
    address: Address = ""
    lat: Lat
    lng: Lng
    opening_hours: OpeningHours = Field(default_factory=OpeningHours)
    timezone: TimeZone = "UTC"


class HubUpdate(InputModel):
    model_config = _example(opening_hours={"mon": [["07:00", "19:00"]]})

    name: Name | None = None
    address: Address | None = None
    lat: Lat | None = None
    lng: Lng | None = None
    opening_hours: OpeningHours | None = None
    timezone: TimeZone | None = None


class HubRead(OutputModel):
    id: str
    name: str
    address: str
    lat: float
    lng: float
    opening_hours: dict[str, list[list[str]]]
    timezone: str
    created_at: datetime
    updated_at: datetime


# --- vehicles -------------------------------------------------------------------------------

Capacity = Annotated[
    dict[Dimension, Amount],
    Field(
        max_length=20,
        description="Capacity per dimension (`weight`, `volume`, `parcels`...), non-negative.",
        examples=[{"weight": 800, "volume": 6.5, "parcels": 120}],
        # Pydantic states the key pattern as patternProperties; other keys are refused too.
        json_schema_extra={"additionalProperties": False},
    ),
]


class VehicleCreate(InputModel):
    model_config = _example(
        name="Van 7", type="van", plate="HH-LM 707", capacity={"weight": 800, "parcels": 120}
    )

    name: Name = Field(examples=["Van 7"])
    type: VehicleType
    plate: Annotated[str, StringConstraints(max_length=40, pattern=r"^[^\x00]*$")] | None = None
    capacity: Capacity = Field(default_factory=dict)


class VehicleUpdate(InputModel):
    model_config = _example(capacity={"weight": 750, "parcels": 100})

    name: Name | None = None
    type: VehicleType | None = None
    plate: Annotated[str, StringConstraints(max_length=40, pattern=r"^[^\x00]*$")] | None = None
    capacity: Capacity | None = None


class VehicleRead(OutputModel):
    id: str
    name: str
    type: VehicleType
    plate: str | None = None
    capacity: dict[str, float]
    created_at: datetime
    updated_at: datetime


# --- skills ---------------------------------------------------------------------------------


class SkillCreate(InputModel):
    model_config = _example(name="forklift", description="Licensed to drive a forklift")

    name: SkillName = Field(examples=["forklift"])
    description: Description = ""


class SkillRead(OutputModel):
    name: str
    description: str
    builtin: bool = Field(description="True for the skills every tenant has.")
    id: str | None = None
    created_at: datetime | None = None


# --- drivers --------------------------------------------------------------------------------

Skills = Annotated[
    list[SkillName],
    Field(max_length=50, description="Known skill names (see GET /v1/skills)."),
]
TeamIds = Annotated[list[Ref], Field(min_length=1, max_length=50)]


class DriverCreate(InputModel):
    model_config = _example(
        user_id="usr_abcdefghijklmnopqrstuvwx",
        phone="+4915112345678",
        vehicle_id="veh_abcdefghijklmnopqrstuvwx",
        skills=["cold_chain", "heavy"],
        team_ids=["team_abcdefghijklmnopqrstuvwx"],
        shift={
            "mon": {"start": "08:00", "end": "17:00"},
            "tue": {"start": "08:00", "end": "17:00"},
        },
        start_place={"hub_id": "hub_abcdefghijklmnopqrstuvwx"},
        end_place={"lat": 53.55, "lng": 9.99, "address": "Jungfernstieg 1, Hamburg"},
    )

    user_id: Ref = Field(description="An existing user of the tenant with the role `driver`.")
    name: Name | None = Field(default=None, description="Defaults to the user's name.")
    phone: Phone | None = None
    vehicle_id: Ref | None = Field(default=None, description="The driver's default vehicle.")
    skills: Skills = Field(default_factory=list)
    team_ids: TeamIds = Field(description="Teams the driver belongs to (at least one).")
    shift: Shift = Field(default_factory=Shift)
    start_place: Place | None = None
    end_place: Place | None = None


class DriverUpdate(InputModel):
    model_config = _example(phone="+4915112345679", skills=["cold_chain"])

    name: Name | None = None
    phone: Phone | None = Field(default=None, description="null clears it.")
    vehicle_id: Ref | None = Field(default=None, description="null clears it.")
    skills: Skills | None = None
    team_ids: TeamIds | None = Field(
        default=None,
        description="Replaces the driver's teams; a dispatcher changes only the teams they manage.",
    )
    shift: Shift | None = None
    start_place: Place | None = Field(default=None, description="null clears it.")
    end_place: Place | None = Field(default=None, description="null clears it.")


class DriverRead(OutputModel):
    id: str
    user_id: str
    name: str
    phone: str
    vehicle_id: str | None = None
    skills: list[str]
    team_ids: list[str]
    shift: dict[str, dict[str, str]]
    start_place: PlaceRead | None = None
    end_place: PlaceRead | None = None
    on_duty: bool
    duty_changed_at: datetime | None = None
    created_at: datetime
    updated_at: datetime


class DutyChange(InputModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"on_duty": True, "lat": 53.55, "lng": 9.99}],
            "dependentRequired": {"lat": ["lng"], "lng": ["lat"]},
        },
    )

    on_duty: bool
    lat: Lat | None = Field(default=None, description="Where the driver is (with `lng`).")
    lng: Lng | None = Field(default=None, description="Where the driver is (with `lat`).")


class DutyEventRead(OutputModel):
    id: str
    driver_id: str
    on_duty: bool
    at: datetime
    actor_id: str = Field(description="The user or API key that changed the status.")
    lat: float | None = None
    lng: float | None = None
