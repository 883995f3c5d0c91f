"""Benchmark of a message's cost through the conversation, beside Rasa alone (issue 14). Prints figures
beside their targets; asserts nothing.

1. Cost per turn in one long conversation: 50 questions (the knowledge base's alternates) in one
   session through POST /api/chat, three such conversations; the mean of turns 1-5 and of turns
   46-50 and their ratio (target <= 1.2x). Beside it, the same questions each in a new conversation
   (the same ratio with no history: what the questions alone account for).
2. /api/chat through Rasa and retrieval: one client (p50/p95; target p95 <= 100 ms) and 8 concurrent
   clients, a new conversation every 10 messages (messages/s, p50/p95, errors; targets >= 25
   messages/s, p95 <= 400 ms, 0 errors).
3. Rasa alone, on the same model (the shared test cache's) and the same messages, in a second Rasa
   server of its own (`rasa run --enable-api`), run as the service runs it (the tracker store of
   bot/rasa_server.py, which installs its corrections to Rasa's speed; --stock-rasa: Rasa as shipped),
   a fresh conversation every 4 messages as the service gives Rasa:
   - NLU alone: POST /model/parse;
   - NLU, tracker and policies, no action: POST /conversations/{id}/messages (NLU and the tracker
     update) then POST /conversations/{id}/predict (the policies' next action, not run);
   - Rasa's whole handling with a custom action that does nothing (tests/bench/noop_action.py, in a
     process of its own): POST /webhooks/rest/webhook, as the API calls it, so Rasa's remote action
     round trip is in it and our action is not; with the size of what Rasa sends to the action.
   Each one client and 8 concurrent clients; and per turn in conversations of 50 messages kept in one
   tracker (what the service's fresh tracker every 4 messages avoids).

    .venv/bin/python -m tests.bench.conversation [--messages 400] [--turns 50] [--skip-rasa-alone]

From code: `result = run()`, then `print("\\n".join(lines(result)))`; `run(base_url=...)` uses a
service already running (API + Rasa) instead of starting one.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx

from tests.bench.chatload import chat_load, load_line, mean, pct, target
from tests.bench.run import questions
from tests.conftest import REPO, TEST_CACHE, free_port, start_server

RATIO_TARGET = 1.2
# The service gives Rasa a fresh tracker every this many messages of a conversation (config.yml
# conversation.rasa_turns_per_tracker); Rasa alone is loaded the same way.
TRACKER_TURNS = 4
ONE_CLIENT_P95_MS = 100
RATE_TARGET = 25
P95_TARGET_MS = 400


# --- through the API -------------------------------------------------------------------------------


def long_conversations(base_url: str, qs: list[str], turns: int = 50, repeats: int = 3) -> dict:
    """Per-turn times (ms) of `repeats` conversations of `turns` questions each, in one session each;
    and, interleaved, the same question in a new session each time (no history), so that the machine's
    ups and downs fall on both alike. The questions are asked once before, unmeasured, so that both
    find their query vectors cached."""
    per_turn: list[list[float]] = [[] for _ in range(turns)]
    fresh: list[list[float]] = [[] for _ in range(turns)]
    degraded = errors = 0
    with httpx.Client(base_url=base_url, timeout=60) as c:
        for q in qs[:turns]:
            c.post("/api/chat", json={"message": q})
        for _ in range(repeats):
            sid = None
            for t in range(turns):
                q = qs[t % len(qs)]
                t0 = time.perf_counter()
                r = c.post("/api/chat", json={"message": q, "session_id": sid})
                per_turn[t].append((time.perf_counter() - t0) * 1000)
                if r.status_code != 200:
                    errors += 1
                    continue
                body = r.json()
                sid = body["session_id"]
                degraded += bool(body.get("degraded"))
                t0 = time.perf_counter()
                c.post("/api/chat", json={"message": q})
                fresh[t].append((time.perf_counter() - t0) * 1000)
    return {
        "turns": turns,
        "repeats": repeats,
        "per_turn_ms": per_turn,
        "fresh_ms": fresh,
        "degraded": degraded,
        "errors": errors,
    }


def window_ratio(per_turn: list[list[float]], width: int = 5) -> tuple[float, float, float]:
    """Mean of the first `width` turns, of the last `width`, and last / first."""
    first = mean([x for turn in per_turn[:width] for x in turn])
    last = mean([x for turn in per_turn[-width:] for x in turn])
    return first, last, last / first if first else float("nan")


def sequential_chat(base_url: str, qs: list[str]) -> list[float]:
    times = []
    with httpx.Client(base_url=base_url, timeout=60) as c:
        for q in qs:
            t = time.perf_counter()
            c.post("/api/chat", json={"message": q}).raise_for_status()
            times.append((time.perf_counter() - t) * 1000)
    return times


def through_api(base_url: str, qs: list[str], turns: int, messages: int, clients: int) -> dict:
    with httpx.Client(base_url=base_url, timeout=60) as c:
        for q in ["hello", *qs[-10:]]:  # warm-up, with questions the figures do not use
            c.post("/api/chat", json={"message": q})
    return {
        "long": long_conversations(base_url, qs[:turns], turns),
        "one_client_ms": sequential_chat(base_url, qs[turns : turns + 60]),
        "load": chat_load(base_url, qs, clients, total=messages, turns_per_conversation=10).figures(),
    }


# --- Rasa alone ------------------------------------------------------------------------------------


def rasa_model() -> Path:
    from api.rasa_runtime import model_path

    path = model_path(TEST_CACHE / "bot-models")
    if not path.exists():
        found = sorted((TEST_CACHE / "bot-models").glob("bot-*.tar.gz"))
        if not found:
            raise FileNotFoundError(f"no Rasa model in {TEST_CACHE / 'bot-models'}: start the service once (make test)")
        path = found[-1]
    return path


@contextlib.contextmanager
def rasa_alone(work: Path, as_served: bool = True) -> Iterator[tuple[str, str]]:
    """A Rasa server with its HTTP API on the shared model, its custom actions sent to a no-op action
    server; yields both base URLs. Stops both. `as_served`: with the tracker store the service names
    (bot/rasa_server.py, which also installs its corrections to Rasa's speed); else Rasa as shipped."""
    from api.rasa_runtime import BOT_DIR, _rasa_env, rasa_executable

    action_port, port = free_port(), free_port()
    action_url = f"http://127.0.0.1:{action_port}"
    endpoints = work / "endpoints.yml"
    text = f'action_endpoint:\n  url: "{action_url}/webhook"\n'
    if as_served:
        from api.rasa_runtime import memory_stores

        text += memory_stores(3600)
    endpoints.write_text(text, encoding="utf-8")
    noop = subprocess.Popen([sys.executable, "-m", "tests.bench.noop_action", str(action_port)], cwd=REPO)
    log = open(work / "rasa-alone.log", "ab")  # noqa: SIM115 - closed below
    cmd = [
        str(rasa_executable()),
        "run",
        "--enable-api",
        "--model",
        str(rasa_model()),
        "--endpoints",
        str(endpoints),
        "--credentials",
        str(BOT_DIR / "credentials.yml"),
        "--interface",
        "127.0.0.1",
        "--port",
        str(port),
        "--logging-config-file",
        str(BOT_DIR / "logging.yml"),
    ]
    rasa = subprocess.Popen(cmd, cwd=work, env=_rasa_env(), stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 600
        while True:
            if rasa.poll() is not None:
                raise RuntimeError(f"Rasa alone exited with {rasa.returncode}; see {work / 'rasa-alone.log'}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.post(base + "/model/parse", json={"text": "hello"}, timeout=5).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise TimeoutError("Rasa alone did not start within 600 s")
            time.sleep(1)
        yield base, action_url
    finally:
        for p in (rasa, noop):
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(20)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        log.close()


# One message as each Rasa figure sends it; returns False on a failure.
Step = Callable[[httpx.Client, str, str], bool]


def parse_step(c: httpx.Client, conv: str, q: str) -> bool:
    return c.post("/model/parse", json={"text": q}).status_code == 200


def tracker_step(c: httpx.Client, conv: str, q: str) -> bool:
    a = c.post(f"/conversations/{conv}/messages", params={"include_events": "NONE"}, json={"text": q, "sender": "user"})
    b = c.post(f"/conversations/{conv}/predict", params={"include_events": "NONE"})
    return a.status_code == 200 and b.status_code == 200


def webhook_step(c: httpx.Client, conv: str, q: str) -> bool:
    r = c.post("/webhooks/rest/webhook", json={"sender": conv, "message": q})
    return r.status_code == 200 and bool(r.json())


def rasa_load(base: str, step: Step, qs: list[str], clients: int, total: int, turns_per_conversation: int = 10) -> dict:
    """As chat_load, with `step` instead of /api/chat."""
    from api.rasa_runtime import rasa_text

    per = max(1, total // clients)
    lat: list[float] = []
    errors = [0]
    lock = threading.Lock()

    def worker(n: int) -> None:
        conv = uuid.uuid4().hex
        with httpx.Client(base_url=base, timeout=60) as c:
            for i in range(per):
                if turns_per_conversation and i % turns_per_conversation == 0:
                    conv = uuid.uuid4().hex
                q = rasa_text(qs[(n * 9973 + i) % len(qs)])
                t = time.perf_counter()
                try:
                    ok = step(c, conv, q)
                except (httpx.HTTPError, ValueError):
                    ok = False
                dt = (time.perf_counter() - t) * 1000
                with lock:
                    lat.append(dt)
                    errors[0] += not ok

    threads = [threading.Thread(target=worker, args=(n,), daemon=True) for n in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    took = time.perf_counter() - start
    return {
        "clients": clients,
        "messages": len(lat),
        "messages_per_s": round(len(lat) / took, 2),
        "p50_ms": round(pct(lat, 50), 1),
        "p95_ms": round(pct(lat, 95), 1),
        "errors": errors[0],
        "degraded": 0,
    }


def rasa_long(base: str, step: Step, qs: list[str], turns: int, repeats: int = 3) -> list[list[float]]:
    from api.rasa_runtime import rasa_text

    per_turn: list[list[float]] = [[] for _ in range(turns)]
    with httpx.Client(base_url=base, timeout=60) as c:
        for _ in range(repeats):
            conv = uuid.uuid4().hex
            for t in range(turns):
                t0 = time.perf_counter()
                step(c, conv, rasa_text(qs[t % len(qs)]))
                per_turn[t].append((time.perf_counter() - t0) * 1000)
    return per_turn


def measure_rasa_alone(qs: list[str], turns: int, messages: int, clients: int, as_served: bool = True) -> dict:
    out: dict = {"model": rasa_model().name, "as_served": as_served}
    with (
        tempfile.TemporaryDirectory(prefix="faqbot-bench-rasa-") as d,
        rasa_alone(Path(d), as_served) as (base, action),
    ):
        steps: dict[str, Step] = {"parse": parse_step, "tracker": tracker_step, "webhook": webhook_step}
        for name, step in steps.items():
            rasa_load(base, step, qs[-10:], 1, 10)  # warm-up
            out[f"{name}_one_client"] = rasa_load(base, step, qs[turns : turns + 60], 1, 60)
            # A fresh conversation every TRACKER_TURNS messages, as the service gives Rasa.
            out[f"{name}_load"] = rasa_load(base, step, qs, clients, messages, TRACKER_TURNS)
        httpx.get(action + "/stats/reset")
        out["webhook_long"] = rasa_long(base, webhook_step, qs[:turns], turns)
        sizes = httpx.get(action + "/stats/reset").json()
        out["tracker_long"] = rasa_long(base, tracker_step, qs[:turns], turns)
        # The action calls of the long conversations, in order: one per turn, `turns` per conversation.
        out["action_body_bytes"] = sizes[:turns]
        out["action_calls"] = len(sizes)
    return out


# --- all of it -------------------------------------------------------------------------------------


def run(
    base_url: str | None = None,
    turns: int = 50,
    messages: int = 400,
    clients: int = 8,
    with_rasa_alone: bool = True,
    stock_rasa: bool = False,
) -> dict:
    """The figures: through the API (a service started here unless `base_url`), then Rasa alone."""
    qs = questions()
    out: dict = {"turns": turns}
    if base_url:
        out["api"] = through_api(base_url, qs, turns, messages, clients)
    else:
        with tempfile.TemporaryDirectory(prefix="faqbot-bench-conv-") as d:
            server = start_server(Path(d) / "data", wait_for_bot=True)
            try:
                out["api"] = through_api(server.base_url, qs, turns, messages, clients)
            finally:
                server.stop()
    if with_rasa_alone:
        out["rasa"] = measure_rasa_alone(qs, turns, messages, clients, not stock_rasa)
    return out


def _one(name: str, ms: list[float]) -> str:
    return f"  {name:<40} p50 {pct(ms, 50):6.1f} ms   p95 {pct(ms, 95):6.1f} ms   (n={len(ms)})"


def lines(result: dict) -> list[str]:
    out = ["Conversation cost and Rasa alone (2-core CPU shared with the load generator; figures are noisy)"]
    api = result.get("api")
    turns = result["turns"]
    if api:
        long = api["long"]
        first, last, ratio = window_ratio(long["per_turn_ms"])
        out.append(
            target(
                f"  one conversation of {turns} questions via /api/chat   turns 1-5 {first:6.1f} ms,"
                f" turns {turns - 4}-{turns} {last:6.1f} ms: {ratio:.2f}x",
                f"<= {RATIO_TARGET}x",
                ratio <= RATIO_TARGET,
            )
            + f"  [{long['repeats']} conversations; degraded {long['degraded']}, errors {long['errors']}]"
        )
        f1, f2, fr = window_ratio(long["fresh_ms"])
        out.append(
            f"  the same questions, each in a new conversation        turns 1-5 {f1:6.1f} ms,"
            f" turns {turns - 4}-{turns} {f2:6.1f} ms: {fr:.2f}x  (asked between the turns above)"
        )
        out.append(
            f"  the long conversation's ratio over the new conversations' ratio: {ratio / fr:.2f}x"
            " (what the conversation's length alone costs; query vectors cached for both)"
        )
        tens = [mean([x for t in long["per_turn_ms"][i : i + 10] for x in t]) for i in range(0, turns, 10)]
        out.append("  mean per 10 turns of the long conversation: " + ", ".join(f"{m:.0f}" for m in tens) + " ms")
        one = api["one_client_ms"]
        out.append(
            target(
                _one("/api/chat, one client", one), f"p95 <= {ONE_CLIENT_P95_MS} ms", pct(one, 95) <= ONE_CLIENT_P95_MS
            )
        )
        load = api["load"]
        met = load["messages_per_s"] >= RATE_TARGET and load["p95_ms"] <= P95_TARGET_MS and load["errors"] == 0
        out.append(
            target(
                load_line(f"/api/chat, {load['clients']} clients", load),
                f">= {RATE_TARGET} messages/s, p95 <= {P95_TARGET_MS} ms, 0 errors",
                met,
            )
        )
    rasa = result.get("rasa")
    if rasa:
        how = "with bot/rasa_server.py as the service runs it" if rasa.get("as_served") else "Rasa as shipped"
        out.append(
            f"  Rasa alone (a server of its own on the same model {rasa['model']}, {how}; the same messages,"
            f" a fresh tracker every {TRACKER_TURNS}):"
        )
        names = {
            "parse": "NLU (/model/parse)",
            "tracker": "NLU + tracker + policies, no action",
            "webhook": "REST webhook, a no-op action",
        }
        for key, name in names.items():
            one = rasa[f"{key}_one_client"]
            out.append(f"    {name + ', one client':<46} p50 {one['p50_ms']:6.1f} ms   p95 {one['p95_ms']:6.1f} ms")
            out.append("  " + load_line(f"{name}, {rasa[f'{key}_load']['clients']} clients", rasa[f"{key}_load"]))
        for key, name in (
            ("webhook_long", "REST webhook, a no-op action"),
            ("tracker_long", "NLU + tracker + policies"),
        ):
            a, b, r = window_ratio(rasa[key])
            out.append(
                f"    {name}: turns 1-5 {a:6.1f} ms, turns {turns - 4}-{turns} {b:6.1f} ms: {r:.2f}x"
                " (one tracker for the whole conversation)"
            )
        sizes = rasa["action_body_bytes"]
        if sizes:
            out.append(
                f"    what Rasa sends the action per call: {sizes[0] / 1024:.1f} KB at turn 1,"
                f" {sizes[-1] / 1024:.1f} KB at turn {len(sizes)} ({rasa['action_calls']} calls seen)"
            )
        if api:
            ours = api["load"]["messages_per_s"]
            web = rasa["webhook_load"]["messages_per_s"]
            out.append(
                f"  our part: /api/chat {ours:.1f} messages/s against Rasa's own handling with a no-op action"
                f" {web:.1f} messages/s (one client p50: {pct(api['one_client_ms'], 50):.0f} ms against"
                f" {rasa['webhook_one_client']['p50_ms']:.0f} ms)"
            )
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m tests.bench.conversation", description=__doc__.split("\n\n")[0])
    ap.add_argument("--base-url", help="a running service (API + Rasa) instead of starting one")
    ap.add_argument("--turns", type=int, default=50)
    ap.add_argument("--messages", type=int, default=400, help="messages in each 8-client run (400)")
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--skip-rasa-alone", action="store_true")
    ap.add_argument(
        "--stock-rasa", action="store_true", help="Rasa alone as shipped, without bot/rasa_server.py's corrections"
    )
    ap.add_argument("--json", help="also write the figures here as JSON")
    args = ap.parse_args(argv)
    result = run(args.base_url, args.turns, args.messages, args.clients, not args.skip_rasa_alone, args.stock_rasa)
    print("\n".join(lines(result)))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
