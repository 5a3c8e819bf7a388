"""Local wall-clock times of a template's day turned into UTC instants, DST-correct (pure)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_MAX_GAP_MINUTES = 48 * 60  # longer than any gap in the tz database (Samoa skipped one day)


def weekday(day: date) -> str:
    """`mon` … `sun`."""
    return WEEKDAYS[day.weekday()]


def minutes(clock: str) -> int:
    """Minutes since midnight of an "HH:MM" time ("24:00" is 1440)."""
    hours, mins = clock.split(":")
    return int(hours) * 60 + int(mins)


def _exists(wall: datetime, zone: ZoneInfo) -> bool:
    aware = wall.replace(tzinfo=zone)
    return aware.astimezone(UTC).astimezone(zone).replace(tzinfo=None) == wall


def to_utc(day: date, clock: str, zone: ZoneInfo) -> datetime:
    """The instant the wall clock of `zone` shows `clock` on `day`, in UTC.

    "24:00" is midnight at the end of the day. A time the clocks skip that day (they go forward)
    is the first minute after the gap; a time shown twice (they go back) is its first showing."""
    wall = datetime.combine(day, time()) + timedelta(minutes=minutes(clock))
    probe = wall
    for _ in range(_MAX_GAP_MINUTES):
        if _exists(probe, zone):
            break
        probe += timedelta(minutes=1)
    return probe.replace(tzinfo=zone, fold=0).astimezone(UTC)


def window(
    day: date, start: str | None, end: str | None, zone: ZoneInfo
) -> tuple[datetime | None, datetime | None]:
    """A stop's local window on `day` as UTC instants. A window lying wholly in the hour the
    clocks skip keeps its length from the end of that gap (it would be empty otherwise)."""
    after = to_utc(day, start, zone) if start is not None else None
    before = to_utc(day, end, zone) if end is not None else None
    if after is not None and before is not None and before <= after and start and end:
        before = after + timedelta(minutes=minutes(end) - minutes(start))
    return after, before


def local_today(now: datetime, zone: ZoneInfo) -> date:
    """The date the wall clock of `zone` shows at the instant `now`."""
    return now.astimezone(zone).date()
