"""Checking a batch of points one by one: which are valid, and why the others are not."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from pydantic import TypeAdapter, ValidationError

from lastmile.tracking.schemas import LocationPoint, PointError, RejectedPoint

FUTURE_TOLERANCE = timedelta(minutes=5)  # device clocks run a little ahead

_BATCH = TypeAdapter(list[LocationPoint])


def _field(index: int, loc: Sequence[Any]) -> str:
    return f"body.points[{index}]" + "".join(f".{part}" for part in loc)


def _errors(index: int, exc: ValidationError) -> list[PointError]:
    return [
        PointError(field=_field(index, err["loc"]), message=err["msg"], code=err["type"])
        for err in exc.errors(include_url=False, include_input=False)
    ]


def check(
    points: Sequence[Any], *, now: datetime, oldest: datetime, retention_days: int
) -> tuple[list[tuple[int, LocationPoint]], list[RejectedPoint]]:
    """The valid points with their indexes, and the rejected ones with their reasons: shape
    and ranges (LocationPoint), then time (not ahead of `now` by more than FUTURE_TOLERANCE,
    not before `oldest`, the tenant's retention)."""
    try:
        parsed: list[tuple[int, LocationPoint]] = list(enumerate(_BATCH.validate_python(points)))
        rejected: list[RejectedPoint] = []
    except ValidationError:  # find the bad ones, point by point
        parsed, rejected = [], []
        for i, raw in enumerate(points):
            try:
                parsed.append((i, LocationPoint.model_validate(raw)))
            except ValidationError as exc:
                rejected.append(RejectedPoint(index=i, errors=_errors(i, exc)))
    latest = now + FUTURE_TOLERANCE
    valid: list[tuple[int, LocationPoint]] = []
    late: list[RejectedPoint] = []
    for i, point in parsed:
        if point.recorded_at > latest:
            message = "is more than 5 minutes ahead of the server's clock"
            code = "in_future"
        elif point.recorded_at < oldest:
            message = f"is older than the tenant's retention ({retention_days} days)"
            code = "too_old"
        else:
            valid.append((i, point))
            continue
        field = _field(i, ["recorded_at"])
        late.append(
            RejectedPoint(index=i, errors=[PointError(field=field, message=message, code=code)])
        )
    if late:
        rejected = sorted(rejected + late, key=lambda r: r.index)
    return valid, rejected
