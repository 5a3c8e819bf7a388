"""Tracking-link tokens: derived from the task id with a key of their own, so they need not be
stored and the URL can be shown on the task at any time; only their SHA-256 digest is stored."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from functools import lru_cache

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from lastmile.core.config import get_settings

PURPOSE = b"lastmile/tracking/recipient-link-token/v1"
TOKEN_BYTES = 18  # 144 bits, 24 URL-safe characters
TOKEN = re.compile(r"^[A-Za-z0-9_-]{24}$")
PAGE_PATH = "/t/"


@lru_cache(maxsize=4)
def _key(secret_key: str) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=PURPOSE).derive(
        secret_key.encode()
    )


def token_for(task_id: str, *, secret_key: str | None = None) -> str:
    """The task's link token: base64url(HMAC-SHA256(link key, task id)), cut to 144 bits."""
    key = _key(secret_key if secret_key is not None else get_settings().secret_key)
    mac = hmac.new(key, task_id.encode(), hashlib.sha256).digest()[:TOKEN_BYTES]
    return base64.urlsafe_b64encode(mac).decode("ascii")


def well_formed(token: str) -> bool:
    """Whether the string could be a token at all (checked before any database work)."""
    return TOKEN.match(token) is not None


def digest(token: str) -> str:
    """What is stored and looked up: the token's SHA-256, hex."""
    return hashlib.sha256(token.encode()).hexdigest()


def url_for(task_id: str) -> str:
    """The recipient's page of the task: the public URL and `/t/<token>`."""
    return get_settings().public_url.rstrip("/") + PAGE_PATH + token_for(task_id)
