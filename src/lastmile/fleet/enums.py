"""Vehicle types, built-in skills and weekdays of the fleet domain."""

from __future__ import annotations

from enum import StrEnum


class VehicleType(StrEnum):
    """What a vehicle is; routing and capacity planning differ per type."""

    walker = "walker"
    bicycle = "bicycle"
    motorcycle = "motorcycle"
    car = "car"
    van = "van"
    truck = "truck"


class AutoAssign(StrEnum):
    """What happens to a team's new task: nothing, the nearest free driver, or the cheapest
    feasible place in the live routes."""

    off = "off"
    nearest_available = "nearest_available"
    insert = "insert"


# Skills every tenant has; tenants add their own with POST /v1/skills.
BUILTIN_SKILLS: dict[str, str] = {
    "cold_chain": "Can carry refrigerated or frozen goods.",
    "alcohol_id_check": "May hand over alcohol after checking the recipient's ID.",
    "heavy": "Can handle heavy or bulky items.",
    "fragile": "Trained to handle fragile items.",
}

# Keys of opening hours and shift schedules, Monday first.
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
