"""The in-process token bucket and the rate-limit headers it produces."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from lastmile.api import ratelimit
from lastmile.api.ratelimit import Decision, MemoryLimiter


class FakeMonotonic:
    """A monotonic clock that only moves when told to."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def mono(monkeypatch: pytest.MonkeyPatch) -> FakeMonotonic:
    fake = FakeMonotonic()
    # Replace only the limiter's view of `time`; the event loop keeps the real clock.
    monkeypatch.setattr(ratelimit, "time", SimpleNamespace(monotonic=fake))
    return fake


async def test_burst_then_refusal(mono: FakeMonotonic) -> None:
    """A fresh bucket admits exactly `burst` requests at once, then refuses."""
    lim = MemoryLimiter()
    got = [await lim.hit("t", 1.0, 3) for _ in range(4)]
    assert [d.allowed for d in got] == [True, True, True, False]
    assert [d.remaining for d in got] == [2, 1, 0, 0]
    assert all(d.limit == 3 for d in got)


async def test_refill_over_time(mono: FakeMonotonic) -> None:
    """Tokens come back at `rate` per second, never beyond `burst`."""
    lim = MemoryLimiter()
    for _ in range(3):
        assert (await lim.hit("t", 2.0, 3)).allowed
    assert not (await lim.hit("t", 2.0, 3)).allowed
    mono.now += 0.4  # 0.8 tokens: still not one
    assert not (await lim.hit("t", 2.0, 3)).allowed
    mono.now += 0.2  # now at least one
    assert (await lim.hit("t", 2.0, 3)).allowed
    assert not (await lim.hit("t", 2.0, 3)).allowed
    mono.now += 3600  # a long pause refills only up to the burst
    got = [await lim.hit("t", 2.0, 3) for _ in range(4)]
    assert [d.allowed for d in got] == [True, True, True, False]


async def test_buckets_are_per_key(mono: FakeMonotonic) -> None:
    """Exhausting one key's bucket leaves another key untouched."""
    lim = MemoryLimiter()
    for _ in range(2):
        await lim.hit("a", 1.0, 2)
    assert not (await lim.hit("a", 1.0, 2)).allowed
    b = await lim.hit("b", 1.0, 2)
    assert b.allowed and b.remaining == 1


async def test_decision_headers(mono: FakeMonotonic) -> None:
    """Allowed decisions send RateLimit-* only; refusals add a Retry-After of whole seconds."""
    lim = MemoryLimiter()
    first = await lim.hit("t", 0.5, 2)
    assert first.headers() == {
        "RateLimit-Limit": "2",
        "RateLimit-Remaining": "1",
        "RateLimit-Reset": "2",  # one token short, at 0.5 tokens/s
    }
    await lim.hit("t", 0.5, 2)
    refused = await lim.hit("t", 0.5, 2)
    h = refused.headers()
    assert h["RateLimit-Remaining"] == "0"
    assert h["Retry-After"] == "2"  # one whole token at 0.5/s
    assert h["RateLimit-Reset"] == "4"  # the whole bucket


def test_retry_after_is_at_least_one_second() -> None:
    """Retry-After never rounds down to 0 and remaining never goes negative."""
    d = ratelimit._decide(False, 0.999, 1000.0, 10)
    assert d.retry_after == 1
    assert d.remaining == 0
    assert Decision(False, 5, 0, 3, 1).headers()["Retry-After"] == "1"
