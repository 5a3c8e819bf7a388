"""Request and response shapes of the places domain."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, JsonValue, StringConstraints, WithJsonSchema

from lastmile.core.schemas import InputModel, Name, OutputModel
from lastmile.places.geometry import MAX_POSITIONS

SQUARE = [[[4.88, 52.36], [4.92, 52.36], [4.92, 52.38], [4.88, 52.38], [4.88, 52.36]]]

_POSITION = {
    "type": "array",
    "description": "[longitude, latitude] in WGS 84 degrees: longitude in [-180, 180], "
    "latitude in [-90, 90] (an altitude, if any, is dropped).",
    "items": {"type": "number", "minimum": -180, "maximum": 180},
    "minItems": 2,
    "maxItems": 3,
}
_RINGS = {
    "type": "array",
    "description": "Linear rings: the shell, then any holes. Each ring is closed (its last "
    "position repeats its first) and has at least 4 positions.",
    "minItems": 1,
    "items": {"type": "array", "minItems": 4, "items": _POSITION},
}
GEOMETRY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "title": "Geometry",
    "description": "A GeoJSON (RFC 7946) Polygon or MultiPolygon, at most "
    f"{MAX_POSITIONS} positions. Rings must not cross themselves or each other, holes lie "
    "inside their shell, and the polygons of a MultiPolygon must not overlap.",
    "required": ["type", "coordinates"],
    "oneOf": [
        {
            "properties": {
                "type": {"type": "string", "const": "Polygon"},
                "coordinates": _RINGS,
            }
        },
        {
            "properties": {
                "type": {"type": "string", "const": "MultiPolygon"},
                "coordinates": {"type": "array", "minItems": 1, "items": _RINGS},
            }
        },
    ],
    "examples": [{"type": "Polygon", "coordinates": SQUARE}],
}

# Validated by places.geometry (precise errors naming each position); the schema documents it.
GeometryIn = Annotated[dict[str, Any], WithJsonSchema(GEOMETRY_SCHEMA)]
GeometryOut = Annotated[dict[str, Any], WithJsonSchema(GEOMETRY_SCHEMA)]
Description = Annotated[str, StringConstraints(max_length=2000, pattern=r"^[^\x00]*$")]
ObjectId = Annotated[
    str, StringConstraints(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_-]+$")
]
Address = Annotated[
    str, StringConstraints(min_length=1, max_length=500, pattern=r"^[^\x00]*[^\x00\s][^\x00]*$")
]
BaseUrl = Annotated[
    str,
    StringConstraints(max_length=500, pattern=r"^https?://[A-Za-z0-9.\-\[\]:]+(/[^\s?#\x00]*)?$"),
]
ProviderKey = Annotated[
    str, StringConstraints(min_length=1, max_length=500, pattern=r"^[\x21-\x7e]+$")
]
Provider = Literal["none", "nominatim", "google"]


def _example(**fields: JsonValue) -> ConfigDict:
    """Config giving a request model one whole-body example in the OpenAPI schema."""
    return ConfigDict(json_schema_extra={"examples": [fields]})


class ZoneCreate(InputModel):
    model_config = _example(
        name="Amsterdam centre",
        description="Inside the canal ring",
        geometry={"type": "Polygon", "coordinates": SQUARE},  # type: ignore[dict-item]
        team_ids=[],
    )

    name: Name = Field(examples=["Amsterdam centre"])
    description: Description = ""
    geometry: GeometryIn
    team_ids: list[ObjectId] = Field(
        default_factory=list, max_length=100, description="Teams that serve this zone."
    )


class ZoneUpdate(InputModel):
    model_config = _example(name="Amsterdam centre (extended)", team_ids=[])

    name: Name | None = None
    description: Description | None = None
    geometry: GeometryIn | None = None
    team_ids: list[ObjectId] | None = Field(
        default=None, max_length=100, description="Replaces the zone's teams."
    )


class ZoneRead(OutputModel):
    id: str
    name: str
    description: str
    geometry: GeometryOut
    bbox: list[float] = Field(
        description="[min_lng, min_lat, max_lng, max_lat], as a GeoJSON bbox.",
        min_length=4,
        max_length=4,
    )
    team_ids: list[str]
    created_at: datetime
    updated_at: datetime


class ZoneMatches(OutputModel):
    """The zones containing a point, smallest first."""

    data: list[ZoneRead]


class GeocoderConfigUpdate(InputModel):
    model_config = _example(provider="nominatim", base_url="https://nominatim.example.com")

    provider: Provider = Field(
        description="`none` turns geocoding off (and forgets the URL and key)."
    )
    base_url: BaseUrl | None = Field(
        default=None,
        description="Overrides the provider's public endpoint (a self-hosted Nominatim, a "
        "proxy): an http or https URL without query or fragment.",
    )
    api_key: ProviderKey | None = Field(
        default=None,
        description="Write-only. Required for google. Omit it to keep the stored key, send "
        "null to remove it.",
    )


class GeocoderConfigRead(OutputModel):
    provider: Provider
    base_url: str | None = None
    api_key_set: bool = Field(description="Whether an API key is stored (it is never returned).")
    updated_at: datetime | None = None


class GeocodeRequest(InputModel):
    model_config = _example(address="Dam 1, 1012 JS Amsterdam")

    address: Address = Field(examples=["Dam 1, 1012 JS Amsterdam"])


class GeocodeRead(OutputModel):
    lat: float
    lng: float
    formatted_address: str
    provider: str
