"""VROOM 1.15 through pyvroom (BSD-2-Clause): every feature of the model natively, breaks included.

Mapping (docs/adr/0002-route-solver.md): jobs and shipments by their index, several windows per
visit as VROOM windows, skills and `Job.vehicles` as integer skills (one per skill name, one per
distinct set of allowed vehicles), priorities as VROOM priorities (0..100, higher kept first), max
stops and the BALANCED/LATENESS spread as `max_tasks` (a pair counts two tasks, as in the
checker), the objective as the cost matrix (distance, duration, or 100 x duration + distance for
LATENESS) plus fixed costs. VROOM is deterministic: the seed is not used.

The exploration level is chosen from the size and the budget with a measured cost model
(`LEVEL_SECONDS`), never by relying on VROOM's timeout, which is passed only as a backstop: it does
not interrupt the construction (at 1,000 stops x=0 alone takes 16-24 s on 2 cores) and cutting a
high level short gives worse plans than a lower level (docs/solvers.md).

Known VROOM bug (#1337/#1345): a shipment whose delivery must come before a break that has to
wait for its window is left unassigned. `solve.solve` works around it: every job an engine leaves
out is offered to `insertion.insert_all`, which tries every position, before and after breaks,
and gives an idle vehicle a fresh route with its breaks.
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import numpy as np
import vroom  # type: ignore[import-untyped]

from lastmile.routing.solver.checker import check_route
from lastmile.routing.solver.engines import _parallel
from lastmile.routing.solver.engines.base import (
    Costs,
    Deadline,
    UnsupportedProblem,
    arrays,
    costs_for,
)
from lastmile.routing.solver.model import Plan, Problem, Step, StepKind, Window

log = logging.getLogger(__name__)

UINT32 = 2**32 - 1

LEVEL_SECONDS = {0: 0.15, 1: 0.38, 2: 0.9, 3: 1.2, 4: 2.25, 5: 3.15}
"""Estimated seconds of each exploration level at 100 tasks on 2 cores; the time grows with
tasks ** `GROWTH` (a pair counts once: VROOM is much faster on shipments). Measured here with
`nb_threads=2` (ADR 0002): x=0 takes 0.12-0.25 s at 100 tasks, 0.35-0.45 s at 200, 5.8 s on
r2_4_1 (400 tasks, long routes), 16-24 s at 1,000 (docs/solvers.md); each level costs about
2.5, 6, 8, 15 and 21 times x=0."""
GROWTH = 2.2
LEVEL_SHARE = 0.6
"""The chosen level's estimate must fit in this share of the budget left."""


def level_for(tasks: int, seconds: float) -> int:
    """The highest exploration level whose estimated time fits the budget (0 at least)."""
    scale = max(tasks, 1) / 100
    best = 0
    for level, base in LEVEL_SECONDS.items():
        if base * scale**GROWTH <= LEVEL_SHARE * seconds:
            best = level
    return best


def _window(w: Window) -> vroom.TimeWindow:
    return vroom.TimeWindow(max(0, w.start), min(w.end, UINT32))


def _tws(windows: tuple[Window, ...]) -> list[vroom.TimeWindow]:
    return [_window(w) for w in windows]


@dataclass
class VroomEngine:
    """The VROOM engine (see the module docstring)."""

    name: str = "vroom"
    threads: int | None = None

    def supports(self, problem: Problem) -> str | None:
        missing = {v.profile for v in problem.vehicles} - set(problem.matrices)
        if missing:
            return f"no matrix for profile(s) {sorted(missing)}"
        for durations, distances in arrays(problem).values():
            if durations.size and (durations.max() > UINT32 or distances.max() > UINT32):
                return "matrix values above 2^32 - 1 (VROOM stores 32-bit matrices)"
        return None

    def solve(self, problem: Problem, budget_seconds: float, seed: int = 0) -> Plan:
        deadline = Deadline(budget_seconds)
        reason = self.supports(problem)
        if reason:
            raise UnsupportedProblem(f"vroom: {reason}")
        if not problem.jobs:
            return Plan(routes={}, unassigned=(), engine=self.name)
        if not problem.vehicles:
            return Plan(routes={}, unassigned=[j.id for j in problem.jobs], engine=self.name)
        costs = costs_for(problem)
        inp, breaks = self._input(problem, costs)
        stops = sum(2 if j.is_pair else 1 for j in problem.jobs)
        left = deadline.left() - 0.02 - stops * 2e-5
        level = level_for(len(problem.jobs), left)
        threads = self.threads or _parallel.workers()
        timeout = timedelta(seconds=max(0.05, left))
        log.debug("vroom: %d stops, level %d, %d threads", stops, level, threads)
        solution = inp.solve(exploration_level=level, nb_threads=threads, timeout=timeout)
        return self._plan(problem, solution.routes, breaks)

    def _input(
        self, problem: Problem, costs: Costs
    ) -> tuple[vroom.Input, dict[tuple[int, int], str]]:
        inp = vroom.Input()
        # VROOM needs a start or an end: a vehicle with neither starts at an extra location that
        # is zero seconds and metres from everywhere (the model's open start).
        floating = any(v.start is None and v.end is None for v in problem.vehicles)
        free: int | None = None
        for profile, (durations, distances) in arrays(problem).items():
            if floating:
                free = len(durations)
                durations = np.pad(durations, ((0, 1), (0, 1)))
                distances = np.pad(distances, ((0, 1), (0, 1)))
            inp.set_durations_matrix(profile, durations.astype(np.uint32))
            inp.set_distances_matrix(profile, distances.astype(np.uint32))
            cost = costs.distance * distances + costs.duration * durations
            inp.set_costs_matrix(profile, np.minimum(cost, UINT32).astype(np.uint32))

        skill_ids: dict[object, int] = {}

        def skill(key: object) -> int:
            return skill_ids.setdefault(key, len(skill_ids) + 1)

        job_skills: list[set[int]] = []
        for job in problem.jobs:
            need = {skill(("skill", s)) for s in job.skills}
            if job.vehicles is not None:
                need.add(skill(("vehicles", job.vehicles)))
            job_skills.append(need)
        allowed_sets = {job.vehicles for job in problem.jobs if job.vehicles is not None}

        breaks: dict[tuple[int, int], str] = {}
        total = sum(2 if j.is_pair else 1 for j in problem.jobs)
        for k, v in enumerate(problem.vehicles):
            has = {skill(("skill", s)) for s in v.skills}
            has |= {skill(("vehicles", s)) for s in allowed_sets if v.id in s}
            limit = total
            if v.max_stops is not None:
                limit = min(limit, v.max_stops)
            if costs.cap is not None:
                limit = min(limit, costs.cap)
            vbreaks = []
            for b, rest in enumerate(v.breaks):
                breaks[(k, b)] = rest.id
                vbreaks.append(
                    vroom.Break(b, time_windows=_tws(rest.windows), service=rest.service)
                )
            fixed = min(v.fixed_cost + costs.vehicle, UINT32)
            inp.add_vehicle(
                vroom.Vehicle(
                    k,
                    start=free if v.start is None and v.end is None else v.start,
                    end=v.end,
                    profile=v.profile,
                    capacity=list(v.capacity) + [0] * (problem.dimensions - len(v.capacity)),
                    skills=has,
                    time_window=vroom.TimeWindow(max(0, v.shift.start), min(v.shift.end, UINT32)),
                    breaks=vbreaks,
                    costs=vroom.VehicleCosts(fixed=fixed),
                    max_tasks=limit,
                )
            )
        for j, job in enumerate(problem.jobs):
            amount = list(job.amount) + [0] * (problem.dimensions - len(job.amount))
            priority = max(0, min(100, job.priority))
            if job.is_pair:
                assert job.pickup is not None and job.delivery is not None
                inp.add_job(
                    vroom.Shipment(
                        vroom.ShipmentStep(
                            j,
                            job.pickup.location,
                            default_service=job.pickup.service,
                            time_windows=_tws(job.pickup.windows),
                        ),
                        vroom.ShipmentStep(
                            j,
                            job.delivery.location,
                            default_service=job.delivery.service,
                            time_windows=_tws(job.delivery.windows),
                        ),
                        amount=amount,
                        skills=job_skills[j],
                        priority=priority,
                    )
                )
                continue
            visit = job.delivery or job.pickup
            assert visit is not None
            zero = [0] * problem.dimensions
            inp.add_job(
                vroom.Job(
                    j,
                    visit.location,
                    default_service=visit.service,
                    delivery=amount if job.delivery is not None else zero,
                    pickup=amount if job.delivery is None else zero,
                    skills=job_skills[j],
                    priority=priority,
                    time_windows=_tws(visit.windows),
                )
            )
        return inp, breaks

    def _plan(self, problem: Problem, frame: Any, breaks: dict[tuple[int, int], str]) -> Plan:
        routes: dict[str, list[Step]] = {}
        if len(frame):
            for vehicle, kind, ref in zip(
                frame["vehicle_id"].tolist(),
                frame["type"].tolist(),
                frame["id"].tolist(),
                strict=True,
            ):
                if kind in ("start", "end"):
                    continue
                vid = problem.vehicles[int(vehicle)].id
                steps = routes.setdefault(vid, [])
                if kind == "break":
                    steps.append(Step(StepKind.BREAK, breaks[(int(vehicle), int(ref))]))
                    continue
                job = problem.jobs[int(ref)]
                if kind == "pickup":
                    steps.append(Step(StepKind.PICKUP, job.id))
                elif kind == "delivery":
                    steps.append(Step(StepKind.DELIVERY, job.id))
                else:
                    single = StepKind.DELIVERY if job.delivery is not None else StepKind.PICKUP
                    steps.append(Step(single, job.id))
        routes = {
            vid: _retime_breaks(problem, vid, steps)
            for vid, steps in routes.items()
            if any(s.kind is not StepKind.BREAK for s in steps)
        }
        done = {s.ref for steps in routes.values() for s in steps if s.kind is not StepKind.BREAK}
        return Plan(
            routes=routes,
            unassigned=[j.id for j in problem.jobs if j.id not in done],
            engine=self.name,
        )


MAX_BREAK_MOVES = 300
NEAREST_SLOTS = 12
MAX_TAKEN_OFF = 3
"""Placements of a route's breaks tried when VROOM's own placement does not pass the checker."""


def _retime_breaks(problem: Problem, vehicle_id: str, steps: list[Step]) -> list[Step]:
    """VROOM's steps, with the breaks moved where the model's timing accepts them if needed.

    VROOM drives to the next stop before taking a break there; the model takes a break where the
    vehicle is, then drives (`schedule.evaluate`). When a break must wait for its window the two
    differ, so a VROOM route can come back late by the model's clock. The breaks are then tried
    at the nearest other positions (jobs keep their order); the first placement the checker
    accepts is kept. When none is, the job the checker faults first is taken off the route (at
    most `MAX_TAKEN_OFF` jobs; `solve` offers them to insertion) and the breaks are tried again;
    a route still refused is returned as it is, and `solve` drops it.
    """
    vehicle = problem.vehicle_by_id[vehicle_id]
    if not vehicle.breaks:
        return steps
    current = steps
    for _ in range(MAX_TAKEN_OFF + 1):
        schedule = check_route(problem, vehicle_id, current)
        if not schedule.violations:
            return current
        placed = _place_breaks(problem, vehicle_id, current)
        if placed is not None:
            return placed
        faulted = next((v.ref for v in schedule.violations if v.ref in problem.job_by_id), None)
        if faulted is None:
            break
        current = [s for s in current if s.kind is StepKind.BREAK or s.ref != faulted]
        if not any(s.kind is not StepKind.BREAK for s in current):
            break
    return steps


def _place_breaks(problem: Problem, vehicle_id: str, steps: list[Step]) -> list[Step] | None:
    """The route with its breaks at the nearest positions the checker accepts, or None."""
    vehicle = problem.vehicle_by_id[vehicle_id]
    jobs = [s for s in steps if s.kind is not StepKind.BREAK]
    slots: dict[str, int] = {}
    seen = 0
    for s in steps:
        if s.kind is StepKind.BREAK:
            slots[s.ref] = seen
        else:
            seen += 1
    rests = [b.id for b in vehicle.breaks]
    origin = [slots.get(r, 0) for r in rests]

    def nearest(at: int) -> list[int]:
        return sorted(range(len(jobs) + 1), key=lambda k: abs(k - at))[:NEAREST_SLOTS]

    def moved(choice: tuple[int, ...]) -> int:
        return sum(abs(k - at) for k, at in zip(choice, origin, strict=True))

    choices = sorted(itertools.product(*(nearest(at) for at in origin)), key=moved)
    for choice in choices[:MAX_BREAK_MOVES]:
        route: list[Step] = []
        for k in range(len(jobs) + 1):
            route.extend(
                Step(StepKind.BREAK, r) for r, at in zip(rests, choice, strict=True) if at == k
            )
            if k < len(jobs):
                route.append(jobs[k])
        if not check_route(problem, vehicle_id, route).violations:
            return route
    return None
