"""The crisis net and the menu through /api/chat, on the real app in process (real encoders and index).

Rasa is off here, so the replies come from the answerer directly; the same checks run before Rasa
sees a message when it is up.
"""

import pytest

from bot.safety import detect

pytestmark = pytest.mark.integration

# Worded so that no phrase rule catches it (asserted below): only the meaning gives it away.
UNFORESEEN_CRISIS = "nobody will have to put up with me for much longer, I've made my decision"
# A message the net is unsure of: it is answered, with the crisis numbers under the reply.
UNSURE = "MS has ruined my life but I'm still fighting"


def chat(client, message):
    r = client.post("/api/chat", json={"message": message})
    assert r.status_code == 200
    return r.json()["replies"]


def test_a_crisis_no_phrase_rule_foresaw_gets_the_safety_reply(app_client):
    assert detect(UNFORESEEN_CRISIS) is None
    replies = chat(app_client, UNFORESEEN_CRISIS)
    assert [r["kind"] for r in replies] == ["safety"]
    assert "You don't have to face it alone" in replies[0]["text"] and "116 123" in replies[0]["text"]


def test_an_unsure_message_is_answered_with_the_crisis_numbers_under_the_reply(app_client):
    assert detect(UNSURE) is None
    replies = chat(app_client, UNSURE)
    assert len(replies) == 2 and replies[0]["kind"] != "safety"
    assert replies[1]["kind"] == "safety" and "116 123" in replies[1]["text"] and "999" in replies[1]["text"]


def test_ordinary_questions_and_chatter_get_no_crisis_numbers(app_client):
    for message in (
        "is the liberation procedure proven?",
        "My cat knocked the milk over again",
        "this heat is killing me",
    ):
        assert all(r["kind"] != "safety" for r in chat(app_client, message)), message


def test_vague_messages_get_the_menu_of_example_questions_and_the_helpline(app_client):
    for message in ("help", "?", "hi can you", "info"):
        [reply] = chat(app_client, message)
        assert reply["kind"] == "smalltalk" and reply["answer"] is None, message
        assert "I can answer questions about CCSVI" in reply["text"] and "0808 800 8000" in reply["text"]
        titles = [o["title"] for o in reply["options"]]
        assert len(titles) == 4 and all(t.endswith("?") for t in titles)
    # Each option answers its pair when chosen.
    assert chat(app_client, reply["options"][0]["payload"])[0]["kind"] == "answer"
