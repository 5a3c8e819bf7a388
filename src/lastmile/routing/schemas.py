"""Request and response shapes of route plans."""

from __future__ import annotations

from datetime import date as Date
from datetime import datetime
from typing import Annotated, Any

from pydantic import Field, model_validator

from lastmile.core.schemas import InputModel, Instant, NotBool, OutputModel
from lastmile.fleet.fields import Clock, ClockEnd, Dimension, Ref, SkillName, TimeZone
from lastmile.routing.solver.model import Objective

MAX_TASKS = 5000
MAX_DRIVERS = 500
MAX_BUDGET_SECONDS = 300.0
MAX_WAIT_SECONDS = 60.0

Budget = Annotated[
    float,
    Field(
        gt=0,
        le=MAX_BUDGET_SECONDS,
        allow_inf_nan=False,
        description="Seconds the optimiser may run.",
    ),
    NotBool,
]


class TaskFilter(InputModel):
    """Which open tasks to plan: unassigned ones of the date, team and zone given."""

    date: Date | None = Field(
        default=None,
        description="Local date (in `timezone`) whose tasks to plan: tasks whose window touches "
        "that day, or that have no window. Default: any date.",
    )
    team_id: Ref | None = None
    zone_id: Ref | None = None
    include_assigned: bool = Field(
        default=False, description="Also re-plan tasks already assigned but not started."
    )


class BreakRule(InputModel):
    """A break every planned driver takes: `minutes` long, starting between `start` and `end`."""

    start: Clock = Field(examples=["12:00"])
    end: ClockEnd = Field(examples=["14:00"])
    minutes: int = Field(ge=1, le=240, examples=[30])

    @model_validator(mode="after")
    def _ordered(self) -> BreakRule:
        start = int(self.start[:2]) * 60 + int(self.start[3:])
        end = int(self.end[:2]) * 60 + int(self.end[3:])
        if end <= start:
            raise ValueError("a break rule must end after it starts")
        return self


class RoutePlanCreate(InputModel):
    """An optimisation run over tasks and drivers."""

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "filter": {"date": "2026-11-26", "team_id": "team_abcdefghijklmnopqrstuvwx"},
                    "objective": "vehicles",
                    "time_budget_seconds": 5,
                    "timezone": "Europe/Berlin",
                }
            ]
        }
    }

    task_ids: list[Ref] | None = Field(
        default=None,
        max_length=MAX_TASKS,
        description=f"Tasks to plan (at most {MAX_TASKS}); their linked pickups or drop-offs come too.",
    )
    filter: TaskFilter | None = Field(
        default=None, description="Plan the open tasks matching this filter instead of `task_ids`."
    )
    driver_ids: list[Ref] | None = Field(
        default=None,
        max_length=MAX_DRIVERS,
        description="Drivers to plan for; default every on-duty driver (of `filter.team_id`).",
    )
    locked_driver_ids: list[Ref] = Field(
        default_factory=list,
        max_length=MAX_DRIVERS,
        description="Drivers whose current route is kept exactly as it is and gets nothing new.",
    )
    objective: Objective = Objective.VEHICLES
    time_budget_seconds: Budget = 5.0
    starts_at: Instant | None = Field(
        default=None, description="When the plan starts (no stop is planned earlier). Default: now."
    )
    timezone: TimeZone | None = Field(
        default=None,
        description="Time zone of shifts, break rules and `filter.date`. Default: each driver's "
        "shift and breaks in the time zone of their start hub (UTC without one), the date in UTC.",
    )
    breaks: list[BreakRule] = Field(default_factory=list, max_length=4)
    max_stops_per_route: int | None = Field(default=None, ge=1, le=1000)
    auto_apply: bool = Field(
        default=False, description="Assign the routes as soon as they are found."
    )
    engine: str | None = Field(default=None, description="Force an engine (see the guide).")

    @model_validator(mode="after")
    def _one_source(self) -> RoutePlanCreate:
        if (self.task_ids is None) == (self.filter is None):
            raise ValueError("give exactly one of task_ids and filter")
        return self


class StopRead(OutputModel):
    kind: str = Field(description="pickup, dropoff or break")
    task_id: str | None
    arrival_at: datetime
    service_start_at: datetime
    departure_at: datetime
    distance_m: int = Field(description="From the route's start to this stop.")
    load: dict[str, float] = Field(description="What is on board after the stop.")
    fixed: bool = Field(default=False, description="Kept as it was (active or locked stop).")


class PlaceAt(OutputModel):
    lat: float | None
    lng: float | None
    at: datetime


class RouteRead(OutputModel):
    driver_id: str
    vehicle_type: str
    start: PlaceAt
    end: PlaceAt
    stops: list[StopRead]
    distance_m: int
    duration_s: int
    locked: bool = False


class UnassignedRead(OutputModel):
    task_id: str
    reason: str


class PlanSummary(OutputModel):
    tasks: int
    assigned: int
    unassigned: int
    routes: int
    distance_m: int
    duration_s: int
    solve_seconds: float


class RoutePlanRead(OutputModel):
    id: str
    status: str = Field(description="queued, running, done, failed or cancelled")
    progress: int = Field(description="0 to 100")
    objective: str
    time_budget_seconds: float
    starts_at: datetime
    auto_apply: bool
    engine: str | None
    request: dict[str, object]
    summary: PlanSummary | None = None
    routes: list[RouteRead] = Field(default_factory=list)
    unassigned: list[UnassignedRead] = Field(default_factory=list)
    warnings: list[str] = Field(
        default_factory=list, description="Rules a locked route breaks (it is kept anyway)."
    )
    error: dict[str, object] | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    applied_at: datetime | None


class RoutePlanListItem(OutputModel):
    id: str
    status: str
    progress: int
    objective: str
    summary: PlanSummary | None = None
    error: dict[str, Any] | None = None
    created_at: datetime
    finished_at: datetime | None
    applied_at: datetime | None


class ApplyResult(OutputModel):
    plan: RoutePlanRead
    assigned_tasks: int
    warnings: list[str]


class Point(InputModel):
    lat: float = Field(ge=-90, le=90, allow_inf_nan=False)
    lng: float = Field(ge=-180, le=180, allow_inf_nan=False)


class EstimateRequest(InputModel):
    """A delivery not yet created: where it is picked up and dropped off, and when."""

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "pickup": {"lat": 52.52, "lng": 13.405},
                    "dropoff": {"lat": 52.50, "lng": 13.42},
                    "ready_at": "2026-11-26T12:00:00Z",
                }
            ]
        }
    }

    pickup: Point
    dropoff: Point
    ready_at: Instant | None = Field(default=None, description="When the goods are ready.")
    deadline: Instant | None = Field(default=None, description="Latest drop-off.")
    service_seconds: int = Field(default=120, ge=0, le=86400)
    quantities: dict[Dimension, Annotated[float, Field(ge=0, le=1e9), NotBool]] = Field(
        default_factory=dict,
        max_length=20,
        # Keys outside the pattern are refused: say so in the schema.
        json_schema_extra={"additionalProperties": False},
    )
    required_skills: list[SkillName] = Field(default_factory=list, max_length=20)
    team_id: Ref | None = None


class Candidate(OutputModel):
    driver_id: str
    added_distance_m: int
    added_duration_s: int
    position: int | None = Field(description="Where the task would go in the driver's route.")
    pickup_eta: datetime | None = None
    dropoff_eta: datetime | None = None


class CandidateList(OutputModel):
    data: list[Candidate]
    reason: str | None = Field(description="Why no driver can take it, when none can.")


class Estimate(OutputModel):
    available: bool
    driver_id: str | None = None
    pickup_eta: datetime | None = None
    dropoff_eta: datetime | None = None
    added_distance_m: int | None = None
    added_duration_s: int | None = None
    reason: str | None = None
