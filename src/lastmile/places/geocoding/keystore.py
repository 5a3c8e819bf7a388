"""Provider API keys at rest: Fernet (AES-128-CBC + HMAC-SHA256) with a key derived from
`LASTMILE_SECRET_KEY` by HKDF-SHA256, so no second secret needs managing."""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_INFO = b"lastmile/places/geocoder-api-key/v1"


def _fernet(secret_key: str) -> Fernet:
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(
        secret_key.encode()
    )
    return Fernet(base64.urlsafe_b64encode(derived))


def encrypt(plain: str, *, secret_key: str) -> str:
    return _fernet(secret_key).encrypt(plain.encode()).decode("ascii")


def decrypt(token: str, *, secret_key: str) -> str | None:
    """The plain key, or None when it was encrypted under another secret key."""
    try:
        return _fernet(secret_key).decrypt(token.encode("ascii")).decode()
    except (InvalidToken, ValueError):
        return None
