"""Which reply Rasa's intents lead to, when the retriever knows better (pure logic: stand-in retriever)."""

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from bot.actions.answer import ActionHandoff, ActionSafety, ActionSmalltalk
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
