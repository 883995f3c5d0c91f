"""Conversations the service issued: random, unguessable ids that expire when idle.

An unknown or expired id gets a new one, which starts a new conversation in Rasa too (its tracker
is keyed by this id), so the idle limit here is the one lifetime of a conversation
(config.yml `conversation.session_idle_minutes`; Rasa's own session expiry is off in bot/domain.yml).
"""

from __future__ import annotations

import logging
import re
import secrets
import threading
import time
from collections import OrderedDict
from typing import Any

from bot.settings import ConversationSettings

log = logging.getLogger("faqbot")


class Sessions:
    def __init__(self, limit: int = 50_000, idle_seconds: float | None = None):
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._limit = limit
        self._idle = idle_seconds if idle_seconds is not None else ConversationSettings().session_idle_minutes * 60
        self._lock = threading.Lock()

    def resolve(self, session_id: str | None) -> tuple[str, bool]:
        """(session id to use, whether it is new)."""
        now = time.monotonic()
        with self._lock:
            if session_id and session_id in self._seen and now - self._seen[session_id] < self._idle:
                self._seen[session_id] = now
                self._seen.move_to_end(session_id)
                return session_id, False
            sid = secrets.token_urlsafe(18)
            self._seen[sid] = now
            while len(self._seen) > self._limit:
                self._seen.popitem(last=False)
            return sid, True


# The shape of the ids Sessions issue (secrets.token_urlsafe(18): 24 URL-safe characters).
_ID_SHAPE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


class RedisSessions:
    """The same conversations, shared by every replica through Redis (config.yml `redis_url`).

    Each id is a key that expires after the idle limit, so an idle conversation is forgotten by
    Redis itself. While Redis cannot be reached, an id of the right shape is kept (the conversation
    goes on as far as the rest of the system can carry it) and a new one is issued otherwise.
    """

    def __init__(self, client: Any, idle_seconds: float | None = None, prefix: str = "faqbot:session:"):
        self._client = client
        idle = idle_seconds if idle_seconds is not None else ConversationSettings().session_idle_minutes * 60
        self._idle_ms = max(1000, int(idle * 1000))
        self._prefix = prefix
        self._down = False

    def resolve(self, session_id: str | None) -> tuple[str, bool]:
        from redis.exceptions import RedisError

        try:
            if (
                session_id
                and _ID_SHAPE.match(session_id)
                and self._client.pexpire(self._prefix + session_id, self._idle_ms)
            ):
                self._up()
                return session_id, False
            sid = secrets.token_urlsafe(18)
            self._client.set(self._prefix + sid, "1", px=self._idle_ms)
            self._up()
            return sid, True
        except RedisError as exc:
            if not self._down:
                log.warning("sessions: Redis unavailable (%s); conversations go on without it", type(exc).__name__)
            self._down = True
            if session_id and _ID_SHAPE.match(session_id):
                return session_id, False
            return secrets.token_urlsafe(18), True

    def _up(self) -> None:
        if self._down:
            log.info("sessions: Redis is back")
            self._down = False
