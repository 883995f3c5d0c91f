"""The whole path: the real Rasa server and the API as processes, asked over HTTP."""

import subprocess
import sys

import httpx
import pytest

from tests.conftest import REPO, find_clarify_message, start_server

pytestmark = pytest.mark.e2e


def ask(server, message, session_id=None):
    r = httpx.post(server.base_url + "/api/chat", json={"message": message, "session_id": session_id}, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()


def test_liberation_question_gets_a_cited_dated_caveated_answer_through_rasa(live_server):
    body = ask(live_server, "is the liberation procedure proven?")
    assert body["degraded"] is False, "answered without Rasa"
    reply = body["replies"][0]
    assert reply["kind"] == "answer"
    answer = reply["answer"]
    assert answer["evidence"] == "disproven"
    assert answer["text"].startswith("No") and "no benefit" in answer["text"].lower()
    assert answer["caveats"]
    assert answer["citations"] and all(c["published"][:4].isdigit() for c in answer["citations"])
    assert "Source" in reply["text"]


def test_smalltalk_handoff_and_out_of_scope_through_rasa(live_server):
    sid = ask(live_server, "hello")["session_id"]
    assert ask(live_server, "hello", sid)["replies"][0]["kind"] == "smalltalk"
    bot = ask(live_server, "are you a robot?", sid)["replies"][0]
    assert bot["kind"] == "smalltalk" and "not a person" in bot["text"]
    handoff = ask(live_server, "can I talk to a real person?", sid)["replies"][0]
    assert handoff["kind"] == "handoff" and "0808 800 8000" in handoff["text"]
    oos = ask(live_server, "what's the weather like in Manchester tomorrow?", sid)["replies"][0]
    assert oos["kind"] == "fallback" and oos["answer"] is None and "helpline" in oos["text"]


@pytest.mark.parametrize(
    "message, pair_id",
    [
        ("hello, is the liberation procedure proven?", "liberation-procedure-proven"),
        ("is it normal to have a narrow jugular if you don't have ms", "narrowed-veins-in-healthy-people"),
        ("sham meaning", "what-is-sham-controlled-trial"),
    ],
)
def test_a_clear_question_inside_smalltalk_is_answered_not_greeted(live_server, message, pair_id):
    reply = ask(live_server, message)["replies"][0]
    assert reply["kind"] == "answer" and reply["answer"]["id"] == pair_id


def test_choosing_a_clarify_option_answers_that_candidate(live_server):
    body = ask(live_server, find_clarify_message(live_server))
    reply = body["replies"][0]
    assert reply["kind"] == "clarify" and len(reply["options"]) >= 3  # two candidates or more, and "None of these"
    option = reply["options"][0]
    chosen = ask(live_server, option["payload"], body["session_id"])["replies"][0]
    assert chosen["kind"] == "answer" and chosen["answer"]["question"] == option["title"]
    none = ask(live_server, reply["options"][-1]["payload"], body["session_id"])["replies"][0]
    assert none["kind"] == "fallback"


def test_the_service_passes_the_outside_contract_check(live_server):
    checker = REPO.parent / "shared" / "tools" / "check_contract.py"
    if not checker.exists():
        pytest.fail(f"the contract checker is expected beside the repository at {checker}")
    out = subprocess.run(
        [sys.executable, str(checker), live_server.base_url, live_server.token("editor")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert " 0 failed" in out.stdout


def test_when_rasa_cannot_run_chat_still_answers_from_the_retriever(tmp_path):
    server = start_server(tmp_path / "data", wait_for_bot=False, FAQBOT_RASA_EXECUTABLE="/nonexistent/rasa")
    try:
        body = ask(server, "is the liberation procedure proven?")
        assert body["replies"][0]["kind"] == "answer" and body["degraded"] is True
        assert "unavailable" in body["notice"]
        assert server.health()["bot"]["state"] in ("pending", "training", "starting", "down")
    finally:
        server.stop()
