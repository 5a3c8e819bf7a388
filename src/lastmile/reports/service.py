"""Reports: ETA accuracy by team and day."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from lastmile.core.errors import FieldError, ValidationFailed
from lastmile.core.tenancy import TenantContext
from lastmile.fleet import service as fleet_service
from lastmile.reports.schemas import EtaAccuracyReport, EtaAccuracyRow
from lastmile.tasks import queries as task_queries
from lastmile.tasks.queries import EtaResult

MAX_DAYS = 92
SLO_RATIO = 0.05


def _row(day: date, team_id: str | None, found: Sequence[EtaResult]) -> EtaAccuracyRow:
    ratios = sorted(r.error_ratio for r in found)
    errors = [abs((r.arrived_at - r.eta_at_start).total_seconds()) for r in found]
    dispatch = [
        abs((r.arrived_at - r.eta_at_dispatch).total_seconds())
        for r in found
        if r.eta_at_dispatch is not None
    ]
    q = statistics.quantiles(ratios, n=10, method="inclusive") if len(ratios) > 1 else ratios * 9
    return EtaAccuracyRow(
        day=day,
        team_id=team_id,
        stops=len(found),
        mean_error_ratio=statistics.fmean(ratios),
        p50_error_ratio=statistics.median(ratios),
        p90_error_ratio=q[8],
        within_5_percent=sum(r <= SLO_RATIO for r in ratios) / len(ratios),
        mean_abs_error_seconds=statistics.fmean(errors),
        mean_abs_dispatch_error_seconds=statistics.fmean(dispatch) if dispatch else None,
    )


async def eta_accuracy(
    *,
    session: AsyncSession,
    tenant: TenantContext,
    since: date,
    until: date,
    team_id: str | None,
) -> EtaAccuracyReport:
    """ETA accuracy of the stops reached from `since` to `until` (days, UTC, inclusive), per
    team and day, for the teams the caller sees."""
    if until < since:
        raise ValidationFailed("until before since", [FieldError("query.until", "before since")])
    if (until - since).days >= MAX_DAYS:
        raise ValidationFailed(
            "range too long", [FieldError("query.until", f"at most {MAX_DAYS} days")]
        )
    visible = await fleet_service.visible_team_ids(session=session, tenant=tenant)
    teams: list[str] | None = None if visible is None else sorted(visible)
    if team_id is not None:
        teams = [] if visible is not None and team_id not in visible else [team_id]
    start = datetime.combine(since, time(), tzinfo=UTC)
    end = datetime.combine(until + timedelta(days=1), time(), tzinfo=UTC)
    found = await task_queries.eta_results(session, tenant, start, end, teams)
    groups: dict[tuple[date, str | None], list[EtaResult]] = {}
    for r in found:
        groups.setdefault((r.arrived_at.astimezone(UTC).date(), r.team_id), []).append(r)
    rows = [
        _row(d, t, g)
        for (d, t), g in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1] or ""))
    ]
    return EtaAccuracyReport(
        since=since,
        until=until,
        rows=rows,
        total=_row(since, team_id, found) if found else None,
    )
