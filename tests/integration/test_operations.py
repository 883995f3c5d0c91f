"""Operations on the real app in process: request ids and one log line per request without what people
typed, Prometheus metrics, liveness and readiness (a store that is down included), and transcripts:
off by default, redacted when on, deleted after the retention, on SQLite and PostgreSQL."""

import datetime as dt
import io
import json
import logging

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError

from api.main import create_app
from api.observability import JsonFormatter
from api.transcripts import session_key
from knowledge.store import Store, Turn
from tests.conftest import make_token

pytestmark = pytest.mark.integration

CANARY = "zq-canary-7731"


@pytest.fixture
def log_lines():
    """The service's log lines ("faqbot…") as the JSON the service writes, while the test runs."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("faqbot")
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.INFO)
    try:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def test_every_request_gets_an_id_and_one_log_line_and_nothing_typed_is_logged_or_stored(app_client, log_lines):
    staff = {"Authorization": f"Bearer {make_token(app_client.app.state.runtime, 'staff')}"}
    r = app_client.get("/api/search", params={"q": f"liberation {CANARY}"}, headers={**staff, "X-Request-ID": "t-42"})
    assert r.status_code == 200 and r.headers["X-Request-ID"] == "t-42"
    fresh = app_client.post("/api/chat", json={"message": f"is ccsvi real? {CANARY}"})
    chat_id = fresh.headers["X-Request-ID"]
    assert len(chat_id) == 32
    app_client.get(f"/api/qa/{CANARY}", headers=staff)
    assert app_client.put("/api/chat", json={"message": CANARY}).status_code == 405  # answered before routing
    lines = log_lines()
    access = [x for x in lines if x["logger"] == "faqbot.access"]
    assert [(x["method"], x["path"], x["route"], x["status"]) for x in access] == [
        ("GET", "/api/search", "/api/search", 200),
        ("POST", "/api/chat", "/api/chat", 200),
        ("GET", f"/api/qa/{CANARY}", "/api/qa/{pair_id}", 403),
        ("PUT", "/api/chat", "/api/chat", 405),
    ]
    assert access[0]["request_id"] == "t-42" and access[1]["request_id"] == chat_id
    assert all(x["duration_ms"] >= 0 and x["client"] for x in access)
    # The chat's own line ("answering directly", logged in the route) carries the request's id too.
    assert any(x["logger"] == "faqbot.chat" and x.get("request_id") == chat_id for x in lines)
    # A question is never logged; only the path an editor chose (a pair id) may be.
    assert not any(CANARY in json.dumps(x) for x in lines if x.get("path") != f"/api/qa/{CANARY}")
    # Transcripts are off by default: nothing of the conversation was stored.
    assert app_client.app.state.runtime.store.turns() == []


def test_metrics_count_requests_replies_and_read_the_index_and_rasa(app_client):
    app_client.post("/api/chat", json={"message": "is the liberation procedure proven?"})
    app_client.post("/api/chat", json={"message": "I want to kill myself"})
    r = app_client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    text = r.text
    assert 'faqbot_http_requests_total{method="POST",route="/api/chat",status="200"} 2.0' in text
    assert 'faqbot_http_request_duration_seconds_count{method="POST",route="/api/chat"} 2.0' in text
    assert 'faqbot_chat_replies_total{kind="answer"} 1.0' in text
    assert 'faqbot_chat_safety_replies_total{source="rules"} 1.0' in text
    assert "faqbot_chat_direct_answers_total 1.0" in text  # Rasa is off here
    assert 'faqbot_rasa_state{state="disabled"} 1.0' in text
    vectors = len(app_client.app.state.runtime.retriever.snapshot.index)
    assert f"faqbot_index_vectors {float(vectors)}" in text and "faqbot_index_info{" in text
    assert "process_resident_memory_bytes" in text
    assert "/metrics" not in app_client.get("/openapi.json").json()["paths"]


def test_live_and_ready_and_a_store_that_is_down_is_named_not_a_500(app_client):
    assert app_client.get("/livez").json() == {"status": "live"}
    ready = app_client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["failed"] == []
    store = app_client.app.state.runtime.store
    working = store.engine
    # A database nothing listens on (port 1): what a restarting PostgreSQL looks like to the service.
    store.engine = create_engine("postgresql+psycopg://postgres@127.0.0.1:1/faqbot", pool_pre_ping=True)
    try:
        down = app_client.get("/readyz")
        health = app_client.get("/healthz")
        chat = app_client.post("/api/chat", json={"message": "is the liberation procedure proven?"})
    finally:
        store.engine.dispose()
        store.engine = working
    assert down.status_code == 503 and down.json()["failed"] == ["store"]
    assert health.status_code == 200
    assert health.json()["store"]["state"] == "down" and health.json()["status"] == "degraded"
    assert chat.status_code == 200 and chat.json()["replies"][0]["kind"] == "answer"
    assert app_client.get("/readyz").status_code == 200


def test_transcripts_when_on_are_redacted_hashed_and_deleted_after_the_retention(make_settings, store_url):
    """On SQLite and PostgreSQL; this app has operations.metrics off too."""
    settings = make_settings(
        database_url=store_url,
        privacy={"store_transcripts": True, "transcript_retention_days": 7},
        operations={"metrics": False},
    )
    old = dt.datetime.now(dt.UTC) - dt.timedelta(days=8)
    seeded = Store(store_url)
    seeded.add_turn(Turn("x" * 64, old, "from last month", ("answer",)))
    seeded.close()
    app = create_app(settings)
    with TestClient(app) as c:
        store = app.state.runtime.store
        assert c.get("/metrics").status_code == 404  # operations.metrics is off here: no /metrics at all
        assert store.turns() == []  # the service deleted the turn past the retention when it started
        first = c.post("/api/chat", json={"message": "Is the liberation procedure proven? Call me on 07911 123456"})
        sid = first.json()["session_id"]
        c.post("/api/chat", json={"message": "I'm at SW1A 1AA, NHS 943 476 5919", "session_id": sid})
        turns = store.turns()
        assert [t.message for t in turns] == [
            "Is the liberation procedure proven? Call me on [phone]",
            "I'm at [postcode], NHS [nhs-number]",
        ]
        assert {t.session for t in turns} == {session_key(sid)} and sid not in turns[0].session
        assert turns[0].reply_kinds == ("answer",) and turns[0].pair_id == "liberation-procedure-proven"
        assert 0 < (turns[0].confidence or 0) <= 1
        transcripts = app.state.transcripts
        assert transcripts.purge(now=dt.datetime.now(dt.UTC) + dt.timedelta(days=8)) == 2
        assert store.turns() == []


def test_a_database_error_never_holds_the_values_written(store_url):
    """What the service logs with a failed write's traceback names the statement, not a note or a message."""
    store = Store(store_url)
    try:
        with pytest.raises(DBAPIError) as err, store.engine.begin() as c:
            c.execute(text("INSERT INTO no_such_table VALUES (:v)"), {"v": CANARY})
        assert "no_such_table" in str(err.value) and CANARY not in str(err.value)
    finally:
        store.close()
