"""The outbox loop: relay committed events into webhook messages and deliver the due ones, at
once when a transaction emitted events, else every `interval` seconds."""

from __future__ import annotations

import asyncio
import contextlib

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from lastmile.core.tenancy import TenantContext, bind_session
from lastmile.core.uow import UnitOfWork
from lastmile.events import relay

log = structlog.get_logger("lastmile.outbox")


async def relay_tenant(sessions: async_sessionmaker[AsyncSession], tenant_id: str) -> int:
    """Relay every unsequenced event of one tenant, batch by batch; how many."""
    total = 0
    while True:
        async with UnitOfWork(sessions) as uow:
            await bind_session(uow.session, tenant_id)
            n = await relay.relay(session=uow.session, tenant=TenantContext.system(tenant_id))
            await uow.commit()
        total += n
        if n < relay.BATCH:
            return total


async def tenants_with_work(sessions: async_sessionmaker[AsyncSession]) -> list[str]:
    async with UnitOfWork(sessions) as uow:
        return await relay.tenants_with_work(uow.session)


async def run_once(sessions: async_sessionmaker[AsyncSession]) -> int:
    """Relay every tenant's new events once; how many events were relayed."""
    total = 0
    for tenant_id in await tenants_with_work(sessions):
        total += await relay_tenant(sessions, tenant_id)
    return total


class OutboxLoop:
    """Runs `run_once` when woken (after a commit that emitted events) or every `interval`."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], interval: float = 1.0):
        self.sessions = sessions
        self.interval = interval
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    async def run_forever(self) -> None:
        while True:
            self._wake.clear()
            try:
                await run_once(self.sessions)
            except Exception as exc:
                log.error("outbox_run_failed", exc_info=exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.interval)
