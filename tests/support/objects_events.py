"""Isolation-suite entries of the events domain (catalogue, polling feed)."""

from __future__ import annotations

# The catalogue is documentation: every authenticated caller may read it.
DRIVER_ALLOWED = {("get", "/v1/event-types")}
