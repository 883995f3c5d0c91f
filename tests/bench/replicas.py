"""Benchmark of the production profile's scaling (issue 14): `python -m api.prod` (PostgreSQL, Redis and
nginx; tests/e2e/prod_profile.py starts throwaway PostgreSQL and Redis servers of its own) with one
replica and then two, the same chat load through nginx with 8 and then 16 concurrent clients (a new
conversation every 10 messages; rate limits off): messages/s, p50/p95, errors, the share of the
messages each replica answered, the resident memory of every process after the load, and the
scaling factor (two replicas' messages/s over one's). Prints figures; asserts nothing. Heavy (two
services started one after the other, minutes each), so `make bench` runs it only when asked.

    .venv/bin/python -m tests.bench.replicas [--messages 400] [--clients 8,16] [--replicas 1,2]

From code: `result = run()`, then `print("\\n".join(lines(result)))`. Needs nginx, PostgreSQL and
redis-server installed (scripts/ensure-nginx.sh, ensure-postgres.sh, ensure-redis.sh).
"""

from __future__ import annotations

import argparse
import json
import re
import tempfile
from pathlib import Path

import httpx

from tests.bench.chatload import chat_load, load_line, memory
from tests.bench.run import questions
from tests.e2e.prod_profile import Production

NO_LIMITS = {"FAQBOT_CHAT__RATE_LIMIT_PER_MINUTE": "0", "FAQBOT_SEARCH__RATE_LIMIT_PER_MINUTE": "0"}
CHAT_200 = re.compile(r"^faqbot_http_requests_total\{([^}]*)\}\s+([0-9.e+]+)", re.M)


def chats_answered(replica_url: str) -> float:
    """POST /api/chat answered 200 by one replica so far (its /metrics, reachable on loopback only)."""
    try:
        text = httpx.get(replica_url + "/metrics", timeout=10).text
    except httpx.HTTPError:
        return float("nan")
    total = 0.0
    for labels, value in CHAT_200.findall(text):
        if 'route="/api/chat"' in labels and 'method="POST"' in labels and 'status="200"' in labels:
            total += float(value)
    return total


def measure(replicas: int, client_counts: list[int], messages: int) -> dict:
    """One production profile with `replicas` replicas; the chat load through nginx at each client count."""
    qs = questions()
    out: dict = {"replicas": replicas, "runs": []}
    with tempfile.TemporaryDirectory(prefix="faqbot-bench-prod-") as d:
        prod = Production(Path(d) / "prod", **NO_LIMITS)
        prod.args += ["--replicas", str(replicas)]
        try:
            prod.start()
            with httpx.Client(base_url=prod.base_url, timeout=60) as c:
                for q in ["hello", *qs[-20:]]:  # warm-up (each replica's first answers)
                    c.post("/api/chat", json={"message": q})
            for clients in client_counts:
                before = [chats_answered(r.url) for r in prod.replicas]
                load = chat_load(prod.base_url, qs, clients, total=messages, turns_per_conversation=10).figures()
                after = [chats_answered(r.url) for r in prod.replicas]
                out["runs"].append({**load, "per_replica": [a - b for a, b in zip(after, before, strict=True)]})
            state = json.loads((prod.root / "state.json").read_text())
            out["memory_mb"] = memory([(p["name"], int(p["pid"])) for p in state["processes"]])
        finally:
            prod.stop()
    return out


def run(
    replica_counts: tuple[int, ...] = (1, 2), client_counts: tuple[int, ...] = (8, 16), messages: int = 400
) -> dict:
    return {"profiles": [measure(n, list(client_counts), messages) for n in replica_counts]}


def lines(result: dict) -> list[str]:
    out = [
        "Production profile behind nginx (PostgreSQL, Redis; 2-core CPU shared by every replica, its Rasa, nginx"
        " and the load generator; figures are noisy)"
    ]
    rates: dict[tuple[int, int], float] = {}
    for prof in result["profiles"]:
        n = prof["replicas"]
        for r in prof["runs"]:
            rates[(n, r["clients"])] = r["messages_per_s"]
            share = " / ".join(f"{x:.0f}" for x in r["per_replica"])
            out.append(
                load_line(f"{n} replica{'s' if n > 1 else ''}, {r['clients']} clients", r) + f"   per replica {share}"
            )
        mem = prof.get("memory_mb", {})
        if mem:
            nginx = sum(v for k, v in mem.items() if k.startswith("nginx"))
            out.append(
                f"    resident memory after the load ({n} replica{'s' if n > 1 else ''}), MB: "
                + ", ".join(f"{k} {v:.0f}" for k, v in mem.items() if not k.startswith("nginx"))
                + f", nginx (all its processes) {nginx:.0f}; all {sum(mem.values()):.0f}"
            )
    counts = sorted({c for _, c in rates})
    replica_counts = sorted({n for n, _ in rates})
    if 1 in replica_counts:
        for n in (x for x in replica_counts if x > 1):
            factors = ", ".join(
                f"{rates[(n, c)] / rates[(1, c)]:.2f}x with {c} clients"
                for c in counts
                if (n, c) in rates and rates[(1, c)]
            )
            out.append(
                f"  scaling, {n} replicas against 1: {factors}  (messages/s; ideal {n:.2f}x with {n} cores free each)"
            )
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m tests.bench.replicas", description=__doc__.split("\n\n")[0])
    ap.add_argument("--replicas", default="1,2", help="replica counts to measure, in order (1,2)")
    ap.add_argument("--clients", default="8,16", help="concurrent clients per run (8,16)")
    ap.add_argument("--messages", type=int, default=400, help="messages per run (400)")
    ap.add_argument("--json", help="also write the figures here as JSON")
    args = ap.parse_args(argv)
    result = run(
        tuple(int(x) for x in args.replicas.split(",") if x.strip()),
        tuple(int(x) for x in args.clients.split(",") if x.strip()),
        args.messages,
    )
    print("\n".join(lines(result)))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
