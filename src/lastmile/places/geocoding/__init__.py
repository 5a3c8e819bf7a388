"""Geocoding adapters behind one Protocol: Nominatim and the Google Geocoding API."""

from __future__ import annotations

from lastmile.places.geocoding.base import Geocoder, GeocodeResult
from lastmile.places.geocoding.google import GoogleGeocoder
from lastmile.places.geocoding.nominatim import NominatimGeocoder

PROVIDERS = ("none", "nominatim", "google")

__all__ = ["PROVIDERS", "GeocodeResult", "Geocoder", "GoogleGeocoder", "NominatimGeocoder"]
