"""Opaque, unguessable, prefixed identifiers such as `tsk_…`."""

from __future__ import annotations

import base64
import secrets


def new_id(prefix: str) -> str:
    """A new id: the prefix, an underscore and 24 base32 characters (120 random bits)."""
    raw = base64.b32encode(secrets.token_bytes(15)).decode("ascii").lower()
    return f"{prefix}_{raw}"


def new_secret(prefix: str, nbytes: int = 32) -> str:
    """A high-entropy secret token with a readable prefix."""
    return f"{prefix}_{secrets.token_urlsafe(nbytes)}"
