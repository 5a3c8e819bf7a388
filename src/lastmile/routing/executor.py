"""Solving off the event loop: route plans run in a pool of planner processes."""

from __future__ import annotations

import asyncio
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

from lastmile.core.config import get_settings
from lastmile.routing.solver.model import Plan, Problem, Unassigned

_pool: ProcessPoolExecutor | None = None


@dataclass(frozen=True)
class Outcome:
    """What a solve returns across the process boundary."""

    plan: Plan
    unassigned: list[Unassigned]
    engine: str
    seconds: float


def _solve(problem: Problem, budget: float, engine: str | None) -> Outcome:
    from lastmile.routing.solver.solve import solve  # imported in the planner process

    solution = solve(problem, budget, engine=engine)
    return Outcome(solution.plan, list(solution.unassigned), solution.engine, solution.wall_seconds)


def pool() -> ProcessPoolExecutor:
    """The process pool (started on first use; `LASTMILE_PLANNER_PROCESSES` processes)."""
    global _pool
    if _pool is None:
        _pool = ProcessPoolExecutor(
            max_workers=get_settings().planner_processes,
            mp_context=multiprocessing.get_context("forkserver"),
        )
    return _pool


async def solve(problem: Problem, budget: float, engine: str | None = None) -> Outcome:
    """Solve in a planner process; the event loop keeps serving meanwhile."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(pool(), _solve, problem, budget, engine)


def _load_solvers() -> None:
    from lastmile.routing.solver import solve  # noqa: F401  (imports PyVRP and VROOM)


def warm() -> None:
    """Start the planner processes and load the solvers in them, without waiting."""
    planner = pool()
    for _ in range(get_settings().planner_processes):
        planner.submit(_load_solvers)


def shutdown() -> None:
    global _pool
    if _pool is not None:
        _pool.shutdown(wait=False, cancel_futures=True)
        _pool = None
