"""Trains the Rasa model when the bot's data changed, and runs the Rasa server beside the API.

Rasa 3.6 runs only on Python 3.10, so it lives in its own virtual environment (.venv-rasa) and runs
as a child process that listens on loopback only. Its custom actions call back into this API's
internal route with a token made fresh at every start. Training happens only when the bot's data
(or the Rasa version) changed: the model's file name carries a digest of both, and models are
shared by every service that points at the same model folder.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import logging
import os
import secrets
import signal
import subprocess
import time
from pathlib import Path

import httpx

from api.settings import REPO_ROOT, Settings
from bot.answering import rasa_text

log = logging.getLogger("faqbot.rasa")

BOT_DIR = REPO_ROOT / "bot"
RASA_VENV = REPO_ROOT / ".venv-rasa"


class BotUnavailable(Exception):
    """The Rasa server cannot answer now (disabled, training, starting, or down)."""


def rasa_executable() -> Path:
    exe = Path(os.environ.get("FAQBOT_RASA_EXECUTABLE") or RASA_VENV / "bin" / "rasa")
    if not exe.exists():
        raise FileNotFoundError(f"Rasa is not installed at {exe}: run `make setup` (scripts/setup.sh)")
    return exe


def bot_digest(bot_dir: Path = BOT_DIR) -> str:
    """A digest of everything training reads, and of the Rasa version asked for."""
    h = hashlib.sha256()
    files = [bot_dir / "config.yml", bot_dir / "domain.yml", bot_dir / "requirements.txt"]
    files += sorted((bot_dir / "data").rglob("*.yml"))
    for p in files:
        h.update(str(p.relative_to(bot_dir)).encode())
        h.update(p.read_bytes())
    return h.hexdigest()[:16]


def model_path(model_dir: Path, digest: str | None = None) -> Path:
    return model_dir / f"bot-{digest or bot_digest()}.tar.gz"


def _rasa_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "RASA_TELEMETRY_ENABLED": "false",
            "TF_CPP_MIN_LOG_LEVEL": "2",
            "PYTHONWARNINGS": "ignore",
            "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
            "HF_HUB_OFFLINE": "1",
            # The tracker store the API names in endpoints.yml is in bot/rasa_server.py, in this repository.
            "PYTHONPATH": os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p),
        }
    )
    return env


def train(model_dir: Path, log_file: Path | None = None) -> Path:
    """The trained model for the current bot data, training it first when it is missing.

    A lock file keeps two services from training into one folder at once; the model is written
    beside and moved into place (knowledge/atomic.py), so a crash never leaves a half-written model
    to be loaded, and Rasa's working folder from a crashed run is removed by the next training.
    """
    from knowledge.atomic import build_beside, scratch_dir

    model_dir.mkdir(parents=True, exist_ok=True)
    target = model_path(model_dir)
    if target.exists():
        return target
    with open(model_dir / ".train.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if target.exists():
            return target
        with scratch_dir(model_dir, "train") as work, build_beside(target) as tmp:
            cmd = [
                str(rasa_executable()),
                "train",
                "--config",
                str(BOT_DIR / "config.yml"),
                "--domain",
                str(BOT_DIR / "domain.yml"),
                "--data",
                str(BOT_DIR / "data"),
                "--out",
                str(work),
                "--fixed-model-name",
                "model",
                "--quiet",
            ]
            log.info("training the Rasa model (bot data changed or no model yet)")
            with open(log_file, "ab") if log_file else contextlib.nullcontext(subprocess.DEVNULL) as out:
                result = subprocess.run(cmd, cwd=work, env=_rasa_env(), stdout=out, stderr=subprocess.STDOUT)
            produced = work / "model.tar.gz"
            if result.returncode != 0 or not produced.exists():
                raise RuntimeError(f"rasa train failed (exit {result.returncode}); see {log_file or 'its output'}")
            os.replace(produced, tmp)
        for old in model_dir.glob("bot-*.tar.gz"):
            if old != target:
                old.unlink(missing_ok=True)
        return target


def redis_stores(redis_url: str, idle_seconds: float) -> str:
    """Rasa's tracker and lock stores in Redis (endpoints.yml), so that every replica's Rasa server
    continues any conversation, one message at a time, and a restarted one forgets nothing. A tracker
    expires with the conversation's idle limit (bot/sessions.py)."""
    import json
    from urllib.parse import unquote, urlsplit

    u = urlsplit(redis_url)
    if u.scheme not in ("redis", "rediss"):
        raise ValueError(f"redis_url must start with redis:// or rediss://, not {redis_url!r}")
    common = {
        "url": u.hostname or "localhost",
        "port": u.port or 6379,
        "db": int(u.path.strip("/") or 0),
        "key_prefix": "faqbot",
        "use_ssl": u.scheme == "rediss",
    }
    if u.username:
        common["username"] = unquote(u.username)
    if u.password:
        common["password"] = unquote(u.password)
    # Rasa's own Redis store, named through bot/rasa_server.py so that the Rasa server loads that module.
    tracker = {"type": "bot.rasa_server.RedisTrackerStore", **common, "record_exp": int(idle_seconds)}
    lock = {"type": "redis", **common, "socket_timeout": 2}
    # JSON is YAML: every value quoted and escaped as it should be.
    return f"tracker_store: {json.dumps(tracker)}\nlock_store: {json.dumps(lock)}\n"


def memory_stores(idle_seconds: float) -> str:
    """Without Redis: Rasa's in-memory tracker store, forgetting a conversation idle for the idle limit
    (bot/rasa_server.py; Rasa's own keeps every conversation until it stops)."""
    import json

    store = {"type": "bot.rasa_server.ExpiringInMemoryTrackerStore", "record_exp": int(idle_seconds)}
    return f"tracker_store: {json.dumps(store)}\n"


def _loopback_host(host: str) -> str:
    return "127.0.0.1" if host in ("0.0.0.0", "::", "", "localhost") or host.startswith("127.") else host


class RasaRuntime:
    """Supervises the Rasa child process and talks to it over its REST channel."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.state = "disabled" if not settings.bot.enabled else "pending"
        self.detail = ""
        self.action_token = secrets.token_urlsafe(32)
        self.base_url = f"http://127.0.0.1:{settings.rasa_port}"
        self._proc: asyncio.subprocess.Process | None = None
        self._task: asyncio.Task | None = None
        self._client = httpx.AsyncClient(
            timeout=settings.bot.timeout_seconds, limits=httpx.Limits(max_connections=32, max_keepalive_connections=16)
        )
        self._stopping = False

    @property
    def ready(self) -> bool:
        return self.state == "ready"

    def start(self) -> None:
        if self.settings.bot.enabled:
            self._task = asyncio.create_task(self._supervise(), name="rasa-supervisor")

    async def stop(self) -> None:
        self._stopping = True
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        await self._terminate()
        await self._client.aclose()

    async def _terminate(self) -> None:
        proc, self._proc = self._proc, None
        if proc and proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), 15)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                await proc.wait()

    def _write_endpoints(self, run_dir: Path) -> Path:
        s = self.settings
        path = run_dir / "endpoints.yml"
        url = f"http://{_loopback_host(s.host)}:{s.port}/internal/actions"
        text = (
            "# Written by the API at start; the token changes at every start.\n"
            f'action_endpoint:\n  url: "{url}"\n  headers:\n    Authorization: "Bearer {self.action_token}"\n'
        )
        # Rasa's trackers expire sooner than the conversations (bot/settings.py rasa_tracker_idle_minutes).
        idle = min(s.conversation.rasa_tracker_idle_minutes, s.conversation.session_idle_minutes) * 60
        if s.redis_url:
            text += redis_stores(s.redis_url, idle)
        else:
            text += memory_stores(idle)
        path.write_text(text, encoding="utf-8")
        path.chmod(0o600)
        return path

    async def _supervise(self) -> None:
        s = self.settings
        s.log_dir.mkdir(parents=True, exist_ok=True)
        run_dir = s.data_dir / "bot-run"
        run_dir.mkdir(parents=True, exist_ok=True)
        failures = 0
        while not self._stopping:
            try:
                if not model_path(s.bot_model_dir).exists():
                    self.state = "training"
                model = await asyncio.to_thread(train, s.bot_model_dir, s.log_dir / "rasa-train.log")
                self.state = "starting"
                endpoints = self._write_endpoints(run_dir)
                cmd = [
                    str(rasa_executable()),
                    "run",
                    "--model",
                    str(model),
                    "--endpoints",
                    str(endpoints),
                    "--credentials",
                    str(BOT_DIR / "credentials.yml"),
                    "--interface",
                    "127.0.0.1",
                    "--port",
                    str(s.rasa_port),
                    "--log-file",
                    str(s.log_dir / "rasa.log"),
                    # Quietens the loggers that would write a visitor's words (see bot/logging.yml).
                    "--logging-config-file",
                    str(BOT_DIR / "logging.yml"),
                ]
                started = time.monotonic()
                with open(s.log_dir / "rasa-stdout.log", "ab") as logf:  # the child keeps its own handle
                    self._proc = await asyncio.create_subprocess_exec(
                        *cmd,
                        cwd=run_dir,
                        env=_rasa_env(),
                        stdout=logf,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                await self._wait_until_up(started)
                self.state, self.detail = "ready", f"loaded in {time.monotonic() - started:.0f} s"
                log.info("Rasa is ready (%s)", self.detail)
                failures = 0
                await self._proc.wait()
                if self._stopping:
                    return
                self.state, self.detail = "down", f"Rasa exited with code {self._proc.returncode}; restarting"
                log.warning(self.detail)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # keep the API serving from the retriever whatever Rasa does
                failures += 1
                self.state, self.detail = "down", f"{type(exc).__name__}: {exc}"
                log.error("Rasa failed: %s", self.detail)
                await self._terminate()
                if failures >= 3:
                    self.detail += " (gave up after 3 tries; see the logs in the data directory)"
                    return
            await asyncio.sleep(min(30, 2**failures))

    async def _wait_until_up(self, started: float, limit: float = 600) -> None:
        while time.monotonic() - started < limit:
            if self._proc is None or self._proc.returncode is not None:
                raise RuntimeError("the Rasa server exited while starting; see rasa-stdout.log")
            try:
                r = await self._client.get(self.base_url + "/", timeout=2)
                if r.status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(1)
        raise TimeoutError(f"Rasa did not start within {limit:.0f} s")

    async def send(self, sender: str, message: str, metadata: dict | None = None) -> list[dict]:
        """Rasa's replies to one message (with metadata the custom actions read); BotUnavailable when it
        cannot answer now."""
        if not self.ready:
            raise BotUnavailable(self.state)
        body: dict = {"sender": sender, "message": rasa_text(message)}
        if metadata:
            body["metadata"] = metadata
        try:
            r = await self._client.post(self.base_url + "/webhooks/rest/webhook", json=body)
        except httpx.HTTPError as exc:
            raise BotUnavailable(f"{type(exc).__name__}") from exc
        if r.status_code != 200:
            raise BotUnavailable(f"Rasa answered {r.status_code}")
        try:
            body = r.json()
        except ValueError as exc:
            raise BotUnavailable("Rasa sent a body that is not JSON") from exc
        if not isinstance(body, list) or not body:
            raise BotUnavailable("Rasa sent no reply")
        return body
