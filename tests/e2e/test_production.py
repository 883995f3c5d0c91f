"""The production profile (make run-prod): two replicas behind nginx on PostgreSQL and Redis.

What a deployment relies on, through the real processes: a publish through one replica is answered by
the other; a conversation goes on across replicas and across a Rasa restart; the rate limit holds
across replicas and a forged forwarding header changes nothing; and the faults: Rasa killed in the
middle of a conversation, PostgreSQL restarted, Redis gone and back. No answer is a 500, nothing
published is lost, and nobody has to step in for the service to recover.

The tests share one production profile and run in order (later ones rely on what earlier ones published).
"""

from __future__ import annotations

import os
import signal
import time
import uuid

import httpx
import pytest

from tests.e2e.prod_profile import Production
from tests.factories import pair_data

pytestmark = pytest.mark.e2e

CHAT_LIMIT = 12  # messages per minute per client in these tests


@pytest.fixture(scope="module")
def prod(tmp_path_factory):
    p = Production(tmp_path_factory.mktemp("prod"), FAQBOT_CHAT__RATE_LIMIT_PER_MINUTE=str(CHAT_LIMIT))
    try:
        p.start()
        yield p
    finally:
        p.stop()


class Visitor:
    """A visitor with an address of their own: replicas trust a forwarding header from loopback
    (config.prod.yml lists the proxy's address), so each visitor here can be a different client."""

    def __init__(self) -> None:
        self.address = f"10.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250 + 1}"
        self.session_id: str | None = None
        self.statuses: list[int] = []

    def say(self, url: str, message: str) -> httpx.Response:
        r = httpx.post(
            url + "/api/chat",
            json={"message": message, "session_id": self.session_id},
            headers={"X-Forwarded-For": self.address},
            timeout=30,
        )
        self.statuses.append(r.status_code)
        if r.status_code == 200:
            self.session_id = r.json()["session_id"]
        return r

    def reply(self, url: str, message: str) -> dict:
        r = self.say(url, message)
        assert r.status_code == 200, r.text
        return r.json()


def wait_for(check, limit: float, what: str):
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.5)
    raise AssertionError(f"not within {limit:.0f} s: {what}")


def test_a_publish_through_one_replica_is_answered_by_the_other(prod):
    one, two = prod.replicas
    token = prod.token("editor")
    data = pair_data(
        id="prod-sync-pair",
        question="Does the marmalade vein theory explain multiple sclerosis?",
        alternates=["is marmalade vein theory true", "marmalade vein ms", "marmalade theory of ms"],
        answer="No. The marmalade vein theory is a test of replicas: it was never shown to explain MS.",
    )
    r = httpx.post(one.url + "/api/qa", json=data, headers={"Authorization": f"Bearer {token}"}, timeout=60)
    assert r.status_code == 201, r.text
    published = time.monotonic()

    def answered_by_two():
        body = Visitor().reply(two.url, "is the marmalade vein theory true?")
        reply = body["replies"][0]
        return reply if reply.get("answer") and reply["answer"]["id"] == "prod-sync-pair" else None

    reply = wait_for(answered_by_two, 15, "the other replica answers from the new pair")
    assert "never shown to explain MS" in reply["text"]
    print(f"publish on one replica -> answered by the other: {time.monotonic() - published:.1f} s")


def test_a_conversation_continues_across_replicas(prod):
    one, two = prod.replicas
    v = Visitor()
    first = v.reply(one.url, "what is the liberation procedure?")
    assert first["degraded"] is False
    assert first["replies"][0]["answer"]["id"] == "what-is-liberation-procedure"
    # "who came up with it?" names nothing: only the conversation (Rasa's tracker, in Redis) says what "it" is.
    who = v.reply(two.url, "who came up with it?")
    assert who["session_id"] == first["session_id"] and who["degraded"] is False
    reply = who["replies"][0]
    ids = [reply["answer"]["id"]] if reply["answer"] else [o["payload"] for o in reply["options"]]
    assert any("zamboni" in i for i in ids), reply


def test_rasa_killed_mid_conversation(prod):
    one = prod.replicas[0]
    v = Visitor()
    assert v.reply(one.url, "what is the liberation procedure?")["degraded"] is False
    rasa = one.rasa_pid()
    assert rasa, "replica one's Rasa server was not found"
    os.kill(rasa, signal.SIGKILL)
    wait_for(lambda: one.health()["bot"]["state"] != "ready", 10, "the replica notices Rasa is gone")
    # Answers go on from the retriever, with the notice; a request for a person still gets the helpline.
    answer = v.reply(one.url, "was the liberation procedure shown to work in trials?")
    assert answer["degraded"] is True and answer["notice"]
    assert answer["replies"][0]["kind"] in ("answer", "clarify")
    person = v.reply(one.url, "I want to talk to a person")["replies"][0]
    assert person["kind"] == "handoff" and "0808 800 8000" in person["text"]
    hello = v.reply(one.url, "hello")["replies"][0]
    assert hello["kind"] in ("smalltalk", "menu") and "hello" in hello["text"].lower()
    # Rasa comes back by itself, and the conversation is where it was (the tracker lives in Redis).
    wait_for(lambda: one.health()["bot"]["state"] == "ready", 240, "Rasa restarted by the replica")
    assert one.rasa_pid() not in (None, rasa)
    v.reply(one.url, "what is the liberation procedure?")
    who = v.reply(one.url, "who came up with it?")
    assert who["degraded"] is False
    reply = who["replies"][0]
    ids = [reply["answer"]["id"]] if reply["answer"] else [o["payload"] for o in reply["options"]]
    assert any("zamboni" in i for i in ids), reply
    assert 500 not in v.statuses


def test_postgresql_restarted(prod):
    one, two = prod.replicas
    token = prod.token("staff")
    auth = {"Authorization": f"Bearer {token}"}
    prod.pg.stop()
    try:
        # Visitors are answered (the index is in memory); staff get a clear "try again", not a 500.
        body = Visitor().reply(one.url, "what is CCSVI?")
        assert body["replies"][0]["kind"] in ("answer", "clarify")
        r = httpx.get(two.url + "/api/search", params={"q": "ccsvi"}, headers=auth, timeout=30)
        assert r.status_code == 503, r.text
        assert r.json()["error"] and "Traceback" not in r.text
        assert httpx.get(two.url + "/readyz", timeout=10).status_code == 503
    finally:
        prod.pg.start()
    # Back without anyone stepping in; what was published before is still there.
    wait_for(
        lambda: (
            httpx.get(two.url + "/api/search", params={"q": "marmalade"}, headers=auth, timeout=30).status_code == 200
        ),
        30,
        "staff search works again",
    )
    results = httpx.get(two.url + "/api/search", params={"q": "marmalade vein theory"}, headers=auth).json()["results"]
    assert results[0]["id"] == "prod-sync-pair"
    assert httpx.get(one.url + "/readyz", timeout=10).status_code == 200


def test_redis_gone_and_back(prod):
    one, two = prod.replicas
    v = Visitor()
    assert v.reply(one.url, "what is the liberation procedure?")["degraded"] is False
    prod.redis.stop()
    try:
        # Without Redis, Rasa cannot read the conversation: answers come from the retriever, with the notice.
        body = v.reply(two.url, "was the liberation procedure shown to work in trials?")
        assert body["degraded"] is True and body["replies"][0]["kind"] in ("answer", "clarify")
    finally:
        prod.redis.start()
    wait_for(
        lambda: Visitor().reply(one.url, "what is the liberation procedure?")["degraded"] is False,
        30,
        "the conversation features are back",
    )
    assert 500 not in v.statuses


def test_the_rate_limit_holds_across_replicas_and_a_forged_header_changes_nothing(prod):
    one, two = prod.replicas
    v = Visitor()
    statuses = [v.say((one, two)[i % 2].url, f"what is ccsvi {i}").status_code for i in range(CHAT_LIMIT)]
    assert statuses == [200] * CHAT_LIMIT
    r = v.say(two.url, "one more")
    assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1
    r = v.say(one.url, "and another")
    assert r.status_code == 429
    # Through the proxy, a client's own X-Forwarded-For is replaced by its real address: sending a
    # new made-up address with every message does not escape the limit.
    seen = []
    for i in range(CHAT_LIMIT + 2):
        r = httpx.post(
            prod.base_url + "/api/chat",
            json={"message": f"what is ccsvi {i}"},
            headers={"X-Forwarded-For": f"192.0.2.{i + 1}"},
            timeout=30,
        )
        seen.append(r.status_code)
    assert seen.count(429) >= 2 and 500 not in seen


def test_the_proxy_hides_internal_routes_and_no_replica_logged_a_traceback(prod):
    assert httpx.post(prod.base_url + "/internal/actions", json={}, timeout=10).status_code == 404
    assert httpx.get(prod.base_url + "/metrics", timeout=10).status_code == 404
    assert httpx.get(prod.base_url + "/docs", timeout=10).status_code == 404  # api_docs off in production
    assert "Traceback" not in prod.logs()
