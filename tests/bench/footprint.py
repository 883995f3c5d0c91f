"""Benchmark of start-up and memory (issue 14). Prints figures beside their targets; asserts nothing.

1. Start-up on a machine that has run before: the service is started once on a fresh data directory
   (untimed; the shared test cache holds the fine-tuned encoder and the Rasa model), stopped, and
   started again, timed from launching `python -m api` to the first 200 from /healthz, the first 200
   from /api/chat (Rasa or not), /healthz's bot state "ready", and the first chat answered by Rasa
   (not `degraded`). Target: the API answers within 10 s.
2. Memory: the resident size (VmRSS) of the API and of every process under it (its Rasa server, any
   training child) after start-up and a short warm-up, then after a chat load of N minutes (8 clients,
   a new conversation every 10 messages), its peak (sampled every 5 s) and the growth. Targets: API
   <= 600 MB, Rasa <= 800 MB, no growth.
3. A first start with no fine-tuned model: an empty encoder cache folder (FAQBOT_ENCODER__CACHE_DIR),
   into which only the packaged model's ONNX export is copied (unless --no-copy-export), timed to the
   first chat answer and the model /healthz names then; and, when the service swaps to a fine-tuned
   encoder in the background, the time to the swap (/healthz `index.model` changes); "not measured"
   when no swap happens within --swap-timeout seconds (default 300).

    .venv/bin/python -m tests.bench.footprint [--minutes 2 | --minutes 10] [--skip-first-start | --skip-warm]
        [--swap-timeout 300] [--no-copy-export] [--json FILE]

From code: `result = run(minutes=2)`, then `print("\\n".join(lines(result)))`; or the parts alone:
`warm_start_and_memory(minutes)`, `first_start(...)`.
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
import tempfile
import threading
import time
from pathlib import Path

import httpx

from tests.bench.chatload import chat_load, load_line, memory, process_tree, target
from tests.bench.run import questions
from tests.conftest import REPO, TEST_CACHE, LiveServer, base_env, free_port, start_server

API_LIMIT_MB = 600
RASA_LIMIT_MB = 800
START_TARGET_S = 10
PROBE = "what is ccsvi"
SAMPLE_SECONDS = 5.0


def launch(data_dir: Path, **extra_env: str) -> LiveServer:
    """`python -m api` on free ports, returned at once (start_server waits; this one is timed by the caller)."""
    port, rasa_port = free_port(), free_port()
    env = base_env(data_dir, FAQBOT_PORT=str(port), FAQBOT_RASA_PORT=str(rasa_port), **extra_env)
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = data_dir / "server-output.log"
    with open(log_path, "ab") as logf:
        proc = subprocess.Popen([sys.executable, "-m", "api"], cwd=REPO, env=env, stdout=logf, stderr=subprocess.STDOUT)
    return LiveServer(f"http://127.0.0.1:{port}", data_dir, env, proc, log_path)


def stop(server: LiveServer) -> None:
    """Stop the server, then any process it started that outlived it (a training child): by pid."""
    left = [pid for _, pid in process_tree(server.proc.pid)[1:]]
    server.stop()
    for pid in left:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


def time_start(server: LiveServer, launched: float, limit: float = 900, poll: float = 0.2) -> dict:
    """Seconds from `launched` to each start-up milestone, polling /healthz and /api/chat."""
    marks: dict = {}
    with httpx.Client(base_url=server.base_url, timeout=30) as c:
        while time.perf_counter() - launched < limit:
            if server.proc.poll() is not None:
                raise RuntimeError(f"the server exited with {server.proc.returncode}:\n{server.log()}")
            now = time.perf_counter() - launched
            try:
                h = c.get("/healthz").json()
                marks.setdefault("healthz_s", now)
                if h["bot"]["state"] == "ready":
                    marks.setdefault("bot_ready_s", time.perf_counter() - launched)
                model = h["index"].get("model")
                models = marks.setdefault("models", [])
                if model and (not models or models[-1][1] != model):
                    models.append((round(now, 1), model))
                r = c.post("/api/chat", json={"message": PROBE})
                if r.status_code == 200:
                    marks.setdefault("first_chat_s", time.perf_counter() - launched)
                    marks.setdefault("first_chat_degraded", bool(r.json().get("degraded")))
                    if not r.json().get("degraded"):
                        marks.setdefault("first_rasa_chat_s", time.perf_counter() - launched)
            except (httpx.HTTPError, ValueError, KeyError):
                pass
            if "first_rasa_chat_s" in marks and "bot_ready_s" in marks:
                return marks
            time.sleep(poll)
    marks["timed_out"] = True
    return marks


class Sampler:
    """The memory of the service's process tree every few seconds in a thread (peaks, and the trend)."""

    def __init__(self, roots: list[tuple[str, int]], every: float = SAMPLE_SECONDS):
        self.roots, self.every = roots, every
        self.samples: list[tuple[float, dict[str, float]]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._t0 = time.perf_counter()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.perf_counter() - self._t0, memory(self.roots)))
            self._stop.wait(self.every)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def peaks(self, *more: dict[str, float]) -> dict[str, float]:
        """The largest size of each process in the samples and in `more` (the figures taken before and after)."""
        out: dict[str, float] = {}
        for sample in [*(s for _, s in self.samples), *more]:
            for k, v in sample.items():
                out[k] = max(out.get(k, 0.0), v)
        return out

    def late_slope(self) -> float | None:
        """MB per minute of the whole tree over the second half of the run (warming excluded), by least squares."""
        half = [(t, sum(s.values())) for t, s in self.samples[len(self.samples) // 2 :]]
        if len(half) < 3:
            return None
        n = len(half)
        mt, mm = sum(t for t, _ in half) / n, sum(m for _, m in half) / n
        var = sum((t - mt) ** 2 for t, _ in half)
        return 60 * sum((t - mt) * (m - mm) for t, m in half) / var if var else None


def warm_start_and_memory(minutes: float = 2.0, clients: int = 8) -> dict:
    """Start-up on a data directory used once before, then memory at start and after `minutes` of chat load."""
    qs = questions()
    with tempfile.TemporaryDirectory(prefix="faqbot-bench-footprint-") as d:
        data = Path(d) / "data"
        first = start_server(data, wait_for_bot=True)  # untimed: seeds the store, builds the index
        stop(first)
        launched = time.perf_counter()
        server = launch(data)
        try:
            marks = time_start(server, launched)
            at_ready = memory([("api", server.proc.pid)])
            for q in qs[:20]:  # warm-up: the first answers load what is loaded lazily
                httpx.post(server.base_url + "/api/chat", json={"message": q}, timeout=60)
            roots = [("api", server.proc.pid)]
            at_start = memory(roots)
            with Sampler(roots) as sampler:
                load = chat_load(server.base_url, qs, clients, seconds=minutes * 60)
            after = memory(roots)
            health = server.health()
        finally:
            stop(server)
    return {
        "start": marks,
        "bot_detail": health.get("bot", {}).get("detail"),
        "memory_mb": {
            "ready": at_ready,
            "start": at_start,
            "after_load": after,
            "peak": sampler.peaks(at_start, after),
        },
        "late_slope_mb_per_min": sampler.late_slope(),
        "load": {**load.figures(), "minutes": minutes},
    }


def packaged_export(cache: Path) -> Path | None:
    """The packaged all-MiniLM-L6-v2's ONNX export in an encoder cache folder, if it is there."""
    from embeddings.encoder import DEFAULT_MODEL_NAME, default_model_path, model_digest

    folder = cache / f"{DEFAULT_MODEL_NAME}-{model_digest(default_model_path())}"
    return folder if (folder / "onnx" / "model.onnx").exists() else None


def first_start(copy_export: bool = True, swap_timeout: float = 300) -> dict:
    """A first start with no fine-tuned model (an empty encoder cache folder, the shared Rasa model):
    time to the first answer, the model it came from, and the time to a background swap to a
    fine-tuned encoder if one happens within `swap_timeout` seconds."""
    with tempfile.TemporaryDirectory(prefix="faqbot-bench-first-") as d:
        cache = Path(d) / "encoder"
        cache.mkdir()
        export = packaged_export(TEST_CACHE / "encoder")
        copied = bool(copy_export and export)
        if copied and export is not None:
            shutil.copytree(export, cache / export.name)
        launched = time.perf_counter()
        server = launch(Path(d) / "data", FAQBOT_ENCODER__CACHE_DIR=str(cache))
        swap_s = None
        after_swap_ok = None
        training: dict | None = None
        try:
            marks = time_start(server, launched)
            models = list(marks.get("models", []))
            first_model = models[0][1] if models else None
            with httpx.Client(base_url=server.base_url, timeout=30) as c:
                while len(models) < 2 and time.perf_counter() - launched < swap_timeout:
                    if server.proc.poll() is not None:
                        break
                    time.sleep(1)
                    try:
                        index = c.get("/healthz").json()["index"]
                    except (httpx.HTTPError, ValueError, KeyError):
                        continue
                    model = index.get("model")
                    training = index.get("retraining") or training
                    if model and (not models or model != models[-1][1]):
                        models.append((round(time.perf_counter() - launched, 1), model))
            if len(models) > 1:
                swap_s = models[1][0]
            if swap_s is not None:
                r = httpx.post(server.base_url + "/api/chat", json={"message": PROBE}, timeout=60)
                after_swap_ok = r.status_code == 200
            words = ("fine-tun", "swap", "retrain")
            finetune_log = [ln for ln in server.log().splitlines() if any(w in ln.lower() for w in words)]
        finally:
            stop(server)
    return {
        "copied_export": copied,
        "start": marks,
        "first_model": first_model,
        "models_seen": [m for _, m in models],
        "swap_s": swap_s,
        "swap_timeout_s": swap_timeout,
        "chat_after_swap_ok": after_swap_ok,
        # /healthz's last word on the fine-tuning under way (stage, progress), when there was one.
        "last_training_status": training,
        "log_lines": [ln[-200:] for ln in finetune_log[-5:]],
    }


def run(
    minutes: float = 2.0,
    clients: int = 8,
    first: bool = True,
    copy_export: bool = True,
    swap_timeout: float = 300,
    warm: bool = True,
) -> dict:
    """All the figures: (if `warm`) warm start-up and memory under `minutes` of load, then (if `first`) a first start."""
    out: dict = {"warm": warm_start_and_memory(minutes, clients)} if warm else {}
    if first:
        out["first"] = first_start(copy_export, swap_timeout)
    return out


def _s(v: float | None) -> str:
    return "not reached" if v is None else f"{v:6.1f} s"


def _mb(v: float | None) -> str:
    return f"{'-':>9}" if v is None else f"{v:>9.1f}"


def _role(label: str) -> str:
    return "rasa" if label.endswith("> rasa") else ("api" if label == "api" else "other")


def lines(result: dict) -> list[str]:
    out = ["Start-up and memory (2-core CPU shared with the load generator; figures are noisy)"]
    w = result.get("warm")
    if w:
        s = w["start"]
        out.append("  warm start (data directory used once before; fine-tuned encoder and Rasa model cached):")
        first_chat = s.get("first_chat_s")
        out.append(
            target(
                f"    launch -> first 200 from /api/chat      {_s(first_chat)}"
                + (" (degraded, before Rasa)" if s.get("first_chat_degraded") else ""),
                f"<= {START_TARGET_S} s",
                None if first_chat is None else first_chat <= START_TARGET_S,
            )
        )
        out.append(f"    launch -> first 200 from /healthz       {_s(s.get('healthz_s'))}")
        out.append(f"    launch -> /healthz bot 'ready'          {_s(s.get('bot_ready_s'))}   ({w.get('bot_detail')})")
        out.append(f"    launch -> first chat answered by Rasa   {_s(s.get('first_rasa_chat_s'))}")
        mem = w["memory_mb"]
        load = w["load"]
        out.append(
            f"  resident memory (VmRSS, MB): once Rasa answers (ready), after 20 more chats (start), and after"
            f" {load['minutes']:g} min of chat load ({load['clients']} clients, a new conversation every 10 messages);"
            " growth = after - start:"
        )
        out.append(f"    {'process':<28}{'ready':>9}{'start':>9}{'after':>9}{'peak':>9}{'growth':>9}")
        ready = mem.get("ready", {})
        for label in [*mem["start"], *(k for k in mem["after_load"] if k not in mem["start"])]:
            a, b, p = mem["start"].get(label), mem["after_load"].get(label), mem["peak"].get(label)
            growth = f"{b - a:+9.1f}" if a is not None and b is not None else f"{'-':>9}"
            row = f"    {label:<28}{_mb(ready.get(label))}{_mb(a)}{_mb(b)}{_mb(p)}{growth}"
            role = _role(label)
            if role in ("api", "rasa"):
                limit = API_LIMIT_MB if role == "api" else RASA_LIMIT_MB
                worst = max(x for x in (a, b, p) if x is not None)
                row = target(row, f"<= {limit} MB (size only), no growth", worst <= limit)
            out.append(row)
        total_a, total_b = sum(mem["start"].values()), sum(mem["after_load"].values())
        out.append(
            f"    {'all':<28}{_mb(sum(ready.values()) if ready else None)}{total_a:>9.1f}{total_b:>9.1f}{'':>9}{total_b - total_a:+9.1f}"
        )
        slope = w.get("late_slope_mb_per_min")
        if slope is not None:
            out.append(f"    trend over the second half of the load: {slope:+.1f} MB/min (all processes; target: flat)")
        out.append(load_line(f"the load itself ({load['minutes']:g} min)", load))
    f = result.get("first")
    if f:
        s = f["start"]
        how = "the packaged model's ONNX export copied in" if f["copied_export"] else "nothing copied in"
        out.append(f"  first start (empty encoder cache folder, {how}; Rasa model cached):")
        first_chat = s.get("first_chat_s")
        out.append(
            target(
                f"    launch -> first 200 from /api/chat      {_s(first_chat)}   model: {f['first_model']}",
                "answers at once from the packaged encoder",
                None,
            )
        )
        out.append(f"    launch -> first chat answered by Rasa   {_s(s.get('first_rasa_chat_s'))}")
        if s.get("timed_out"):
            out.append("    (gave up waiting for the start; the service's last words on fine-tuning:)")
            out.extend(f"      {ln}" for ln in f["log_lines"][-2:])
        if f["swap_s"] is None:
            training = f.get("last_training_status")
            state = (
                f"; still training then: {training.get('stage')}, {training.get('progress')}"
                if training
                else "; /healthz showed no training under way"
            )
            out.append(
                f"    launch -> swap to a fine-tuned encoder  not measured (no swap within {f['swap_timeout_s']:.0f} s"
                f"{state})"
            )
        else:
            ok = "; chat answers after it" if f["chat_after_swap_ok"] else "; chat FAILED after it"
            out.append(f"    launch -> swap to a fine-tuned encoder  {_s(f['swap_s'])}   ({f['models_seen'][-1]}{ok})")
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m tests.bench.footprint", description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=2.0, help="minutes of chat load for the memory figures (2; 10)")
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--skip-first-start", action="store_true", help="no first start without a fine-tuned model")
    ap.add_argument("--skip-warm", action="store_true", help="only the first start (no warm start, no memory)")
    ap.add_argument("--no-copy-export", action="store_true", help="first start: export the packaged model too")
    ap.add_argument("--swap-timeout", type=float, default=300, help="seconds to wait for a background swap (300)")
    ap.add_argument("--json", help="also write the figures here as JSON")
    args = ap.parse_args(argv)
    result = run(
        args.minutes,
        args.clients,
        not args.skip_first_start,
        not args.no_copy_export,
        args.swap_timeout,
        not args.skip_warm,
    )
    print("\n".join(lines(result)))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
