"""Base shapes for request and response bodies."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, get_args

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    StringConstraints,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
)
from pydantic_core import PydanticCustomError

# Strings never carry NUL bytes (PostgreSQL refuses them); the pattern says so in the schema.
Text = Annotated[str, StringConstraints(pattern=r"^[^\x00]*$")]
Name = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[^\x00]*$")]


def _admits_bool(annotation: Any) -> bool:
    if annotation is bool or annotation is Any:
        return True
    return any(_admits_bool(a) for a in get_args(annotation) if not isinstance(a, (str, int)))


def not_bool(value: Any) -> Any:
    """Refuse JSON true/false where a number is expected (Python would read them as 1 and 0)."""
    if isinstance(value, bool):
        raise ValueError("must be a number, not a boolean")
    return value


# Put last in an Annotated number (after its Field constraints, which the schema then keeps):
# JSON numbers (or numeric strings from CSV rows) pass, true/false do not.
NotBool = BeforeValidator(not_bool)


_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}")


def date_time_text(value: Any) -> Any:
    """Only an RFC 3339 date-time string (or a datetime given by our own code): Pydantic would
    otherwise read a number, or a string of digits, as seconds since 1970."""
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not _RFC3339.match(value):
        raise PydanticCustomError(
            "datetime_type",
            "must be an RFC 3339 date-time with a time zone, e.g. 2026-11-26T09:00:00Z",
        )
    return value


# A point in time in a request: a date-time string with a time zone, nothing else.
Instant = Annotated[AwareDatetime, BeforeValidator(date_time_text)]


class InputModel(BaseModel):
    """A request body: unknown fields are refused, and so are booleans given for numbers or
    strings (Python would read true as 1)."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="before")
    @classmethod
    def _no_stray_bool(cls, value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, bool) and info.field_name is not None:
            field = cls.model_fields.get(info.field_name)
            if field is not None and not _admits_bool(field.annotation):
                raise ValueError("must not be a boolean")
        return value


class OutputModel(BaseModel):
    """A response body, built from ORM objects."""

    model_config = ConfigDict(from_attributes=True)


_EMAIL = re.compile(
    r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
)


def _email(value: str) -> str:
    if len(value) > 320 or not _EMAIL.match(value):
        raise ValueError("not a valid email address")
    return value.lower()


# An email address (dot-atom form), stored lower-cased. Unlike pydantic's EmailStr it
# accepts reserved domains such as `.test`, which tenants use for staging accounts.
Email = Annotated[
    str,
    StringConstraints(max_length=320),
    AfterValidator(_email),
    WithJsonSchema({"type": "string", "format": "email", "maxLength": 320}),
]
