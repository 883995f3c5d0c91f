"""Every conversation flow through POST /api/chat, with the real Rasa server and the API."""

import time

import httpx
import pytest
import yaml

from tests.conftest import start_server

pytestmark = pytest.mark.e2e


class Visitor:
    def __init__(self, server):
        self.server = server
        self.session_id = None

    def say(self, message: str) -> dict:
        r = httpx.post(
            self.server.base_url + "/api/chat", json={"message": message, "session_id": self.session_id}, timeout=30
        )
        assert r.status_code == 200, r.text
        body = r.json()
        self.session_id = body["session_id"]
        assert body["degraded"] is False, "answered without Rasa"
        return body["replies"][0]


@pytest.mark.parametrize(
    "message",
    [
        "i dont want to be here anymore",
        "what is ccsvi? also I have been thinking about ending my life",
        "my face has gone droopy on one side and I cant lift my arm",
        "since my vein op in poland my neck is swollen and bleeding",
    ],
)
def test_crisis_and_emergencies_get_the_safety_reply_first(live_server, message):
    reply = Visitor(live_server).say(message)
    assert reply["kind"] == "safety" and reply["answer"] is None
    assert "999" in reply["text"] and "116 123" in reply["text"]


def test_a_question_about_risks_is_answered_not_treated_as_an_emergency(live_server):
    reply = Visitor(live_server).say("what was the risk of death in the trials?")
    assert reply["kind"] != "safety"


def test_personal_treatment_questions_get_facts_and_the_advice_line(live_server):
    reply = Visitor(live_server).say("Should I have the liberation procedure?")
    assert reply["kind"] in ("answer", "clarify")
    assert "can't advise you on your own treatment" in reply["text"]
    assert "neurologist or MS nurse" in reply["text"]
    assert "you should" not in reply["text"].lower()
    stop = Visitor(live_server).say("can I stop my medication before going abroad for the vein op?")
    assert "can't advise you on your own treatment" in stop["text"] and "you can stop" not in stop["text"].lower()


def test_follow_ups_resolve_against_the_last_answer(live_server):
    v = Visitor(live_server)
    first = v.say("what is the liberation procedure?")
    assert first["kind"] == "answer" and first["answer"]["id"] == "what-is-liberation-procedure"
    assert 1 <= len(first["options"]) <= 3
    who = v.say("who came up with it?")
    assert who["kind"] in ("answer", "clarify")
    ids = [who["answer"]["id"]] if who["answer"] else [o["payload"] for o in who["options"]]
    assert any("zamboni" in i for i in ids), who
    more = v.say("tell me more")
    assert more["kind"] == "clarify" and more["options"]


def test_a_follow_up_resolves_after_rasa_starts_a_fresh_tracker(live_server):
    """Rasa keeps a conversation's events for `conversation.rasa_turns_per_tracker` (4) messages, then
    a fresh tracker continues it: the 5th message goes to a new one, and "it" must still be understood."""
    v = Visitor(live_server)
    for message in ("hello", "thanks", "are you a bot?"):
        assert v.say(message)["kind"] == "smalltalk"
    first = v.say("what is the liberation procedure?")
    assert first["kind"] == "answer" and first["answer"]["id"] == "what-is-liberation-procedure"
    who = v.say("who came up with it?")
    ids = [who["answer"]["id"]] if who["answer"] else [o["payload"] for o in who["options"]]
    assert any("zamboni" in i for i in ids), who
    for _ in range(4):  # the conversation goes on over further trackers
        assert v.say("thanks")["kind"] == "smalltalk"


def test_rasa_forgets_an_idle_conversation_and_the_visitor_carries_on(tmp_path):
    """Rasa forgets a tracker idle for `conversation.rasa_tracker_idle_minutes` (here 3 s) while the
    conversation itself lives on in the API: after the pause a follow-up is still understood."""
    server = start_server(tmp_path / "data", wait_for_bot=True, FAQBOT_CONVERSATION__RASA_TRACKER_IDLE_MINUTES="0.05")
    try:
        endpoints = yaml.safe_load((tmp_path / "data" / "bot-run" / "endpoints.yml").read_text())
        assert endpoints["tracker_store"]["record_exp"] == 3
        v = Visitor(server)
        first = v.say("what is the liberation procedure?")
        assert first["kind"] == "answer" and first["answer"]["id"] == "what-is-liberation-procedure"
        time.sleep(4)  # Rasa's tracker for this conversation expires
        who = v.say("who came up with it?")
        ids = [who["answer"]["id"]] if who["answer"] else [o["payload"] for o in who["options"]]
        assert any("zamboni" in i for i in ids), who
    finally:
        server.stop()


def test_handoff_gives_the_helpline_and_the_conversation_goes_on(live_server):
    v = Visitor(live_server)
    handoff = v.say("I'd like to talk to a real person please")
    assert handoff["kind"] == "handoff" and "0808 800 8000" in handoff["text"]
    after = v.say("what does NICE say about the liberation procedure?")
    assert after["kind"] == "answer"


def test_the_bot_says_what_it_is(live_server):
    reply = Visitor(live_server).say("are you a real doctor?")
    assert reply["kind"] == "smalltalk" and "not a person and not a doctor" in reply["text"]


def test_feedback_is_stored_with_the_pair_and_counted_for_staff(live_server):
    v = Visitor(live_server)
    answer = v.say("is the liberation procedure proven?")
    pair_id = answer["answer"]["id"]
    yes, no = answer["feedback"]["options"]
    staff = {"Authorization": f"Bearer {live_server.token('staff')}"}

    def counts():
        r = httpx.get(
            live_server.base_url + "/api/search",
            params={"q": "is the liberation procedure proven", "k": 5},
            headers=staff,
            timeout=30,
        )
        return next(x["feedback"] for x in r.json()["results"] if x["id"] == pair_id)

    before = counts()
    thanks = v.say(no["payload"])
    assert thanks["kind"] == "smalltalk" and "helpline" in thanks["text"]
    v.say(yes["payload"])
    after = counts()
    assert after["not_helpful"] == before["not_helpful"] + 1 and after["helpful"] == before["helpful"] + 1


def test_out_of_scope_is_declined_with_what_the_bot_can_help_with(live_server):
    reply = Visitor(live_server).say("can you recommend a good pizza recipe?")
    assert reply["kind"] == "fallback" and "CCSVI" in reply["text"] and "0808 800 8000" in reply["text"]


def test_a_crisis_no_phrase_rule_foresaw_gets_the_safety_reply_and_chatter_gets_none(live_server):
    reply = Visitor(live_server).say("nobody will have to put up with me for much longer, I've made my decision")
    assert reply["kind"] == "safety" and "116 123" in reply["text"]
    # Rasa's crisis intent once put a safety reply on posts like this one; the crisis net disagrees.
    r = httpx.post(live_server.base_url + "/api/chat", json={"message": "I've lost my glasses again"}, timeout=30)
    assert all(x["kind"] != "safety" for x in r.json()["replies"])


@pytest.mark.parametrize("message", ["help", "hi can you", "?"])
def test_a_vague_message_gets_example_questions_and_the_helpline(live_server, message):
    reply = Visitor(live_server).say(message)
    assert reply["kind"] == "smalltalk" and reply["answer"] is None
    assert "0808 800 8000" in reply["text"] and len(reply["options"]) == 4
