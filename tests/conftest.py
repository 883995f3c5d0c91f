"""Shared fixtures: settings on a temporary data directory, the app in process, and live servers.

Heavy things are shared for the whole run: the exported encoder and the trained Rasa model live in
var/test-cache (trained once per run at most, and only when the bot's data changed).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parent.parent
TEST_CACHE = Path(os.environ.get("FAQBOT_TEST_CACHE", REPO / "var" / "test-cache"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def base_env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FAQBOT_")}
    env.update(
        {
            "FAQBOT_DATA_DIR": str(data_dir),
            "FAQBOT_ENCODER__CACHE_DIR": str(TEST_CACHE / "encoder"),
            "FAQBOT_BOT__MODEL_DIR": str(TEST_CACHE / "bot-models"),
            # Every test client is 127.0.0.1: tests of the limits set their own (tests/e2e/test_load.py needs them off).
            "FAQBOT_CHAT__RATE_LIMIT_PER_MINUTE": "0",
            "FAQBOT_SEARCH__RATE_LIMIT_PER_MINUTE": "0",
            "HF_HUB_OFFLINE": "1",
        }
    )
    env.update(extra)
    return env


_FINETUNED_READY = False


def ensure_finetuned_encoder() -> None:
    """The test cache's fine-tuned encoder (and its ONNX export), trained once per cache, in a child process.

    A service that finds none serves the packaged model and fine-tunes in the background
    (tests/integration/test_first_start.py); the other tests start where a service that has run before
    starts: on the fine-tuned model."""
    global _FINETUNED_READY
    if _FINETUNED_READY:
        return
    from embeddings.loading import current_encoder_path
    from embeddings.settings import EncoderSettings

    cache = TEST_CACHE / "encoder"
    if current_encoder_path(EncoderSettings(), cache) is None:
        code = (
            "import sys; from pathlib import Path; from embeddings.encoder import SentenceEncoder; "
            "from embeddings.loading import encoder_path; from embeddings.settings import EncoderSettings; "
            "from knowledge.loader import load_pairs; cache = Path(sys.argv[1]); "
            "SentenceEncoder(encoder_path(EncoderSettings(), cache, load_pairs()), backend='onnx', cache_dir=cache)"
        )
        subprocess.run(
            [sys.executable, "-c", code, str(cache)], cwd=REPO, env={**os.environ, "HF_HUB_OFFLINE": "1"}, check=True
        )
    _FINETUNED_READY = True


@pytest.fixture
def make_settings(tmp_path, monkeypatch):
    """Settings for an in-process app on a fresh data directory (Rasa off unless asked), with the test
    cache's fine-tuned encoder made if missing."""
    from api.settings import Settings

    ensure_finetuned_encoder()

    def make(**overrides):
        env = base_env(tmp_path / "data", FAQBOT_BOT__ENABLED="false")
        for k, v in env.items():
            if k.startswith("FAQBOT_"):
                monkeypatch.setenv(k, v)
        return Settings(**overrides)

    return make


@pytest.fixture
def app_client(make_settings):
    """The whole API in process (real store, encoder and index), Rasa disabled."""
    from fastapi.testclient import TestClient

    from api.main import create_app

    settings = make_settings()
    with TestClient(create_app(settings)) as client:
        client.settings = settings
        yield client


def make_token(client_or_runtime, role: str) -> str:
    import secrets

    token = secrets.token_urlsafe(24)
    client_or_runtime.tokens.add(token, role)
    return token


@dataclass
class LiveServer:
    base_url: str
    data_dir: Path
    env: dict[str, str]
    proc: subprocess.Popen
    log_path: Path
    tokens: dict[str, str] = field(default_factory=dict)

    def token(self, role: str) -> str:
        if role not in self.tokens:
            out = subprocess.run(
                [sys.executable, "-m", "api.cli", "token", "--role", role],
                cwd=REPO,
                env=self.env,
                capture_output=True,
                text=True,
                check=True,
            )
            self.tokens[role] = out.stdout.strip().splitlines()[-1]
        return self.tokens[role]

    def health(self) -> dict:
        return httpx.get(self.base_url + "/healthz", timeout=5).json()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_server(data_dir: Path, wait_for_bot: bool, **extra_env: str) -> LiveServer:
    port, rasa_port = free_port(), free_port()
    env = base_env(data_dir, FAQBOT_PORT=str(port), FAQBOT_RASA_PORT=str(rasa_port), **extra_env)
    if Path(env["FAQBOT_ENCODER__CACHE_DIR"]) == TEST_CACHE / "encoder":
        ensure_finetuned_encoder()
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = data_dir / "server-output.log"
    with open(log_path, "wb") as logf:
        proc = subprocess.Popen([sys.executable, "-m", "api"], cwd=REPO, env=env, stdout=logf, stderr=subprocess.STDOUT)
    server = LiveServer(f"http://127.0.0.1:{port}", data_dir, env, proc, log_path)
    deadline = time.monotonic() + 900
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited with {proc.returncode}:\n{server.log()}")
        try:
            h = server.health()
            if not wait_for_bot or h["bot"]["state"] == "ready":
                return server
            if h["bot"]["state"] == "down" and "gave up" in h["bot"].get("detail", ""):
                raise RuntimeError(f"Rasa failed: {h['bot']}\n{server.log()}")
        except (httpx.HTTPError, ValueError, KeyError):
            pass
        time.sleep(1)
    server.stop()
    raise TimeoutError(f"the server did not become ready:\n{server.log()}")


@pytest.fixture(scope="session")
def widget_host_port() -> int:
    """A free port for the page that embeds the chat widget from another origin (tests/e2e/test_widget.py).

    Chosen before the live server starts, so the server can list that origin in `web.allowed_origins`."""
    return free_port()


@pytest.fixture(scope="session")
def live_server(tmp_path_factory, widget_host_port):
    """The API and the real Rasa server as processes, on free ports and a temporary data directory.

    Pages on http://127.0.0.1:<widget_host_port> may call /api/chat (CORS), as a partner site embedding the widget."""
    origins = f'["http://127.0.0.1:{widget_host_port}"]'
    server = start_server(
        tmp_path_factory.mktemp("live") / "data", wait_for_bot=True, FAQBOT_WEB__ALLOWED_ORIGINS=origins
    )
    yield server
    server.stop()


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = os.environ.get("FAQBOT_CHROMIUM", "/usr/bin/chromium")
    if not Path(path).exists():
        pytest.fail(f"Chromium is needed for the browser tests and was not found at {path} (make test installs it)")
    return path


@pytest.fixture(scope="session")
def encoder():
    """The real packaged encoder (ONNX export cached for the whole run)."""
    from embeddings.encoder import SentenceEncoder

    return SentenceEncoder(backend="onnx", cache_dir=TEST_CACHE / "encoder")


def find_clarify_message(server: LiveServer) -> str:
    """A visitor's question that the retriever is unsure about (a "did you mean" reply).

    Which questions are unsure depends on the content and the thresholds, so it is looked up
    through the staff search's `explain`, over the dev set's questions."""
    import json

    from bot.safety import detect

    rows = [json.loads(line) for line in (REPO / "tests" / "eval" / "devset.jsonl").read_text().splitlines() if line]
    headers = {"Authorization": f"Bearer {server.token('staff')}"}
    with httpx.Client(base_url=server.base_url, headers=headers, timeout=30) as c:
        for row in rows:
            q = row["query"]
            if detect(q):  # the chat answers these with the safety reply before retrieval
                continue
            decision = c.get("/api/search", params={"q": q, "k": 1, "explain": "true"}).json()["decision"]
            if decision["kind"] == "clarify" and len(decision["ids"]) >= 2:
                return q
    raise AssertionError("no question of the dev set gets a clarify decision: are the thresholds broken?")
