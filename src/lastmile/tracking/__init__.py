"""Tracking: driver telemetry, live positions and the live feed, geofenced arrival, live ETAs,
recipient tracking links."""
