"""Hostile input on the real app in process (store, encoder and index real; Rasa off): bodies over the
limit, JSON that is broken or not text, any text a visitor can type, wrong methods, the OpenAPI
document and the API docs page. Every refusal is a 4xx that names the problem; nothing is a 500 or
leaves a traceback in the log. schemathesis runs over the whole API in test_schemathesis.py.

One app serves the module (starting one takes ~20 s); settings that change how the app is built
(limits, docs off) use an app without its lifespan: the guards answer before any route runs.
"""

from __future__ import annotations

import asyncio
import json
import logging
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient

from api.hardening import RequestGuard
from api.main import create_app
from api.routes import docs
from tests.conftest import base_env, make_token
from tests.factories import pair_data

pytestmark = pytest.mark.integration

PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "frame-ancestors 'self'; base-uri 'none'; form-action 'self'; require-trusted-types-for 'script'"
)
JSON = {"content-type": "application/json"}


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    from api.settings import Settings

    env = base_env(tmp_path_factory.mktemp("hostile") / "data", FAQBOT_BOT__ENABLED="false")
    with pytest.MonkeyPatch.context() as mp:
        for k, v in env.items():
            if k.startswith("FAQBOT_"):
                mp.setenv(k, v)
        app = create_app(Settings())
        with TestClient(app, raise_server_exceptions=False) as c:
            c.editor = {"Authorization": f"Bearer {make_token(app.state.runtime, 'editor')}"}
            yield c


@pytest.fixture
def unstarted(make_settings):
    """An app built with the given settings but not started: what answers before any route runs."""

    def build(**overrides) -> TestClient:
        return TestClient(create_app(make_settings(**overrides)), raise_server_exceptions=False)

    return build


def no_errors_logged(caplog) -> list[str]:
    return [f"{r.levelname} {r.getMessage()}" for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


def problem(r) -> str:
    assert r.headers["content-type"].startswith("application/json"), r.text
    body = r.json()
    assert body["error"] and body["message"]
    return body["message"]


# --- 1. bodies over the configured size ------------------------------------------------------------


def test_a_body_over_the_limit_is_refused_with_413_naming_the_limit(unstarted):
    c = unstarted(web={"max_body_bytes": 2048, "max_import_bytes": 8192})
    big = json.dumps({"message": "a" * 3000}).encode()
    r = c.post("/api/chat", content=big, headers=JSON)
    assert r.status_code == 413 and r.json()["limit_bytes"] == 2048
    assert "2,048 bytes" in problem(r)

    def chunked(total: int):  # no Content-Length: counted as it streams
        for _ in range(total // 1000):
            yield b"a" * 1000

    r = c.post("/api/chat", content=chunked(10_000), headers={"content-type": "text/plain"})
    assert r.status_code == 413 and r.json()["limit_bytes"] == 2048
    r = c.post("/api/qa/import", content=b"[" + b" " * 10_000 + b"]", headers=JSON)
    assert r.status_code == 413 and r.json()["limit_bytes"] == 8192


def test_an_import_may_be_larger_than_other_bodies(client):
    rows = json.dumps([{"id": f"row-{i}", "question": ""} for i in range(10_000)]).encode()
    assert 262_144 < len(rows) < 33_554_432  # over web.max_body_bytes, under web.max_import_bytes
    r = client.post("/api/qa/import", content=rows, headers={**client.editor, **JSON})
    assert r.status_code == 422 and len(r.json()["rows"]) == 10_000  # read and judged row by row
    assert client.post("/api/qa/check", content=rows, headers={**client.editor, **JSON}).status_code == 413


def test_a_10_mb_body_is_never_read_whole():
    """The guard stops reading at the limit: a 10 MB body sent in 64 KB pieces is read no further."""
    pieces = 160
    read = 0

    async def receive():
        nonlocal read
        read += 1
        return {"type": "http.request", "body": b"x" * 65536, "more_body": read < pieces}

    sent: list[dict] = []

    async def send(message):
        sent.append(message)

    async def app(scope, receive, send):  # a route that reads everything it is given
        while (await receive()).get("more_body"):
            pass

    guard = RequestGuard(app, max_body_bytes=262_144, max_import_bytes=1_048_576)
    for ctype in (b"application/json", b"text/csv"):
        read, sent = 0, []
        scope = {"type": "http", "method": "POST", "path": "/api/chat", "headers": [(b"content-type", ctype)]}
        # In a thread of its own: the browser tests' Playwright keeps an event loop in the main thread.
        with ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, guard(scope, receive, send)).result()
        assert sent[0]["status"] == 413
        assert read * 65536 <= 262_144 + 65536 < 10_000_000


# --- 2. JSON that is broken or not text ------------------------------------------------------------


@pytest.mark.parametrize(
    "body,field,words",
    [
        (b'{"message": ', "body", "not valid JSON"),
        (b'{"message": "hi"', "body", "not valid JSON"),
        ('{"message": "caf\xe9"}'.encode("latin-1"), "body", "not UTF-8"),
        (b'{"message": "hi \\ud800 there"}', "message", "lone surrogate"),
        (b'{"message": "\\udfff"}', "message", "lone surrogate"),
        (b'{"message": "hi", "\\ud800": 1}', "\\ud800", "lone surrogate"),
        (b'{"message": "what is\\u0000 ccsvi"}', "message", "NUL"),
        (b"[" * 5000 + b"]" * 5000, "body", "nested"),
        (b'{"message": "hi", "n": ' + b"9" * 5000 + b"}", "body", "not valid JSON"),
    ],
)
def test_a_body_that_is_not_json_text_is_422_naming_the_problem(client, caplog, body, field, words):
    r = client.post("/api/chat", content=body, headers=JSON)
    assert r.status_code == 422, r.text
    assert words in problem(r) and field in r.json()["fields"]
    assert no_errors_logged(caplog) == []


def test_text_fields_of_staff_and_editors_refuse_nul_and_lone_surrogates(client):
    """PostgreSQL cannot store NUL, and no layer can encode a lone surrogate: refused before the store."""
    pair = json.dumps(pair_data(id="hostile-pair", question="Is it\u0000 proven?")).encode()
    r = client.post("/api/qa", content=pair, headers={**client.editor, **JSON})
    assert r.status_code == 422 and r.json()["fields"] == ["question"]
    note = b'{"pair_id": "what-is-ccsvi", "note": "wrong \\ud83d date"}'
    r = client.post("/api/flags", content=note, headers={**client.editor, **JSON})
    assert r.status_code == 422 and "lone surrogate" in problem(r)
    rows = b'[{"id": "hostile-row", "question": "q\\u0000?", "answer": "a"}]'
    r = client.post("/api/qa/import", content=rows, headers={**client.editor, **JSON})
    assert r.status_code == 422 and "NUL" in problem(r) and r.json()["fields"] == ["0.question"]
    assert client.get("/api/qa/hostile-row", headers=client.editor).status_code == 404


def test_ids_dates_and_tags_out_of_range_are_422_not_500(client):
    h = client.editor
    for path in ("/api/flags/99999999999999999999", "/api/golden/2147483648"):
        assert client.request("PATCH" if "flags" in path else "PUT", path, json={}, headers=h).status_code == 422
    assert client.get("/api/qa/bad%00id", headers=h).status_code == 422
    assert client.get("/api/qa/what-is-ccsvi/revisions/99999999999999999999", headers=h).status_code == 422
    for query in ("changed_since=0", "changed_since=86400", "tag=a%00b", "tag=two%20words"):
        r = client.get(f"/api/qa?{query}", headers=h)
        assert r.status_code == 422, query
    assert client.get("/api/history?since=0.5", headers=h).status_code == 422
    # A source date that is no day would break every answer citing it: refused, naming the source.
    bad = pair_data(id="bad-date", sources=[{"title": "T", "publisher": "P", "published": "2020-13"}])
    r = client.post("/api/qa/preview", json=bad, headers=h)
    assert r.status_code == 422 and "sources.0.published" in problem(r)
    r = client.post("/api/qa/import", json=[{**bad, "reviewed_on": 0}], headers=h)
    assert r.status_code == 422 and r.json()["rows"][0]["errors"][0]["field"] == "reviewed_on"


# --- 2b. any text a visitor can type -----------------------------------------------------------------


@pytest.mark.parametrize(
    "message",
    [
        "what is ccsvi 🧠🩺",
        "ما هو CCSVI؟",  # right to left
        "\u202eis the liberation procedure proven?\u202c",  # a right-to-left override
        "what\u200b is\u200d ccsvi\ufeff",  # zero-width characters
        "what is ccsvi\x07\x1b[31m\x08",  # control characters and a terminal escape
        "e\u0301\u0301\u0301 Z̸̡͇̈́a̴͉͗l̶̦̈́g̷̱̈o̵̗͐",  # combining marks
        "\U0001f9e0" * 1000,  # 1000 characters of four bytes each
        "\u3000 " + "a" * 1000 + " \u00a0\n",  # 1000 after trimming Unicode whitespace
        "/restart",  # looks like a Rasa command
        '{"message": "nested"}',
    ],
)
def test_any_text_a_visitor_can_type_is_answered(client, caplog, message):
    r = client.post("/api/chat", json={"message": message})
    assert r.status_code == 200, r.text
    assert r.json()["replies"]
    assert no_errors_logged(caplog) == []


def test_text_a_visitor_cannot_send_gets_a_4xx_naming_it(client, caplog):
    for body, words in (
        ({"message": "\u3000\u00a0\t"}, "empty"),
        ({"message": "\u00a0" + "a" * 1001}, "1000"),
        ({"message": "a\u0000b"}, "NUL"),
        ({"message": ["what is ccsvi"]}, "string"),
    ):
        r = client.post("/api/chat", json=body)
        assert r.status_code == 422 and words in problem(r) and r.json()["fields"] == ["message"], body
    assert no_errors_logged(caplog) == []


# --- 3. methods: OPTIONS, 405 and Allow --------------------------------------------------------------


def test_options_and_wrong_methods_answer_with_the_methods_the_address_has(client):
    for path, allow in (
        ("/api/chat", "POST, OPTIONS"),
        ("/api/qa", "GET, POST, OPTIONS"),
        ("/api/qa/what-is-ccsvi", "GET, PUT, DELETE, OPTIONS"),
        ("/api/qa/import", "POST, OPTIONS"),
        ("/api/golden/test", "POST, OPTIONS"),
        ("/", "GET, OPTIONS"),
    ):
        r = client.options(path)
        assert r.status_code == 204 and r.headers["allow"] == allow, path
    r = client.delete("/api/chat")
    assert r.status_code == 405 and r.headers["allow"] == "POST, OPTIONS"
    assert problem(r) == "This address does not answer DELETE; it answers POST, OPTIONS."
    # A fixed address wins over a template: GET /api/qa/import is not a look-up of a pair "import".
    r = client.get("/api/qa/import", headers=client.editor)
    assert r.status_code == 405 and r.headers["allow"] == "POST, OPTIONS"
    assert client.put("/api/golden/test", json={}, headers=client.editor).status_code == 405
    assert client.options("/no/such/page").status_code == 404


# --- 4. the OpenAPI document -------------------------------------------------------------------------


def test_the_openapi_document_states_the_contract(client):
    spec = client.get("/openapi.json").json()
    paths, schemas = spec["paths"], spec["components"]["schemas"]
    schemes = spec["components"]["securitySchemes"]
    assert (schemes["bearer"]["type"], schemes["bearer"]["scheme"]) == ("http", "bearer")
    assert (schemes["session"]["in"], schemes["session"]["name"]) == ("cookie", "faqbot_session")
    chat = paths["/api/chat"]["post"]
    assert "security" not in chat and set(chat["responses"]) == {"200", "413", "415", "422", "429", "503"}
    assert chat["responses"]["429"]["headers"]["Retry-After"]["required"] is True
    message = schemas["ChatRequest"]["properties"]["message"]
    assert message["minLength"] == 1 and "{0,998}" in message["pattern"]
    search = paths["/api/search"]["get"]
    assert search["security"] == [{"bearer": []}, {"session": []}]
    assert {"401", "403", "422", "429"} <= set(search["responses"])
    q = next(p for p in search["parameters"] if p["name"] == "q")
    assert (q["schema"]["minLength"], q["schema"]["maxLength"]) == (1, 1000)
    for method in ("put", "delete"):
        op = paths["/api/qa/{pair_id}"][method]
        if_match = next(p for p in op["parameters"] if p["in"] == "header" and p["name"] == "If-Match")
        assert if_match["required"] is True
        assert {"401", "403", "404", "412", "428"} <= set(op["responses"])
    assert paths["/api/qa"]["post"]["responses"]["201"]["headers"]["ETag"]["required"] is True
    # Every error an operation declares has the body api/errors.py sends.
    for path, item in paths.items():
        for method, op in item.items():
            for status, response in op["responses"].items():
                if status.startswith("4"):
                    ref = response["content"]["application/json"]["schema"]["$ref"]
                    assert ref.endswith("/ValidationProblem" if status == "422" else "/Error"), (path, method, status)
    assert "HTTPValidationError" not in schemas


def test_a_missing_if_match_is_still_428_not_422(client):
    r = client.put("/api/qa/what-is-ccsvi", json=pair_data(id="what-is-ccsvi"), headers=client.editor)
    assert r.status_code == 428 and r.json()["error"] == "precondition_required"


# --- 5. the API docs page ----------------------------------------------------------------------------


def test_the_docs_page_is_our_own_files_under_the_page_policy(client):
    r = client.get("/docs")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert r.headers["content-security-policy"] == PAGE_CSP
    assert "http://" not in r.text and "https://" not in r.text and "<script>" not in r.text
    for src in ("/static/docs/swagger-ui/swagger-ui-bundle.js", "/static/docs/swagger-init.js"):
        assert f'src="{src}"' in r.text
        assert client.get(src).status_code == 200
    assert "Apache License" in (docs.DOCS / "swagger-ui" / "LICENSE").read_text()  # vendored with its licence
    assert client.get("/redoc").status_code == 404  # ReDoc cannot run under style-src 'self'


def test_with_api_docs_off_there_is_no_docs_page_but_the_document_stays(unstarted):
    c = unstarted(web={"api_docs": False})
    assert c.get("/docs").status_code == 404
    assert c.get("/openapi.json").json()["paths"]["/api/chat"]
