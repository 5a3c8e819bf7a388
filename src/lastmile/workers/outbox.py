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
from collections.abc import Callable

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from lastmile.core.config import Settings, get_settings
from lastmile.core.tenancy import TenantContext, bind_session
from lastmile.core.uow import UnitOfWork
from lastmile.events import delivery, metrics, relay
from lastmile.events.delivery import Claimed, Outcome
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


async def record_batch(
    sessions: async_sessionmaker[AsyncSession], outcomes: list[tuple[Claimed, Outcome]]
) -> None:
    """Record sent messages' outcomes: one transaction per tenant."""
    by_tenant: dict[str, list[tuple[Claimed, Outcome]]] = {}
    for claimed, outcome in outcomes:
        by_tenant.setdefault(claimed.tenant_id, []).append((claimed, outcome))
    for tenant_id, items in by_tenant.items():
        async with UnitOfWork(sessions) as uow:
            await bind_session(uow.session, tenant_id)
            await delivery.record_many(
                session=uow.session, tenant=TenantContext.system(tenant_id), outcomes=items
            )
            await uow.commit()


class Recorder:
    """Records outcomes in the background, in batches: whatever finished while earlier batches
    were being committed goes into the next one (up to `parallel` batches at once; one by
    default, as two batches that both disable an endpoint would wait on each other's rows). A
    message stays leased until its outcome is recorded, so its sending slot is free as soon as
    the answer is in."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        on_recorded: Callable[[], None],
        parallel: int = 1,
    ) -> None:
        self.sessions = sessions
        self.on_recorded = on_recorded
        self.parallel = parallel
        self._queue: list[tuple[Claimed, Outcome]] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._idle = asyncio.Event()
        self._idle.set()

    def add(self, claimed: Claimed, outcome: Outcome) -> None:
        self._queue.append((claimed, outcome))
        self._idle.clear()
        self._start()

    def _start(self) -> None:
        if self._queue and len(self._tasks) < self.parallel:
            task = asyncio.create_task(self._run())
            self._tasks.add(task)
            task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._start()  # outcomes that came in as it finished
        if not self._tasks and not self._queue:
            self._idle.set()

    async def _run(self) -> None:
        while self._queue:
            batch, self._queue = self._queue, []
            try:
                await record_batch(self.sessions, batch)
            except Exception as exc:  # the leases run out and the messages are sent again
                log.error("webhook_record_failed", count=len(batch), exc_info=exc)
            self.on_recorded()  # the next message of a task may be due now

    async def flush(self) -> None:
        """Wait until every outcome handed in so far is recorded."""
        await self._idle.wait()


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
        self.recorder = Recorder(sessions, self.wake)
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
        """Send one leased message (no transaction open); its outcome goes to the recorder."""
        try:
            outcome = await self.sender.send(claimed)
        except Exception as exc:  # the lease runs out and another pass sends it again
            log.error("webhook_delivery_failed", message_id=claimed.message_id, exc_info=exc)
        else:
            self.recorder.add(claimed, outcome)
        finally:
            self.wake()  # a sending slot is free

    async def drain(self) -> None:
        """Wait for every send in flight to be answered and recorded."""
        while self._inflight:
            await asyncio.gather(*list(self._inflight), return_exceptions=True)
        await self.recorder.flush()

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
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.recorder.flush(), 5)  # what was answered is recorded
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
