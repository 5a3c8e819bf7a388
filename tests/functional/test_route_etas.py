"""Live ETAs along a driver's route: from where the driver is now, in route order."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from lastmile.core.db import make_engine, make_sessionmaker
from lastmile.core.tenancy import TenantContext, bind_session
from lastmile.core.uow import UnitOfWork
from lastmile.routing.etas import route_etas
from tests.functional.test_route_plans import HUB, scene, task
from tests.support.databases import TestDatabase
from tests.support.factories import TenantHandle
from tests.support.fleetkit import ok


@pytest.fixture
def sessions(database: TestDatabase) -> Iterator[async_sessionmaker[AsyncSession]]:
    yield make_sessionmaker(make_engine(database.url, pool_size=2))


async def etas_of(
    sessions: async_sessionmaker[AsyncSession],
    tenant: TenantHandle,
    driver_id: str,
    where: tuple[float, float] | None,
) -> dict[str, datetime]:
    async with UnitOfWork(sessions) as uow:
        await bind_session(uow.session, tenant.id)
        return await route_etas(
            session=uow.session,
            tenant=TenantContext.system(tenant.id),
            driver_id=driver_id,
            position=where,
        )


async def test_etas_follow_the_route_from_the_drivers_position(
    tenant: TenantHandle, sessions: async_sessionmaker[AsyncSession]
) -> None:
    s = scene(tenant, drivers=1, now=True)
    driver = s.drivers[0]
    ids = [task(tenant, s, i, complete_after=None, complete_before=None) for i in range(3)]
    for task_id in ids:
        ok(tenant.post(f"/v1/tasks/{task_id}/assign", json={"driver_id": driver}), 200)
    before = datetime.now(UTC)
    near = await etas_of(sessions, tenant, driver, HUB)
    assert list(near) == ids  # route order
    times = list(near.values())
    assert all(t >= before for t in times) and times == sorted(times)
    far = await etas_of(sessions, tenant, driver, (HUB[0] + 0.5, HUB[1]))
    assert all(far[t] > near[t] for t in ids)  # 55 km further away: every stop later

    ok(tenant.post(f"/v1/tasks/{ids[0]}/start"), 200)
    started = await etas_of(sessions, tenant, driver, HUB)
    assert list(started) == ids  # the stop under way first
    ok(tenant.post(f"/v1/tasks/{ids[0]}/arrive"), 200)
    arrived = await etas_of(sessions, tenant, driver, HUB)
    assert list(arrived) == ids[1:]  # reached: no ETA any more
