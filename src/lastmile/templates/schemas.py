"""Request and response shapes of route templates."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BeforeValidator,
    ConfigDict,
    Field,
    JsonValue,
    StringConstraints,
    field_validator,
    model_validator,
)

from lastmile.core.schemas import InputModel, Name, NotBool, OutputModel
from lastmile.fleet.fields import Clock, ClockEnd, Place, PlaceRead, Ref, TimeZone
from lastmile.tasks.enums import Kind
from lastmile.tasks.schemas import (
    CLOSED,
    Dimension,
    MetaKey,
    MetaValue,
    Recipient,
    RecipientRead,
    Requirements,
    SkillName,
    TaskRead,
)
from lastmile.templates.localtime import minutes

MAX_STOPS = 500
# Metadata keys every materialised task carries; stops cannot set them.
META_TEMPLATE, META_DATE, META_STOP = (
    "route_template_id",
    "route_template_date",
    "route_template_stop",
)
RESERVED_META = frozenset({META_TEMPLATE, META_DATE, META_STOP})

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
StopRef = Annotated[
    str,
    StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$"),
    Field(description="Letters, digits, `_`, `.` and `-`; unique in the template."),
]
Notes = Annotated[str, StringConstraints(max_length=5000, pattern=r"^[^\x00]*$")]
_ISO_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")


def _iso_date(value: Any) -> Any:
    """Only `YYYY-MM-DD` strings (pydantic would also read numbers and timestamps as dates)."""
    if isinstance(value, date):
        return value
    if not isinstance(value, str) or not _ISO_DATE.match(value):
        raise ValueError("must be a date written YYYY-MM-DD")
    return value


IsoDate = Annotated[date, BeforeValidator(_iso_date)]


def _example(**fields: JsonValue) -> ConfigDict:
    """Config giving a request model one whole-body example in the OpenAPI schema."""
    return ConfigDict(extra="forbid", json_schema_extra={"examples": [fields]})


def _weekdays(value: list[str] | None) -> list[str] | None:
    """Each day once, Monday first."""
    if value is None:
        return None
    order = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    return [d for d in order if d in set(value)]


class Window(InputModel):
    """A local time window on the stop's day, in the template's time zone: not before `start`,
    not after `end` (either may be left out; `24:00` is midnight at the end of the day)."""

    start: Clock | None = Field(default=None, examples=["09:00"])
    end: ClockEnd | None = Field(default=None, examples=["11:00"])

    @model_validator(mode="after")
    def _ordered(self) -> Window:
        if self.start is None and self.end is None:
            raise ValueError("give start, end or both")
        if (
            self.start is not None
            and self.end is not None
            and minutes(self.end) <= minutes(self.start)
        ):
            raise ValueError(f"{self.start}-{self.end} closes before it opens")
        return self


STOP_EXAMPLES: list[dict[str, Any]] = [
    {
        "ref": "bakery",
        "kind": "pickup",
        "place": {"hub_id": "hub_abcdefghijklmnopqrstuvwx"},
        "window": {"start": "06:00", "end": "06:30"},
        "service_minutes": 10,
        "quantities": {"crates": 12},
    },
    {
        "kind": "dropoff",
        "depends_on_ref": "bakery",
        "place": {"lat": 53.5503, "lng": 9.9920, "address": "Rathausmarkt 1, Hamburg"},
        "window": {"start": "07:00", "end": "08:00"},
        "service_minutes": 5,
        "quantities": {"crates": 4},
        "required_skills": [],
        "priority": 2,
        "recipient": {"name": "Café Rathaus", "phone": "+49401234567", "notes": "Back door"},
        "requirements": {"signature": True},
        "metadata": {"customer": "C-1042"},
        "notes": "Leave with the barista",
    },
]


class StopIn(InputModel):
    """One stop of the template: a pickup or a drop-off at a place, in a local time window."""

    ref: StopRef | None = Field(
        default=None, description="A name of this stop; a drop-off names its pickup by it."
    )
    kind: Kind
    place: Place
    window: Window | None = None
    service_minutes: int = Field(default=0, ge=0, le=1440, description="Time spent at the stop.")
    quantities: dict[Dimension, Annotated[float, Field(ge=0, le=1e9), NotBool]] = Field(
        default_factory=dict, max_length=10, json_schema_extra=CLOSED
    )
    required_skills: list[SkillName] = Field(default_factory=list, max_length=20)
    priority: int = Field(default=0, ge=0, le=100, description="Higher is more important.")
    recipient: Recipient = Field(default_factory=Recipient)
    requirements: Requirements = Field(default_factory=Requirements)
    metadata: dict[MetaKey, MetaValue] = Field(
        default_factory=dict,
        max_length=40,
        description="Copied to each task, with `route_template_id`, `route_template_date` and "
        "`route_template_stop` (reserved keys).",
        json_schema_extra=CLOSED,
    )
    notes: Notes = ""
    depends_on_ref: StopRef | None = Field(
        default=None,
        description="Drop-offs only: `ref` of an earlier pickup stop of this template; each day "
        "they become a linked pair (same driver, pickup first).",
    )

    @field_validator("metadata")
    @classmethod
    def _not_reserved(cls, value: dict[str, Any]) -> dict[str, Any]:
        taken = sorted(RESERVED_META & set(value))
        if taken:
            raise ValueError(f"reserved key(s): {', '.join(taken)}")
        return value


TEMPLATE_EXAMPLE: dict[str, Any] = {
    "name": "Bakery round, weekdays",
    "team_id": "team_abcdefghijklmnopqrstuvwx",
    "driver_id": "drv_abcdefghijklmnopqrstuvwx",
    "weekdays": ["mon", "tue", "wed", "thu", "fri"],
    "timezone": "Europe/Berlin",
    "valid_from": "2026-12-01",
    "valid_until": "2027-06-30",
    "stops": STOP_EXAMPLES,
}
Stops = Annotated[list[StopIn], Field(min_length=1, max_length=MAX_STOPS)]
Weekdays = Annotated[
    list[Weekday],
    Field(min_length=1, max_length=7, description="Days the stops recur, `mon` … `sun`."),
]


class RouteTemplateCreate(InputModel):
    model_config = _example(**TEMPLATE_EXAMPLE)

    name: Name = Field(examples=["Bakery round, weekdays"])
    notes: Notes = ""
    team_id: Ref | None = Field(default=None, description="Team of the tasks.")
    driver_id: Ref | None = Field(
        default=None, description="Driver the tasks are assigned to when materialised."
    )
    weekdays: Weekdays
    timezone: TimeZone = "UTC"
    valid_from: IsoDate | None = Field(default=None, description="First day (inclusive).")
    valid_until: IsoDate | None = Field(default=None, description="Last day (inclusive).")
    active: bool = True
    stops: Stops

    _days = field_validator("weekdays")(_weekdays)


class RouteTemplateUpdate(InputModel):
    model_config = _example(weekdays=["mon", "wed", "fri"], driver_id=None, active=False)

    name: Name | None = None
    notes: Notes | None = None
    team_id: Ref | None = Field(default=None, description="null clears it.")
    driver_id: Ref | None = Field(default=None, description="null clears it.")
    weekdays: Weekdays | None = None
    timezone: TimeZone | None = None
    valid_from: IsoDate | None = Field(default=None, description="null clears it.")
    valid_until: IsoDate | None = Field(default=None, description="null clears it.")
    active: bool | None = None
    stops: Stops | None = Field(default=None, description="Replaces every stop.")

    _days = field_validator("weekdays")(_weekdays)


class WindowRead(OutputModel):
    start: str | None = None
    end: str | None = None


class StopRead(OutputModel):
    ref: str | None = None
    kind: Kind
    place: PlaceRead
    window: WindowRead | None = None
    service_minutes: int
    quantities: dict[str, float]
    required_skills: list[str]
    priority: int
    recipient: RecipientRead
    requirements: dict[str, Any]
    metadata: dict[str, Any]
    notes: str
    depends_on_ref: str | None = None


class RouteTemplateRead(OutputModel):
    id: str
    name: str
    notes: str
    team_id: str | None = None
    driver_id: str | None = None
    weekdays: list[Weekday]
    timezone: str
    valid_from: date | None = None
    valid_until: date | None = None
    active: bool
    stops: list[StopRead]
    last_error: str | None = Field(
        default=None, description="Why the last scheduled materialisation failed, if it did."
    )
    last_error_at: datetime | None = None
    created_at: datetime
    updated_at: datetime


class RunRead(OutputModel):
    id: str
    template_id: str
    date: date
    task_ids: list[str] = Field(description="The tasks created, in stop order.")
    actor_id: str = Field(description="Who materialised it: a user, an API key or `system`.")
    actor_kind: str
    created_at: datetime


class MaterializeRequest(InputModel):
    model_config = _example(date="2026-12-01")

    date: IsoDate = Field(description="The day, in the template's time zone.")


class MaterializeResult(OutputModel):
    created: bool = Field(description="False when the day had been materialised already.")
    run: RunRead
    tasks: list[TaskRead]
    warnings: list[str] = Field(default_factory=list)
