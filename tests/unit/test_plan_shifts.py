"""Shifts of a plan's drivers in plan seconds: time zones, night shifts, days off."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from lastmile.routing.problem import Options, shift_window
from lastmile.routing.solver.model import Objective, Window

EPOCH = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)  # a Thursday


@dataclass
class Driver:
    id: str = "drv_1"
    vehicle_id: str | None = None
    skills: list[str] = field(default_factory=list)
    shift: dict[str, Any] = field(default_factory=dict)
    start_place: dict[str, Any] | None = None
    end_place: dict[str, Any] | None = None


def options(zone: str = "UTC") -> Options:
    return Options(epoch=EPOCH, zone=ZoneInfo(zone), objective=Objective.DISTANCE)


def test_the_shift_is_read_in_the_drivers_time_zone() -> None:
    d = Driver(shift={"thu": {"start": "08:00", "end": "17:00"}})
    assert shift_window(d, options()) == Window(0, 7 * 3600)
    # 10:00 UTC is 15:00 at UTC+5: two hours of the shift are left.
    assert shift_window(d, options(), ZoneInfo("Etc/GMT-5")) == Window(0, 2 * 3600)
    # At UTC-5 it is 05:00: the shift starts in three hours.
    assert shift_window(d, options("Etc/GMT+5")) == Window(3 * 3600, 12 * 3600)


def test_a_night_shift_begun_the_day_before_counts() -> None:
    d = Driver(shift={"wed": {"start": "22:00", "end": "12:00"}})
    assert shift_window(d, options()) == Window(0, 2 * 3600)


def test_a_shift_already_over_leaves_no_time_and_a_day_off_works_until_midnight() -> None:
    assert shift_window(Driver(shift={"thu": {"start": "06:00", "end": "09:00"}}), options()) == (
        Window(0, 0)
    )
    assert shift_window(Driver(shift={"mon": {"start": "06:00", "end": "09:00"}}), options()) == (
        Window(0, 14 * 3600)
    )
