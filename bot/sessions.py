"""Conversations the service issued: random, unguessable ids that expire when idle.

An unknown or expired id gets a new one, which starts a new conversation in Rasa too (its tracker
is keyed by this id), so the idle limit here is the one lifetime of a conversation
(config.yml `conversation.session_idle_minutes`; Rasa's own session expiry is off in bot/domain.yml).
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from bot.settings import ConversationSettings

log = logging.getLogger("faqbot")


@dataclass(frozen=True)
class Memory:
    """What a conversation carries from one message to the next besides Rasa's tracker."""

    # Messages of this conversation that went to Rasa (which tracker holds the next: rasa_sender).
    turns: int = 0
    # The pair answered last, for follow-up questions ("who came up with it?").
    last_pair: str | None = None

    def after(self, answered: str | None) -> Memory:
        """The memory after one more message went to Rasa, which answered `answered` (or no pair)."""
        return Memory(self.turns + 1, answered or self.last_pair)


def rasa_sender(session_id: str, memory: Memory, turns_per_tracker: int) -> str:
    """The conversation id Rasa keeps this message's tracker under: a fresh one every
    `turns_per_tracker` messages (config.yml `conversation.rasa_turns_per_tracker`), so that no
    tracker grows with the length of the conversation; the memory goes with each message instead."""
    return f"{session_id}.{memory.turns // max(1, turns_per_tracker)}"


class Sessions:
    """Conversations in this process's memory: an idle one is forgotten, memory included."""

    def __init__(self, limit: int = 50_000, idle_seconds: float | None = None):
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._memory: dict[str, Memory] = {}
        self._limit = limit
        self._idle = idle_seconds if idle_seconds is not None else ConversationSettings().session_idle_minutes * 60
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._seen)

    def resolve(self, session_id: str | None) -> tuple[str, bool]:
        """(session id to use, whether it is new)."""
        now = time.monotonic()
        with self._lock:
            self._forget_idle(now)
            if session_id and session_id in self._seen:
                self._seen[session_id] = now
                self._seen.move_to_end(session_id)
                return session_id, False
            sid = secrets.token_urlsafe(18)
            self._seen[sid] = now
            while len(self._seen) > self._limit:
                self._memory.pop(self._seen.popitem(last=False)[0], None)
            return sid, True

    def _forget_idle(self, now: float) -> None:
        # The least recently used come first: stop at the first one still in use.
        while self._seen:
            sid, last = next(iter(self._seen.items()))
            if now - last < self._idle:
                return
            self._seen.popitem(last=False)
            self._memory.pop(sid, None)

    def recall(self, session_id: str) -> Memory:
        with self._lock:
            return self._memory.get(session_id, Memory())

    def remember(self, session_id: str, memory: Memory) -> None:
        with self._lock:
            if session_id in self._seen:
                self._memory[session_id] = memory


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

    def recall(self, session_id: str) -> Memory:
        """The conversation's memory (kept in the session's own key, so it expires with it)."""
        from redis.exceptions import RedisError

        try:
            raw = self._client.get(self._prefix + session_id)
            data = json.loads(raw) if raw and raw != b"1" else {}
            return Memory(int(data.get("turns", 0)), data.get("last_pair") or None)
        except (RedisError, ValueError, TypeError, AttributeError):
            return Memory()

    def remember(self, session_id: str, memory: Memory) -> None:
        from redis.exceptions import RedisError

        value = json.dumps({"turns": memory.turns, "last_pair": memory.last_pair})
        # resolve() has logged that Redis is away; the conversation then goes on without its memory.
        with contextlib.suppress(RedisError):
            # xx: only while the session exists (an expired one is not brought back).
            self._client.set(self._prefix + session_id, value, px=self._idle_ms, xx=True)

    def _up(self) -> None:
        if self._down:
            log.info("sessions: Redis is back")
            self._down = False
