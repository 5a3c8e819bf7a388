"""Base shapes for request and response bodies."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, StringConstraints, WithJsonSchema

# Strings never carry NUL bytes (PostgreSQL refuses them); the pattern says so in the schema.
Text = Annotated[str, StringConstraints(pattern=r"^[^\x00]*$")]
Name = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[^\x00]*$")]


class InputModel(BaseModel):
    """A request body: unknown fields are refused."""

    model_config = ConfigDict(extra="forbid")


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
