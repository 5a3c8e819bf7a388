"""The per-connection queue of the live feed: order, coalesced positions, team filter, overflow."""

from __future__ import annotations

from typing import Any

import pytest

from lastmile.tracking.stream import Feed, visible

pytestmark = pytest.mark.unit


def position(driver: str, n: int, teams: list[str] | None = None) -> dict[str, Any]:
    return {"type": "position", "driver_id": driver, "n": n, "team_ids": teams or ["t1"]}


def event(n: int, **data: Any) -> dict[str, Any]:
    return {"type": "event", "event": {"id": f"evt_{n}", "data": {"team_id": "t1", **data}}}


def test_messages_come_out_in_order_and_a_newer_position_replaces_an_unsent_one() -> None:
    feed = Feed(None)
    for message in (position("a", 1), event(1), position("b", 1), position("a", 2), event(2)):
        feed.offer(message)
    out = list(feed.take())
    assert [(m["type"], m.get("driver_id"), m.get("n") or m["event"]["id"]) for m in out] == [
        ("event", None, "evt_1"),
        ("position", "b", 1),
        ("position", "a", 2),
        ("event", None, "evt_2"),
    ]
    assert list(feed.take()) == [] and not feed.ready.is_set()


def test_a_team_dispatcher_sees_only_its_teams() -> None:
    assert visible(position("a", 1, ["t1", "t2"]), {"t2"})
    assert not visible(position("a", 1, ["t1"]), {"t2"})
    assert visible(event(1), {"t1"}) and not visible(event(1), {"t2"})
    assert visible(event(2, team_id=None, team_ids=["t2"]), {"t2"})
    assert not visible({"type": "event", "event": {"data": {"id": "rpl_1"}}}, {"t1"})
    assert visible({"type": "event", "event": {"data": {"id": "rpl_1"}}}, None)
    feed = Feed({"t2"})
    feed.offer(position("a", 1, ["t1"]))
    assert not feed.ready.is_set() and list(feed.take()) == []


def test_a_connection_that_falls_behind_drops_old_events_and_is_told_to_resync() -> None:
    feed = Feed(None, max_events=10)
    for n in range(25):
        feed.offer(event(n))
        feed.offer(position("a", n))
    out = list(feed.take())
    assert out[0]["type"] == "resync"
    assert [m["event"]["id"] for m in out if m["type"] == "event"] == [
        f"evt_{n}" for n in range(15, 25)
    ]
    assert [m["n"] for m in out if m["type"] == "position"] == [24]
