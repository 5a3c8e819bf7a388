"""Report endpoints."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import Depends, Query
from sqlalchemy.ext.asyncio import AsyncSession

from lastmile.api.deps import get_session, require
from lastmile.api.routing import make_router
from lastmile.core.tenancy import TenantContext
from lastmile.reports import service
from lastmile.reports.schemas import EtaAccuracyReport
from lastmile.tenancy.enums import Role

router = make_router(prefix="/v1", tags=["reports"])
Session = Annotated[AsyncSession, Depends(get_session)]
Reader = Annotated[
    TenantContext,
    Depends(require(Role.admin, Role.dispatcher, Role.viewer, scope="tracking:read")),
]


@router.get("/reports/eta-accuracy", response_model=EtaAccuracyReport)
async def eta_accuracy(
    session: Session,
    ctx: Reader,
    since: Annotated[date, Query(description="First day (UTC), YYYY-MM-DD.")],
    until: Annotated[date, Query(description="Last day (UTC), included; at most 92 days.")],
    team_id: Annotated[str | None, Query(max_length=40, pattern=r"^[a-z]{2,5}_[a-z0-9]+$")] = None,
) -> EtaAccuracyReport:
    """How good live ETAs were: per team and day, the stops reached and the ETA deviation
    (the SLI of docs/slo.md), for the teams the caller sees."""
    return await service.eta_accuracy(
        session=session, tenant=ctx, since=since, until=until, team_id=team_id
    )
