"""Load benchmark: 100 concurrent chat visitors for 10 minutes, then 100 staff searching for 10 minutes.

    make load                                   (the embedded service, started and stopped here)
    make load ARGS="--minutes 3 --scenario chat"
    .venv/bin/python -m tests.load.run --state DATA_DIR/state.json --token STAFF_TOKEN   (python -m api.prod)
    .venv/bin/python -m tests.load.run --base-url http://127.0.0.1:8000 --token STAFF_TOKEN --pids api=1234

Runs locust headless in this process (tests/load/locustfile.py says who the users are) and prints, per
scenario: users, duration, requests, requests/s, latency p50/p95/p99/max (the whole round trip as a
client sees it, failed requests included), failed requests by kind (an HTTP status, no answer, or a
reply that breaks the HTTP contract), and replies answered without Rasa (`degraded: true`, valid but
counted apart). Then the resident memory (RSS) of every process of the service before the first
scenario (after a short warm-up), after each scenario, its peak (sampled every 5 s) and the growth:
the given processes and all their descendants (Rasa under the API, Rasa's own children, nginx
workers under their master), found by walking /proc. The figures go to --out as JSON too.

Without --base-url or --state the embedded service (API + Rasa, a fresh data directory) is started
with both rate limits off: every locust user comes from 127.0.0.1, so a per-client limit would make
them all one client. Against a running service, start it with FAQBOT_CHAT__RATE_LIMIT_PER_MINUTE=0
and FAQBOT_SEARCH__RATE_LIMIT_PER_MINUTE=0; the report warns when it sees 429s.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gevent
import httpx
import numpy as np
from locust.env import Environment

from tests.bench.chatload import children_by_parent, describe, rss_mb
from tests.load import locustfile
from tests.load.locustfile import ChatVisitor, StaffSearcher

SCENARIOS = {"chat": ChatVisitor, "search": StaffSearcher}
SAMPLE_SECONDS = 5.0
NO_LIMITS = {"FAQBOT_CHAT__RATE_LIMIT_PER_MINUTE": "0", "FAQBOT_SEARCH__RATE_LIMIT_PER_MINUTE": "0"}


# --- resident memory of a process tree, from /proc ---------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) a process has used so far, 0 when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime and stime, fields 14 and 15


@dataclass
class Proc:
    label: str
    pid: int
    rss: dict[str, float] = field(default_factory=dict)
    peak: float = 0.0


@dataclass
class Memory:
    """RSS of the given root processes and all their descendants, at named moments and at its peak."""

    roots: list[tuple[str, int]]
    moments: list[str] = field(default_factory=list)
    procs: dict[int, Proc] = field(default_factory=dict)

    def tree(self) -> list[tuple[str, int]]:
        kids = children_by_parent()
        found: list[tuple[str, int]] = []
        seen: set[int] = set()

        def walk(label: str, pid: int) -> None:
            if pid in seen:
                return
            seen.add(pid)
            found.append((label, pid))
            for child in sorted(kids.get(pid, [])):
                walk(f"{label} > {describe(child)}", child)

        for name, pid in self.roots:
            if Path(f"/proc/{pid}").exists():
                walk(name, pid)
        return found

    def sample(self, moment: str | None = None) -> None:
        for label, pid in self.tree():
            mb = rss_mb(pid)
            if mb is None:
                continue
            proc = self.procs.setdefault(pid, Proc(label, pid))
            proc.peak = max(proc.peak, mb)
            if moment:
                proc.rss[moment] = mb
        if moment:
            self.moments.append(moment)

    def cpu_seconds(self) -> float:
        return sum(cpu_seconds(pid) for _, pid in self.tree())

    def as_json(self) -> dict:
        return {
            "moments": self.moments,
            "processes": [
                {
                    "name": p.label,
                    "pid": p.pid,
                    "rss_mb": {k: round(v, 1) for k, v in p.rss.items()},
                    "peak_mb": round(p.peak, 1),
                }
                for p in self.procs.values()
            ],
        }


# --- one scenario --------------------------------------------------------------------------------------


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.array(values), q)) if values else float("nan")


def run_scenario(
    name: str, base_url: str, users: int, seconds: float, spawn_rate: float, memory: Memory, quiet: bool
) -> dict:
    locustfile.tally.clear()
    env = Environment(user_classes=[SCENARIOS[name]], host=base_url, catch_exceptions=True)
    times: list[float] = []
    failures: Counter[str] = Counter()

    def on_request(response_time: float | None, exception: BaseException | None, **_: Any) -> None:
        times.append(response_time or 0.0)
        if exception is not None:
            failures[str(exception)] += 1

    env.events.request.add_listener(on_request)
    runner = env.create_local_runner()
    service_cpu, own_cpu = memory.cpu_seconds(), time.process_time()
    started = time.monotonic()
    runner.start(users, spawn_rate=spawn_rate)
    next_progress = started + 60
    while (elapsed := time.monotonic() - started) < seconds:
        gevent.sleep(min(SAMPLE_SECONDS, seconds - elapsed))
        memory.sample()
        if not quiet and time.monotonic() >= next_progress:
            next_progress += 60
            print(
                f"  {name}: {elapsed / 60:.0f}/{seconds / 60:.0f} min, {len(times)} requests,"
                f" {sum(failures.values())} failed",
                file=sys.stderr,
                flush=True,
            )
    runner.stop()
    elapsed = time.monotonic() - started
    service_cpu, own_cpu = memory.cpu_seconds() - service_cpu, time.process_time() - own_cpu
    for row in runner.exceptions.values():  # a bug in the load script itself is a failure too
        failures[f"load script error: {row['msg']}"] += row["count"]
    runner.quit()
    tally = locustfile.tally
    return {
        "scenario": name,
        "users": users,
        "seconds": round(elapsed, 1),
        "requests": len(times),
        "failed": sum(failures.values()),
        "rps": round(len(times) / elapsed, 2),
        "p50_ms": round(pct(times, 50), 1),
        "p95_ms": round(pct(times, 95), 1),
        "p99_ms": round(pct(times, 99), 1),
        "max_ms": round(max(times), 1) if times else float("nan"),
        "errors": dict(failures.most_common()),
        "rate_limited": tally["429"],
        "degraded": tally["degraded"],
        "conversations": tally["conversations"],
        "reply_kinds": {k.removeprefix("kind:"): v for k, v in sorted(tally.items()) if k.startswith("kind:")},
        "service_cpu_cores": round(service_cpu / elapsed, 2) if memory.roots else None,
        "load_generator_cpu_cores": round(own_cpu / elapsed, 2),
    }


# --- the service under test ----------------------------------------------------------------------------


@dataclass
class Target:
    base_url: str
    token: str
    roots: list[tuple[str, int]]
    description: str
    rate_limits: str


def parse_pids(text: str) -> list[tuple[str, int]]:
    out = []
    for item in text.split(","):
        if item.strip():
            name, _, pid = item.partition("=")
            if not pid.strip().isdigit():
                raise SystemExit(f"--pids wants name=pid,...; got {item!r}")
            out.append((name.strip(), int(pid)))
    return out


@contextlib.contextmanager
def target(args: argparse.Namespace):
    roots = parse_pids(args.pids) if args.pids else []
    base_url = args.base_url
    if args.state:
        state = json.loads(Path(args.state).read_text())
        base_url = base_url or state["base_url"]
        roots = [(p["name"], int(p["pid"])) for p in state.get("processes", [])] + roots
    if base_url:
        yield Target(
            base_url.rstrip("/"),
            args.token or "",
            roots,
            f"running service at {base_url}",
            "as the service was started (start it with FAQBOT_CHAT__RATE_LIMIT_PER_MINUTE=0 and"
            " FAQBOT_SEARCH__RATE_LIMIT_PER_MINUTE=0: every locust user comes from this one machine)",
        )
        return
    from tests.conftest import start_server  # only here: the embedded service

    with tempfile.TemporaryDirectory(prefix="faqbot-load-") as d:
        print("Starting the embedded service (API + Rasa, fresh data directory; rate limits off)...", file=sys.stderr)
        server = start_server(Path(d) / "data", wait_for_bot=True, **NO_LIMITS)
        try:
            yield Target(
                server.base_url,
                args.token or server.token("staff"),
                [("api", server.proc.pid)],
                f"embedded service (API + Rasa, SQLite, one worker each) at {server.base_url}",
                "off (started with " + " and ".join(f"{k}=0" for k in NO_LIMITS) + ")",
            )
        finally:
            server.stop()


def preflight(t: Target, scenarios: list[str]) -> dict:
    """The service's health; a search with the token when search is to run; a few warm-up requests."""
    with httpx.Client(base_url=t.base_url, timeout=60) as c:
        try:
            health = c.get("/healthz").json()
        except (httpx.HTTPError, ValueError) as exc:
            raise SystemExit(f"the service at {t.base_url} does not answer /healthz: {exc}") from exc
        if "search" in scenarios:
            if not t.token:
                raise SystemExit("the search scenario needs a staff token: --token (make token ROLE=staff)")
            r = c.get("/api/search", params={"q": "warm up", "k": 5}, headers={"Authorization": f"Bearer {t.token}"})
            if r.status_code in (401, 403):
                raise SystemExit(f"the token was refused by /api/search ({r.status_code}): give a staff token")
        for q in ("hello", "is the liberation procedure proven?", "what is ccsvi"):
            c.post("/api/chat", json={"message": q})
    return health


# --- the report ----------------------------------------------------------------------------------------


def scenario_table(results: list[dict]) -> list[str]:
    head = (
        f"  {'scenario':<9}{'users':>6}{'duration':>10}{'requests':>10}{'req/s':>8}"
        f"{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'max ms':>9}{'failed':>8}{'degraded':>10}"
    )
    out = [head]
    for r in results:
        degraded = str(r["degraded"]) if r["scenario"] == "chat" else "-"
        out.append(
            f"  {r['scenario']:<9}{r['users']:>6}{r['seconds']:>8.0f} s{r['requests']:>10}{r['rps']:>8.1f}"
            f"{r['p50_ms']:>9.0f}{r['p95_ms']:>9.0f}{r['p99_ms']:>9.0f}{r['max_ms']:>9.0f}{r['failed']:>8}{degraded:>10}"
        )
    for r in results:
        errors = r["errors"]
        out.append(f"  {r['scenario']} failures by kind:" + ("" if errors else " none"))
        out.extend(f"    {n:>7} x {kind}" for kind, n in errors.items())
        if r["scenario"] == "chat":
            kinds = ", ".join(f"{k} {v}" for k, v in r["reply_kinds"].items())
            out.append(
                f"  chat: {r['conversations']} conversations; replies by kind: {kinds or 'none'};"
                f" {r['degraded']} answers without Rasa (degraded: true)"
            )
        service = "?" if r["service_cpu_cores"] is None else f"{r['service_cpu_cores']:.2f}"
        out.append(
            f"  {r['scenario']}: CPU used on average: the service {service} cores,"
            f" the load generator {r['load_generator_cpu_cores']:.2f} cores (of {os.cpu_count()})"
        )
    return out


def memory_table(memory: Memory) -> list[str]:
    moments = memory.moments
    width = max([len(p.label) for p in memory.procs.values()] + [20]) + 2
    out = [
        f"  {'process':<{width}}{'pid':>8}"
        + "".join(f"{m:>16}" for m in moments)
        + f"{'peak':>10}{'growth':>10}   (RSS, MB)"
    ]
    totals: dict[str, float] = defaultdict(float)
    for p in memory.procs.values():
        cells = "".join(f"{p.rss[m]:>16.1f}" if m in p.rss else f"{'-':>16}" for m in moments)
        first, last = p.rss.get(moments[0]), p.rss.get(moments[-1])
        growth = f"{last - first:>+10.1f}" if first is not None and last is not None else f"{'-':>10}"
        out.append(f"  {p.label:<{width}}{p.pid:>8}{cells}{p.peak:>10.1f}{growth}")
        for m in moments:
            totals[m] += p.rss.get(m, 0.0)
    if moments:
        total_growth = totals[moments[-1]] - totals[moments[0]]
        out.append(
            f"  {'all':<{width}}{'':>8}"
            + "".join(f"{totals[m]:>16.1f}" for m in moments)
            + f"{'':>10}{total_growth:>+10.1f}"
        )
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tests.load.run", description=__doc__.split("\n\n")[0])
    ap.add_argument("--base-url", help="an already running service (default: start the embedded one)")
    ap.add_argument("--state", help="the JSON state file of `python -m api.prod` (base_url and the processes' pids)")
    ap.add_argument("--pids", help="processes whose memory to report, as name=pid,... (with --base-url)")
    ap.add_argument("--token", help="a staff bearer token for the search scenario (make token ROLE=staff)")
    ap.add_argument("--users", type=int, default=100, help="concurrent users per scenario (default 100)")
    ap.add_argument("--minutes", type=float, default=10.0, help="duration of each scenario (default 10)")
    ap.add_argument("--spawn-rate", type=float, default=10.0, help="users started per second (default 10)")
    ap.add_argument("--scenario", choices=["chat", "search", "both"], default="both", help="both: chat, then search")
    ap.add_argument("--out", help="write the figures as JSON here (default bench-results/load-<time>.json)")
    ap.add_argument("--quiet", action="store_true", help="no progress lines")
    args = ap.parse_args(argv)
    scenarios = ["chat", "search"] if args.scenario == "both" else [args.scenario]
    seconds = args.minutes * 60

    with target(args) as t:
        StaffSearcher.token = t.token
        health = preflight(t, scenarios)
        memory = Memory(t.roots)
        memory.sample("start")
        results = []
        for name in scenarios:
            if not args.quiet:
                print(f"Running {name}: {args.users} users for {args.minutes:g} min...", file=sys.stderr, flush=True)
            results.append(run_scenario(name, t.base_url, args.users, seconds, args.spawn_rate, memory, args.quiet))
            memory.sample(f"after {name}")

    bot = health.get("bot", {}) if isinstance(health, dict) else {}
    print(f"\nLoad (locust {args.users} users per scenario; {os.cpu_count()} CPUs shared with the load generator)")
    print(f"  target: {t.description}; Rasa at start: {bot.get('state', '?')}")
    print(f"  rate limits: {t.rate_limits}")
    print("  latency: the whole HTTP round trip from the load generator, failed requests included")
    print("\n".join(scenario_table(results)))
    limited = sum(r["rate_limited"] for r in results)
    if limited:
        print(
            f"  WARNING: {limited} requests were refused with 429: the service's rate limit is on and every"
            " locust user shares one address; restart it with FAQBOT_CHAT__RATE_LIMIT_PER_MINUTE=0 and"
            " FAQBOT_SEARCH__RATE_LIMIT_PER_MINUTE=0 for figures of the service rather than of the limiter"
        )
    if memory.procs:
        print("\nResident memory of the service's processes (before the first scenario, after a warm-up)")
        print("\n".join(memory_table(memory)))
    else:
        print("\nResident memory: no processes given (--state or --pids)")

    report = {
        "target": t.description,
        "base_url": t.base_url,
        "rate_limits": t.rate_limits,
        "bot_at_start": bot.get("state"),
        "cpus": os.cpu_count(),
        "scenarios": results,
        "memory": memory.as_json(),
    }
    out = Path(args.out) if args.out else Path("bench-results") / f"load-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    print(f"\nFigures written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
