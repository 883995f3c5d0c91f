"""What a chat turn leaves behind: the metrics it counts, and its transcript where that is turned on.

Transcripts (privacy.store_transcripts) are off by default. Where a charity turns them on, each turn
is stored with the session id hashed (SHA-256: turns of one conversation stay together, the id that
continues it is not kept), the time, the visitor's message with email addresses, phone numbers, NHS
numbers, postcodes, long numbers and names replaced (bot/redact.py), the kinds of the
replies, and the pair answered from with its confidence. Turns older than
privacy.transcript_retention_days are deleted at start and every hour after, also when storing has
been turned off since.

The quality loop (api/quality.py: the questions the bot could not answer, on by default) hears of every
turn here too.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import logging

from fastapi import Request

from api.schemas import ChatResponse
from api.settings import PrivacySettings
from bot.redact import redact
from knowledge.store import Store, Turn

log = logging.getLogger("faqbot.transcripts")

PURGE_EVERY_SECONDS = 3600


def session_key(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("utf-8", "replace")).hexdigest()


def turn_of(session_id: str, message: str, response: ChatResponse, at: dt.datetime | None = None) -> Turn:
    """The turn as stored: hashed session, redacted message, reply kinds, and the answer's pair and score."""
    answer = next((r.answer for r in response.replies if r.kind == "answer" and r.answer), None)
    return Turn(
        session=session_key(session_id),
        at=at or dt.datetime.now(dt.UTC),
        message=redact(message),
        reply_kinds=tuple(r.kind for r in response.replies),
        pair_id=answer.id if answer else None,
        confidence=answer.score if answer else None,
    )


class Transcripts:
    def __init__(self, store: Store, settings: PrivacySettings):
        self.store = store
        self.settings = settings

    @property
    def enabled(self) -> bool:
        return self.settings.store_transcripts

    def record(self, session_id: str, message: str, response: ChatResponse) -> None:
        if self.enabled:
            self.store.add_turn(turn_of(session_id, message, response))

    def purge(self, now: dt.datetime | None = None) -> int:
        """Delete the turns older than the retention; how many."""
        now = now or dt.datetime.now(dt.UTC)
        return self.store.purge_turns(now - dt.timedelta(days=self.settings.transcript_retention_days))

    async def purge_logged(self) -> None:
        """Purge, logging how many turns went; a store that is down is logged and tried at the next round."""
        try:
            deleted = await asyncio.to_thread(self.purge)
        except Exception as exc:
            log.warning("transcripts: old turns not deleted this time (%s)", type(exc).__name__)
            return
        if deleted:
            log.info("transcripts: %d turns older than %d days deleted", deleted, self.retention_days)

    async def keep_purging(self, every_seconds: float = PURGE_EVERY_SECONDS) -> None:
        """Purge every `every_seconds` until cancelled (the service purges once at start, before this)."""
        while True:
            await asyncio.sleep(every_seconds)
            await self.purge_logged()

    @property
    def retention_days(self) -> int:
        return self.settings.transcript_retention_days


async def finish_turn(
    request: Request, message: str, response: ChatResponse, safety: str | None = None
) -> ChatResponse:
    """Count the turn (api/metrics.py) and store its transcript where that is on; the response, unchanged.

    `safety`: what gave the safety reply here ("rules" or "net"), None otherwise. Storing never fails a
    reply: a store that is down costs the transcript, not the answer."""
    state = request.app.state
    metrics = getattr(state, "metrics", None)
    if metrics is not None:
        metrics.chat_turn(response, safety)
    transcripts: Transcripts | None = getattr(state, "transcripts", None)
    if transcripts is not None and transcripts.enabled:
        try:
            await asyncio.to_thread(transcripts.record, response.session_id, message, response)
        except Exception as exc:
            log.warning("transcript of a turn not stored (%s)", type(exc).__name__)
    # The quality loop (api/quality.py): the turn counted, and kept where the bot could not answer it.
    quality = getattr(state, "quality", None)
    if quality is not None:
        try:
            await asyncio.to_thread(quality.record, response.session_id, message, response, safety)
        except Exception as exc:
            log.warning("quality loop: a turn not recorded (%s)", type(exc).__name__)
    return response
