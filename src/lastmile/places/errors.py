"""Errors of the places domain: zones, geometry and geocoding."""

from __future__ import annotations

from lastmile.core.errors import DomainError, FieldError, InvalidState, NotFound, ValidationFailed


class ZoneNotFound(NotFound):
    title = "Zone not found"


class InvalidGeometry(ValidationFailed):
    """A zone geometry that is not a valid GeoJSON Polygon or MultiPolygon; `errors` names where."""

    code, title = "invalid-geometry", "Invalid geometry"


class GeocoderNotConfigured(InvalidState):
    code, title = "geocoder-not-configured", "No geocoder configured"


class AddressNotFound(ValidationFailed):
    """The geocoder answered, but found no place for the address."""

    code, title = "address-not-found", "Address not found"

    @classmethod
    def for_field(cls, field: str, address: str) -> AddressNotFound:
        return cls(
            f"the geocoder found no place for {address!r}",
            [FieldError(field, "no place found for this address", "address-not-found")],
        )


class GeocodingError(DomainError):
    """The geocoding provider failed; base of the provider errors (502)."""

    status, code, title = 502, "geocoding-failed", "Geocoding provider error"


class GeocoderRejected(GeocodingError):
    """The provider refused the request: a bad or missing API key, a policy block, a bad request.
    Retrying does not help; fix the configuration (`PUT /v1/geocoder`)."""

    code, title = "geocoder-rejected", "Geocoding provider refused the request"


class GeocoderBadResponse(GeocodingError):
    """The provider answered something that is not its documented format."""

    code, title = "geocoder-bad-response", "Geocoding provider sent an unexpected response"


class GeocodingUnavailable(GeocodingError):
    """The provider is unreachable, too slow or failing (503); retrying later may help."""

    status, code, title = 503, "geocoding-unavailable", "Geocoding provider unavailable"


class GeocodingQuotaExceeded(GeocodingUnavailable):
    """The provider's rate limit or quota is exhausted (503 with `Retry-After`)."""

    code, title = "geocoding-quota-exceeded", "Geocoding quota exceeded"
