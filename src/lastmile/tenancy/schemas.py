"""Request and response shapes of the tenancy domain."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import ConfigDict, Field, JsonValue, StringConstraints

from lastmile.core.schemas import Email, InputModel, Instant, Name, OutputModel, Text
from lastmile.tenancy.enums import SCOPES, Role

Password = Annotated[str, StringConstraints(min_length=8, max_length=256, pattern=r"^[^\x00]*$")]
Scope = Annotated[
    str, StringConstraints(pattern="^(" + "|".join(s.replace("*", r"\*") for s in SCOPES) + ")$")
]


def _example(**fields: JsonValue) -> ConfigDict:
    """Config giving a request model one whole-body example in the OpenAPI schema."""
    return ConfigDict(json_schema_extra={"examples": [fields]})


class TenantCreate(InputModel):
    model_config = _example(
        name="Acme Deliveries",
        admin_email="ops@example.com",
        admin_name="Olivia Ops",
        admin_password="correct-horse-battery",
    )

    name: Name = Field(examples=["Acme Deliveries"])
    admin_email: Email = Field(examples=["ops@example.com"])
    admin_name: Name = "Admin"
    admin_password: Password | None = None


class TenantRead(OutputModel):
    id: str
    name: str
    status: str
    created_at: datetime


class UserCreate(InputModel):
    model_config = _example(
        email="dana@example.com",
        name="Dana Dispatcher",
        role="dispatcher",
        password="correct-horse-battery",
    )

    email: Email = Field(examples=["dana@example.com"])
    name: Name = Field(examples=["Dana Dispatcher"])
    role: Role = Field(examples=["dispatcher"])
    password: Password | None = None


class UserUpdate(InputModel):
    model_config = _example(role="viewer", is_active=False)

    name: Name | None = None
    role: Role | None = None
    password: Password | None = None
    is_active: bool | None = None


class UserRead(OutputModel):
    id: str
    email: str
    name: str
    role: Role
    is_active: bool
    created_at: datetime
    updated_at: datetime
    last_login_at: datetime | None = None


class ApiKeyCreate(InputModel):
    model_config = _example(
        name="POS integration",
        role="dispatcher",
        scopes=["users:read"],
        expires_at="2030-01-01T00:00:00Z",
    )

    name: Name = Field(examples=["POS integration"])
    role: Role = Field(default=Role.dispatcher, description="The role the key acts with.")
    scopes: list[Scope] = Field(
        default_factory=lambda: ["*"], max_length=len(SCOPES), examples=[["*"]]
    )
    expires_at: Instant | None = None


class ApiKeyRead(OutputModel):
    id: str
    name: str
    prefix: str = Field(description="The first characters of the key, to recognise it.")
    role: Role
    scopes: list[str]
    created_by: str | None = None
    created_at: datetime
    last_used_at: datetime | None = None
    expires_at: datetime | None = None
    revoked_at: datetime | None = None


class ApiKeyCreated(ApiKeyRead):
    key: str = Field(description="The secret key. Shown once; store it now.")


class TenantCreated(OutputModel):
    tenant: TenantRead
    admin_user: UserRead
    api_key: ApiKeyCreated


class LoginRequest(InputModel):
    model_config = _example(email="dana@example.com", password="correct-horse-battery")

    email: Email
    password: Annotated[str, StringConstraints(min_length=1, max_length=256, pattern=r"^[^\x00]*$")]
    tenant_id: Text | None = Field(
        default=None, description="Needed only when the email belongs to several tenants."
    )


class RefreshRequest(InputModel):
    model_config = _example(refresh_token="eyJhbGciOiJIUzI1NiJ9.eyJ0eXAiOiJyZWZyZXNoIn0.c2ln")

    refresh_token: Annotated[
        str, StringConstraints(min_length=1, max_length=4096, pattern=r"^[^\x00]*$")
    ]


class TokenPair(OutputModel):
    access_token: str
    refresh_token: str
    token_type: str = "bearer"
    expires_in: int = Field(description="Seconds until the access token expires.")


class Me(OutputModel):
    tenant_id: str
    actor_id: str
    actor_kind: str
    role: Role
    scopes: list[str]
