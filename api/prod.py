"""`python -m api.prod` (make run-prod): the production profile on one machine.

Several replicas of the API (`python -m api` with FAQBOT_PROFILE=prod, each with its own Rasa server
on loopback) share PostgreSQL (the store, staff accounts) and Redis (visitors' sessions, the rate
limits, Rasa's tracker and lock stores), and sit behind Debian's nginx, which this process configures
and runs as its own child. The first replica starts alone (it trains Rasa when the shared cache lacks
a model, and starts fine-tuning the encoder in the background when there is no fine-tuned one: the
others serve the packaged encoder until then and adopt the new model); the others start once it answers. A child that dies is started
again, with a growing pause; Ctrl+C (SIGINT) or SIGTERM stops them all.

On several machines: run `python -m api` with FAQBOT_PROFILE=prod on each (their FAQBOT_DATABASE_URL
and FAQBOT_REDIS_URL pointing at the shared servers, FAQBOT_HOST set to the address the proxy reaches),
and list them in the proxy's upstream; README.md says more.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx

from api.settings import REPO_ROOT, Settings

NGINX_TEMPLATE = """# Written by api/prod.py at every start; edits are lost.
worker_processes {workers};
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    # No access log: URLs carry staff search queries (privacy). Each replica logs one JSON line per request.
    access_log off;
    server_tokens off;
    client_max_body_size {max_body};
    client_body_temp_path {dir}/tmp/body;
    proxy_temp_path {dir}/tmp/proxy;
    fastcgi_temp_path {dir}/tmp/fastcgi;
    uwsgi_temp_path {dir}/tmp/uwsgi;
    scgi_temp_path {dir}/tmp/scgi;
    upstream faqbot {{
{servers}
        keepalive 32;
        # Shorter than uvicorn's own idle limit (5 s): a connection the replica closes while nginx sends
        # on it gives a 502 that nginx may not retry (a POST). Seen once in 21,487 chat requests before this.
        keepalive_timeout 4s;
    }}
    server {{
        listen {listen};
        # The replicas' internal routes are reachable on loopback only, never through the proxy.
        location /internal/ {{ return 404; }}
        location = /metrics {{ return 404; }}
        location / {{
            proxy_pass http://faqbot;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
            # Replaced, not appended: what a client sends in this header is never passed on.
            proxy_set_header X-Forwarded-For $remote_addr;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header X-Request-ID $request_id;
            proxy_connect_timeout 2s;
            proxy_read_timeout 60s;
            # A replica that is down or restarting: the request goes to another (POSTs only when
            # the replica never received them).
            proxy_next_upstream error timeout;
        }}
    }}
}}
"""


@dataclass
class Child:
    name: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    url: str = ""
    proc: subprocess.Popen | None = None
    restarts: int = 0
    next_start: float = 0.0
    started: float = 0.0
    _log: IO[bytes] | None = field(default=None, repr=False)

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - kept open for the child's life
        self.proc = subprocess.Popen(
            self.argv, cwd=REPO_ROOT, env=self.env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.started = time.monotonic()

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig: int = signal.SIGINT, wait: float = 40) -> None:
        if self.proc and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(sig)
            try:
                self.proc.wait(wait)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        if self._log:
            self._log.close()
            self._log = None


def nginx_executable() -> str:
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if not found:
        raise SystemExit("nginx is not installed: run scripts/ensure-nginx.sh (make run-prod does)")
    return found


def nginx_config(directory: Path, listen: str, upstreams: list[str], max_body: int) -> Path:
    for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (directory / "tmp" / sub).mkdir(parents=True, exist_ok=True)
    servers = "\n".join(f"        server {u} max_fails=1 fail_timeout=3s;" for u in upstreams)
    path = directory / "nginx.conf"
    path.write_text(
        NGINX_TEMPLATE.format(
            workers=2, dir=directory, listen=listen, servers=servers, max_body=f"{max(1, max_body // 1_048_576)}m"
        ),
        encoding="utf-8",
    )
    return path


def check_services(settings: Settings) -> None:
    """PostgreSQL answers and has the store's database (created when missing); Redis answers."""
    from sqlalchemy.engine import make_url

    url = make_url(settings.database_url)
    if url.get_backend_name() != "postgresql":
        raise SystemExit(f"the production profile needs PostgreSQL; database_url is {url.render_as_string()}")
    import psycopg

    admin = url.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    try:
        with psycopg.connect(admin, autocommit=True, connect_timeout=5) as c:
            if not c.execute("SELECT 1 FROM pg_database WHERE datname = %s", (url.database,)).fetchone():
                c.execute(f'CREATE DATABASE "{url.database}"')
                print(f"prod: created the database {url.database}", flush=True)
    except psycopg.OperationalError as exc:
        raise SystemExit(f"PostgreSQL does not answer ({exc}); run scripts/ensure-postgres.sh") from exc
    import redis

    try:
        redis.Redis.from_url(settings.redis_url, socket_connect_timeout=3).ping()
    except redis.RedisError as exc:
        raise SystemExit(f"Redis does not answer at {settings.redis_url} ({exc}); run scripts/ensure-redis.sh") from exc


def replica_env(base: dict[str, str], data: Path, i: int, port: int, rasa_port: int) -> dict[str, str]:
    env = dict(base)
    env.update(
        {
            "FAQBOT_PROFILE": env.get("FAQBOT_PROFILE") or "prod",
            "FAQBOT_HOST": "127.0.0.1",
            "FAQBOT_PORT": str(port),
            "FAQBOT_RASA_PORT": str(rasa_port),
            "FAQBOT_DATA_DIR": str(data / f"api-{i}"),
            "PYTHONUNBUFFERED": "1",
        }
    )
    # Models are shared by the replicas: trained once, by the first.
    env.setdefault("FAQBOT_ENCODER__CACHE_DIR", str(data / "shared" / "encoder"))
    env.setdefault("FAQBOT_BOT__MODEL_DIR", str(data / "shared" / "bot-models"))
    return env


def ready(url: str, want_bot: bool) -> bool:
    try:
        h = httpx.get(url + "/healthz", timeout=3).json()
    except (httpx.HTTPError, ValueError):
        return False
    bot = h.get("bot", {}).get("state")
    return not want_bot or bot in ("ready", "disabled")


class Supervisor:
    def __init__(self, args: argparse.Namespace):
        os.environ.setdefault("FAQBOT_PROFILE", "prod")
        self.settings = Settings()
        self.args = args
        self.data = Path(args.data_dir).expanduser().resolve()
        self.state_path = Path(args.state).expanduser().resolve() if args.state else self.data / "state.json"
        self.port = args.port or self.settings.port
        self.replicas: list[Child] = []
        self.nginx: Child | None = None
        self.stopping = False

    def build(self) -> None:
        base = dict(os.environ)
        for i in range(1, self.args.replicas + 1):
            port, rasa_port = self.args.first_replica_port + i - 1, self.args.first_rasa_port + i - 1
            env = replica_env(base, self.data, i, port, rasa_port)
            self.replicas.append(
                Child(
                    f"api-{i}",
                    [sys.executable, "-m", "api"],
                    env,
                    self.data / f"api-{i}" / "server-output.log",
                    url=f"http://127.0.0.1:{port}",
                )
            )
        ndir = self.data / "nginx"
        conf = nginx_config(
            ndir,
            f"{self.args.host}:{self.port}",
            [r.url.removeprefix("http://") for r in self.replicas],
            self.settings.web.max_import_bytes,
        )
        exe = nginx_executable()
        check = subprocess.run([exe, "-t", "-p", str(ndir), "-c", str(conf)], capture_output=True, text=True)
        if check.returncode != 0:
            raise SystemExit(f"nginx refused its configuration:\n{check.stderr}")
        self.nginx = Child(
            "nginx", [exe, "-p", str(ndir), "-c", str(conf), "-g", "daemon off;"], base, ndir / "out.log"
        )

    @property
    def base_url(self) -> str:
        return f"http://{self.args.host}:{self.port}"

    def write_state(self) -> None:
        children = [*self.replicas, *([self.nginx] if self.nginx else [])]
        state = {
            "base_url": self.base_url,
            "supervisor_pid": os.getpid(),
            "replicas": [
                {
                    "name": r.name,
                    "url": r.url,
                    "pid": r.pid,
                    "data_dir": r.env["FAQBOT_DATA_DIR"],
                    "restarts": r.restarts,
                }
                for r in self.replicas
            ],
            "processes": [{"name": c.name, "pid": c.pid} for c in children if c.pid],
        }
        tmp = self.state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=2), encoding="utf-8")
        os.replace(tmp, self.state_path)

    def wait_ready(self, children: list[Child], limit: float) -> None:
        deadline = time.monotonic() + limit
        pending = list(children)
        while pending and not self.stopping:
            for c in list(pending):
                if not c.alive():
                    raise SystemExit(f"{c.name} exited while starting; see {c.log_path}")
                if ready(c.url, want_bot=not self.args.no_wait_bot):
                    print(f"prod: {c.name} ready at {c.url} ({time.monotonic() - c.started:.0f} s)", flush=True)
                    pending.remove(c)
            if time.monotonic() > deadline:
                raise SystemExit(f"{', '.join(c.name for c in pending)} not ready within {limit:.0f} s")
            time.sleep(0.5)

    def run(self) -> None:
        check_services(self.settings)
        self.data.mkdir(parents=True, exist_ok=True)
        self.build()
        assert self.nginx is not None
        first, rest = self.replicas[0], self.replicas[1:]
        first.start()
        self.write_state()
        self.wait_ready([first], self.args.start_timeout)
        for r in rest:
            r.start()
        self.wait_ready(rest, self.args.start_timeout)
        self.nginx.start()
        self.write_state()
        print(f"MS FAQ chatbot (production profile): {self.base_url}/  ({len(self.replicas)} replicas)", flush=True)
        self.supervise()

    def supervise(self) -> None:
        children = [*self.replicas, *([self.nginx] if self.nginx else [])]
        while not self.stopping:
            now = time.monotonic()
            for c in children:
                if c.alive() or self.stopping:
                    continue
                if c.next_start == 0.0:
                    code = c.proc.returncode if c.proc else None
                    pause = min(30.0, 2.0 ** min(c.restarts, 5))
                    print(f"prod: {c.name} exited (code {code}); starting it again in {pause:.0f} s", flush=True)
                    c.next_start = now + pause
                elif now >= c.next_start:
                    c.restarts += 1
                    c.next_start = 0.0
                    c.start()
                    self.write_state()
            for c in children:  # a child that has run a minute has recovered: its next pause starts short
                if c.alive() and c.restarts and now - c.started > 60:
                    c.restarts = 0
            time.sleep(0.5)

    def stop(self, *_: object) -> None:
        self.stopping = True

    def shutdown(self) -> None:
        if self.nginx:
            self.nginx.stop(signal.SIGQUIT, wait=10)
        for r in self.replicas:
            if r.alive() and r.proc:
                r.proc.send_signal(signal.SIGINT)
        for r in self.replicas:
            r.stop()
        with contextlib.suppress(FileNotFoundError):
            self.state_path.unlink()


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m api.prod", description=__doc__.split("\n\n")[0])
    p.add_argument("--replicas", type=int, default=2, help="API replicas, each with its own Rasa server (2)")
    p.add_argument("--host", default="127.0.0.1", help="where nginx listens (127.0.0.1)")
    p.add_argument("--port", type=int, default=0, help="where nginx listens (default: the settings' port)")
    p.add_argument("--first-replica-port", type=int, default=8101, help="replica i listens on this + i - 1")
    p.add_argument("--first-rasa-port", type=int, default=5105, help="replica i's Rasa listens on this + i - 1")
    p.add_argument("--data-dir", default=str(REPO_ROOT / "var" / "prod"), help="replicas' data and nginx (var/prod)")
    p.add_argument("--state", default="", help="where to write the running processes as JSON (<data-dir>/state.json)")
    p.add_argument("--start-timeout", type=float, default=1800, help="seconds a replica may take to start")
    p.add_argument("--no-wait-bot", action="store_true", help="open to traffic before Rasa is ready")
    args = p.parse_args(argv)
    if args.replicas < 1:
        p.error("--replicas must be at least 1")
    sup = Supervisor(args)
    signal.signal(signal.SIGINT, sup.stop)
    signal.signal(signal.SIGTERM, sup.stop)
    try:
        sup.run()
    finally:
        sup.shutdown()


if __name__ == "__main__":
    main()
