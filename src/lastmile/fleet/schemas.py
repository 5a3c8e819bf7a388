"""Request and response shapes of the fleet domain."""

from __future__ import annotations

from datetime import datetime
from itertools import pairwise
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    ConfigDict,
    Discriminator,
    Field,
    JsonValue,
    StringConstraints,
    Tag,
    field_validator,
    model_validator,
)

from lastmile.core.schemas import InputModel, Name, OutputModel
from lastmile.fleet.enums import WEEKDAYS, VehicleType


def _example(**fields: JsonValue) -> ConfigDict:
    """Config giving a request model one whole-body example in the OpenAPI schema."""
    return ConfigDict(json_schema_extra={"examples": [fields]})


# --- shared field types ---------------------------------------------------------------------

Ref = Annotated[
    str,
    StringConstraints(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_-]+$"),
    Field(description="Id of an object of the caller's tenant."),
]
Lat = Annotated[float, Field(ge=-90, le=90, allow_inf_nan=False, description="Latitude, WGS 84.")]
Lng = Annotated[
    float, Field(ge=-180, le=180, allow_inf_nan=False, description="Longitude, WGS 84.")
]
Description = Annotated[str, StringConstraints(max_length=2000, pattern=r"^[^\x00]*$")]
Address = Annotated[str, StringConstraints(max_length=500, pattern=r"^[^\x00]*$")]
# A local time of day, "HH:MM" (24 h); `ClockEnd` also accepts "24:00" (midnight at the end).
Clock = Annotated[str, StringConstraints(pattern=r"^(?:[01][0-9]|2[0-3]):[0-5][0-9]$")]
ClockEnd = Annotated[str, StringConstraints(pattern=r"^(?:(?:[01][0-9]|2[0-3]):[0-5][0-9]|24:00)$")]
SKILL_PATTERN = r"^[a-z][a-z0-9_]{0,63}$"
SkillName = Annotated[
    str,
    StringConstraints(pattern=SKILL_PATTERN),
    Field(description="Lower-case letters, digits and `_`, starting with a letter."),
]
Dimension = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,31}$")]
Amount = Annotated[float, Field(ge=0, le=1e12, allow_inf_nan=False)]
# E.164: "+", country code and subscriber number, 7 to 15 digits in all, no spaces.
Phone = Annotated[
    str,
    StringConstraints(pattern=r"^\+[1-9][0-9]{6,14}$"),
    Field(description="E.164 phone number, e.g. `+4915112345678`.", examples=["+4915112345678"]),
]


def _timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown IANA time zone {value!r}") from exc
    return value


TimeZone = Annotated[
    str,
    StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z][A-Za-z0-9_+\-/]*$"),
    AfterValidator(_timezone),
    Field(description="IANA time zone name, e.g. `Europe/Berlin`.", examples=["Europe/Berlin"]),
]


def minutes(clock: str) -> int:
    """Minutes since midnight of an "HH:MM" time."""
    hours, mins = clock.split(":")
    return int(hours) * 60 + int(mins)


# --- opening hours and shifts ---------------------------------------------------------------

Interval = Annotated[
    tuple[Clock, ClockEnd],
    Field(description='Opening and closing time, e.g. `["08:00", "18:00"]`.'),
]
DayHours = Annotated[list[Interval], Field(max_length=12)]


class OpeningHours(InputModel):
    """Opening intervals per weekday, in the hub's time zone; a missing day is closed."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"mon": [["08:00", "18:00"]]}]}
    )

    mon: DayHours | None = None
    tue: DayHours | None = None
    wed: DayHours | None = None
    thu: DayHours | None = None
    fri: DayHours | None = None
    sat: DayHours | None = None
    sun: DayHours | None = None

    @field_validator(*WEEKDAYS)
    @classmethod
    def _ordered(cls, value: list[tuple[str, str]] | None) -> list[tuple[str, str]] | None:
        if not value:
            return value
        spans = sorted((minutes(a), minutes(b), a, b) for a, b in value)
        for start, end, a, b in spans:
            if start >= end:
                raise ValueError(f"{a}-{b} closes before it opens")
        for (_, end, a, b), (start, _, c, d) in pairwise(spans):
            if start < end:
                raise ValueError(f"{a}-{b} overlaps {c}-{d}")
        return [(a, b) for _, _, a, b in spans]

    def stored(self) -> dict[str, list[list[str]]]:
        return {day: [list(i) for i in v] for day, v in self if v}


class ShiftDay(InputModel):
    """One day's shift; an `end` earlier than `start` ends on the next day (night shift)."""

    start: Clock = Field(examples=["08:00"])
    end: ClockEnd = Field(examples=["17:00"])

    @model_validator(mode="after")
    def _not_empty(self) -> ShiftDay:
        if minutes(self.start) == minutes(self.end):
            raise ValueError("a shift cannot start and end at the same time")
        return self


class Shift(InputModel):
    """Shift per weekday, in local time; a missing day is a day off."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"mon": {"start": "08:00", "end": "17:00"}}]},
    )

    mon: ShiftDay | None = None
    tue: ShiftDay | None = None
    wed: ShiftDay | None = None
    thu: ShiftDay | None = None
    fri: ShiftDay | None = None
    sat: ShiftDay | None = None
    sun: ShiftDay | None = None

    def stored(self) -> dict[str, dict[str, str]]:
        return {day: v.model_dump() for day, v in self if v is not None}


# --- places ---------------------------------------------------------------------------------


class HubPlace(InputModel):
    """A place that is one of the tenant's hubs."""

    hub_id: Ref


class PointPlace(InputModel):
    """A place given by its coordinates (and, optionally, its address)."""

    lat: Lat
    lng: Lng
    address: Address = ""


def _place_kind(value: Any) -> str | None:
    if isinstance(value, dict):
        return "hub" if "hub_id" in value else "point"
    if isinstance(value, HubPlace):
        return "hub"
    if isinstance(value, PointPlace):
        return "point"
    return None


Place = Annotated[
    Annotated[HubPlace, Tag("hub")] | Annotated[PointPlace, Tag("point")],
    Discriminator(_place_kind),
    Field(description='`{"hub_id": ...}` or `{"lat": ..., "lng": ..., "address": ...}`.'),
]


class PlaceRead(OutputModel):
    hub_id: str | None = None
    lat: float | None = None
    lng: float | None = None
    address: str | None = None


# --- teams ----------------------------------------------------------------------------------


class TeamCreate(InputModel):
    model_config = _example(name="North", description="Drivers of the northern districts")

    name: Name = Field(examples=["North"])
    description: Description = ""
    hub_id: Ref | None = Field(default=None, description="The team's home hub.")


class TeamUpdate(InputModel):
    model_config = _example(description="Northern districts and the airport")

    name: Name | None = None
    description: Description | None = None
    hub_id: Ref | None = Field(default=None, description="The team's home hub; null clears it.")


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
