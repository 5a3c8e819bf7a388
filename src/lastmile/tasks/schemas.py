"""Request and response shapes of tasks."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    ConfigDict,
    Field,
    StringConstraints,
    WithJsonSchema,
    model_validator,
)

from lastmile.core.schemas import InputModel, Instant, NotBool, OutputModel
from lastmile.tasks.enums import Kind, State

Lat = Annotated[float, Field(ge=-90, le=90)]
Lng = Annotated[float, Field(ge=-180, le=180)]
Dimension = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,31}$")]
SkillName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
MetaKey = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]
MetaValue = (
    Annotated[str, StringConstraints(max_length=500, pattern=r"^[^\x00]*$")]
    | int
    | float
    | bool
    | None
)
Phone = Annotated[str, StringConstraints(max_length=32, pattern=r"^[0-9+() .-]*$")]
Ref = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[\x21-\x7e]+$")]
Id = Annotated[
    str, StringConstraints(min_length=1, max_length=40, pattern=r"^[a-z]{2,5}_[a-z0-9]+$")
]

# Maps with constrained keys: keys outside the pattern are refused, so say so in the schema.
CLOSED: dict[str, Any] = {"additionalProperties": False}

EXAMPLE: dict[str, Any] = {
    "kind": "dropoff",
    "address": "1 Market St, San Francisco, CA",
    "lat": 37.7936,
    "lng": -122.3958,
    "recipient": {"name": "Ada Lovelace", "phone": "+14155550100", "notes": "Ring twice"},
    "complete_after": "2026-12-01T16:00:00Z",
    "complete_before": "2026-12-01T18:00:00Z",
    "service_seconds": 120,
    "quantities": {"parcels": 2, "weight": 3.5},
    "required_skills": [],
    "priority": 1,
    "requirements": {"photo": True, "signature": False},
    "metadata": {"order_type": "express"},
    "external_ref": "ORDER-1001",
}


class Recipient(InputModel):
    name: Annotated[str, StringConstraints(max_length=200, pattern=r"^[^\x00]*$")] = ""
    phone: Phone = ""
    notes: Annotated[str, StringConstraints(max_length=2000, pattern=r"^[^\x00]*$")] = ""


class Requirements(InputModel):
    """What `complete` must include: photo, signature, notes, barcode, a checked minimum age."""

    photo: bool = False
    signature: bool = False
    notes: bool = False
    barcode: bool = False
    min_age: int | None = Field(default=None, ge=1, le=99)


class TaskFields(InputModel):
    """Fields shared by create and update."""

    address: Annotated[str, StringConstraints(max_length=500, pattern=r"^[^\x00]*$")] = ""
    lat: Lat | None = None
    lng: Lng | None = None
    recipient: Recipient = Field(default_factory=Recipient)
    complete_after: Instant | None = None
    complete_before: Instant | None = None
    service_seconds: int = Field(default=0, ge=0, le=86400)
    quantities: dict[Dimension, Annotated[float, Field(ge=0, le=1e9), NotBool]] = Field(
        default_factory=dict, max_length=10, json_schema_extra=CLOSED
    )
    required_skills: list[SkillName] = Field(default_factory=list, max_length=20)
    priority: int = Field(default=0, ge=0, le=100, description="Higher is more important.")
    requirements: Requirements = Field(default_factory=Requirements)
    metadata: dict[MetaKey, MetaValue] = Field(
        default_factory=dict, max_length=50, json_schema_extra=CLOSED
    )
    external_ref: Ref | None = None
    team_id: Id | None = None
    notes: Annotated[str, StringConstraints(max_length=5000, pattern=r"^[^\x00]*$")] = ""

    @model_validator(mode="after")
    def _window_and_point(self) -> TaskFields:
        if (
            self.complete_after is not None
            and self.complete_before is not None
            and self.complete_before <= self.complete_after
        ):
            raise ValueError("complete_before must be later than complete_after")
        if (self.lat is None) != (self.lng is None):
            raise ValueError("give both lat and lng, or neither")
        return self


class TaskCreate(TaskFields):
    """A new pickup or drop-off. Without lat/lng the address is geocoded (a geocoder must be set)."""

    model_config = ConfigDict(json_schema_extra={"examples": [EXAMPLE]})

    kind: Kind
    depends_on: Id | None = Field(
        default=None, description="The pickup this drop-off follows (same driver, after it)."
    )


class TaskUpdate(InputModel):
    """Changes to a task that is not finished; omitted fields stay as they are."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"priority": 5, "recipient": {"phone": "+14155550199"}}]}
    )

    address: Annotated[str, StringConstraints(max_length=500, pattern=r"^[^\x00]*$")] | None = None
    lat: Lat | None = None
    lng: Lng | None = None
    recipient: Recipient | None = None
    complete_after: Instant | None = None
    complete_before: Instant | None = None
    service_seconds: int | None = Field(default=None, ge=0, le=86400)
    quantities: dict[Dimension, Annotated[float, Field(ge=0, le=1e9), NotBool]] | None = Field(
        default=None, max_length=10, json_schema_extra=CLOSED
    )
    required_skills: list[SkillName] | None = Field(default=None, max_length=20)
    priority: int | None = Field(default=None, ge=0, le=100)
    requirements: Requirements | None = None
    metadata: dict[MetaKey, MetaValue] | None = Field(
        default=None, max_length=50, json_schema_extra=CLOSED
    )
    external_ref: Ref | None = None
    team_id: Id | None = None
    notes: Annotated[str, StringConstraints(max_length=5000, pattern=r"^[^\x00]*$")] | None = None


class RecipientRead(OutputModel):
    name: str
    phone: str
    notes: str


class TaskRead(OutputModel):
    id: str
    short_id: str
    kind: Kind
    state: State
    external_ref: str | None
    team_id: str | None
    zone_id: str | None
    driver_id: str | None
    route_position: int | None
    planned_arrival_at: datetime | None = Field(
        default=None, description="Planned arrival (ETA) from the route plan that placed it."
    )
    planned_departure_at: datetime | None = None
    eta_at: datetime | None = Field(
        default=None,
        description="Live ETA, recomputed from the driver's position as they drive the route.",
    )
    eta_at_dispatch: datetime | None = Field(
        default=None, description="The first ETA the stop got once assigned."
    )
    eta_at_start: datetime | None = Field(
        default=None, description="The ETA when the driver set off for this stop."
    )
    eta_error_ratio: float | None = Field(
        default=None,
        description="On arrival: |actual arrival - eta_at_start| / predicted travel time "
        "(docs/slo.md).",
    )
    delayed_at: datetime | None = Field(
        default=None, description="When task.delayed was sent (the ETA fell after the window)."
    )
    route_plan_id: str | None = Field(default=None, description="The route plan that placed it.")
    depends_on: str | None
    address: str
    lat: float
    lng: float
    recipient: RecipientRead
    complete_after: datetime | None
    complete_before: datetime | None
    service_seconds: int
    quantities: dict[str, float]
    required_skills: list[str]
    priority: int
    requirements: dict[str, Any]
    metadata: dict[str, Any]
    notes: str
    completion: dict[str, Any] | None
    created_at: datetime
    updated_at: datetime
    assigned_at: datetime | None
    started_at: datetime | None
    arrived_at: datetime | None
    completed_at: datetime | None
    tracking_url: str | None = Field(
        default=None,
        description="Drop-offs: the recipient's tracking page (no login; docs/guides/"
        "tracking-links.md).",
    )


class Position(InputModel):
    """Where the driver was when acting (optional)."""

    lat: Lat | None = None
    lng: Lng | None = None


class AssignRequest(InputModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"driver_id": "drv_abc123", "position": 0}]}
    )

    driver_id: Id
    position: int | None = Field(
        default=None, ge=0, le=10000, description="0-based place in the route; default last."
    )


class BulkAssignRequest(InputModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"driver_id": "drv_abc123", "task_ids": ["tsk_a", "tsk_b"]}]
        }
    )

    driver_id: Id
    task_ids: list[Id] = Field(min_length=1, max_length=500)
    position: int | None = Field(default=None, ge=0, le=10000)


class TransitionRequest(Position):
    model_config = ConfigDict(json_schema_extra={"examples": [{"lat": 37.79, "lng": -122.39}]})


class CancelRequest(InputModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"reason": "customer cancelled"}]})

    reason: Annotated[str, StringConstraints(max_length=1000, pattern=r"^[^\x00]*$")] = ""


class TaskEventRead(OutputModel):
    id: str
    action: str
    from_state: str | None
    to_state: str
    actor_id: str
    actor_kind: str
    driver_id: str | None
    lat: float | None
    lng: float | None
    at: datetime
    details: dict[str, Any]


class BatchTask(TaskCreate):
    """A batch row: a task, optionally linked to a pickup by that pickup's external_ref."""

    depends_on_ref: Ref | None = Field(
        default=None, description="external_ref of the pickup (in this batch or stored)."
    )


def _row_schema() -> dict[str, Any]:
    schema = BatchTask.model_json_schema(ref_template="#/components/schemas/{model}")
    schema.pop("$defs", None)
    return schema


class BatchCreate(InputModel):
    """Up to 1,000 tasks; rows may link to a pickup by its external_ref (`depends_on_ref`)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "all_or_nothing": False,
                    "tasks": [
                        {**EXAMPLE, "kind": "pickup", "external_ref": "P-1", "requirements": {}},
                        {**EXAMPLE, "external_ref": "D-1", "depends_on_ref": "P-1"},
                    ],
                }
            ]
        }
    )

    # Rows are validated one by one (so one bad row does not hide the others' results), but
    # documented as BatchTask.
    tasks: list[Annotated[dict[str, Any], WithJsonSchema(_row_schema())]] = Field(
        min_length=1,
        max_length=1000,
        description="Each row is a task create body (see TaskCreate); "
        "`depends_on_ref` may name the external_ref of a pickup in this batch or stored.",
    )
    all_or_nothing: bool = False


class RowProblem(OutputModel):
    title: str
    status: int
    detail: str
    errors: list[dict[str, str]]


class BatchRow(OutputModel):
    index: int
    status: str = Field(description="`created` or `error`.")
    task: TaskRead | None = None
    problem: RowProblem | None = None


class BatchResult(OutputModel):
    created: int
    failed: int
    results: list[BatchRow]


class ImportRead(OutputModel):
    id: str
    state: str
    filename: str
    all_or_nothing: bool
    total_rows: int
    processed_rows: int
    created_count: int
    error_count: int
    errors: list[dict[str, Any]]
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
