"""HTTP routes of travel-time matrices: the tenant's routing settings."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from sqlalchemy.ext.asyncio import AsyncSession

from lastmile.api.deps import get_session, require
from lastmile.api.routing import make_router
from lastmile.core.tenancy import TenantContext
from lastmile.routing.matrix import service
from lastmile.routing.matrix.models import RoutingSettings
from lastmile.routing.matrix.schemas import RoutingSettingsRead, RoutingSettingsUpdate
from lastmile.tenancy.enums import Role

Session = Annotated[AsyncSession, Depends(get_session)]

router = make_router(prefix="/v1")


def _read(settings: RoutingSettings) -> RoutingSettingsRead:
    return RoutingSettingsRead(
        provider=settings.provider,
        base_url=settings.base_url,
        api_key_set=settings.api_key_encrypted is not None,
        detour_factor=settings.detour_factor,
        speeds_kmh=service.effective_speeds(settings=settings),
        updated_at=settings.updated_at,
    )


@router.get("/routing-settings", response_model=RoutingSettingsRead, tags=["routing"])
async def get_routing_settings(
    session: Session,
    ctx: Annotated[TenantContext, Depends(require(Role.admin, scope="routing:read"))],
) -> RoutingSettingsRead:
    """The tenant's travel-time provider and offline estimate parameters (admins).

    The API key is never returned, only whether one is stored."""
    return _read(await service.get_routing_settings(session=session, tenant=ctx))


@router.put("/routing-settings", response_model=RoutingSettingsRead, tags=["routing"])
async def put_routing_settings(
    data: RoutingSettingsUpdate,
    session: Session,
    ctx: Annotated[TenantContext, Depends(require(Role.admin, scope="routing:write"))],
) -> RoutingSettingsRead:
    """Choose the tenant's travel-time provider, `offline`, `osrm` or `google`, and the offline
    estimate's detour factor and speeds (admins).

    osrm needs `base_url`, google an `api_key`. The key is write-only and stored encrypted; omit
    it to keep the stored one. Whatever the provider, route planning never fails because of it:
    its errors, timeouts and quota answers fall back to the offline estimate."""
    return _read(await service.put_routing_settings(session=session, tenant=ctx, data=data))
