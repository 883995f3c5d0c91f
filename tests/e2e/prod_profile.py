"""The production profile as the tests run it: its own PostgreSQL and Redis servers (so that a test can
restart them), and `python -m api.prod` with two replicas behind nginx, on free ports.

PostgreSQL and Redis here are real servers from Debian's packages (scripts/ensure-postgres.sh and
scripts/ensure-redis.sh install them), started as throwaway instances in a temporary folder.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.conftest import REPO, TEST_CACHE, free_port


def _pg_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        raise RuntimeError(f"PostgreSQL's {name} not found under /usr/lib/postgresql (scripts/ensure-postgres.sh)")
    return found[-1]


def _as_postgres(argv: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: run it as the postgres user then."""
    if os.geteuid() != 0:
        return argv
    return ["runuser", "-u", "postgres", "--", *argv]


class Postgres:
    """A PostgreSQL server of its own on a free port (trust auth), that a test may stop and start."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="faqbot-pg-"))
        self.port = free_port()
        self.data = self.dir / "data"
        os.chmod(self.dir, 0o755)
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
        subprocess.run(
            _as_postgres([_pg_bin("initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync"]),
            check=True,
            capture_output=True,
        )

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/faqbot"

    def start(self) -> None:
        opts = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.dir} -c fsync=off"
        subprocess.run(
            _as_postgres(
                [_pg_bin("pg_ctl"), "-D", str(self.data), "-o", opts, "-l", str(self.dir / "log"), "-w", "start"]
            ),
            check=True,
            capture_output=True,
        )

    def stop(self) -> None:
        subprocess.run(
            _as_postgres([_pg_bin("pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"]), capture_output=True
        )

    def restart(self) -> None:
        self.stop()
        self.start()

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class Redis:
    """A Redis server of its own on a free port, keeping nothing on disk (as the machine's own)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        exe = shutil.which("redis-server") or "/usr/bin/redis-server"
        self.proc = subprocess.Popen(
            [exe, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        import redis

        client = redis.Redis(port=self.port, socket_connect_timeout=1)
        for _ in range(50):
            try:
                client.ping()
                return
            except redis.RedisError:
                time.sleep(0.1)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@dataclass
class Replica:
    name: str
    url: str
    pid: int
    data_dir: Path

    def rasa_pid(self) -> int | None:
        """The pid of this replica's Rasa server (a child of the replica)."""
        for status in Path("/proc").glob("[0-9]*/status"):
            try:
                text = status.read_text()
                ppid = int(next(line.split()[1] for line in text.splitlines() if line.startswith("PPid:")))
                cmd = (status.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except (OSError, StopIteration, ValueError):
                continue
            if ppid == self.pid and " run " in cmd and "rasa" in cmd:
                return int(status.parent.name)
        return None

    def health(self) -> dict:
        return httpx.get(self.url + "/healthz", timeout=5).json()


class Production:
    """`python -m api.prod` on free ports with its own PostgreSQL and Redis."""

    def __init__(self, root: Path, **env: str) -> None:
        self.root = root
        self.pg = Postgres()
        self.redis = Redis()
        self.port = free_port()
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("FAQBOT_")}
        self.env.update(
            {
                "FAQBOT_PROFILE": "prod",
                "FAQBOT_DATABASE_URL": self.pg.url,
                "FAQBOT_REDIS_URL": self.redis.url,
                "FAQBOT_ENCODER__CACHE_DIR": str(TEST_CACHE / "encoder"),
                "FAQBOT_BOT__MODEL_DIR": str(TEST_CACHE / "bot-models"),
                "FAQBOT_RETRAIN__CALIBRATION_SETS": "[]",
                "HF_HUB_OFFLINE": "1",
                **env,
            }
        )
        self.args = [
            "--port",
            str(self.port),
            # api.prod numbers the replicas' ports consecutively from these.
            "--first-replica-port",
            str(_free_pair()),
            "--first-rasa-port",
            str(_free_pair()),
            "--data-dir",
            str(root),
        ]
        self.proc: subprocess.Popen | None = None
        self.replicas: list[Replica] = []

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 900) -> None:
        self.pg.start()
        self.redis.start()
        self.root.mkdir(parents=True, exist_ok=True)
        log = open(self.root / "supervisor.log", "ab")  # noqa: SIM115 - the child keeps it
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "api.prod", *self.args], cwd=REPO, env=self.env, stdout=log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + timeout
        state = self.root / "state.json"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"api.prod exited with {self.proc.returncode}:\n{self.log()}")
            if "production profile" in self.log():
                data = json.loads(state.read_text())
                self.replicas = [Replica(r["name"], r["url"], r["pid"], Path(r["data_dir"])) for r in data["replicas"]]
                return
            time.sleep(1)
        raise TimeoutError(f"the production profile did not start:\n{self.log()}")

    def log(self) -> str:
        path = self.root / "supervisor.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def token(self, role: str) -> str:
        env = {**self.env, "FAQBOT_DATA_DIR": str(self.root / "cli")}
        out = subprocess.run(
            [sys.executable, "-m", "api.cli", "token", "--role", role],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        return out.stdout.strip().splitlines()[-1]

    def logs(self) -> str:
        """Everything the replicas wrote (their own output and their Rasa servers' logs)."""
        parts = []
        for path in self.root.glob("api-*/**/*.log"):
            parts.append(path.read_text(errors="replace"))
        return "\n".join(parts)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(90)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.redis.stop()
        self.pg.remove()


def _free_pair() -> int:
    """A port p such that p and p + 1 are both free now."""
    import socket

    for _ in range(100):
        p = free_port()
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", p + 1))
            except OSError:
                continue
        return p
    raise RuntimeError("no two consecutive free ports")
