"""schemathesis against /openapi.json of a live server (uvicorn, SQLite, Rasa off), every check on, the
staff and editors' operations included with an editor's token; and the refusals of hostile bodies as a
real HTTP server answers them. The same run with more examples: `make fuzz` (tests/hostile/run.py).
"""

from __future__ import annotations

import socket
import time

import httpx
import pytest

from tests.conftest import start_server
from tests.hostile.run import run

pytestmark = pytest.mark.integration

EXAMPLES = 8  # per operation and phase: about a minute on two cores
SEED = 13  # fixed, so a failure here is the same failure on the next run; `make fuzz` draws afresh


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    s = start_server(
        tmp_path_factory.mktemp("schemathesis") / "data",
        wait_for_bot=False,
        FAQBOT_BOT__ENABLED="false",
        FAQBOT_RETRAIN__ENABLED="false",  # POST /api/retrain would fine-tune the encoder
        FAQBOT_SEARCH__RATE_LIMIT_PER_MINUTE="0",
    )
    yield s
    s.stop()


def tracebacks(server) -> list[str]:
    logs = [server.log_path, *sorted((server.data_dir / "logs").glob("*"))]
    return [str(p) for p in logs if p.is_file() and "Traceback" in p.read_text(errors="replace")]


def test_schemathesis_finds_no_defect(server):
    result = run(server.base_url, server.token("editor"), max_examples=EXAMPLES, workers=1, seed=SEED)
    print("\n" + result.summary())
    assert result.tested == result.operations >= 30
    assert result.test_cases > 1000
    assert not result.failures and not result.errors, result.output[-20000:]
    assert tracebacks(server) == []


def raw_request(server, head: bytes, body_pieces: list[bytes]) -> tuple[bytes, int]:
    """Send a request by hand; the response and how many body bytes went out before it came."""
    host, port = server.base_url.removeprefix("http://").split(":")
    sent = 0
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(head)
        for piece in body_pieces:
            try:
                sock.sendall(piece)
                sent += len(piece)
            except OSError:  # the server answered and closed: it reads no further
                break
            sock.settimeout(0.2)
            try:
                early = sock.recv(65536)
            except TimeoutError:
                early = b""
            sock.settimeout(30)
            if early:
                return early + _rest(sock), sent
        return _rest(sock), sent


def _rest(sock: socket.socket) -> bytes:
    data = b""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(65536)
        except (TimeoutError, OSError):
            break
        if not chunk:
            break
        data += chunk
        if b"}" in data.split(b"\r\n\r\n", 1)[-1]:
            break
    return data


def test_a_10_mb_body_is_refused_before_it_is_sent(server):
    piece = b"a" * 65536
    head = (
        b"POST /api/chat HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: 10485760\r\n\r\n"
    )
    response, sent = raw_request(server, head, [piece] * 160)
    assert response.startswith(b"HTTP/1.1 413"), response[:200]
    assert b'"limit_bytes": 262144' in response
    assert sent < 1_000_000  # answered at the headers, not after 10 MB
    head = (
        b"POST /api/chat HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    chunk = b"%x\r\n%s\r\n" % (len(piece), piece)
    response, sent = raw_request(server, head, [chunk] * 160)
    assert response.startswith(b"HTTP/1.1 413"), response[:200]
    assert sent < 2_000_000  # refused once the bytes counted passed the limit


def test_a_lone_surrogate_in_a_chat_message_is_422_and_leaves_no_traceback(server):
    for body in (b'{"message": "\\ud800"}', b'{"message": "is it \\udfff proven?"}', b'{"message": "caf\xe9"}'):
        r = httpx.post(server.base_url + "/api/chat", content=body, headers={"content-type": "application/json"})
        assert r.status_code == 422 and r.json()["fields"] == (["body"] if b"\xe9" in body else ["message"])
    r = httpx.post(server.base_url + "/api/chat", json={"message": "what is ccsvi? 🧠 \u202e\u200b"})
    assert r.status_code == 200 and r.json()["replies"]
    assert tracebacks(server) == []
