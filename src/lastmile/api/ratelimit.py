"""Per-tenant token-bucket rate limits: in Redis when configured, in process otherwise."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Protocol

import structlog

log = structlog.get_logger("lastmile.ratelimit")

_LUA = """
local key = KEYS[1]
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local v = redis.call('HMGET', key, 't', 'ts')
local tokens = tonumber(v[1]) or burst
local ts = tonumber(v[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - ts) * rate)
local allowed = 0
if tokens >= 1 then tokens = tokens - 1; allowed = 1 end
redis.call('HSET', key, 't', tostring(tokens), 'ts', tostring(now))
redis.call('PEXPIRE', key, math.ceil(burst / rate * 1000) + 1000)
return {allowed, tostring(tokens)}
"""


@dataclass(frozen=True)
class Decision:
    """Whether one request may pass, and the header values that describe the bucket."""

    allowed: bool
    limit: int
    remaining: int
    reset: int
    retry_after: int

    def headers(self) -> dict[str, str]:
        h = {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset),
        }
        if not self.allowed:
            h["Retry-After"] = str(self.retry_after)
        return h


def _decide(allowed: bool, tokens: float, rate: float, burst: int) -> Decision:
    return Decision(
        allowed=allowed,
        limit=burst,
        remaining=max(0, math.floor(tokens)),
        reset=max(0, math.ceil((burst - tokens) / rate)),
        retry_after=max(1, math.ceil((1 - tokens) / rate)),
    )


class Limiter(Protocol):
    async def hit(self, key: str, rate: float, burst: int) -> Decision: ...


class MemoryLimiter:
    """Token buckets in this process's memory."""

    def __init__(self) -> None:
        self._buckets: dict[str, tuple[float, float]] = {}

    async def hit(self, key: str, rate: float, burst: int) -> Decision:
        now = time.monotonic()
        tokens, ts = self._buckets.get(key, (float(burst), now))
        tokens = min(float(burst), tokens + (now - ts) * rate)
        allowed = tokens >= 1
        if allowed:
            tokens -= 1
        self._buckets[key] = (tokens, now)
        return _decide(allowed, tokens, rate, burst)


class RedisLimiter:
    """Token buckets shared by every process through one Redis script."""

    def __init__(self, url: str) -> None:
        from redis.asyncio import Redis

        self._redis: Any = Redis.from_url(url)
        self._script = self._redis.register_script(_LUA)
        self._fallback = MemoryLimiter()

    async def hit(self, key: str, rate: float, burst: int) -> Decision:
        try:
            allowed, tokens = await self._script(keys=[f"lastmile:rl:{key}"], args=[rate, burst])
        except Exception as exc:  # Redis down: keep serving with local buckets.
            log.warning("ratelimit_redis_unavailable", error=str(exc))
            return await self._fallback.hit(key, rate, burst)
        return _decide(bool(int(allowed)), float(tokens), rate, burst)

    async def close(self) -> None:
        await self._redis.aclose()
