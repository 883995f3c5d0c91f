"""What the footprint, conversation and replica benchmarks share: a threaded chat loop against a live
service (a fixed number of messages or a fixed time), percentiles, and the resident memory of a
process tree read from /proc (the API, its Rasa child and anything else under it).

Imports no locust (tests/load/run.py does, and locust patches threads with gevent on import).
"""

from __future__ import annotations

import os
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.array(values), q)) if values else float("nan")


def mean(values: list[float]) -> float:
    return float(np.mean(values)) if values else float("nan")


def target(figure: str, goal: str, met: bool | None) -> str:
    """`figure` beside its target, with a mark when the target is known to be met or missed."""
    mark = "" if met is None else ("  [met]" if met else "  [missed]")
    return f"{figure}   (target {goal}){mark}"


# --- the chat loop ---------------------------------------------------------------------------------


@dataclass
class LoadResult:
    clients: int
    seconds: float
    latencies_ms: list[float]
    errors: int
    degraded: int
    conversations: int
    error_kinds: dict[str, int] = field(default_factory=dict)

    @property
    def messages(self) -> int:
        return len(self.latencies_ms)

    @property
    def rate(self) -> float:
        return self.messages / self.seconds if self.seconds else float("nan")

    def figures(self) -> dict:
        return {
            "clients": self.clients,
            "seconds": round(self.seconds, 1),
            "messages": self.messages,
            "messages_per_s": round(self.rate, 2),
            "p50_ms": round(pct(self.latencies_ms, 50), 1),
            "p95_ms": round(pct(self.latencies_ms, 95), 1),
            "errors": self.errors,
            "degraded": self.degraded,
            "conversations": self.conversations,
            "error_kinds": self.error_kinds,
        }


def chat_load(
    base_url: str,
    questions: list[str],
    clients: int = 8,
    *,
    total: int | None = None,
    seconds: float | None = None,
    turns_per_conversation: int = 10,
    timeout: float = 60,
) -> LoadResult:
    """`clients` threads posting /api/chat as fast as answers come, until `total` messages are sent or
    `seconds` have passed. Each client starts a new conversation every `turns_per_conversation`
    messages (0: one conversation for the whole run), as visitors do. An error is a non-200 answer or
    no answer; a `degraded: true` reply (answered without Rasa) is counted apart."""
    if total is None and seconds is None:
        raise ValueError("give total or seconds")
    per = (total // clients) if total is not None else None
    lat: list[float] = []
    kinds: dict[str, int] = defaultdict(int)
    counts = {"errors": 0, "degraded": 0, "conversations": 0}
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds if seconds is not None else None

    def worker(n: int) -> None:
        sid: str | None = None
        turn = 0
        i = 0
        with httpx.Client(base_url=base_url, timeout=timeout) as c:
            while (per is None or i < per) and (deadline is None or time.perf_counter() < deadline):
                if turns_per_conversation and turn >= turns_per_conversation:
                    sid, turn = None, 0
                if sid is None:
                    with lock:
                        counts["conversations"] += 1
                q = questions[(n * 9973 + i) % len(questions)]
                i += 1
                turn += 1
                t = time.perf_counter()
                try:
                    r = c.post("/api/chat", json={"message": q, "session_id": sid})
                    body = r.json() if r.status_code == 200 else {}
                    kind = None if r.status_code == 200 else f"HTTP {r.status_code}"
                except (httpx.HTTPError, ValueError) as exc:
                    body, kind = {}, type(exc).__name__
                dt = (time.perf_counter() - t) * 1000
                with lock:
                    lat.append(dt)
                    if kind:
                        counts["errors"] += 1
                        kinds[kind] += 1
                    elif body.get("degraded"):
                        counts["degraded"] += 1
                if body.get("session_id"):
                    sid = body["session_id"]

    threads = [threading.Thread(target=worker, args=(n,), daemon=True) for n in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return LoadResult(
        clients,
        time.perf_counter() - start,
        lat,
        counts["errors"],
        counts["degraded"],
        counts["conversations"],
        dict(kinds),
    )


def load_line(name: str, r: dict) -> str:
    return (
        f"  {name:<40} {r['messages_per_s']:6.1f} messages/s   p50 {r['p50_ms']:6.0f} ms   p95 {r['p95_ms']:6.0f} ms"
        f"   errors {r['errors']}/{r['messages']}, degraded {r['degraded']}"
    )


# --- resident memory of a process tree -------------------------------------------------------------


def children_by_parent() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = defaultdict(list)
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        # The command name in parentheses may hold spaces or parentheses: the fields follow the last ')'.
        kids[int(stat.rsplit(")", 1)[1].split()[1])].append(int(entry))
    return kids


def rss_mb(pid: int) -> float | None:
    """VmRSS of one process in MB (None when it is gone)."""
    try:
        for row in Path(f"/proc/{pid}/status").read_text().splitlines():
            if row.startswith("VmRSS:"):
                return int(row.split()[1]) / 1024
    except OSError:
        return None
    return None


def describe(pid: int) -> str:
    """`rasa`, `nginx: ...`, `python -m api`, or the program and its first argument."""
    try:
        argv = [a for a in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0") if a]
    except OSError:
        return "?"
    if not argv:
        return "?"
    if argv[0].startswith("nginx"):
        return argv[0].split(" /")[0]  # "nginx: worker process", without the master's paths
    if any(Path(a).name == "rasa" for a in argv[:3]):
        return "rasa"
    if len(argv) >= 3 and argv[1] == "-m":
        return f"{Path(argv[0]).name} -m {argv[2]}"
    return " ".join([Path(argv[0]).name, *argv[1:2]])[:40]


def process_tree(root: int, label: str = "api") -> list[tuple[str, int]]:
    """The root and all its descendants, as (label, pid), the label naming the path from the root."""
    kids = children_by_parent()
    found: list[tuple[str, int]] = []

    def walk(name: str, pid: int) -> None:
        found.append((name, pid))
        for child in sorted(kids.get(pid, [])):
            walk(f"{name} > {describe(child)}", child)

    if Path(f"/proc/{root}").exists():
        walk(label, root)
    return found


def memory(roots: list[tuple[str, int]]) -> dict[str, float]:
    """RSS in MB of every process under the given roots, by label (a label seen twice gets `#2`)."""
    out: dict[str, float] = {}
    for name, root in roots:
        for label, pid in process_tree(root, name):
            mb = rss_mb(pid)
            if mb is None:
                continue
            key, n = label, 2
            while key in out:
                key, n = f"{label} #{n}", n + 1
            out[key] = round(mb, 1)
    return out
