"""Academic benchmark instances as `Problem`s: Solomon / Gehring-Homberger (VRPTW), Li & Lim (PDPTW).

Conventions (those of the literature tables and of docs/solvers.md): Euclidean distances, travel
time equals distance, windows bound the start of service, the depot's due date bounds the return,
the fleet is the instance's fleet. The solver works in integers, so coordinates-derived distances,
times and service durations are scaled by `SCALE` and rounded; reported distances are recomputed
from the coordinates in double precision, in the instance's own units (`distance`).
"""

from __future__ import annotations

import csv
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lastmile.routing.solver.model import (
    Job,
    Matrix,
    Objective,
    Plan,
    Problem,
    StepKind,
    Vehicle,
    Visit,
    Window,
)

SCALE = 1000
"""Integer units per instance unit (VROOM's convention; docs/solvers.md)."""

__all__ = [
    "SCALE",
    "Bks",
    "Instance",
    "distance",
    "find_bks",
    "read",
    "read_lilim",
    "read_solomon",
]


@dataclass(frozen=True, slots=True)
class Bks:
    """A best-known solution: `hierarchical` (fewest vehicles, then distance) or `distance`."""

    objective: str
    vehicles: int
    distance: float
    source: str = ""


@dataclass(slots=True)
class Instance:
    """A benchmark instance: its problem, coordinates (for exact distances) and known BKS."""

    name: str
    family: str  # solomon, homberger, lilim
    kind: str  # vrptw or pdptw
    problem: Problem
    coords: np.ndarray  # (n + 1, 2), row 0 the depot; location i is row i
    customers: int
    bks: dict[str, Bks] = field(default_factory=dict)
    path: Path | None = None


def _rows(path: Path) -> list[list[float]]:
    rows = []
    for line in path.read_text().splitlines():
        parts = line.split()
        if not parts:
            continue
        try:
            rows.append([float(p) for p in parts])
        except ValueError:
            continue
    return rows


def _matrix(coords: np.ndarray) -> Matrix:
    diff = coords[:, None, :] - coords[None, :, :]
    dist = np.rint(np.sqrt((diff**2).sum(axis=2)) * SCALE).astype(np.int64).tolist()
    return Matrix(durations=dist, distances=dist)


def _scaled(value: float) -> int:
    return round(value * SCALE)


def family_of(path: Path) -> str:
    """The benchmark family a file belongs to, from its folder or its name."""
    parent = path.parent.name.lower()
    if parent in {"solomon", "homberger", "lilim"}:
        return parent
    stem = path.stem
    if "_" in stem:
        return "homberger"
    return "lilim" if stem[:1].islower() or stem.upper().startswith("L") else "solomon"


def read_solomon(path: str | Path, objective: Objective = Objective.DISTANCE) -> Instance:
    """A Solomon or Gehring-Homberger VRPTW file (VEHICLE / CUSTOMER sections)."""
    p = Path(path)
    rows = _rows(p)
    fleet, capacity = int(rows[0][0]), int(rows[0][1])
    nodes = [r for r in rows[1:] if len(r) >= 7]
    coords = np.array([[r[1], r[2]] for r in nodes], dtype=float)
    depot = nodes[0]
    jobs = [
        Job(
            id=str(int(r[0])),
            delivery=Visit(
                location=i,
                service=_scaled(r[6]),
                windows=(Window(_scaled(r[4]), _scaled(r[5])),),
            ),
            amount=(int(r[3]),),
        )
        for i, r in enumerate(nodes)
        if i > 0
    ]
    problem = _problem(jobs, fleet, capacity, depot, coords, objective)
    inst = Instance(p.stem, family_of(p), "vrptw", problem, coords, len(jobs), path=p)
    inst.bks = find_bks(p)
    return inst


def read_lilim(path: str | Path, objective: Objective = Objective.DISTANCE) -> Instance:
    """A Li & Lim PDPTW file: `vehicles capacity speed`, then one line per task."""
    p = Path(path)
    rows = _rows(p)
    fleet, capacity = int(rows[0][0]), int(rows[0][1])
    nodes = rows[1:]
    coords = np.array([[r[1], r[2]] for r in nodes], dtype=float)
    depot = nodes[0]

    def visit(i: int) -> Visit:
        r = nodes[i]
        return Visit(
            location=i, service=_scaled(r[6]), windows=(Window(_scaled(r[4]), _scaled(r[5])),)
        )

    jobs = []
    for i, r in enumerate(nodes):
        if i == 0 or r[3] < 0 or int(r[8]) == 0:
            continue  # deliveries are read with their pickup
        delivery = int(r[8])
        jobs.append(Job(id=str(i), pickup=visit(i), delivery=visit(delivery), amount=(int(r[3]),)))
    problem = _problem(jobs, fleet, capacity, depot, coords, objective)
    inst = Instance(p.stem, family_of(p), "pdptw", problem, coords, len(nodes) - 1, path=p)
    inst.bks = find_bks(p)
    return inst


def _problem(
    jobs: list[Job],
    fleet: int,
    capacity: int,
    depot: Sequence[float],
    coords: np.ndarray,
    objective: Objective,
) -> Problem:
    shift = Window(_scaled(depot[4]), _scaled(depot[5]))
    vehicles = [
        Vehicle(id=f"v{k + 1}", start=0, end=0, capacity=(capacity,), shift=shift)
        for k in range(fleet)
    ]
    return Problem(
        jobs=jobs,
        vehicles=vehicles,
        matrices={"car": _matrix(coords)},
        objective=objective,
        dimensions=1,
    )


def read(path: str | Path, objective: Objective = Objective.DISTANCE) -> Instance:
    """Either format, told apart by the first line (Li & Lim starts with three numbers)."""
    p = Path(path)
    first = next((line.split() for line in p.read_text().splitlines() if line.strip()), [])
    if len(first) == 3 and all(_is_number(x) for x in first):
        return read_lilim(p, objective)
    return read_solomon(p, objective)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def find_bks(path: Path) -> dict[str, Bks]:
    """BKS rows for this instance from the nearest `bks.csv` in its folder or one above."""
    for folder in [path.parent, *path.parent.parents]:
        table = folder / "bks.csv"
        if table.is_file():
            return _bks_rows(table, path.stem)
    return {}


def _bks_rows(table: Path, name: str) -> dict[str, Bks]:
    found: dict[str, Bks] = {}
    with table.open(newline="") as fh:
        for row in csv.DictReader(fh):
            if row.get("instance", "").lower() != name.lower():
                continue
            objective = (row.get("objective") or "").strip()
            try:
                bks = Bks(
                    objective, int(row["vehicles"]), float(row["distance"]), row.get("source", "")
                )
            except (KeyError, ValueError):
                continue
            found.setdefault(objective, bks)
    return found


def distance(instance: Instance, plan: Plan) -> float:
    """Total distance of the plan in the instance's units, summed in double precision."""
    coords = instance.coords
    problem = instance.problem
    total = 0.0
    for vehicle_id, steps in plan.routes.items():
        vehicle = problem.vehicle_by_id[vehicle_id]
        path: list[int] = [] if vehicle.start is None else [vehicle.start]
        for step in steps:
            if step.kind is StepKind.BREAK:
                continue
            job = problem.job_by_id[step.ref]
            visit = job.pickup if step.kind is StepKind.PICKUP and job.pickup else job.delivery
            if visit is None:
                visit = job.pickup
            assert visit is not None
            path.append(visit.location)
        if vehicle.end is not None and len(path) > (0 if vehicle.start is None else 1):
            path.append(vehicle.end)
        for a, b in itertools.pairwise(path):
            total += math.dist(coords[a], coords[b])
    return total
