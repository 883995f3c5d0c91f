"""The custom actions: answer a question from the retriever, smalltalk, the helpline, and the safety net."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import ActionExecutor, CollectingDispatcher

from bot.answering import NONE_INTENT, Answerer
from bot.replies import Reply
from bot.safety.semantic import REMINDER, SAFETY, combine
from bot.settings import ConversationSettings

# The cut-offs on Rasa's intent confidences are settings (config.yml `conversation:`):
# - out_of_scope_confidence: an out_of_scope intent this sure is declined unless the retriever is
#   confident on its own (or the message follows up the last answer);
# - crisis_confidence / crisis_doubt: the classifier's "crisis" is a verdict at or above the first,
#   a doubt worth the emergency numbers under the answer above the second, and below that a
#   mistake; each only where the crisis net agrees (crisis_net_agree, crisis_net_floor; see
#   ActionSafety and bot/safety/semantic.py combine).


# The key of the message's metadata (sent by the API with every message) that holds the pair the
# conversation answered last: the conversation's memory outlives Rasa's tracker (bot/sessions.py).
CONTEXT = "last_pair"


def context_of(tracker: Tracker) -> str | None:
    """The pair the conversation answered last: from the message's metadata when the API sent it, else
    from this tracker's slot (a conversation held by Rasa alone, e.g. `rasa shell`)."""
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            metadata = event.get("metadata") or {}
            if CONTEXT in metadata:
                value = metadata[CONTEXT]
                return value if isinstance(value, str) and value else None
            break
    return tracker.get_slot("last_pair")


def send(dispatcher: CollectingDispatcher, replies: list[Reply]) -> None:
    for reply in replies:
        dispatcher.utter_message(json_message=reply.model_dump(mode="json"))


class AnswererAction(Action):
    """A custom action that replies through the API's answerer."""

    action_name = ""

    def __init__(self, answerer: Answerer):
        self.answerer = answerer

    def name(self) -> str:
        return self.action_name

    @property
    def cutoffs(self) -> ConversationSettings:
        return self.answerer.config.conversation


class ActionAnswerQuestion(AnswererAction):
    action_name = "action_answer_question"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[dict]:
        message = tracker.latest_message or {}
        text = message.get("text") or ""
        intent = (message.get("intent") or {}).get("name")
        confidence = (message.get("intent") or {}).get("confidence") or 0.0
        if intent == NONE_INTENT:
            replies = [self.answerer.fallback()]
        else:
            pair_id = next((e.get("value") for e in message.get("entities", []) if e.get("entity") == "pair_id"), None)
            replies = self.answerer.reply_to(
                text,
                pair_id=pair_id,
                context=context_of(tracker),
                off_topic=intent == "out_of_scope" and confidence >= self.cutoffs.out_of_scope_confidence,
            )
        send(dispatcher, replies)
        answered = next((r.answer.id for r in replies if r.answer), None)
        events: list[dict] = [SlotSet("pair_id", None)]
        if answered:
            events.append(SlotSet("last_pair", answered))
        return events


def answered_confidently(answerer: Answerer, tracker: Tracker) -> list[Reply]:
    """The replies to the latest message when the retriever would answer it outright, else [].

    Rasa's intent classifier is small and learns from few examples; it has taken "can you get a clot
    from having your jugular ballooned" for smalltalk and "how were blocked veins meant to damage the
    nerves" for a request for a person. A question the retriever answers with confidence is a question."""
    text = (tracker.latest_message or {}).get("text") or ""
    if not text.strip():
        return []
    decision = answerer.retriever.decide(text)
    if decision.kind != "answer":
        return []
    return answerer.reply_to(text, context=context_of(tracker), decision=decision)


def last_pair_events(replies: list[Reply]) -> list[dict[str, Any]]:
    answered = next((r.answer.id for r in replies if r.answer), None)
    return [SlotSet("last_pair", answered)] if answered else []


class ActionSmalltalk(AnswererAction):
    """Greetings, thanks, goodbyes and "are you a bot?": the response for the intent, unless the
    message is really a question the retriever answers ("hi, is the procedure safe?")."""

    action_name = "action_smalltalk"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[dict]:
        replies = answered_confidently(self.answerer, tracker)
        if replies:
            send(dispatcher, replies)
            return last_pair_events(replies)
        intent = ((tracker.latest_message or {}).get("intent") or {}).get("name") or "greet"
        # A greeting ("hi", and the vague words the classifier takes for one: "help", "hi can you")
        # also says what the bot answers, with example questions and the helpline (bot/menu.py).
        reply = self.answerer.menu(greeting=True) if intent == "greet" else self.answerer.smalltalk(intent)
        send(dispatcher, [reply])
        return []


class ActionHandoff(AnswererAction):
    """The helpline first; then, when the retriever answers the message outright, that answer too
    (the classifier may have taken a question for a request for a person)."""

    action_name = "action_handoff"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[dict]:
        replies = answered_confidently(self.answerer, tracker)
        send(dispatcher, [self.answerer.handoff()] + replies)
        return last_pair_events(replies)


class ActionSafety(AnswererAction):
    """The classifier's net under the phrase list: a message Rasa's NLU takes for a crisis.

    The phrase list (bot/safety) and the crisis net's sure verdict have already seen the message and
    found nothing. The classifier is small and overconfident on text unlike its examples (it took
    "I've lost my glasses again" for a crisis), so it counts only where the crisis net agrees
    (bot/safety/semantic.py combine): then a sure classifier gives the safety reply; a doubt has the
    question answered and the emergency numbers added, so a doubtful case is neither ignored nor
    blocked; anything else (ordinary questions about the vein operation can look like a crisis to
    it) is just answered."""

    action_name = "action_safety"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[dict]:
        message = tracker.latest_message or {}
        text = message.get("text") or ""
        confidence = (message.get("intent") or {}).get("confidence") or 0.0
        judged = self.answerer.judge_crisis(text)
        verdict = combine(judged.probability if judged else None, confidence, self.cutoffs)
        if verdict == SAFETY:
            # A question the retriever answers outright ("I've just been told I might have MS, what
            # even is that?") is answered, with the emergency numbers under it; anything else gets
            # the safety reply alone.
            replies = answered_confidently(self.answerer, tracker)
            safety = self.answerer.safety(judged.category if judged else None)
            send(dispatcher, replies + [self.answerer.safety_reminder()] if replies else [safety])
            return last_pair_events(replies)
        replies = self.answerer.reply_to(text, context=context_of(tracker))
        if verdict == REMINDER and not any(r.kind == "safety" for r in replies):
            replies.append(self.answerer.safety_reminder())
        send(dispatcher, replies)
        return last_pair_events(replies)


def register(executor: ActionExecutor, answerer: Answerer) -> None:
    for action in (
        ActionAnswerQuestion(answerer),
        ActionSmalltalk(answerer),
        ActionHandoff(answerer),
        ActionSafety(answerer),
    ):
        executor.register_action(action)
