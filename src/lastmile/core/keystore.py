"""Provider API keys at rest: Fernet (AES-128-CBC + HMAC-SHA256) with a key derived from
`LASTMILE_SECRET_KEY` by HKDF-SHA256, so no second secret needs managing.

Each use has its own `purpose` (the HKDF info), so a key stored for one domain cannot be
decrypted as another's.
"""

from __future__ import annotations

import base64
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

GEOCODER = "lastmile/places/geocoder-api-key/v1"
ROUTING = "lastmile/routing/provider-api-key/v1"
WEBHOOK = "lastmile/events/webhook-signing-secret/v1"


@lru_cache(maxsize=16)
def _fernet(secret_key: str, purpose: str) -> Fernet:
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose.encode()).derive(
        secret_key.encode()
    )
    return Fernet(base64.urlsafe_b64encode(derived))


def encrypt(plain: str, *, secret_key: str, purpose: str) -> str:
    return _fernet(secret_key, purpose).encrypt(plain.encode()).decode("ascii")


def decrypt(token: str, *, secret_key: str, purpose: str) -> str | None:
    """The plain key, or None when it was encrypted under another secret key or purpose."""
    try:
        return _fernet(secret_key, purpose).decrypt(token.encode("ascii")).decode()
    except (InvalidToken, ValueError):
        return None
