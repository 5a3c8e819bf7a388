"""Request and response shapes of the routing settings."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import ConfigDict, Field, JsonValue, StringConstraints

from lastmile.core.schemas import InputModel, NotBool, OutputModel
from lastmile.fleet.enums import VehicleType
from lastmile.routing.matrix.offline import DEFAULT_DETOUR_FACTOR

Provider = Literal["offline", "osrm", "google"]
BaseUrl = Annotated[
    str,
    StringConstraints(max_length=500, pattern=r"^https?://[A-Za-z0-9.\-\[\]:]+(/[^\s?#\x00]*)?$"),
]
ProviderKey = Annotated[
    str, StringConstraints(min_length=1, max_length=500, pattern=r"^[\x21-\x7e]+$")
]
Speed = Annotated[float, Field(gt=0, le=200), NotBool]
DetourFactor = Annotated[float, Field(ge=1.0, le=3.0), NotBool]

_EXAMPLE: dict[str, JsonValue] = {
    "provider": "osrm",
    "base_url": "http://osrm.internal:5000",
    "detour_factor": 1.3,
    "speeds_kmh": {"car": 30, "bicycle": 15},
}


class RoutingSettingsUpdate(InputModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_EXAMPLE]})

    provider: Provider = Field(
        description="Where travel times come from: `offline` (great-circle distance x detour "
        "factor at an average speed; no network), `osrm` (an OSRM server's Table service) or "
        "`google` (the Routes API). `offline` forgets the URL and key."
    )
    base_url: BaseUrl | None = Field(
        default=None,
        description="Required for osrm (e.g. `http://osrm.internal:5000`); for google it "
        "overrides the public endpoint (a proxy). An http or https URL without query or "
        "fragment.",
    )
    api_key: ProviderKey | None = Field(
        default=None,
        description="Write-only. Required for google. Omit it to keep the stored key, send "
        "null to remove it.",
    )
    detour_factor: DetourFactor = Field(
        default=DEFAULT_DETOUR_FACTOR,
        description="Offline estimate: road distance = great-circle distance x this factor.",
    )
    speeds_kmh: dict[VehicleType, Speed] = Field(
        default_factory=dict,
        description="Offline estimate: average speed (km/h, door to door) per vehicle type. "
        "Types left out use the defaults; this map replaces the stored one.",
    )


class RoutingSettingsRead(OutputModel):
    provider: Provider
    base_url: str | None = None
    api_key_set: bool = Field(description="Whether an API key is stored (it is never returned).")
    detour_factor: float
    speeds_kmh: dict[VehicleType, float] = Field(
        description="The speed (km/h) the offline estimate uses for every vehicle type: the "
        "tenant's own, or the default."
    )
    updated_at: datetime | None = None
