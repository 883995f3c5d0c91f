"""Benchmark of the encoder choice (issue 12): all-MiniLM-L6-v2 (the default) beside all-mpnet-base-v2
(`make install-mpnet`; skipped with a note when not installed), each packaged and fine-tuned:

1. one query encoded (first-seen text, no cache), ONNX and torch, p50/p95;
2. bare encoder + FAISS over the shipped content, and GET /api/search and POST /api/chat (one client,
   sequential, via Rasa unless --bot off) through a live service on that model, p50/p95.

Part of `make bench`; alone: .venv/bin/python -m tests.bench.encoders [--questions 60] [--bot off].
Prints figures; asserts nothing. The fine-tuned models come from the shared test cache (trained there
at the first use, minutes for mpnet).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

from embeddings.encoder import SentenceEncoder
from embeddings.index import VectorIndex
from embeddings.loading import encoder_path
from embeddings.model_install import DEFAULT_DEST as MPNET
from embeddings.retriever import entries_for
from embeddings.settings import EncoderSettings
from knowledge.loader import load_pairs
from knowledge.passages import load_passages
from tests.bench.run import bare
from tests.conftest import TEST_CACHE, start_server

CACHE = TEST_CACHE / "encoder"


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.array(values), q)) if values else float("nan")


def row(name: str, ms: list[float]) -> str:
    return f"  {name:<46} p50 {pct(ms, 50):7.1f} ms   p95 {pct(ms, 95):7.1f} ms   (n={len(ms)})"


def models() -> list[tuple[str, str]]:
    """(label, encoder.model_path) of each model on this machine ('' is the packaged default)."""
    out = [("all-MiniLM-L6-v2", "")]
    if (MPNET / "model.safetensors").exists():
        out.append(("all-mpnet-base-v2", str(MPNET)))
    else:
        print(f"  all-mpnet-base-v2: skipped, {MPNET} is not installed (make install-mpnet)")
    return out


def distinct_questions(n: int, offset: int = 0) -> list[str]:
    seen: set[str] = set()
    out = []
    for p in load_pairs():
        for q in p.alternates:
            if q.lower() not in seen:
                seen.add(q.lower())
                out.append(q)
    return out[offset : offset + n]


def query_latency(path: Path | None, backend: str, qs: list[str]) -> tuple[SentenceEncoder, list[float]]:
    encoder = SentenceEncoder(path, backend=backend, cache_dir=CACHE, cache_size=0)
    for q in qs[:5]:
        encoder.encode_query(q + " warm")
    times = []
    for q in qs:
        t = time.perf_counter()
        encoder.encode_query(q)
        times.append((time.perf_counter() - t) * 1000)
    return encoder, times


def bare_latency(encoder: SentenceEncoder, qs: list[str]) -> list[float]:
    pairs = [p for p in load_pairs() if p.status == "published"]
    return bare(encoder, VectorIndex.build(entries_for(pairs, load_passages()), encoder), qs)


def service_latency(model_path: str, qs: list[str], chat_qs: list[str], bot: bool) -> dict[str, list[float]]:
    """/api/search and /api/chat (one client) through a live service on this model, fine-tuned as shipped."""
    extra = {"FAQBOT_ENCODER__MODEL_PATH": model_path} if model_path else {}
    with tempfile.TemporaryDirectory() as d:
        server = start_server(Path(d) / "data", wait_for_bot=bot, FAQBOT_BOT__ENABLED=str(bot).lower(), **extra)
        try:
            h = {"Authorization": f"Bearer {server.token('staff')}"}
            with httpx.Client(base_url=server.base_url, timeout=60) as c:
                c.get("/api/search", params={"q": "warm up", "k": 5}, headers=h).raise_for_status()
                c.post("/api/chat", json={"message": "warm up question"}).raise_for_status()
                search, chat, took = [], [], []
                for q in qs:
                    t = time.perf_counter()
                    r = c.get("/api/search", params={"q": q, "k": 5}, headers=h)
                    search.append((time.perf_counter() - t) * 1000)
                    r.raise_for_status()
                    took.append(float(r.json()["took_ms"]))
                for q in chat_qs:
                    t = time.perf_counter()
                    r = c.post("/api/chat", json={"message": q})
                    chat.append((time.perf_counter() - t) * 1000)
                    r.raise_for_status()
        finally:
            server.stop()
    return {"search": search, "took": took, "chat": chat}


def run(n: int = 60, bot: bool = True, service: bool = True) -> dict:
    qs, search_qs, chat_qs = distinct_questions(n), distinct_questions(n, n), distinct_questions(n, 2 * n)
    lines, summary = [], {}
    for label, model_path in models():
        for tuned in (False, True):
            settings = EncoderSettings(model_path=model_path, finetune=tuned)
            path = encoder_path(settings, CACHE, load_pairs())
            name = f"{label}, {'fine-tuned' if tuned else 'packaged'}"
            onnx, onnx_ms = query_latency(path, "onnx", qs)
            _, torch_ms = query_latency(path, "torch", qs)
            lines += [row(f"{name}: one query, ONNX", onnx_ms), row(f"{name}: one query, torch", torch_ms)]
            key = f"{label}{'-ft' if tuned else ''}"
            summary[key] = {
                "dimension": onnx.dimension,
                "onnx_p50_ms": pct(onnx_ms, 50),
                "onnx_p95_ms": pct(onnx_ms, 95),
                "torch_p50_ms": pct(torch_ms, 50),
                "torch_p95_ms": pct(torch_ms, 95),
            }
            if tuned:
                bare = bare_latency(onnx, search_qs)
                lines.append(row(f"{name}: bare encoder + FAISS (ONNX)", bare))
                summary[key] |= {"bare_p50_ms": pct(bare, 50), "bare_p95_ms": pct(bare, 95)}
                if service:
                    s = service_latency(model_path, search_qs, chat_qs, bot)
                    lines += [
                        row(f"{name}: /api/search (HTTP)", s["search"]),
                        row(f"{name}: /api/search took_ms", s["took"]),
                        row(f"{name}: /api/chat {'via Rasa' if bot else 'direct'}, one client", s["chat"]),
                    ]
                    summary[key] |= {
                        "search_p50_ms": pct(s["search"], 50),
                        "search_p95_ms": pct(s["search"], 95),
                        "chat_p50_ms": pct(s["chat"], 50),
                        "chat_p95_ms": pct(s["chat"], 95),
                    }
    print("\nEncoders (2-core CPU; one query at a time, first-seen text)")
    print("\n".join(lines))
    return summary


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--questions", type=int, default=60)
    ap.add_argument("--bot", choices=["on", "off"], default="on", help="chat via Rasa (on) or the direct answerer")
    ap.add_argument("--no-service", action="store_true", help="only the encoders and the bare search, no live service")
    args = ap.parse_args()
    run(args.questions, args.bot == "on", not args.no_service)


if __name__ == "__main__":
    main()
