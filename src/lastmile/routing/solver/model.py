"""Problems and solutions of the vehicle routing engine, in plain integers.

Times are whole seconds from the plan's epoch, distances whole metres (benchmark instances scale
their units), loads whole units per capacity dimension. Every location is an index into the
matrices of the vehicle's profile.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

Amount = tuple[int, ...]

HORIZON = 10**9
"""A time later than any real plan: the end of a shift or window left open."""


class Objective(StrEnum):
    """What a plan minimises once every task it can serve is served."""

    VEHICLES = "vehicles"  # fewest vehicles, then distance
    DISTANCE = "distance"
    DURATION = "duration"
    LATENESS = "lateness"  # earliest possible service (arrival times), then distance
    BALANCED = "balanced"  # even stop counts across vehicles, then distance


class Reason(StrEnum):
    """Why a job was left out of every route."""

    SKILL = "no_driver_with_skill"
    CAPACITY = "capacity"
    WINDOW = "window_unreachable"
    SHIFT = "outside_shift"
    VEHICLE = "driver_not_available"  # its required vehicle cannot take it
    NO_ROOM = "no_room"  # each alone fits some vehicle, not all together (priority decided)


@dataclass(frozen=True, slots=True)
class Window:
    """A closed interval [start, end] of seconds."""

    start: int
    end: int


OPEN = Window(0, HORIZON)


@dataclass(frozen=True, slots=True)
class Visit:
    """A place to be at: service must start inside one of the windows (any time when none)."""

    location: int
    service: int = 0
    windows: tuple[Window, ...] = ()


@dataclass(frozen=True, slots=True)
class Job:
    """A task to plan: a pickup then a drop-off on the same route, or a single visit.

    A single delivery's amount is on board from the route's start; a single pickup's amount stays
    on board to the route's end; a pair carries its amount from pickup to delivery.
    """

    id: str
    pickup: Visit | None = None
    delivery: Visit | None = None
    amount: Amount = ()
    skills: frozenset[str] = frozenset()
    priority: int = 0  # 0..100, higher is kept first when not everything fits
    vehicles: frozenset[str] | None = None  # only these vehicles may serve it (manual assignment)

    @property
    def is_pair(self) -> bool:
        return self.pickup is not None and self.delivery is not None


@dataclass(frozen=True, slots=True)
class Break:
    """A rest taken at the current place, starting inside one of the windows."""

    id: str
    windows: tuple[Window, ...]
    service: int


@dataclass(frozen=True, slots=True)
class Vehicle:
    """A driver with a vehicle: where the day starts and ends, what it carries, when it works.

    `start`/`end` are locations; `None` means the route starts at its first stop or ends at its
    last (open routes). `shift` bounds departure from start and arrival at end.
    """

    id: str
    profile: str = "car"
    start: int | None = None
    end: int | None = None
    capacity: Amount = ()
    skills: frozenset[str] = frozenset()
    shift: Window = OPEN
    breaks: tuple[Break, ...] = ()
    max_stops: int | None = None
    fixed_cost: int = 0


@dataclass(frozen=True, slots=True)
class Matrix:
    """Travel durations (s) and distances (m) between every pair of locations."""

    durations: Sequence[Sequence[int]]
    distances: Sequence[Sequence[int]]


@dataclass(frozen=True, slots=True)
class Problem:
    """Everything an engine needs: the jobs, the vehicles and one matrix per profile."""

    jobs: Sequence[Job]
    vehicles: Sequence[Vehicle]
    matrices: Mapping[str, Matrix]
    objective: Objective = Objective.DISTANCE
    dimensions: int = 0  # capacity dimensions; every amount and capacity has this length

    job_by_id: Mapping[str, Job] = field(init=False, repr=False, compare=False)
    vehicle_by_id: Mapping[str, Vehicle] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "job_by_id", {j.id: j for j in self.jobs})
        object.__setattr__(self, "vehicle_by_id", {v.id: v for v in self.vehicles})


class StepKind(StrEnum):
    PICKUP = "pickup"
    DELIVERY = "delivery"
    BREAK = "break"


@dataclass(frozen=True, slots=True)
class Step:
    """One stop of a route as an engine orders it: a job's pickup, delivery or a break.

    A single-visit job appears once, as `PICKUP` if it only has a pickup and `DELIVERY` otherwise.
    """

    kind: StepKind
    ref: str  # job id, or break id


@dataclass(frozen=True, slots=True)
class Plan:
    """An engine's answer: the ordered steps of each used vehicle, and the jobs left out."""

    routes: Mapping[str, Sequence[Step]]
    unassigned: Sequence[str] = ()
    engine: str = ""


@dataclass(frozen=True, slots=True)
class Unassigned:
    job_id: str
    reason: Reason


@dataclass(frozen=True, slots=True)
class Violation:
    """A broken rule: what, where (vehicle and job or break), and by how much."""

    rule: str
    vehicle_id: str | None = None
    ref: str | None = None
    detail: str = ""


@dataclass(slots=True)
class TimedStep:
    """A step with its schedule: arrival, service start, departure and the load after it."""

    kind: StepKind | str  # also "start" and "end"
    ref: str | None
    location: int | None
    arrival: int
    start: int
    departure: int
    load: Amount
    distance: int  # cumulative from the route start
    slack: int = HORIZON  # how much later service could start inside its window


@dataclass(slots=True)
class Schedule:
    """A route timed end to end, with every rule it breaks."""

    vehicle_id: str
    steps: list[TimedStep] = field(default_factory=list)
    distance: int = 0
    duration: int = 0  # from departure at start to arrival at end
    travel: int = 0
    waiting: int = 0
    violations: list[Violation] = field(default_factory=list)

    @property
    def feasible(self) -> bool:
        return not self.violations
