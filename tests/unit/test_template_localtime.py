"""Local template times on a given day turned into UTC instants, across clock changes."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from lastmile.templates.localtime import local_today, to_utc, weekday, window

pytestmark = pytest.mark.unit

BERLIN = ZoneInfo("Europe/Berlin")
SPRING = date(2027, 3, 28)  # clocks go 02:00 -> 03:00 (CET -> CEST)
AUTUMN = date(2027, 10, 31)  # clocks go 03:00 -> 02:00 (CEST -> CET)


def z(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_ordinary_days_use_that_days_offset() -> None:
    """09:00 in Berlin is 08:00Z in winter and 07:00Z in summer."""
    assert to_utc(date(2027, 1, 15), "09:00", BERLIN) == z("2027-01-15T08:00")
    assert to_utc(date(2027, 7, 15), "09:00", BERLIN) == z("2027-07-15T07:00")


def test_the_day_the_clocks_go_forward() -> None:
    """Before the change the old offset holds, after it the new one; a skipped time (02:30)
    is the first minute after the gap (03:00 CEST)."""
    assert to_utc(SPRING, "01:30", BERLIN) == z("2027-03-28T00:30")
    assert to_utc(SPRING, "02:30", BERLIN) == z("2027-03-28T01:00")
    assert to_utc(SPRING, "03:00", BERLIN) == z("2027-03-28T01:00")
    assert to_utc(SPRING, "09:00", BERLIN) == z("2027-03-28T07:00")


def test_the_day_the_clocks_go_back() -> None:
    """A time shown twice (02:30) is its first showing, in summer time."""
    assert to_utc(AUTUMN, "02:30", BERLIN) == z("2027-10-31T00:30")
    assert to_utc(AUTUMN, "03:30", BERLIN) == z("2027-10-31T02:30")
    assert to_utc(AUTUMN, "09:00", BERLIN) == z("2027-10-31T08:00")


def test_windows_keep_their_order_and_length() -> None:
    """A window across the change keeps its wall times; one inside the skipped hour keeps its
    length from the end of the gap; 24:00 is the next midnight; open ends stay open."""
    assert window(SPRING, "01:00", "04:00", BERLIN) == (
        z("2027-03-28T00:00"),
        z("2027-03-28T02:00"),
    )
    after, before = window(SPRING, "02:10", "02:40", BERLIN)
    assert after == z("2027-03-28T01:00") and before == after + timedelta(minutes=30)
    assert window(AUTUMN, "01:00", "04:00", BERLIN) == (
        z("2027-10-30T23:00"),
        z("2027-10-31T03:00"),
    )
    assert window(date(2027, 1, 15), None, "24:00", BERLIN) == (None, z("2027-01-15T23:00"))
    assert window(date(2027, 1, 15), "22:00", None, BERLIN) == (z("2027-01-15T21:00"), None)


def test_zones_that_skip_midnight() -> None:
    """Where the clocks jump at midnight (Santiago, September), 00:00 is the first minute after it."""
    santiago = ZoneInfo("America/Santiago")
    assert to_utc(date(2027, 9, 5), "00:00", santiago) == z("2027-09-05T04:00")
    assert to_utc(date(2027, 9, 4), "24:00", santiago) == z("2027-09-05T04:00")


def test_today_and_weekdays_are_those_of_the_zone() -> None:
    """At 23:30Z on a Monday it is already Tuesday in Berlin and still Monday in New York."""
    now = z("2027-01-11T23:30")
    assert weekday(local_today(now, BERLIN)) == "tue"
    assert weekday(local_today(now, ZoneInfo("America/New_York"))) == "mon"
