"""The quality loop on the real parts: the store (SQLite and PostgreSQL), visitors' turns through the app in
process (Rasa off: the answerer answers directly), the served encoder and retriever, and the editors' routes
going through the same publish path as /api/qa (ETags, golden questions, history)."""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from api.schemas import ChatResponse
from bot.answering import Answerer
from bot.replies import Reply
from bot.settings import BotConfig
from embeddings.clusters import group, locate
from embeddings.retriever import Retriever
from embeddings.settings import RetrievalSettings
from knowledge.loader import load_pairs
from knowledge.passages import load_passages
from knowledge.store import Store
from tests.conftest import make_token

pytestmark = pytest.mark.integration

DIET = ["what's the best diet for ms", "is there a special diet for multiple sclerosis"]
NHS = ["is the liberation procedure available on the NHS", "can i get the vein op on the nhs"]
# Questions about the same pair that get a "did you mean" (kept as misses).
NHS_ASKED = [
    "is the liberaton thing available on the national health or do you have to pay",
    "can I have the zamboni operation on the national health service",
]


def editor(client) -> dict[str, str]:
    return {"Authorization": f"Bearer {make_token(client.app.state.runtime, 'editor')}"}


def chat(client, message: str, session: str | None = None) -> dict:
    r = client.post("/api/chat", json={"message": message, "session_id": session})
    assert r.status_code == 200
    return r.json()


def test_the_store_keeps_misses_marks_actions_and_counts_and_purges_old_misses(store_url):
    store = Store(store_url)
    try:
        old = store.add_miss(
            "from last season", "fallback", "fallback", at=dt.datetime.now(dt.UTC) - dt.timedelta(days=91)
        )
        clarify = store.add_miss("is the zambonni op on the nhs", "clarify", "open", ("nhs-availability", "x"))
        store.follow_miss(clarify, "chosen", "nhs-availability")
        other = store.add_miss("can I claim PIP", "fallback", "fallback")
        kept = {m.id: m for m in store.misses()}
        assert kept[clarify].outcome == "chosen" and kept[clarify].chosen == "nhs-availability"
        assert kept[clarify].candidates == ("nhs-availability", "x") and kept[clarify].resolution is None
        action = store.record_action("alternate", "ed", [clarify], "nhs-availability", 7, "note")
        assert store.misses(ids=[clarify])[0].resolution == "alternate" and action.revision == 7
        assert [m.id for m in store.misses(unresolved=True)] == [other, old]
        mark, _ = store.add_scope_mark("We don't advise on benefits.", ["can I claim PIP"], "ed", [other])
        assert [m.id for m in store.scope_marks()] == [mark.id] and store.misses(ids=[other])[
            0
        ].resolution == "out_of_scope"
        version = store.scope_version()
        undone, _ = store.undo_scope_mark(mark.id, "ed")
        assert not undone.active and store.scope_marks() == [] and store.scope_version() != version
        assert store.misses(ids=[other])[0].resolution is None  # open again
        assert [a.action for a in store.quality_actions()] == ["undo_out_of_scope", "out_of_scope", "alternate"]
        today = dt.date.today()
        store.add_turn_counts({(today, "fallback"): 2, (today, "answer"): 5})
        store.add_turn_counts({(today, "fallback"): 1})  # another replica, or the next flush
        assert store.turn_counts(today, today) == {today: {"fallback": 3, "answer": 5}}
        assert store.purge_misses(dt.datetime.now(dt.UTC) - dt.timedelta(days=90)) == 1
        assert old not in {m.id for m in store.misses()}
    finally:
        store.close()


def test_chat_turns_keep_misses_redacted_link_follow_ups_and_never_a_safety_message(make_settings, store_url):
    app = create_app(make_settings(database_url=store_url))
    with TestClient(app) as c:
        store = app.state.runtime.store
        fallback = chat(c, "My name is Sarah Jones, call me on 07911 123456: what's the best diet for ms?")
        assert fallback["replies"][0]["kind"] == "fallback"
        # A "did you mean" the visitor answers by choosing, and one they answer with "None of these".
        asked = chat(c, "who offers the zambonni treatment privatly in england")
        assert asked["replies"][0]["kind"] == "clarify"
        options = [o["payload"] for o in asked["replies"][0]["options"]]
        chat(c, options[0], asked["session_id"])
        again = chat(c, "who offers the zambonni treatment privatly in england")
        chat(c, "/none_of_these", again["session_id"])
        # An answer voted not helpful keeps the question it answered.
        answered = chat(c, "what benefits can I get if I have multiple sclerosis")
        assert answered["replies"][0]["kind"] == "answer"
        no = next(o["payload"] for o in answered["replies"][0]["feedback"]["options"] if o["title"] == "No")
        chat(c, no, answered["session_id"])
        # Safety messages: the phrase rules' reply, and the crisis numbers added under a reply.
        crisis = chat(c, "I want to kill myself, nobody can help with my MS")
        assert crisis["replies"][0]["kind"] == "safety"
        quality = app.state.quality
        reminded = ChatResponse(
            session_id="s", replies=[Reply(kind="fallback", text="…"), Reply(kind="safety", text="numbers")]
        )
        assert quality.record("s", "everything is pointless, is the diet thing real", reminded) == "safety"
        kept = sorted(store.misses(), key=lambda m: m.id)
        assert [(m.reply_kind, m.outcome) for m in kept] == [
            ("fallback", "fallback"),
            ("clarify", "chosen"),
            ("clarify", "none_of_these"),
            ("answer", "not_helpful"),
        ]
        assert kept[0].question == "My name is [name], call me on [phone]: what's the best diet for ms?"
        assert kept[1].chosen == options[0].split('"')[-2] and kept[1].candidates[0] == kept[1].chosen
        assert kept[3].question == "what benefits can I get if I have multiple sclerosis"
        assert kept[3].chosen == answered["replies"][0]["answer"]["id"]
        assert not any("kill" in m.question or "pointless" in m.question for m in kept)
        # The dashboard counts every turn by kind, for the days asked; dates are checked.
        h = editor(c)
        today = dt.datetime.now(dt.UTC).date()
        week_ago = (today - dt.timedelta(days=6)).isoformat()
        board = c.get("/api/quality/dashboard", params={"from": week_ago, "to": today.isoformat()}, headers=h)
        assert board.status_code == 200
        data = board.json()
        assert [d["day"] for d in data["days"]][-1] == today.isoformat() and len(data["days"]) == 7
        counts = data["totals"]["counts"]
        assert (counts["fallback"], counts["clarify"], counts["answer"], counts["choice"]) == (1, 2, 1, 1)
        assert (counts["none_of_these"], counts["vote"], counts["safety"]) == (1, 1, 2)
        assert data["totals"]["fallback_rate"] == 0.25 and data["misses"]["kept"] == 4
        assert data["helpful"][0]["not_helpful"] == 1 and data["helpful"][0]["helpful_rate"] == 0.0
        assert sum(cl["size"] for cl in data["clusters"]) == 4
        later = (today + dt.timedelta(days=30)).isoformat()
        assert c.get("/api/quality/dashboard", params={"from": later, "to": later}, headers=h).json()["misses"] == {
            "kept": 0,
            "open": 0,
            "by_outcome": {},
            "by_resolution": {},
        }
        for params in ({"from": today.isoformat(), "to": week_ago}, {"from": "2026-02-30"}, {"from": "2024-01-01"}):
            assert c.get("/api/quality/dashboard", params=params, headers=h).status_code == 422
        assert c.get("/api/quality/dashboard").status_code == 401


def test_clusters_group_paraphrases_together_and_apart_from_other_questions(encoder):
    """On the packaged encoder; the same questions give the same clusters, run after run."""
    with tempfile.TemporaryDirectory() as d:
        retriever = Retriever(encoder, Path(d), RetrievalSettings().thresholds(), RetrievalSettings().scoring(False))
        retriever.load(load_pairs(), load_passages())
        questions = [*DIET, "how do I apply for personal independence payment", *NHS, "who was Paolo Zamboni"]
        located = locate(retriever, questions)
        clusters = group(located, 0.6)
        assert group(locate(retriever, questions), 0.6) == clusters
    where = {i: n for n, members in enumerate(clusters) for i in members}
    assert where[0] == where[1] and where[3] == where[4] and where[0] != where[3]
    assert where[2] not in (where[0], where[3]) and where[5] not in (where[0], where[3])


def test_suggestions_publish_through_the_editors_path(app_client):
    c, runtime = app_client, app_client.app.state.runtime
    store, h = runtime.store, editor(app_client)
    for q in DIET + NHS_ASKED:
        assert chat(c, q)["replies"][0]["kind"] in ("fallback", "clarify")
    found = c.get("/api/quality/clusters", headers=h).json()
    assert found["clustered"] == 4
    nhs = next(cl for cl in found["clusters"] if NHS_ASKED[1] in [e["question"] for e in cl["examples"]])
    assert nhs["nearest"]["pair_id"] == "nhs-availability" and nhs["trend"]["this_week"] >= 1
    # (a) Alternates, with the pair's ETag: 428 without, 412 stale, then the same path as PUT /api/qa.
    miss = next(m.id for m in store.misses() if m.question == NHS_ASKED[1])
    body = {"pair_id": "nhs-availability", "miss_ids": [miss]}
    assert c.post("/api/quality/alternates", json=body, headers=h).status_code == 428
    assert c.post("/api/quality/alternates", json=body, headers={**h, "If-Match": '"stale"'}).status_code == 412
    etag = c.get("/api/qa/nhs-availability", headers=h).headers["ETag"]
    r = c.post("/api/quality/alternates", json=body, headers={**h, "If-Match": etag})
    assert (
        r.status_code == 200 and r.json()["added"] == [NHS_ASKED[1]] and NHS_ASKED[1] in r.json()["pair"]["alternates"]
    )
    assert r.headers["ETag"] != etag
    history = c.get("/api/qa/nhs-availability/revisions", headers=h).json()
    assert history[0]["note"].startswith("quality loop: 1 visitor question") and history[0]["action"] == "update"
    assert runtime.retriever.pair("nhs-availability").alternates[-1] == NHS_ASKED[1]  # served now
    # Golden questions guard it: a kept question that is another pair's golden question is refused.
    golden = store.add_golden("does the vein widening op actually work for ms", "liberation-procedure-proven", "ed")
    trap = store.add_miss(golden.question, "clarify", "open")
    etag = r.headers["ETag"]
    refused = c.post(
        "/api/quality/alternates",
        json={"pair_id": "nhs-availability", "miss_ids": [trap]},
        headers={**h, "If-Match": etag},
    )
    assert refused.status_code == 409 and refused.json()["error"] == "golden_broken"
    assert golden.question not in store.get("nhs-availability").pair.alternates
    # (b) A draft from a cluster: stored as a draft, never served.
    diet = [m.id for m in store.misses() if m.question in DIET]
    draft = c.post("/api/quality/drafts", json={"miss_ids": diet}, headers=h)
    assert draft.status_code == 201 and draft.json()["pair"]["status"] == "draft"
    pair_id = draft.json()["pair"]["id"]
    assert set(draft.json()["added"]) == set(DIET) and runtime.retriever.pair(pair_id) is None
    assert c.get(f"/api/qa/{pair_id}/revisions", headers=h).json()[0]["action"] == "create"
    # What was dealt with leaves the clusters; the actions are listed.
    assert c.get("/api/quality/clusters", headers=h).json()["clustered"] == 2  # the other NHS question, the trap
    assert [a["action"] for a in c.get("/api/quality/actions", headers=h).json()] == ["draft", "alternate"]


def test_an_out_of_scope_mark_sends_matching_messages_to_the_helpline_and_can_be_undone(app_client):
    c, store, h = app_client, app_client.app.state.runtime.store, editor(app_client)
    for q in DIET:
        chat(c, q)
    reason = "We can't give advice about diets; a dietitian can."
    mark = c.post(
        "/api/quality/out-of-scope", json={"miss_ids": [m.id for m in store.misses()], "reason": reason}, headers=h
    )
    assert mark.status_code == 201 and mark.json()["mark"]["active"]
    asked = "which diet is best for people with MS?"
    reply = chat(c, asked)["replies"][0]
    assert reply["kind"] == "fallback" and reason in reply["text"] and "0808 800 8000" in reply["text"]
    assert chat(c, "nhs liberation?")["replies"][0]["kind"] == "answer"  # other questions as before
    assert store.misses()[0].resolution == "out_of_scope"  # kept as dealt with, not in the clusters
    undo = c.delete(f"/api/quality/out-of-scope/{mark.json()['mark']['id']}", headers=h)
    assert undo.status_code == 200 and not undo.json()["active"]
    assert reason not in chat(c, asked)["replies"][0]["text"]
    assert c.delete(f"/api/quality/out-of-scope/{mark.json()['mark']['id']}", headers=h).status_code == 409
    # A mark that would catch a golden question is refused.
    golden = store.add_golden("is there a special diet for MS", "liberation-procedure-proven", "ed")
    trap = store.add_miss(golden.question, "fallback", "fallback")
    refused = c.post("/api/quality/out-of-scope", json={"miss_ids": [trap], "reason": reason}, headers=h)
    assert refused.status_code == 409 and refused.json()["broken"][0]["id"] == golden.id


def test_the_answerer_gives_the_marks_reason_only_to_messages_like_the_marked_ones(encoder):
    """bot/answering.py alone, with the packaged encoder."""
    from embeddings.clusters import ScopeMatcher

    with tempfile.TemporaryDirectory() as d:
        retriever = Retriever(encoder, Path(d), RetrievalSettings().thresholds(), RetrievalSettings().scoring(False))
        retriever.load(load_pairs(), load_passages())
        answerer = Answerer(retriever, BotConfig())
        answerer.scope = ScopeMatcher(
            encoder, [(1, "Benefits are not something I can help with", ["can I claim PIP for MS"])], 0.55
        )
        marked = answerer.reply_to("can i claim pip because of my ms")
        assert marked[0].kind == "fallback" and "Benefits are not something I can help with." in marked[0].text
        assert answerer.reply_to("is the liberation procedure proven to work?")[0].kind == "answer"


def test_a_question_waits_for_its_follow_up_in_redis_where_every_replica_sees_it():
    """The production profile: a vote may reach another replica than the question (real Redis on 127.0.0.1)."""
    import secrets

    import redis

    from api.quality import Last, RedisRecent

    client = redis.Redis(host="127.0.0.1", port=6379, socket_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.fail(f"Redis does not answer on 127.0.0.1:6379 ({exc}); run scripts/ensure-redis.sh", pytrace=False)
    prefix = f"faqbot-test-{secrets.token_hex(4)}:"
    one, two = RedisRecent(client, 60, prefix), RedisRecent(client, 60, prefix)
    one.put("k", Last("is it safe?", "2026-12-01T10:00:00+00:00", "clarify", candidates=("a", "b"), miss=7))
    assert two.get("k") == Last("is it safe?", "2026-12-01T10:00:00+00:00", "clarify", None, ("a", "b"), 7)
    assert 0 < client.pttl(prefix + "k") <= 60_000  # forgotten with the conversation
    two.forget("k")
    assert one.get("k") is None
    away = RedisRecent(redis.Redis(host="127.0.0.1", port=1, socket_timeout=0.2, socket_connect_timeout=0.2), 60)
    away.put("k", Last("q", "2026-12-01T10:00:00+00:00", "answer", "p"))  # no error: only the link is lost
    assert away.get("k") is None
