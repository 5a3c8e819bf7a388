"""The live feed of one connection: driver positions and events of the caller's tenant (and,
for a dispatcher limited to teams, of those teams), sent in order, with a slow connection
getting each driver's newest position rather than a backlog of old ones."""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

from lastmile.core.broker import Message

RESYNC = {
    "type": "resync",
    "detail": "events were dropped because this connection fell behind; "
    "read GET /v1/events from your last event id to catch up",
}


def visible(message: Message, teams: set[str] | None) -> bool:
    """Whether a caller seeing `teams` (None: the whole tenant) may get this message."""
    if teams is None:
        return True
    if message.get("type") == "position":
        return bool(teams.intersection(message.get("team_ids") or ()))
    data: dict[str, Any] = (message.get("event") or {}).get("data") or {}
    if data.get("team_id") in teams:
        return True
    return bool(teams.intersection(data.get("team_ids") or ()))


class Feed:
    """What is still to be sent on one connection."""

    def __init__(self, teams: set[str] | None, max_events: int = 1000) -> None:
        self.teams = teams
        self.max_events = max_events
        self._queue: OrderedDict[tuple[str, Any], Message] = OrderedDict()
        self._events = 0
        self._serial = 0
        self._dropped = False
        self.ready = asyncio.Event()

    def offer(self, message: Message) -> None:
        """Queue a broker message if the caller may see it (never blocks)."""
        if not visible(message, self.teams):
            return
        if message.get("type") == "position":
            key: tuple[str, Any] = ("position", message.get("driver_id"))
            self._queue.pop(key, None)  # a newer position replaces the one not yet sent
        else:
            if self._events >= self.max_events:
                self._drop_oldest_event()
            self._serial += 1
            self._events += 1
            key = ("event", self._serial)
        self._queue[key] = message
        self.ready.set()

    def _drop_oldest_event(self) -> None:
        for key in self._queue:
            if key[0] == "event":
                del self._queue[key]
                self._events -= 1
                self._dropped = True
                return

    def take(self) -> Iterable[Message]:
        """Everything queued, in order; a `resync` notice first if events were dropped."""
        out = list(self._queue.values())
        if self._dropped:
            out.insert(0, dict(RESYNC))
        self._queue.clear()
        self._events = 0
        self._dropped = False
        self.ready.clear()
        return out
