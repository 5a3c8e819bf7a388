"""Roles and scopes."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    """What a user or API key may do in its tenant."""

    admin = "admin"
    dispatcher = "dispatcher"
    driver = "driver"
    viewer = "viewer"


ROLE_RANK = {Role.viewer: 0, Role.driver: 0, Role.dispatcher: 1, Role.admin: 2}

SCOPES = (
    "*",
    "users:read",
    "users:write",
    "api_keys:read",
    "api_keys:write",
    "fleet:read",
    "fleet:write",
    "drivers:read",
    "drivers:write",
    "zones:read",
    "zones:write",
    "geocoder:read",
    "geocoder:write",
    "geocoder:use",
    "routing:read",
    "routing:write",
    "incidents:read",
    "incidents:write",
    "tasks:read",
    "tasks:write",
    "templates:read",
    "templates:write",
    "integrations:read",
    "integrations:write",
    "events:read",
    "webhooks:read",
    "webhooks:write",
    "tracking:read",
    "tracking:write",
)
