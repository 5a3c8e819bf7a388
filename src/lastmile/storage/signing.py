"""Short-lived signed URLs for stored files: `/v1/files/{token}`.

The token is an HS256 JWT over the tenant id, the storage key, the content type and the
expiry, signed with a key derived from `LASTMILE_SECRET_KEY` for this one purpose, so a
file token can never pass as an access token or the other way round. Whoever holds the URL
may fetch the file until it expires (a bearer capability), so URLs are handed out only to
callers allowed to see the object, and live minutes.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt

from lastmile.core import clock
from lastmile.core.config import get_settings
from lastmile.storage import InvalidKey, validate_key

__all__ = ["FILES_PATH", "FileGrant", "signed_url", "verify_token"]

FILES_PATH = "/v1/files/"
_ALGORITHM = "HS256"
_TYP = "file"
_PURPOSE = b"lastmile.storage.signed-url.v1"


@dataclass(frozen=True)
class FileGrant:
    """What a valid token allows: one object of one tenant, until `expires_at`."""

    tenant_id: str
    storage_key: str
    content_type: str
    expires_at: datetime


def _key(secret: str) -> bytes:
    return hmac.new(secret.encode(), _PURPOSE, hashlib.sha256).digest()


def sign(
    *, tenant_id: str, storage_key: str, content_type: str, ttl: timedelta | None = None
) -> tuple[str, datetime]:
    """A token for one stored object and its expiry time."""
    s = get_settings()
    validate_key(storage_key)
    if not storage_key.startswith(f"{tenant_id}/"):
        raise InvalidKey(f"storage key {storage_key!r} is not in tenant {tenant_id}'s namespace")
    expires = clock.now() + (
        ttl if ttl is not None else timedelta(seconds=s.signed_url_ttl_seconds)
    )
    claims = {
        "typ": _TYP,
        "tid": tenant_id,
        "key": storage_key,
        "ct": content_type,
        "exp": int(expires.timestamp()),
    }
    return jwt.encode(claims, _key(s.secret_key), algorithm=_ALGORITHM), expires.replace(
        microsecond=0
    )


def signed_url(
    *, tenant_id: str, storage_key: str, content_type: str, ttl: int | timedelta | None = None
) -> tuple[str, datetime]:
    """The relative URL (`/v1/files/…`) serving one stored object, and when it expires.

    `ttl` is in seconds (or a timedelta); default `LASTMILE_SIGNED_URL_TTL_SECONDS`.
    """
    delta = timedelta(seconds=ttl) if isinstance(ttl, int) else ttl
    token, expires = sign(
        tenant_id=tenant_id, storage_key=storage_key, content_type=content_type, ttl=delta
    )
    return FILES_PATH + token, expires


def verify_token(token: str) -> FileGrant | None:
    """The grant of a valid, unexpired token; None for anything else (tampered, expired...)."""
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            _key(get_settings().secret_key),
            algorithms=[_ALGORITHM],
            options={"require": ["exp", "typ", "tid", "key", "ct"], "verify_exp": False},
        )
    except jwt.PyJWTError:
        return None
    try:
        exp = datetime.fromtimestamp(int(claims["exp"]), tz=UTC)
        tenant_id, key, ct = str(claims["tid"]), str(claims["key"]), str(claims["ct"])
        validate_key(key)
    except (TypeError, ValueError, OverflowError, OSError):
        return None
    if claims["typ"] != _TYP or exp <= clock.now() or not key.startswith(f"{tenant_id}/"):
        return None
    return FileGrant(tenant_id=tenant_id, storage_key=key, content_type=ct, expires_at=exp)
