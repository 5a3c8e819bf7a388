"""The outbox loop: relay committed events into webhook messages and deliver the due ones, at
once when a transaction emitted events, else every `interval` seconds.

Delivery of one message is three steps: a short transaction leases it (claim), the request is
sent outside any transaction, and a second short transaction records the outcome. A worker
that dies between the two leaves a lease that runs out; the message is then sent again with
the same `webhook-id` (at least once)."""

from __future__ import annotations

import asyncio
import contextlib
import time

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from lastmile.core.config import Settings, get_settings
from lastmile.core.tenancy import TenantContext, bind_session
from lastmile.core.uow import UnitOfWork
from lastmile.events import delivery, metrics, relay
from lastmile.events.delivery import Claimed
from lastmile.events.egress import Egress
from lastmile.events.sender import HttpSender, Sender

log = structlog.get_logger("lastmile.outbox")
MIN_PER_TENANT = 8  # claims per tenant and run when several tenants have work
LAG_EVERY = 1.0  # seconds between two readings of the outbox lag


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


async def claim_tenant(
    sessions: async_sessionmaker[AsyncSession], tenant_id: str, limit: int, lease_seconds: float
) -> list[Claimed]:
    """Lease up to `limit` due messages of one tenant (a transaction of its own)."""
    async with UnitOfWork(sessions) as uow:
        await bind_session(uow.session, tenant_id)
        claimed = await delivery.claim(
            session=uow.session,
            tenant=TenantContext.system(tenant_id),
            limit=limit,
            lease_seconds=lease_seconds,
        )
        await uow.commit()
    return claimed


async def deliver(
    sessions: async_sessionmaker[AsyncSession], sender: Sender, claimed: Claimed
) -> delivery.Recorded:
    """Send one leased message (no transaction open) and record the outcome."""
    outcome = await sender.send(claimed)
    async with UnitOfWork(sessions) as uow:
        await bind_session(uow.session, claimed.tenant_id)
        recorded = await delivery.record(
            session=uow.session,
            tenant=TenantContext.system(claimed.tenant_id),
            claimed=claimed,
            outcome=outcome,
        )
        await uow.commit()
    return recorded


async def update_lag(sessions: async_sessionmaker[AsyncSession]) -> float:
    async with UnitOfWork(sessions) as uow:
        lag = await delivery.outbox_lag(uow.session)
    metrics.OUTBOX_LAG.set(lag)
    return lag


class OutboxLoop:
    """Runs a pass when woken (after a commit that emitted events, or a send that finished) or
    every `interval`: relays, then leases due messages up to the free sending slots and sends
    them in the background, so one slow endpoint does not hold up the others."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        interval: float = 1.0,
        *,
        settings: Settings | None = None,
        sender: Sender | None = None,
    ) -> None:
        s = settings or get_settings()
        self.sessions = sessions
        self.interval = interval
        self.lease_seconds = s.webhook_lease_seconds
        self.concurrency = s.webhook_concurrency
        self._own_sender = sender is None
        self.sender: Sender = sender or HttpSender(
            egress=Egress.from_settings(s),
            timeout=s.webhook_timeout_seconds,
            max_connections=s.webhook_concurrency,
        )
        self._wake = asyncio.Event()
        self._inflight: set[asyncio.Task[None]] = set()
        self._lag_due = 0.0

    def wake(self) -> None:
        self._wake.set()

    async def run_once(self) -> tuple[int, int]:
        """One pass: relay every tenant with work, lease what fits in the free slots and start
        sending it; (events relayed, messages claimed)."""
        tenants = await tenants_with_work(self.sessions)
        relayed = 0
        for tenant_id in tenants:
            relayed += await relay_tenant(self.sessions, tenant_id)
        claimed = 0
        share = max(MIN_PER_TENANT, self.concurrency // max(1, len(tenants)))
        for tenant_id in tenants:
            free = self.concurrency - len(self._inflight)
            if free <= 0:
                break
            batch = await claim_tenant(
                self.sessions, tenant_id, min(free, share), self.lease_seconds
            )
            for item in batch:
                task = asyncio.create_task(self._deliver(item))
                self._inflight.add(task)
                task.add_done_callback(self._inflight.discard)
            claimed += len(batch)
        if time.monotonic() >= self._lag_due:
            self._lag_due = time.monotonic() + LAG_EVERY
            await update_lag(self.sessions)
        return relayed, claimed

    async def _deliver(self, claimed: Claimed) -> None:
        try:
            await deliver(self.sessions, self.sender, claimed)
        except Exception as exc:  # the lease runs out and another pass sends it again
            log.error("webhook_delivery_failed", message_id=claimed.message_id, exc_info=exc)
        finally:
            self.wake()  # the next message of the same task may be due now

    async def drain(self) -> None:
        """Wait for every send in flight to be recorded."""
        while self._inflight:
            await asyncio.gather(*list(self._inflight), return_exceptions=True)

    async def run_until_idle(self) -> int:
        """Passes until nothing is left to relay or due to send now; events relayed."""
        total = 0
        while True:
            relayed, claimed = await self.run_once()
            await self.drain()
            total += relayed
            if not relayed and not claimed:
                return total

    async def close(self) -> None:
        for task in list(self._inflight):
            task.cancel()  # its lease runs out; the message is sent again later
        await asyncio.gather(*list(self._inflight), return_exceptions=True)
        if self._own_sender and isinstance(self.sender, HttpSender):
            await self.sender.aclose()

    async def run_forever(self) -> None:
        try:
            while True:
                self._wake.clear()
                try:
                    await self.run_once()
                except Exception as exc:
                    log.error("outbox_run_failed", exc_info=exc)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.interval)
        finally:
            await self.close()


async def run_once(
    sessions: async_sessionmaker[AsyncSession], *, settings: Settings | None = None
) -> int:
    """Relay every tenant's new events and deliver every message due now, waiting for the
    answers (tests, `lastmile worker --once`); how many events were relayed."""
    loop = OutboxLoop(sessions, settings=settings)
    try:
        return await loop.run_until_idle()
    finally:
        await loop.close()
