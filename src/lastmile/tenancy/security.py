"""Password hashing (argon2), API key digests and JWT access/refresh tokens."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from lastmile.core import clock
from lastmile.core.config import Settings, get_settings
from lastmile.core.ids import new_secret

API_KEY_PREFIX = "lmk"
JWT_ALGORITHM = "HS256"


@lru_cache(maxsize=4)
def _hasher(time_cost: int, memory_cost: int, parallelism: int) -> PasswordHasher:
    return PasswordHasher(time_cost=time_cost, memory_cost=memory_cost, parallelism=parallelism)


def hasher(settings: Settings | None = None) -> PasswordHasher:
    """The argon2 hasher with the configured cost."""
    s = settings or get_settings()
    return _hasher(s.argon2_time_cost, s.argon2_memory_cost, s.argon2_parallelism)


def hash_password(password: str) -> str:
    return hasher().hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True when the password matches; a missing hash still costs one verification."""
    h = hasher()
    if password_hash is None:
        password_hash = _dummy_hash()
        password = password + "\x01never"
    try:
        return h.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return hasher().hash("lastmile-dummy-password")


def new_api_key() -> str:
    """A fresh API key (about 256 bits of entropy), shown to its owner once."""
    return new_secret(API_KEY_PREFIX, 32)


def digest(token: str) -> str:
    """SHA-256 hex digest: how API keys are stored and looked up."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def encode_token(claims: dict[str, Any], ttl: timedelta) -> tuple[str, datetime]:
    """A signed JWT with issue and expiry times; returns the token and its expiry."""
    now = clock.now()
    exp = now + ttl
    payload = {**claims, "iat": int(now.timestamp()), "exp": int(exp.timestamp())}
    return jwt.encode(payload, get_settings().secret_key, algorithm=JWT_ALGORITHM), exp


def decode_token(token: str, typ: str) -> dict[str, Any] | None:
    """The claims of a valid, unexpired token of the given type, else None."""
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            get_settings().secret_key,
            algorithms=[JWT_ALGORITHM],
            options={"require": ["exp", "iat", "sub", "tid", "typ"], "verify_exp": False},
        )
    except jwt.PyJWTError:
        return None
    if claims.get("typ") != typ or int(claims["exp"]) <= int(clock.now().timestamp()):
        return None
    return claims
