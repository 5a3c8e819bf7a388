"""Field types of fleet request bodies: ids, coordinates, times, opening hours, shifts, places."""

from __future__ import annotations

from itertools import pairwise
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    ConfigDict,
    Discriminator,
    Field,
    StringConstraints,
    Tag,
    field_validator,
    model_validator,
)

from lastmile.core.schemas import InputModel, NotBool, OutputModel
from lastmile.fleet.enums import WEEKDAYS

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
Amount = Annotated[float, Field(ge=0, le=1e12, allow_inf_nan=False), NotBool]
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
