"""Prometheus metrics of dispatch."""

from __future__ import annotations

from prometheus_client import Counter

ASSIGNMENT_ERRORS = Counter(
    "lastmile_dispatch_assignment_errors_total",
    "Assignments the feasibility checker found breaking a rule: refused (automatic) or warned "
    "(manual).",
    ["kind"],
)
AUTO_ASSIGN = Counter(
    "lastmile_dispatch_auto_assign_total",
    "New tasks placed (or not) by their team's auto-assign mode.",
    ["mode", "outcome"],
)
