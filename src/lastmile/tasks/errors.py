"""Errors of the tasks domain."""

from __future__ import annotations

from lastmile.core.errors import Conflict, InvalidState, NotFound, ValidationFailed


class TaskNotFound(NotFound):
    title = "Task not found"


class InvalidTransition(InvalidState):
    code, title = "invalid-transition", "Transition not allowed"


class DuplicateExternalRef(Conflict):
    code, title = "duplicate-external-ref", "external_ref already used in this tenant"


class DependencyNotMet(InvalidState):
    code, title = "dependency-not-met", "Linked pickup not completed"


class MissingProof(ValidationFailed):
    code, title = "missing-proof", "Required proof of delivery missing"
