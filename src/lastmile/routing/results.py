"""A finished solve as the stored plan result: routes, unassigned tasks with reasons, totals."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import structlog

from lastmile.routing import executor
from lastmile.routing.metrics import ASSIGNMENT_ERRORS
from lastmile.routing.problem import Built, route_doc
from lastmile.routing.solver import model as m
from lastmile.routing.solver.checker import check_route

log = structlog.get_logger("lastmile.plans")


def result_doc(
    built: Built,
    outcome: executor.Outcome,
    starts_at: datetime,
    plan_id: str,
    versions: dict[str, str],
) -> dict[str, Any]:
    """The stored result: routes (locked ones included), unassigned tasks with reasons, totals."""
    problem = built.problem
    routes = []
    refused: list[dict[str, str]] = []
    warnings: list[str] = []
    every: dict[str, Sequence[m.Step]] = (
        {v: [] for v in built.fixed} | dict(outcome.plan.routes) | built.locked
    )
    for vehicle_id, steps in every.items():
        if not steps and vehicle_id not in built.fixed:
            continue
        locked = vehicle_id in built.locked
        schedule = check_route(problem, vehicle_id, steps)
        if schedule.violations and not locked:  # never hand out a route the checker refuses
            ASSIGNMENT_ERRORS.labels(kind="automatic").inc()
            log.error(
                "route_refused",
                plan_id=plan_id,
                driver_id=vehicle_id,
                violations=[v.rule for v in schedule.violations],
            )
            refused += [
                {"task_id": tid, "reason": "route_refused"}
                for s in steps
                if s.kind is not m.StepKind.BREAK
                for tid in built.job_tasks[s.ref]
                if tid is not None
            ]
            continue
        if schedule.violations:
            ASSIGNMENT_ERRORS.labels(kind="manual").inc()
            warnings += [f"locked route of {vehicle_id}: {v.rule}" for v in schedule.violations]
        routes.append(route_doc(built, schedule, starts_at, locked=locked))
    unassigned = (
        [
            {"task_id": tid, "reason": reason.value}
            for u in outcome.unassigned
            for tid in built.job_tasks[u.job_id]
            if tid is not None
            for reason in (u.reason,)
        ]
        + [{"task_id": tid, "reason": reason.value} for tid, reason in built.left_out]
        + refused
    )
    stops = sum(1 for r in routes for s in r["stops"] if s["task_id"] and not s["fixed"])
    return {
        "routes": routes,
        "unassigned": unassigned,
        "summary": {
            "tasks": stops + len(unassigned),
            "assigned": stops,
            "unassigned": len(unassigned),
            "routes": sum(1 for r in routes if r["stops"]),
            "distance_m": sum(r["distance_m"] for r in routes),
            "duration_s": sum(r["duration_s"] for r in routes),
            "solve_seconds": round(outcome.seconds, 3),
        },
        "task_versions": versions,
        "warnings": warnings,
    }
