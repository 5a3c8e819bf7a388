"""Turning tasks and drivers into a solver `Problem`, and the solver's answer back into routes.

Pure: everything is loaded beforehand (see `planning.py`); times become whole seconds from the
plan's start (`epoch`), quantities whole thousandths.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from lastmile.fleet.enums import WEEKDAYS, VehicleType
from lastmile.routing.rows import DriverRow as Driver
from lastmile.routing.rows import HubRow as Hub
from lastmile.routing.rows import TaskRow as Task
from lastmile.routing.rows import VehicleRow as FleetVehicle
from lastmile.routing.solver.model import (
    HORIZON,
    Break,
    Job,
    Matrix,
    Objective,
    Problem,
    Reason,
    Schedule,
    Step,
    StepKind,
    Vehicle,
    Visit,
    Window,
)
from lastmile.tasks.enums import Kind, State

Point = tuple[float, float]
SCALE = 1000  # quantities are planned in thousandths
UNLIMITED = 10**12


@dataclass
class Source:
    """What a plan is made of, loaded from the database."""

    tasks: Sequence[Task]  # the open tasks to place (unassigned or assigned, not started)
    drivers: Sequence[Driver]
    vehicles: Mapping[str, FleetVehicle]  # by id
    hubs: Mapping[str, Hub]  # by id
    active: Mapping[str, Task] = field(default_factory=dict)  # driver id -> started/arrived task
    on_board: Mapping[str, Sequence[Task]] = field(default_factory=dict)  # picked-up drop-offs
    positions: Mapping[str, Point] = field(default_factory=dict)  # driver id -> last position
    locked_routes: Mapping[str, Sequence[Task]] = field(default_factory=dict)  # kept as is
    zones: Mapping[str, ZoneInfo] = field(default_factory=dict)  # driver id -> shift time zone


@dataclass
class BreakSpec:
    start: str  # local "HH:MM"
    end: str
    minutes: int


@dataclass
class Options:
    epoch: datetime
    zone: ZoneInfo
    objective: Objective
    breaks: Sequence[BreakSpec] = ()
    max_stops: int | None = None


@dataclass
class Layout:
    """The points a plan needs travel times between, and each driver's profile."""

    points: list[Point] = field(default_factory=list)
    index: dict[Point, int] = field(default_factory=dict)
    profiles: dict[str, str] = field(default_factory=dict)  # driver id -> vehicle type

    def at(self, point: Point) -> int:
        key = (round(point[0], 6), round(point[1], 6))
        found = self.index.get(key)
        if found is None:
            found = self.index[key] = len(self.points)
            self.points.append(key)
        return found


@dataclass(frozen=True)
class FixedStop:
    """A stop already under way: it stays first and the route starts when it ends."""

    task_id: str
    kind: str
    service_seconds: int
    done: int  # plan seconds when its service ends
    arrived: bool = False  # the driver is there already


@dataclass
class Built:
    """A problem with what maps it back to tasks and drivers."""

    problem: Problem
    layout: Layout
    dimensions: list[str]
    job_tasks: dict[str, tuple[str | None, str | None]]  # job -> (pickup task, drop-off task)
    left_out: list[tuple[str, Reason]]  # tasks no engine sees (e.g. window already over)
    fixed: dict[str, FixedStop]  # driver -> the stop under way, kept first
    locked: dict[str, list[Step]]  # driver -> steps kept exactly


def place_point(place: Mapping[str, Any] | None, hubs: Mapping[str, Hub]) -> Point | None:
    if not place:
        return None
    if place.get("hub_id"):
        hub = hubs.get(str(place["hub_id"]))
        return (hub.lat, hub.lng) if hub else None
    if place.get("lat") is not None and place.get("lng") is not None:
        return (float(place["lat"]), float(place["lng"]))
    return None


def profile_of(driver: Driver, vehicles: Mapping[str, FleetVehicle]) -> str:
    vehicle = vehicles.get(driver.vehicle_id) if driver.vehicle_id else None
    return vehicle.type if vehicle is not None else VehicleType.car.value


def layout(source: Source) -> Layout:
    """Every point of the plan: task places, driver positions, starts and ends."""
    out = Layout()
    for task in source.tasks:
        out.at((task.lat, task.lng))
    for tasks in (*source.on_board.values(), *source.locked_routes.values()):
        for task in tasks:
            out.at((task.lat, task.lng))
    for task in source.active.values():
        out.at((task.lat, task.lng))
    for driver in source.drivers:
        out.profiles[driver.id] = profile_of(driver, source.vehicles)
        for point in (
            source.positions.get(driver.id),
            place_point(driver.start_place, source.hubs),
            place_point(driver.end_place, source.hubs),
        ):
            if point is not None:
                out.at(point)
    return out


def _seconds(epoch: datetime, moment: datetime) -> int:
    return int((moment - epoch).total_seconds())


def _local(day: date, clock_text: str, zone: ZoneInfo) -> datetime:
    if clock_text == "24:00":
        return datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)
    hours, minutes = (int(p) for p in clock_text.split(":"))
    return datetime.combine(day, time(hours, minutes), tzinfo=zone)


def shift_window(driver: Driver, options: Options, zone: ZoneInfo | None = None) -> Window:
    """The driver's shift under way at the plan's start, or the next one that day, in plan
    seconds (a night shift that began the day before counts). With no shift that day, an
    on-duty driver works until the end of the local day."""
    zone = zone or options.zone
    today = options.epoch.astimezone(zone).date()
    for day in (today - timedelta(days=1), today):
        spec = (driver.shift or {}).get(WEEKDAYS[day.weekday()])
        if not spec:
            continue
        start = _local(day, spec["start"], zone)
        end = _local(day, spec["end"], zone)
        if end <= start:  # a night shift ends the next day
            end += timedelta(days=1)
        if end > options.epoch:
            return Window(
                max(0, _seconds(options.epoch, start)), max(0, _seconds(options.epoch, end))
            )
    if (driver.shift or {}).get(WEEKDAYS[today.weekday()]):
        return Window(0, 0)  # today's shift is over
    end = _local(today, "24:00", zone)
    return Window(0, max(0, _seconds(options.epoch, end)))


def _breaks(options: Options) -> tuple[Break, ...]:
    day = options.epoch.astimezone(options.zone).date()
    out = []
    for i, rule in enumerate(options.breaks):
        begin = _seconds(options.epoch, _local(day, rule.start, options.zone))
        end = _seconds(options.epoch, _local(day, rule.end, options.zone))
        if end >= 0:
            out.append(Break(f"break-{i}", (Window(max(0, begin), end),), rule.minutes * 60))
    return tuple(out)


def _amount(
    quantities: Mapping[str, float] | None, dims: Sequence[str], *, up: bool
) -> tuple[int, ...]:
    """Quantities in thousandths per dimension: demands rounded up, capacities down (a
    dimension a vehicle does not declare is unlimited)."""
    if not quantities:
        return (0,) * len(dims) if up else (UNLIMITED,) * len(dims)
    out = []
    for d in dims:
        q = quantities.get(d)
        if q is None:
            out.append(0 if up else UNLIMITED)
        else:
            scaled = float(q) * SCALE
            out.append(math.ceil(scaled - 1e-9) if up else math.floor(scaled + 1e-9))
    return tuple(out)


def _window(task: Task, epoch: datetime) -> tuple[Window, ...] | None:
    """The task's window in plan seconds; None when it is already over."""
    if task.complete_after is None and task.complete_before is None:
        return ()
    start = 0 if task.complete_after is None else max(0, _seconds(epoch, task.complete_after))
    end = HORIZON if task.complete_before is None else _seconds(epoch, task.complete_before)
    if end < start:
        return None
    return (Window(start, end),)


def build(source: Source, options: Options, where: Layout, matrices: Mapping[str, Matrix]) -> Built:
    """The solver problem for these tasks and drivers (matrices by vehicle type)."""
    epoch = options.epoch
    dims = sorted({d for t in source.tasks for d in (t.quantities or {})})
    driver_ids = {d.id for d in source.drivers}
    jobs: list[Job] = []
    job_tasks: dict[str, tuple[str | None, str | None]] = {}
    left_out: list[tuple[str, Reason]] = []
    by_id = {t.id: t for t in source.tasks}

    def visit(task: Task) -> Visit | None:
        windows = _window(task, epoch)
        if windows is None:
            return None
        return Visit(where.at((task.lat, task.lng)), task.service_seconds, windows)

    def restricted(task: Task) -> frozenset[str] | None:
        if task.state == State.assigned and task.driver_id:
            return frozenset({task.driver_id})
        return None

    paired: set[str] = set()
    for task in source.tasks:
        if task.kind == Kind.dropoff and task.depends_on in by_id:
            pickup = by_id[task.depends_on]
            paired.update({pickup.id, task.id})
            p, d = visit(pickup), visit(task)
            if p is None or d is None:
                left_out += [(pickup.id, Reason.WINDOW), (task.id, Reason.WINDOW)]
                continue
            jobs.append(
                Job(
                    task.id,
                    pickup=p,
                    delivery=d,
                    amount=_amount(task.quantities, dims, up=True),
                    skills=frozenset(task.required_skills or [])
                    | frozenset(pickup.required_skills or []),
                    priority=max(task.priority, pickup.priority),
                    vehicles=restricted(task) or restricted(pickup),
                )
            )
            job_tasks[task.id] = (pickup.id, task.id)
    for task in source.tasks:
        if task.id in paired:
            continue
        v = visit(task)
        if v is None:
            left_out.append((task.id, Reason.WINDOW))
            continue
        is_pickup = task.kind == Kind.pickup
        jobs.append(
            Job(
                task.id,
                pickup=v if is_pickup else None,
                delivery=None if is_pickup else v,
                amount=_amount(task.quantities, dims, up=True),
                skills=frozenset(task.required_skills or []),
                priority=task.priority,
                vehicles=restricted(task),
            )
        )
        job_tasks[task.id] = (task.id, None) if is_pickup else (None, task.id)
    for driver_id, tasks in source.on_board.items():
        for task in tasks:  # picked up already: a delivery on that driver's route
            v = visit(task) or Visit(where.at((task.lat, task.lng)), task.service_seconds)
            jobs.append(
                Job(
                    task.id,
                    delivery=v,
                    amount=_amount(task.quantities, dims, up=True),
                    vehicles=frozenset({driver_id}),
                )
            )
            job_tasks[task.id] = (None, task.id)

    vehicles: list[Vehicle] = []
    fixed: dict[str, FixedStop] = {}
    rests = _breaks(options)
    for driver in source.drivers:
        profile = where.profiles[driver.id]
        matrix = matrices[profile]
        fleet_vehicle = source.vehicles.get(driver.vehicle_id) if driver.vehicle_id else None
        shift = shift_window(driver, options, source.zones.get(driver.id))
        start_point = source.positions.get(driver.id) or place_point(
            driver.start_place, source.hubs
        )
        start = where.at(start_point) if start_point is not None else None
        depart = shift.start
        active = source.active.get(driver.id)
        if active is not None:  # the stop under way stays first: the route starts after it
            here = where.at((active.lat, active.lng))
            travel = (
                0
                if active.state == State.arrived or start is None
                else matrix.durations[start][here]
            )
            begun = active.arrived_at if active.state == State.arrived else None
            arrive = _seconds(epoch, begun) if begun else travel
            done = max(0, arrive + active.service_seconds)
            fixed[driver.id] = FixedStop(
                active.id, active.kind, active.service_seconds, done, begun is not None
            )
            start, depart = here, max(shift.start, done)
        end_point = place_point(driver.end_place, source.hubs)
        vehicles.append(
            Vehicle(
                driver.id,
                profile=profile,
                start=start,
                end=where.at(end_point) if end_point is not None else None,
                capacity=_amount(fleet_vehicle.capacity if fleet_vehicle else None, dims, up=False),
                skills=frozenset(driver.skills or []),
                shift=Window(depart, max(depart, shift.end)),
                breaks=rests,
                max_stops=options.max_stops,
            )
        )
    locked: dict[str, list[Step]] = {}
    for driver_id, tasks in source.locked_routes.items():
        if driver_id not in driver_ids:
            continue
        steps: list[Step] = []
        for task in tasks:
            v = visit(task) or Visit(where.at((task.lat, task.lng)), task.service_seconds)
            job_id = f"locked:{task.id}"
            single_pickup = task.kind == Kind.pickup
            jobs.append(
                Job(
                    job_id,
                    pickup=v if single_pickup else None,
                    delivery=None if single_pickup else v,
                    amount=(0,) * len(dims),
                    vehicles=frozenset({driver_id}),
                )
            )
            job_tasks[job_id] = (task.id, None) if single_pickup else (None, task.id)
            steps.append(Step(StepKind.PICKUP if single_pickup else StepKind.DELIVERY, job_id))
        locked[driver_id] = steps
    problem = Problem(jobs, vehicles, matrices, objective=options.objective, dimensions=len(dims))
    return Built(problem, where, dims, job_tasks, left_out, fixed, locked)


def engine_problem(built: Built) -> Problem:
    """The part an engine optimises: without locked drivers and their stops."""
    p = built.problem
    locked_jobs = {s.ref for steps in built.locked.values() for s in steps}
    return Problem(
        [j for j in p.jobs if j.id not in locked_jobs],
        [v for v in p.vehicles if v.id not in built.locked],
        p.matrices,
        objective=p.objective,
        dimensions=p.dimensions,
    )


def route_doc(
    built: Built,
    schedule: Schedule,
    epoch: datetime,
    *,
    locked: bool = False,
) -> dict[str, Any]:
    """One route as the API shows it (times as ISO 8601 UTC)."""

    def at(seconds: int) -> str:
        return (epoch + timedelta(seconds=seconds)).isoformat()

    def load(amount: Sequence[int]) -> dict[str, float]:
        return {d: q / SCALE for d, q in zip(built.dimensions, amount, strict=False)}

    points = built.layout.points
    stops: list[dict[str, Any]] = []
    fixed = built.fixed.get(schedule.vehicle_id)
    if fixed is not None:
        begun = fixed.done - fixed.service_seconds
        stops.append(
            {
                "kind": fixed.kind,
                "task_id": fixed.task_id,
                "arrival_at": at(begun),
                "service_start_at": at(begun),
                "departure_at": at(fixed.done),
                "distance_m": 0,
                "load": load(schedule.steps[0].load),
                "fixed": True,
            }
        )
    for timed in schedule.steps[1:-1]:
        if timed.kind == StepKind.BREAK:
            task_id, kind = None, "break"
        else:
            pickup_id, dropoff_id = built.job_tasks[str(timed.ref)]
            task_id = pickup_id if timed.kind == StepKind.PICKUP else dropoff_id
            kind = "pickup" if timed.kind == StepKind.PICKUP else "dropoff"
        stops.append(
            {
                "kind": kind,
                "task_id": task_id,
                "arrival_at": at(timed.arrival),
                "service_start_at": at(timed.start),
                "departure_at": at(timed.departure),
                "distance_m": timed.distance,
                "load": load(timed.load),
                "fixed": locked,
            }
        )
    first, last = schedule.steps[0], schedule.steps[-1]

    def place(location: int | None, seconds: int) -> dict[str, Any]:
        lat, lng = points[location] if location is not None else (None, None)
        return {"lat": lat, "lng": lng, "at": at(seconds)}

    return {
        "driver_id": schedule.vehicle_id,
        "vehicle_type": built.layout.profiles[schedule.vehicle_id],
        "start": place(first.location, first.departure),
        "end": place(last.location, last.arrival),
        "stops": stops,
        "distance_m": schedule.distance,
        "duration_s": schedule.duration,
        "locked": locked,
    }
