"""Which reply Rasa's intents lead to, when the retriever knows better (pure logic: stand-in retriever)."""

from typing import cast

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from bot.actions.answer import ActionHandoff, ActionSafety, ActionSmalltalk
from bot.safety.semantic import CrisisNet, Judgement
from embeddings.retriever import Decision, Hit
from knowledge.schema import QAPair
from tests.factories import pair_data
from tests.unit.test_answering import answerer

pytestmark = pytest.mark.unit

PAIR = QAPair.model_validate(pair_data(id="blood-clots", question="Can the procedure cause blood clots?"))
SURE = Decision("answer", [Hit(PAIR.id, "qa", 0.9, "question", pair=PAIR)])


def run(action_class, text: str, intent: str, confidence: float, decision: Decision) -> tuple[list[dict], list]:
    action = action_class(answerer(decision, pairs={PAIR.id: PAIR}))
    message = {"text": text, "intent": {"name": intent, "confidence": confidence}, "entities": []}
    tracker = Tracker("visitor", {"last_pair": None}, message, [], False, None, None, None)
    dispatcher = CollectingDispatcher()
    events = action.run(dispatcher, tracker, {})
    return [m["custom"] for m in dispatcher.messages], events


def test_smalltalk_gets_its_reply_unless_the_retriever_answers_the_message_outright():
    replies, _ = run(ActionSmalltalk, "hello", "greet", 0.9, Decision("fallback"))
    assert [r["kind"] for r in replies] == ["smalltalk"] and replies[0]["text"].startswith("Hello.")
    replies, _ = run(ActionSmalltalk, "are you a robot", "bot_challenge", 0.9, Decision("clarify", SURE.hits))
    assert "not a person and not a doctor" in replies[0]["text"]
    replies, events = run(ActionSmalltalk, "can you get a clot from having your jugular ballooned", "thank", 0.5, SURE)
    assert [r["kind"] for r in replies] == ["answer"] and replies[0]["answer"]["id"] == "blood-clots"
    assert {"event": "slot", "name": "last_pair", "value": "blood-clots", "timestamp": None} in events


def test_a_request_for_a_person_always_gets_the_helpline_first_and_a_clear_question_its_answer_too():
    replies, _ = run(ActionHandoff, "can i talk to a person", "request_human", 0.9, Decision("fallback"))
    assert [r["kind"] for r in replies] == ["handoff"]
    replies, _ = run(ActionHandoff, "how were blocked veins meant to damage the nerves", "request_human", 0.6, SURE)
    assert [r["kind"] for r in replies] == ["handoff", "answer"]


def test_a_sure_crisis_verdict_gives_the_safety_reply_or_the_answer_with_the_numbers_under_it():
    replies, _ = run(ActionSafety, "i can't go on", "crisis", 0.95, Decision("fallback"))
    assert [r["kind"] for r in replies] == ["safety"] and "999" in replies[0]["text"]
    replies, _ = run(ActionSafety, "just been told i might have ms, what even is that", "crisis", 0.9, SURE)
    assert [r["kind"] for r in replies] == ["answer", "safety"] and "999" in replies[1]["text"]


class FixedNet:
    """Stands in for the crisis net with a fixed probability."""

    def __init__(self, probability: float):
        self.probability = probability

    def judge(self, message):
        return Judgement(self.probability, "suicide_self_harm")


def run_with_net(probability: float, text: str, confidence: float, decision: Decision) -> list[dict]:
    a = answerer(decision, pairs={PAIR.id: PAIR})
    a.crisis_net = cast(CrisisNet, FixedNet(probability))
    message = {"text": text, "intent": {"name": "crisis", "confidence": confidence}, "entities": []}
    tracker = Tracker("visitor", {"last_pair": None}, message, [], False, None, None, None)
    dispatcher = CollectingDispatcher()
    ActionSafety(a).run(dispatcher, tracker, {})
    return [m["custom"] for m in dispatcher.messages]


def test_a_sure_crisis_intent_on_ordinary_chatter_is_ignored_when_the_crisis_net_disagrees():
    # Rasa once took "I've lost my glasses again" for a crisis at 0.94: with the net sure it is
    # nothing, the visitor gets an ordinary reply, no emergency numbers.
    replies = run_with_net(0.01, "I've lost my glasses again, they were on my head", 0.94, Decision("fallback"))
    assert [r["kind"] for r in replies] == ["fallback"] and "116 123" not in replies[0]["text"]
    # The net unsure: the answer, with the crisis numbers under it.
    replies = run_with_net(0.2, "can you get a clot from having your jugular ballooned", 0.9, SURE)
    assert [r["kind"] for r in replies] == ["answer", "safety"] and "116 123" in replies[1]["text"]
    # The net agreeing: the safety reply, in the crisis wording.
    replies = run_with_net(0.7, "I'll save the disease the trouble", 0.9, Decision("fallback"))
    assert [r["kind"] for r in replies] == ["safety"] and "You don't have to face it alone" in replies[0]["text"]


def test_a_greeting_is_a_greeting_that_says_what_the_bot_can_answer():
    replies, _ = run(ActionSmalltalk, "hi", "greet", 0.9, Decision("fallback"))
    assert replies[0]["text"].startswith("Hello.") and "0808 800 8000" in replies[0]["text"]
    assert [o["title"] for o in replies[0]["options"]] == [PAIR.question]
