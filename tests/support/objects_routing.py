"""Isolation-suite entries of travel-time matrices (routing settings)."""

from __future__ import annotations

from typing import Any

BODIES: dict[tuple[str, str], Any] = {
    ("put", "/v1/routing-settings"): {"provider": "offline"},
}
