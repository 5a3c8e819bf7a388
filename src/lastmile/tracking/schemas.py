"""Request and response shapes of tracking: location batches, positions, tracks, settings."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BeforeValidator,
    ConfigDict,
    Field,
    JsonValue,
    WithJsonSchema,
)
from pydantic_core import PydanticCustomError

from lastmile.core.schemas import InputModel, OutputModel

MAX_POINTS = 500
MAX_RETENTION_DAYS = 365


def _timestamp_text(value: Any) -> Any:
    if not isinstance(value, str):
        raise PydanticCustomError(
            "datetime_type", "must be an RFC 3339 date-time string with a time zone"
        )
    return value


def _json_number(value: Any) -> Any:
    """A JSON number only (14 and 14.0 alike), not a string or a boolean."""
    if isinstance(value, (str, bool)):
        raise PydanticCustomError("int_type", "must be a whole number")
    return value


def _number(low: float | None, high: float | None, description: str) -> Any:
    # Strict: a JSON number (an integer is fine); strings, booleans, NaN and infinities are not.
    return Field(ge=low, le=high, strict=True, allow_inf_nan=False, description=description)


Timestamp = Annotated[AwareDatetime, BeforeValidator(_timestamp_text)]

POINT_EXAMPLE: dict[str, JsonValue] = {
    "lat": 52.52,
    "lng": 13.405,
    "accuracy": 8.5,
    "speed": 6.2,
    "heading": 270,
    "recorded_at": "2026-11-26T09:30:05Z",
}


class LocationPoint(InputModel):
    """One fix of the driver's device."""

    model_config = ConfigDict(json_schema_extra={"examples": [POINT_EXAMPLE]})

    lat: Annotated[float, _number(-90, 90, "Latitude, WGS 84 degrees.")]
    lng: Annotated[float, _number(-180, 180, "Longitude, WGS 84 degrees.")]
    accuracy: Annotated[
        float | None, _number(0, 100_000, "Horizontal accuracy radius in metres.")
    ] = None
    speed: Annotated[float | None, _number(0, 1_000, "Speed over ground, metres per second.")] = (
        None
    )
    heading: Annotated[
        float | None, _number(0, 360, "Direction of travel, degrees clockwise from north.")
    ] = None
    recorded_at: Timestamp = Field(
        description="When the device took the fix: an RFC 3339 date-time with a time zone, at "
        "most 5 minutes ahead of the server's clock and within the tenant's retention. With the "
        "driver, the point's identity: a point sent again is a duplicate."
    )


def _point_schema() -> dict[str, Any]:
    schema = LocationPoint.model_json_schema(ref_template="#/components/schemas/{model}")
    schema.pop("$defs", None)
    return schema


class LocationBatch(InputModel):
    """Up to 500 points of the driver's device, in any order (a phone sends its backlog after
    being offline)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "points": [
                        POINT_EXAMPLE,
                        {**POINT_EXAMPLE, "lat": 52.5203, "recorded_at": "2026-11-26T09:30:10Z"},
                    ]
                }
            ]
        }
    )

    # Points are checked one by one (a bad point is rejected with its reasons and the others
    # are stored), but documented as LocationPoint.
    points: list[Annotated[Any, WithJsonSchema(_point_schema())]] = Field(
        max_length=MAX_POINTS,
        description="The points (LocationPoint), at most 500. A point that breaks a rule is "
        "answered in `rejected` with its index and reasons; the others are stored.",
    )


class PointError(OutputModel):
    field: str = Field(examples=["body.points[3].lat"])
    message: str
    code: str = "invalid"


class RejectedPoint(OutputModel):
    index: int = Field(description="Position of the point in `points`, from 0.")
    errors: list[PointError]


class IngestResult(OutputModel):
    """What became of each point: stored, already stored, or rejected."""

    accepted: int = Field(description="Points stored by this request.")
    duplicates: int = Field(
        description="Valid points already stored (same driver and `recorded_at`), from an "
        "earlier request or earlier in this batch: stored once, so resending is safe."
    )
    rejected: list[RejectedPoint] = Field(
        description="Invalid points, each with its index and reasons; they are not stored."
    )


class DriverLocationRead(OutputModel):
    driver_id: str
    name: str
    lat: float
    lng: float
    accuracy: float | None
    speed: float | None
    heading: float | None
    recorded_at: datetime
    received_at: datetime
    age_seconds: float = Field(description="Seconds since `recorded_at`, at the answer.")


class DriverLocations(OutputModel):
    data: list[DriverLocationRead]


class LineString(OutputModel):
    type: Literal["LineString"] = "LineString"
    coordinates: list[list[float]] = Field(description="[lng, lat] positions, oldest first.")


class TrackProperties(OutputModel):
    driver_id: str
    from_: datetime = Field(alias="from", description="Start of the requested range.")
    to: datetime = Field(description="End of the requested range.")
    tolerance_m: float
    points: int = Field(description="Points recorded in the range.")
    simplified_points: int = Field(description="Positions left in the line after simplifying.")
    first_recorded_at: datetime | None
    last_recorded_at: datetime | None
    times: list[datetime] = Field(
        description="When each position of the line was recorded (aligned with coordinates)."
    )

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)


class TrackFeature(OutputModel):
    """A GeoJSON Feature: the driver's track as a LineString (null with fewer than 2 points)."""

    type: Literal["Feature"] = "Feature"
    geometry: LineString | None
    properties: TrackProperties


class TrackingSettingsRead(OutputModel):
    retention_days: int = Field(description="Days location points are kept.")
    default: bool = Field(description="True when the tenant never set it (the server default).")
    updated_at: datetime | None


class TrackingSettingsUpdate(InputModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"retention_days": 14}]})

    retention_days: Annotated[int, BeforeValidator(_json_number)] = Field(
        ge=1,
        le=MAX_RETENTION_DAYS,
        description="Days location points are kept (1 to 365); older points are deleted by "
        "the maintenance job and refused at ingest.",
    )
