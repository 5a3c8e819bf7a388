"""Domain errors; the API maps each to an RFC 9457 problem in one place."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class FieldError:
    """One problem with one input field (`field` is a dotted path such as `body.name`)."""

    field: str
    message: str
    code: str = "invalid"

    def as_dict(self) -> dict[str, Any]:
        return {"field": self.field, "message": self.message, "code": self.code}


@dataclass
class DomainError(Exception):
    """Base of every error a service raises on purpose."""

    detail: str = ""
    errors: list[FieldError] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    status = 400
    code = "bad-request"
    title = "Bad request"
    # When true, the unit of work commits what was done before the error was raised.
    commit_changes = False

    def __post_init__(self) -> None:
        super().__init__(self.detail)


class BadRequest(DomainError):
    status, code, title = 400, "bad-request", "Bad request"


class Unauthorized(DomainError):
    status, code, title = 401, "unauthorized", "Authentication required"


class Forbidden(DomainError):
    status, code, title = 403, "forbidden", "Not allowed"


class NotFound(DomainError):
    status, code, title = 404, "not-found", "Not found"


class Conflict(DomainError):
    status, code, title = 409, "conflict", "Conflict"


class InvalidState(Conflict):
    code, title = "invalid-state", "Invalid state"


class PayloadTooLarge(DomainError):
    status, code, title = 413, "payload-too-large", "Payload too large"


class ValidationFailed(DomainError):
    status, code, title = 422, "validation-error", "Invalid input"


class RateLimited(DomainError):
    status, code, title = 429, "rate-limited", "Too many requests"
