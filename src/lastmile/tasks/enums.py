"""Task kinds, states, and the one table of allowed transitions."""

from __future__ import annotations

from enum import StrEnum


class Kind(StrEnum):
    pickup = "pickup"
    dropoff = "dropoff"


class State(StrEnum):
    unassigned = "unassigned"
    assigned = "assigned"
    started = "started"
    arrived = "arrived"
    completed = "completed"
    failed = "failed"
    cancelled = "cancelled"


class Action(StrEnum):
    create = "create"
    assign = "assign"
    unassign = "unassign"
    start = "start"
    arrive = "arrive"
    complete = "complete"
    fail = "fail"
    cancel = "cancel"
    update = "update"


FINAL = frozenset({State.completed, State.failed, State.cancelled})
ACTIVE = frozenset({State.assigned, State.started, State.arrived})

# (action, from state) -> to state. Nothing else is allowed (409 invalid-state).
TRANSITIONS: dict[tuple[Action, State], State] = {
    (Action.assign, State.unassigned): State.assigned,
    (Action.assign, State.assigned): State.assigned,  # reassign or move in the route
    (Action.unassign, State.assigned): State.unassigned,
    (Action.start, State.assigned): State.started,
    (Action.arrive, State.started): State.arrived,
    (Action.complete, State.arrived): State.completed,
    (Action.fail, State.started): State.failed,
    (Action.fail, State.arrived): State.failed,
    **{(Action.cancel, s): State.cancelled for s in State if s not in FINAL},
}


def next_state(action: Action, current: State) -> State | None:
    """The state `action` leads to from `current`, or None when not allowed."""
    return TRANSITIONS.get((action, current))


class Requirement(StrEnum):
    photo = "photo"
    signature = "signature"
    notes = "notes"
    barcode = "barcode"
    min_age = "min_age"
