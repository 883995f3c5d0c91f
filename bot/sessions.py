"""Conversations the service issued: random, unguessable ids that expire when idle.

An unknown or expired id gets a new one, which starts a new conversation in Rasa too (its tracker
is keyed by this id), so the idle limit here is the one lifetime of a conversation
(config.yml `conversation.session_idle_minutes`; Rasa's own session expiry is off in bot/domain.yml).
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict

from bot.settings import ConversationSettings


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
