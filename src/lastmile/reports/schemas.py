"""Shapes of the reports API."""

from __future__ import annotations

from datetime import date

from pydantic import Field

from lastmile.core.schemas import OutputModel


class EtaAccuracyRow(OutputModel):
    """ETA accuracy of the stops one team reached on one day (UTC)."""

    day: date
    team_id: str | None
    stops: int = Field(description="Stops reached with an ETA known when the driver set off.")
    mean_error_ratio: float = Field(
        description="The ETA deviation SLI (docs/slo.md): mean of |actual arrival - ETA at "
        "start| / predicted travel time."
    )
    p50_error_ratio: float
    p90_error_ratio: float
    within_5_percent: float = Field(description="Share of stops whose error ratio is <= 0.05.")
    mean_abs_error_seconds: float = Field(description="Mean |actual arrival - ETA at start|.")
    mean_abs_dispatch_error_seconds: float | None = Field(
        description="Mean |actual arrival - ETA at dispatch| over stops that had one."
    )


class EtaAccuracyReport(OutputModel):
    since: date
    until: date = Field(description="Last day included.")
    rows: list[EtaAccuracyRow]
    total: EtaAccuracyRow | None = Field(description="All rows together (day: `since`).")
