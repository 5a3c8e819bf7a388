"""Dispatch endpoints over live routes: candidates for a task, delivery estimates."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query
from sqlalchemy.ext.asyncio import AsyncSession

from lastmile.api.deps import get_session, require
from lastmile.api.routing import make_router
from lastmile.core.errors import FieldError, ValidationFailed
from lastmile.core.tenancy import TenantContext
from lastmile.fleet import service as fleet_service
from lastmile.routing import dispatch
from lastmile.routing.schemas import Candidate, CandidateList, Estimate, EstimateRequest
from lastmile.tenancy.enums import Role

router = make_router(prefix="/v1", tags=["dispatch"])
Session = Annotated[AsyncSession, Depends(get_session)]
Dispatcher = Annotated[
    TenantContext,
    Depends(require(Role.admin, Role.dispatcher, Role.viewer, scope="routing:read")),
]


@router.get("/tasks/{task_id}/candidates", response_model=CandidateList)
async def task_candidates(
    task_id: str,
    session: Session,
    ctx: Dispatcher,
    limit: Annotated[int, Query(ge=1, le=20, description="How many drivers.")] = 5,
) -> CandidateList:
    """The best on-duty drivers for a task: where it would go in each route, what it adds."""
    found, reason = await dispatch.candidates(
        session=session, tenant=ctx, task_id=task_id, limit=limit
    )
    return CandidateList(data=[Candidate(**c) for c in found], reason=reason)


@router.post("/estimates", response_model=Estimate)
async def delivery_estimate(data: EstimateRequest, session: Session, ctx: Dispatcher) -> Estimate:
    """Which driver would take a delivery and when, before it is created (checkout time)."""
    if data.team_id is not None and not await fleet_service.get_team(
        session=session, tenant=ctx, team_id=data.team_id
    ):
        raise ValidationFailed("unknown team", [FieldError("body.team_id", "no such team")])
    await fleet_service.validate_skills(
        session=session, tenant=ctx, names=data.required_skills, field="body.required_skills"
    )
    found, reason = await dispatch.estimate(
        session=session,
        tenant=ctx,
        pickup=(data.pickup.lat, data.pickup.lng),
        dropoff=(data.dropoff.lat, data.dropoff.lng),
        ready_at=data.ready_at,
        deadline=data.deadline,
        service_seconds=data.service_seconds,
        quantities=data.quantities,
        skills=data.required_skills,
        team_id=data.team_id,
    )
    if found is None:
        return Estimate(available=False, reason=reason)
    return Estimate(
        available=True,
        driver_id=found["driver_id"],
        pickup_eta=found.get("pickup_eta"),
        dropoff_eta=found.get("dropoff_eta"),
        added_distance_m=found["added_distance_m"],
        added_duration_s=found["added_duration_s"],
    )
