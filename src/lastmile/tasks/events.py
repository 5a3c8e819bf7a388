"""Events the tasks domain emits (version 1): a task's life, its incidents, its imports."""

from __future__ import annotations

from lastmile.events.catalogue import EventType
from lastmile.tasks.enums import Action
from lastmile.tasks.incident_schemas import IncidentRead
from lastmile.tasks.schemas import ImportRead, TaskRead


def _task(name: str, description: str) -> EventType:
    return EventType(name, description, TaskRead, "task")


TASK_CREATED = _task("task.created", "A task was created (API, batch, import, template).")
TASK_UPDATED = _task("task.updated", "A task's details changed (place, window, load, notes...).")
TASK_ASSIGNED = _task(
    "task.assigned", "A task was given to a driver, or moved within or between routes."
)
TASK_UNASSIGNED = _task("task.unassigned", "A task was taken off its driver's route.")
TASK_STARTED = _task("task.started", "The driver set off for the task.")
TASK_ARRIVED = _task("task.arrived", "The driver arrived at the task's place.")
TASK_COMPLETED = _task("task.completed", "The task was done; `completion` holds the proof.")
TASK_FAILED = _task("task.failed", "The driver could not do the task; `completion` says why.")
TASK_CANCELLED = _task("task.cancelled", "The task was cancelled.")
TASK_ETA_CHANGED = _task(
    "task.eta_changed", "The task's planned arrival moved by more than the tenant's threshold."
)
TASK_DELAYED = _task(
    "task.delayed", "The task is predicted to arrive after its window ends (sent once)."
)

BY_ACTION = {
    Action.create: TASK_CREATED,
    Action.update: TASK_UPDATED,
    Action.assign: TASK_ASSIGNED,
    Action.unassign: TASK_UNASSIGNED,
    Action.start: TASK_STARTED,
    Action.arrive: TASK_ARRIVED,
    Action.complete: TASK_COMPLETED,
    Action.fail: TASK_FAILED,
    Action.cancel: TASK_CANCELLED,
}

INCIDENT_CREATED = EventType(
    "incident.created", "A driver or dispatcher reported an incident.", IncidentRead, "incident"
)
INCIDENT_RESOLVED = EventType(
    "incident.resolved", "An incident was marked resolved.", IncidentRead, "incident"
)
IMPORT_COMPLETED = EventType(
    "import.completed",
    "A CSV task import finished (`state` done or failed, with counts and row errors).",
    ImportRead,
    "import",
)

EVENT_TYPES = (
    *BY_ACTION.values(),
    TASK_ETA_CHANGED,
    TASK_DELAYED,
    INCIDENT_CREATED,
    INCIDENT_RESOLVED,
    IMPORT_COMPLETED,
)
