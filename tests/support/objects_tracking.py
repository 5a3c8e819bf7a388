"""Isolation-suite entries of tracking (location telemetry and its settings)."""

from __future__ import annotations

from typing import Any

BODIES: dict[tuple[str, str], Any] = {
    ("post", "/v1/drivers/me/locations"): {"points": []},
    ("post", "/v1/drivers/{driver_id}/locations"): {
        "points": [{"lat": 52.52, "lng": 13.405, "recorded_at": "2026-11-26T09:30:05Z"}]
    },
    ("put", "/v1/tracking-settings"): {"retention_days": 30},
}
# A driver posts their own points; the map, tracks and settings are for the office.
DRIVER_ALLOWED = {("post", "/v1/drivers/me/locations")}
