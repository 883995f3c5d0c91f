"""The custom actions: answer a question from the retriever, and hand off to the helpline."""
from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from api.answering import NONE_INTENT, Answerer

# An out_of_scope intent this sure is declined unless the retriever is confident on its own
# (or the message follows up the last answer).
OUT_OF_SCOPE_CONFIDENCE = 0.6
# The classifier's "crisis" is a verdict at or above CRISIS_CONFIDENCE, a doubt worth the emergency
# numbers under the answer above CRISIS_DOUBT, and below that a mistake (see ActionSafety).
CRISIS_CONFIDENCE = 0.8
CRISIS_DOUBT = 0.6


def send(dispatcher: CollectingDispatcher, replies) -> None:
    for reply in replies:
        dispatcher.utter_message(json_message=reply.model_dump(mode="json"))


class ActionAnswerQuestion(Action):
    def __init__(self, answerer: Answerer):
        self.answerer = answerer

    def name(self) -> str:
        return "action_answer_question"

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
                text, pair_id=pair_id, context=tracker.get_slot("last_pair"),
                off_topic=intent == "out_of_scope" and confidence >= OUT_OF_SCOPE_CONFIDENCE)
        send(dispatcher, replies)
        answered = next((r.answer.id for r in replies if r.answer), None)
        events: list[dict] = [SlotSet("pair_id", None)]
        if answered:
            events.append(SlotSet("last_pair", answered))
        return events


class ActionHandoff(Action):
    def __init__(self, answerer: Answerer):
        self.answerer = answerer

    def name(self) -> str:
        return "action_handoff"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[dict]:
        send(dispatcher, [self.answerer.handoff()])
        return []


class ActionSafety(Action):
    """The classifier's net under the phrase list: a message Rasa's NLU takes for a crisis.

    The phrase list (api/safety.py) has already seen the message and found nothing. When the
    classifier is sure, the safety reply is given; when it is in doubt, the question is answered and
    the emergency numbers are added, so a doubtful case is neither ignored nor blocked; a weak
    "crisis" (ordinary questions about the vein operation can look like one to it) is just answered."""

    def __init__(self, answerer: Answerer):
        self.answerer = answerer

    def name(self) -> str:
        return "action_safety"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[dict]:
        message = tracker.latest_message or {}
        confidence = (message.get("intent") or {}).get("confidence") or 0.0
        if confidence >= CRISIS_CONFIDENCE:
            send(dispatcher, [self.answerer.safety()])
            return []
        replies = self.answerer.reply_to(message.get("text") or "", context=tracker.get_slot("last_pair"))
        if confidence >= CRISIS_DOUBT:
            replies.append(self.answerer.safety_reminder())
        send(dispatcher, replies)
        answered = next((r.answer.id for r in replies if r.answer), None)
        return [SlotSet("last_pair", answered)] if answered else []


def register(executor, answerer: Answerer) -> None:
    for action in (ActionAnswerQuestion(answerer), ActionHandoff(answerer), ActionSafety(answerer)):
        executor.register_action(action)
