"""Vehicles: type and capacity per dimension."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from lastmile.core.ids import new_id
from lastmile.core.pagination import paginate
from lastmile.core.tenancy import TenantContext, owned, scoped
from lastmile.fleet.errors import InUse, VehicleNotFound
from lastmile.fleet.models import Driver, Vehicle
from lastmile.fleet.schemas import VehicleCreate, VehicleUpdate


async def get(*, session: AsyncSession, tenant: TenantContext, vehicle_id: str) -> Vehicle | None:
    return (
        await session.execute(scoped(Vehicle, tenant).where(Vehicle.id == vehicle_id))
    ).scalar_one_or_none()


async def require(*, session: AsyncSession, tenant: TenantContext, vehicle_id: str) -> Vehicle:
    vehicle = await get(session=session, tenant=tenant, vehicle_id=vehicle_id)
    if vehicle is None:
        raise VehicleNotFound(f"no vehicle {vehicle_id}")
    return vehicle


async def create(*, session: AsyncSession, tenant: TenantContext, data: VehicleCreate) -> Vehicle:
    vehicle = owned(
        Vehicle(
            id=new_id("veh"),
            name=data.name,
            type=data.type,
            plate=data.plate,
            capacity=dict(data.capacity),
        ),
        tenant,
    )
    session.add(vehicle)
    await session.flush()
    return vehicle


async def update(
    *, session: AsyncSession, tenant: TenantContext, vehicle_id: str, data: VehicleUpdate
) -> Vehicle:
    """Change the given fields; `capacity` replaces the old one; `plate: null` clears it."""
    vehicle = await require(session=session, tenant=tenant, vehicle_id=vehicle_id)
    changes = data.model_dump(exclude_unset=True)
    if "plate" in changes:
        vehicle.plate = changes.pop("plate")
    for field, value in changes.items():
        if value is not None:
            setattr(vehicle, field, dict(value) if field == "capacity" else value)
    await session.flush()
    return vehicle


async def delete(*, session: AsyncSession, tenant: TenantContext, vehicle_id: str) -> None:
    """Delete a vehicle; 409 while it is some driver's default vehicle."""
    vehicle = await require(session=session, tenant=tenant, vehicle_id=vehicle_id)
    driver = (
        await session.execute(
            scoped(Driver, tenant)
            .with_only_columns(Driver.id)
            .where(Driver.vehicle_id == vehicle.id)
            .limit(1)
        )
    ).scalar_one_or_none()
    if driver is not None:
        raise InUse(f"vehicle {vehicle.id} is the default vehicle of driver {driver}")
    await session.delete(vehicle)
    await session.flush()


async def search(
    *,
    session: AsyncSession,
    tenant: TenantContext,
    type: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> tuple[list[Vehicle], str | None]:
    stmt = scoped(Vehicle, tenant)
    if type is not None:
        stmt = stmt.where(Vehicle.type == type)
    return await paginate(session, stmt, Vehicle, limit=limit, cursor=cursor)
