"""What every engine is, and the cost scale they share (so their answers compare).

An engine turns a `Problem` into a `Plan` within a wall-clock budget. It only orders steps:
`schedule.evaluate` times them and `checker.check` judges them, in `solve.py`.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from lastmile.routing.solver.model import HORIZON, Matrix, Objective, Plan, Problem

__all__ = [
    "Costs",
    "Deadline",
    "Engine",
    "IntMatrix",
    "UnsupportedProblem",
    "arrays",
    "balance_cap",
    "costs_for",
    "cpu_count",
    "priority_prize",
    "stop_count",
]


@runtime_checkable
class Engine(Protocol):
    """A routing engine: what it cannot model, and a plan within the budget."""

    name: str

    def supports(self, problem: Problem) -> str | None:
        """Why this engine cannot solve the problem exactly, or None when it can."""
        ...

    def solve(self, problem: Problem, budget_seconds: float, seed: int = 0) -> Plan:
        """Ordered steps per vehicle and the jobs left out, within `budget_seconds` of wall time."""
        ...


class UnsupportedProblem(ValueError):
    """The named engine cannot model a feature the problem uses."""


class Deadline:
    """A wall-clock deadline (monotonic), with what is left of it."""

    def __init__(self, seconds: float, start: float | None = None) -> None:
        self.start = time.monotonic() if start is None else start
        self.at = self.start + seconds

    def left(self) -> float:
        return self.at - time.monotonic()

    def elapsed(self) -> float:
        return time.monotonic() - self.start

    def passed(self) -> bool:
        return time.monotonic() >= self.at


def cpu_count() -> int:
    """Cores this process may use (the affinity mask, not the machine)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


IntMatrix = npt.NDArray[np.int64]

_LAST: list[tuple[tuple[Matrix, ...], dict[str, tuple[IntMatrix, IntMatrix]]]] = []


def arrays(problem: Problem) -> dict[str, tuple[IntMatrix, IntMatrix]]:
    """(durations, distances) per profile as int64 arrays.

    The last conversion is kept (one entry: a planner process may see big matrices), keyed by
    the matrix objects themselves, so `solve` and its engine share it even when `solve` hands the
    engine a copy of the problem with fewer jobs."""
    key = tuple(problem.matrices.values())
    if (
        _LAST
        and len(_LAST[0][0]) == len(key)
        and all(a is b for a, b in zip(_LAST[0][0], key, strict=True))
    ):
        return _LAST[0][1]
    out = {
        name: (_square(m.durations), _square(m.distances)) for name, m in problem.matrices.items()
    }
    _LAST[:] = [(key, out)]
    return out


def _square(rows: object) -> IntMatrix:
    m = np.asarray(rows, dtype=np.int64)
    if m.ndim != 2:
        m = m.reshape(0, 0) if m.size == 0 else m.reshape(int(np.sqrt(m.size)), -1)
    return m


UNREACHABLE = HORIZON // 2
"""Matrix entries at or above this are treated as 'no road' when sizing costs."""


@dataclass(frozen=True, slots=True)
class Costs:
    """How an objective is priced, the same way for every engine.

    `distance` and `duration` are the per-metre and per-second weights; `vehicle` is added to each
    used vehicle's own fixed cost; `prize` is what serving one job is worth (more with priority,
    `priority_prize`), chosen to exceed any detour plus a vehicle so a job is only left out when it cannot fit.
    `cap` is the per-vehicle stop cap that spreads work (BALANCED, LATENESS), None otherwise.
    """

    distance: int
    duration: int
    vehicle: int
    prize: int
    cap: int | None


def stop_count(problem: Problem) -> int:
    """Stops the jobs need: two per pair, one per single visit."""
    return sum(2 if job.is_pair else 1 for job in problem.jobs)


def balance_cap(problem: Problem) -> int | None:
    """Stops per vehicle when the work is spread evenly over the fleet (None for other goals)."""
    if problem.objective not in (Objective.BALANCED, Objective.LATENESS) or not problem.vehicles:
        return None
    return max(1, math.ceil(stop_count(problem) / len(problem.vehicles)))


def costs_for(problem: Problem) -> Costs:
    """The objective's weights, vehicle cost and job prize for this problem (see `Costs`)."""
    objective = problem.objective
    if objective is Objective.DURATION:
        distance, duration = 0, 1
    elif objective is Objective.LATENESS:
        distance, duration = 1, 100  # time first (earliest service), then distance
    else:
        distance, duration = 1, 0
    arc = 1
    for durations, distances in arrays(problem).values():
        cost = 0
        if distance:
            cost += distance * _max_finite(distances)
        if duration:
            cost += duration * _max_finite(durations)
        arc = max(arc, cost)
    service = max(
        (v.service for job in problem.jobs for v in (job.pickup, job.delivery) if v is not None),
        default=0,
    )
    detour = 2 * arc + duration * service
    stops = stop_count(problem)
    vehicle = 0
    if objective is Objective.VEHICLES:
        # One vehicle more must cost more than any distance it could save: a bound on every
        # route's length together (each stop entered once by its longest arc, and each return).
        vehicle = min((stops + len(problem.vehicles)) * arc + 1, 10**12)
    fixed = max((v.fixed_cost for v in problem.vehicles), default=0)
    prize = detour + fixed + vehicle + 1
    return Costs(distance, duration, vehicle, prize, balance_cap(problem))


def _max_finite(m: IntMatrix) -> int:
    if m.size == 0:
        return 0
    finite = m[m < UNREACHABLE]
    return int(finite.max()) if finite.size else 0


def priority_prize(costs: Costs, priority: int) -> int:
    """A job's prize: `prize` at priority 0 up to 11 x `prize` at 100, so when not everything
    fits the lower priorities go first (a priority-100 job outweighs ten priority-0 jobs)."""
    return costs.prize + costs.prize * max(0, min(100, priority)) // 10
