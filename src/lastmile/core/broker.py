"""Publish/subscribe for live updates: in process, or across processes through Redis pub/sub.

A message is a JSON object published on a channel (one per tenant); every subscriber of that
channel in every process gets it, in publication order per publisher. Subscribers receive
messages through a plain callback that must not block (it queues them)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from typing import Any

import structlog

from lastmile.core.uow import AFTER_COMMIT

log = structlog.get_logger("lastmile.broker")

Message = dict[str, Any]
Callback = Callable[[Message], None]
PREFIX = "lastmile:live:"


def channel_for(tenant_id: str) -> str:
    return PREFIX + tenant_id


class Broker:
    """In-process broker: publish calls the channel's subscribers directly."""

    def __init__(self) -> None:
        self._subscribers: dict[str, set[Callback]] = {}

    def subscribe(self, channel: str, callback: Callback) -> Callable[[], None]:
        """Start delivering the channel's messages to `callback`; returns the unsubscribe."""
        self._subscribers.setdefault(channel, set()).add(callback)

        def stop() -> None:
            found = self._subscribers.get(channel)
            if found is not None:
                found.discard(callback)
                if not found:
                    del self._subscribers[channel]

        return stop

    async def publish(self, channel: str, message: Message) -> None:
        self.deliver(channel, message)

    def publish_nowait(self, channel: str, message: Message) -> None:
        """Publish from synchronous code inside the event loop, keeping the order of calls."""
        self.deliver(channel, message)

    def deliver(self, channel: str, message: Message) -> None:
        for callback in list(self._subscribers.get(channel, ())):
            try:
                callback(message)
            except Exception as exc:  # one bad subscriber never stops the others
                log.error("broker_subscriber_failed", channel=channel, exc_info=exc)

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None


class RedisBroker(Broker):
    """Publishes through Redis; one pattern subscription per process feeds local subscribers."""

    def __init__(self, url: str) -> None:
        super().__init__()
        from redis.asyncio import Redis

        self._redis: Any = Redis.from_url(url)
        self._listener: asyncio.Task[None] | None = None
        self._sender: asyncio.Task[None] | None = None
        self._outbox: asyncio.Queue[tuple[str, Message]] = asyncio.Queue(maxsize=10_000)
        self._ready = asyncio.Event()

    async def start(self) -> None:
        if self._listener is None:
            self._listener = asyncio.create_task(self._listen())
            self._sender = asyncio.create_task(self._send())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._ready.wait(), 5)

    def publish_nowait(self, channel: str, message: Message) -> None:
        try:
            self._outbox.put_nowait((channel, message))
        except asyncio.QueueFull:
            log.warning("broker_outbox_full", channel=channel)

    async def _send(self) -> None:
        """One sender, so messages reach Redis in the order they were published."""
        while True:
            channel, message = await self._outbox.get()
            await self.publish(channel, message)

    async def publish(self, channel: str, message: Message) -> None:
        try:
            await self._redis.publish(channel, json.dumps(message, separators=(",", ":")))
        except Exception as exc:  # live updates are best effort; the API call already succeeded
            log.warning("broker_publish_failed", channel=channel, error=str(exc))

    async def _listen(self) -> None:
        while True:
            pubsub = self._redis.pubsub()
            try:
                await pubsub.psubscribe(PREFIX + "*")
                self._ready.set()
                async for item in pubsub.listen():
                    if item.get("type") != "pmessage":
                        continue
                    channel = item["channel"]
                    if isinstance(channel, bytes):
                        channel = channel.decode()
                    self.deliver(channel, json.loads(item["data"]))
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("broker_listen_failed", error=str(exc))
                await asyncio.sleep(1)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()

    async def close(self) -> None:
        for task in (self._listener, self._sender):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await self._redis.aclose()


def make_broker(redis_url: str | None) -> Broker:
    return RedisBroker(redis_url) if redis_url else Broker()


_live: list[Broker] = []


def register(broker: Broker) -> Callable[[], None]:
    """Make `broker` receive what `publish_after_commit` publishes; returns the undo."""
    _live.append(broker)

    def stop() -> None:
        if broker in _live:
            _live.remove(broker)

    return stop


def publish_after_commit(info: dict[str, Any], tenant_id: str, message: Message) -> None:
    """Publish `message` on the tenant's channel once the current transaction commits
    (`info` is the session's info dict; nothing is published if it rolls back)."""
    hooks: list[Callable[[], None]] = info.setdefault(AFTER_COMMIT, [])
    hooks.append(lambda: publish_soon(tenant_id, message))


def publish_soon(tenant_id: str, message: Message) -> None:
    """Publish on every registered broker without waiting (from inside the event loop)."""
    for broker in list(_live):
        broker.publish_nowait(channel_for(tenant_id), message)
