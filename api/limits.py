"""Per-client request limits of the HTTP service: in this process's memory, or in Redis for every replica."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import deque
from typing import Any, Protocol

log = logging.getLogger("faqbot")

WINDOW_SECONDS = 60


class Limiter(Protocol):
    per_minute: int

    def check(self, client: str) -> float:
        """0 when allowed (and counted), else the seconds to wait."""
        ...


class RateLimiter:
    """A sliding one-minute window per client, in this process (one replica)."""

    def __init__(self, per_minute: int):
        self.per_minute = per_minute
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def check(self, client: str) -> float:
        """0 when allowed, else the seconds to wait."""
        if not self.per_minute:
            return 0.0
        now = time.monotonic()
        with self._lock:
            q = self._hits.setdefault(client, deque())
            while q and now - q[0] >= WINDOW_SECONDS:
                q.popleft()
            if len(q) >= self.per_minute:
                return max(1.0, WINDOW_SECONDS - (now - q[0]))
            q.append(now)
            if len(self._hits) > 100_000:
                self._hits = {k: v for k, v in self._hits.items() if v and now - v[-1] < WINDOW_SECONDS}
            return 0.0


# The same sliding window as one atomic step in Redis, on Redis's own clock (replicas' clocks may differ).
# Returns 0 when the hit is counted, else the time in ms until the oldest hit leaves the window.
_SLIDING_WINDOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) >= limit then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return math.max(1, window - (now - tonumber(oldest[2])))
end
redis.call('ZADD', KEYS[1], now, ARGV[3])
redis.call('PEXPIRE', KEYS[1], window)
return 0
"""


class RedisRateLimiter:
    """The sliding window shared by every replica, kept in Redis.

    While Redis cannot be reached the limit is not applied (logged once per outage): refusing every
    visitor because the limiter's store is down would turn a fault into an outage.
    """

    def __init__(self, client: Any, per_minute: int, scope: str, prefix: str = "faqbot:limit:"):
        self.per_minute = per_minute
        self._client = client
        self._prefix = f"{prefix}{scope}:"
        self._script = client.register_script(_SLIDING_WINDOW)
        self._down = False

    def check(self, client: str) -> float:
        if not self.per_minute:
            return 0.0
        from redis.exceptions import RedisError

        try:
            wait_ms = self._script(
                keys=[self._prefix + client], args=[WINDOW_SECONDS * 1000, self.per_minute, uuid.uuid4().hex]
            )
        except RedisError as exc:
            if not self._down:
                log.warning("rate limit not applied: Redis unavailable (%s)", type(exc).__name__)
            self._down = True
            return 0.0
        if self._down:
            log.info("rate limit applied again: Redis is back")
            self._down = False
        return float(wait_ms) / 1000 if wait_ms else 0.0
