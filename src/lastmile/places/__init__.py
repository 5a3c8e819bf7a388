"""Addresses, geocoding adapters and zones (GeoJSON polygons)."""
