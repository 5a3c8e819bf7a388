"""The pure solver: problems, solutions, schedules, feasibility checks and engines (no I/O)."""
