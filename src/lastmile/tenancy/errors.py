"""Errors of the tenancy domain."""

from __future__ import annotations

from lastmile.core.errors import Conflict, NotFound, Unauthorized


class UserNotFound(NotFound):
    title = "User not found"


class ApiKeyNotFound(NotFound):
    title = "API key not found"


class EmailTaken(Conflict):
    code, title = "email-taken", "Email already in use in this tenant"


class InvalidCredentials(Unauthorized):
    code, title = "invalid-credentials", "Invalid credentials"


class RefreshTokenReused(InvalidCredentials):
    """Raised after revoking the token family; the revocation is kept although the call fails."""

    commit_changes = True
