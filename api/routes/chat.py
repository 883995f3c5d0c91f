"""Visitors: POST /api/chat.

Every message is first checked for an emergency or a crisis (bot/safety: the phrase rules, then the
crisis net over the message's meaning) and answered with the emergency and crisis numbers from
settings if it is one; nothing else sees it. Where the net is unsure, the message is answered as
usual and the crisis numbers are added under the reply. "Was this helpful?"
answers are stored here too, and never reach Rasa's conversation history. Everything else goes
through Rasa when it is up, and is answered from the retriever directly when it is not.
"""

from __future__ import annotations

import asyncio
import logging

from fastapi import APIRouter, Request
from pydantic import ValidationError

from api.deps import RuntimeDep, check_rate
from api.metrics import timed
from api.rasa_runtime import BotUnavailable
from api.schemas import ChatRequest, ChatResponse
from api.transcripts import finish_turn
from bot.actions.answer import CONTEXT
from bot.answering import Answerer, parse_feedback
from bot.replies import Reply
from bot.safety import detect
from bot.safety.semantic import REMINDER, SAFETY, Judgement, combine
from bot.sessions import Memory, rasa_sender

router = APIRouter(tags=["visitors"])
log = logging.getLogger("faqbot.chat")

DEGRADED_NOTICE = (
    "The conversation features are unavailable at the moment, so I answered from the "
    "knowledge base directly; follow-up questions and small talk may not work."
)


def replies_from_rasa(messages: list[dict]) -> list[Reply]:
    replies = []
    for m in messages:
        custom = m.get("custom")
        if isinstance(custom, dict) and custom.get("kind"):
            try:
                replies.append(Reply.model_validate(custom))
            except ValidationError:
                log.error("Rasa sent a reply of the wrong shape; it was dropped")
        elif isinstance(m.get("text"), str) and m["text"].strip():
            options = [{"title": b.get("title", ""), "payload": b.get("payload", "")} for b in m.get("buttons") or []]
            replies.append(Reply(kind="smalltalk", text=m["text"], options=options))
    return replies


def with_reminder(answerer: Answerer, replies: list[Reply], judged: Judgement | None) -> list[Reply]:
    """The replies, with the crisis numbers under them when the crisis net is unsure (once only)."""
    if judged is None or any(r.kind == "safety" for r in replies):
        return replies
    if combine(judged.probability, 0.0, answerer.config.conversation) == REMINDER:
        log.info("crisis numbers added (crisis net unsure: %.2f)", judged.probability)
        return [*replies, answerer.safety_reminder()]
    return replies


@router.post("/api/chat", response_model=ChatResponse, response_model_exclude_none=False)
async def chat(body: ChatRequest, request: Request, runtime: RuntimeDep) -> ChatResponse:
    session_id, _new = runtime.sessions.resolve(body.session_id)
    # A crisis is answered before anything else, the rate limit included.
    state = request.app.state
    with timed(state, "safety_rules"):
        crisis = detect(body.message)
    if crisis:
        log.warning("safety reply given (%s)", crisis.category)
        response = ChatResponse(session_id=session_id, replies=[runtime.answerer.safety(crisis.category)])
        return await finish_turn(request, body.message, response, safety="rules")
    answerer = runtime.answerer
    with timed(state, "crisis_net"):
        judged = await asyncio.to_thread(answerer.judge_crisis, body.message)
    if judged and combine(judged.probability, 0.0, answerer.config.conversation) == SAFETY:
        log.warning("safety reply given (crisis net: %s, %.2f)", judged.category, judged.probability)
        response = ChatResponse(session_id=session_id, replies=[answerer.safety(judged.category)])
        return await finish_turn(request, body.message, response, safety="net")
    check_rate(runtime.limiter, request, "messages")
    feedback = parse_feedback(body.message)
    if feedback:
        pair_id, helpful = feedback
        if runtime.retriever.pair(pair_id):
            await asyncio.to_thread(runtime.store.add_feedback, pair_id, helpful)
        response = ChatResponse(session_id=session_id, replies=[runtime.answerer.feedback_thanks(helpful)])
        return await finish_turn(request, body.message, response)
    conversation = runtime.settings.conversation
    memory = runtime.sessions.recall(session_id)
    try:
        sender = rasa_sender(session_id, memory, conversation.rasa_turns_per_tracker)
        with timed(state, "rasa_round_trip"):
            sent = await runtime.rasa.send(sender, body.message, {CONTEXT: memory.last_pair})
        replies = replies_from_rasa(sent)
        if replies:
            answered = next((r.answer.id for r in replies if r.answer), None)
            runtime.sessions.remember(session_id, memory.after(answered))
            response = ChatResponse(session_id=session_id, replies=with_reminder(runtime.answerer, replies, judged))
            return await finish_turn(request, body.message, response)
        log.warning("Rasa sent nothing a visitor can read; answering directly")
    except BotUnavailable as exc:
        log.info("answering directly: Rasa unavailable (%s)", exc)
    with timed(state, "direct_answer"):
        replies = await asyncio.to_thread(runtime.answerer.reply_directly, body.message, memory.last_pair)
    answered = next((r.answer.id for r in replies if r.answer), None)
    runtime.sessions.remember(session_id, Memory(memory.turns, answered or memory.last_pair))
    replies = with_reminder(runtime.answerer, replies, judged)
    response = ChatResponse(session_id=session_id, replies=replies, degraded=True, notice=DEGRADED_NOTICE)
    return await finish_turn(request, body.message, response)
