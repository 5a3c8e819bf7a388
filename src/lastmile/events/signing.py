"""Standard Webhooks signing: `whsec_` secrets and the `webhook-*` headers of one request.

The signature is `v1,` + base64(HMAC-SHA256(secret, "{webhook-id}.{webhook-timestamp}.{body}"))
made by the reference library, over the exact bytes sent; while a rotated secret is still in
its overlap, both sign and the header carries both, space-separated."""

from __future__ import annotations

import base64
import secrets as secrets_module
from collections.abc import Sequence
from datetime import UTC, datetime
from functools import lru_cache

from standardwebhooks.webhooks import Webhook

from lastmile import __version__

PREFIX = "whsec_"
SECRET_BYTES = 32
USER_AGENT = f"lastmile-webhooks/{__version__}"


def new_secret() -> str:
    """A new endpoint secret: `whsec_` + base64 of 32 random bytes."""
    return PREFIX + base64.b64encode(secrets_module.token_bytes(SECRET_BYTES)).decode("ascii")


@lru_cache(maxsize=1024)
def _signer(secret: str) -> Webhook:
    return Webhook(secret)


def signature(*, secrets: Sequence[str], msg_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` value: one `v1,` signature per secret, newest first."""
    at = datetime.fromtimestamp(timestamp, UTC)
    text = body.decode("utf-8")
    return " ".join(_signer(s).sign(msg_id, at, text) for s in secrets)


def headers(*, secrets: Sequence[str], msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """Every header of one delivery attempt."""
    return {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature(
            secrets=secrets, msg_id=msg_id, timestamp=timestamp, body=body
        ),
    }
