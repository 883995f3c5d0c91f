"""Benchmark: latency of /api/search and /api/chat beside the bare encoder + FAISS time, chat
throughput under 8 concurrent clients, index build time, and the time to publish one edited pair
(Retriever.load, in process, real encoder) with the search latency beside it, at 1,000 and 10,000
pairs. Prints figures; asserts nothing.

    make bench            (or: .venv/bin/python -m tests.bench.run [--messages 400])
    .venv/bin/python -m tests.bench.run --publish-only [--publish-sizes 1000,10000]

Runs the real service (API + Rasa) on free ports and a temporary data directory. Questions are the
knowledge base's own alternates (first-seen text each time, so the query cache does not flatter).
--publish-only uses nothing but Retriever.load and search, so it also measures older code (run it
from a worktree of that commit).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np

from embeddings.encoder import SentenceEncoder
from embeddings.index import Entry, VectorIndex
from embeddings.retriever import entries_for
from knowledge.loader import load_pairs
from knowledge.passages import load_passages
from tests.conftest import TEST_CACHE, start_server


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.array(values), q)) if values else float("nan")


def line(name: str, ms: list[float]) -> str:
    return f"  {name:<34} p50 {pct(ms, 50):7.1f} ms   p95 {pct(ms, 95):7.1f} ms   (n={len(ms)})"


def questions() -> list[str]:
    qs = []
    for p in load_pairs():
        qs.extend(p.alternates)
    seen, out = set(), []
    for q in qs:
        if q.lower() not in seen:
            seen.add(q.lower())
            out.append(q)
    return out


def bare(encoder: SentenceEncoder, index: VectorIndex, qs: list[str]) -> list[float]:
    times = []
    for q in qs:
        t = time.perf_counter()
        index.search(encoder.encode([q]), 64)
        times.append((time.perf_counter() - t) * 1000)
    return times


def scale(encoder: SentenceEncoder, items: int, qs: list[str], synthetic_vectors: bool) -> tuple[list[float], float]:
    """Search times of the real retriever (hybrid: FAISS + BM25) over `items` synthetic pairs.

    With synthetic_vectors the index holds random unit vectors instead of encoded texts (encoding
    100,000 texts would take most of an hour here); the query is still encoded for real."""
    from embeddings.retriever import Retriever, Snapshot, Thresholds
    from knowledge.schema import QAPair

    rng = np.random.default_rng(7)
    words = (
        "vein neck stent trial risk brain blood relapse nurse clinic scan study fatigue walking sight "
        "diet sleep pain drug dose balloon procedure theory surgeon review guidance"
    ).split()
    pairs = []
    for i in range(items):
        w = rng.choice(words, 6)
        pairs.append(
            QAPair(
                id=f"syn-{i}",
                question=f"Question {i} about {' '.join(w[:3])}?",
                answer=f"Answer {i} on {' '.join(w)}.",
                status="published",
            )
        )
    entries = entries_for(pairs, [])
    if synthetic_vectors:
        vecs = rng.standard_normal((len(entries), encoder.dimension)).astype(np.float32)
        vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
        vindex = VectorIndex.from_vectors(entries, vecs, encoder.model_id)
    else:
        vindex = VectorIndex.build(entries, encoder)
    t = time.perf_counter()
    r = Retriever(encoder, Path(tempfile.mkdtemp()), Thresholds.default())
    r._snapshot = Snapshot(vindex, {p.id: p for p in pairs}, {})
    setup = time.perf_counter() - t
    times = []
    for q in qs:
        t = time.perf_counter()
        r.search(q + " ?", 5)
        times.append((time.perf_counter() - t) * 1000)
    return times, setup


def synthetic_pairs(items: int, seed: int = 7) -> list:
    """`items` published pairs shaped like ours (a question, four alternates, an answer of a few
    dozen words), made of the knowledge base's own words so that BM25 and typo mending have work."""
    from knowledge.schema import QAPair

    rng = np.random.default_rng(seed)
    vocabulary = sorted(
        {
            w.lower()
            for p in load_pairs()
            for t in [p.question, *p.alternates, p.answer]
            for w in t.split()
            if w.isalpha() and len(w) > 2
        }
    )
    pairs = []
    for i in range(items):
        w = rng.choice(vocabulary, 40)
        pairs.append(
            QAPair(
                id=f"syn-{i:06d}",
                question=f"Question {i} about {' '.join(w[:4])}?",
                alternates=[f"alt {i} {a} {' '.join(w[4 + 3 * a : 7 + 3 * a])}" for a in range(4)],
                answer=f"Answer {i}: {' '.join(w[16:40])}.",
                status="published",
                tags=[f"t{i % 7}"],
            )
        )
    return pairs


def publish(encoder: SentenceEncoder, items: int, qs: list[str], edits: int = 7) -> dict:
    """Time to publish one edited pair (an alternate and the answer changed) through Retriever.load,
    the path an editor's change takes, over `items` synthetic pairs; then search latency over them.

    The first load embeds every pair (minutes at 10,000) and is not what is measured."""
    from embeddings.retriever import Retriever, Thresholds

    pairs = synthetic_pairs(items)
    rng = np.random.default_rng(11)
    with tempfile.TemporaryDirectory() as d:
        r = Retriever(encoder, Path(d) / "index", Thresholds.default())
        t = time.perf_counter()
        r.load(pairs, [])
        first = time.perf_counter() - t
        times = []
        for e in range(edits):
            j = int(rng.integers(items))
            p = pairs[j]
            pairs[j] = p.model_copy(
                update={
                    "answer": f"{p.answer} Edited {e}.",
                    "alternates": [*p.alternates[:3], f"edited alternate {e} of {j}"],
                }
            )
            t = time.perf_counter()
            r.load(pairs, [])
            times.append((time.perf_counter() - t) * 1000)
        r.search("warm up", 5)
        search_ms = []
        for q in qs:
            t = time.perf_counter()
            r.search(q + " ?", 5)
            search_ms.append((time.perf_counter() - t) * 1000)
        occasional = {}
        index = r.snapshot.index
        if hasattr(index, "compacted"):  # what a publish does now and then (not in older code)
            t = time.perf_counter()
            index.compacted()
            occasional["fold_ms"] = (time.perf_counter() - t) * 1000
            t = time.perf_counter()
            index.save(Path(d) / "again")
            occasional["save_ms"] = (time.perf_counter() - t) * 1000
    return {"items": items, "first_load_s": first, "publish_ms": times, "search_ms": search_ms, **occasional}


def publish_lines(runs: list[dict]) -> list[str]:
    out = []
    for run in runs:
        n = f"{run['items']:,}"
        extra = f"  [first load {run['first_load_s']:.0f} s"
        if "fold_ms" in run:
            extra += f"; now and then: delta folded {run['fold_ms']:.0f} ms, whole index saved {run['save_ms']:.0f} ms"
        out.append(line(f"publish one pair, {n} pairs", run["publish_ms"]) + extra + "]")
        out.append(line(f"retriever search, {n} pairs", run["search_ms"]))
    return out


def timed_requests(client: httpx.Client, method: str, url: str, payloads: list[dict], **kw) -> list[float]:
    times = []
    for p in payloads:
        t = time.perf_counter()
        if method == "GET":
            r = client.request(method, url, params=p, **kw)
        else:
            r = client.request(method, url, json=p, **kw)
        times.append((time.perf_counter() - t) * 1000)
        r.raise_for_status()
    return times


def throughput(base: str, qs: list[str], clients: int, total: int) -> tuple[float, list[float], int]:
    per = total // clients
    lat: list[float] = []
    errors = 0
    lock = threading.Lock()

    def worker(n: int) -> None:
        nonlocal errors
        sid = None
        with httpx.Client(base_url=base, timeout=60) as c:
            for i in range(per):
                q = qs[(n * per + i) % len(qs)]
                t = time.perf_counter()
                r = c.post("/api/chat", json={"message": q, "session_id": sid})
                dt = (time.perf_counter() - t) * 1000
                with lock:
                    lat.append(dt)
                    if r.status_code != 200 or r.json().get("degraded"):
                        errors += 1
                if r.status_code == 200:
                    sid = r.json()["session_id"]

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return per * clients / (time.perf_counter() - start), lat, errors


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--questions", type=int, default=150)
    ap.add_argument("--messages", type=int, default=400, help="messages in the throughput run")
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--publish-sizes", default="1000,10000", help="pairs for the publish benchmark ('' skips it)")
    ap.add_argument("--publish-only", action="store_true", help="only the publish benchmark (in process)")
    args = ap.parse_args()

    qs = questions()
    n = min(args.questions, len(qs) // 3)
    search_qs, chat_qs, bare_qs = qs[:n], qs[n : 2 * n], qs[2 * n : 3 * n]
    pairs, passages = load_pairs(), load_passages()
    results: dict = {}

    encoder = SentenceEncoder(backend="onnx", cache_dir=TEST_CACHE / "encoder", cache_size=0)
    sizes = [int(x) for x in args.publish_sizes.split(",") if x.strip()]
    published = [publish(encoder, size, search_qs) for size in sizes]
    if args.publish_only:
        print("\nPublish benchmark (2-core CPU; in process, real encoder)")
        print("\n".join(publish_lines(published)))
        return
    entries = entries_for([p for p in pairs if p.status == "published"], passages)
    t = time.perf_counter()
    index = VectorIndex.build(entries, encoder)
    results["index_build_s"] = time.perf_counter() - t
    with tempfile.TemporaryDirectory() as d:
        t = time.perf_counter()
        index.save(Path(d))
        results["index_save_s"] = time.perf_counter() - t
    synthetic = [Entry(f"s{i}", "qa", "question", f"synthetic question number {i} about veins") for i in range(1000)]
    t = time.perf_counter()
    VectorIndex.build(synthetic, encoder)
    results["index_build_1000_s"] = time.perf_counter() - t
    bare(encoder, index, qs[:10])  # warm-up
    bare_ms = bare(encoder, index, bare_qs + search_qs)
    scale_1k, _ = scale(encoder, 1000, search_qs, synthetic_vectors=False)
    scale_100k, setup_100k = scale(encoder, 100_000, search_qs[:60], synthetic_vectors=True)

    with tempfile.TemporaryDirectory() as d:
        server = start_server(Path(d) / "data", wait_for_bot=True)
        try:
            token = server.token("staff")
            with httpx.Client(base_url=server.base_url, timeout=60) as c:
                h = {"Authorization": f"Bearer {token}"}
                timed_requests(c, "GET", "/api/search", [{"q": "warm up", "k": 5}], headers=h)
                timed_requests(c, "POST", "/api/chat", [{"message": "warm up question"}])
                search_ms = timed_requests(c, "GET", "/api/search", [{"q": q, "k": 5} for q in search_qs], headers=h)
                chat_ms = timed_requests(c, "POST", "/api/chat", [{"message": q} for q in chat_qs])
                took = []
                for q in bare_qs:
                    took.append(c.get("/api/search", params={"q": q + " ?", "k": 5}, headers=h).json()["took_ms"])
            rate, lat, errors = throughput(server.base_url, qs, args.clients, args.messages)
        finally:
            server.stop()

    print("\nBenchmark (2-core CPU; real API + Rasa on loopback)")
    print(f"  knowledge: {len(pairs)} pairs, {len(passages)} passages, {len(entries)} vectors")
    print(
        f"  index build (shipped content)      {results['index_build_s']:.2f} s   save {results['index_save_s'] * 1000:.0f} ms"
    )
    print(f"  index build (1,000 synthetic)      {results['index_build_1000_s']:.2f} s")
    print(line("bare encoder + FAISS", bare_ms))
    print(line("/api/search (HTTP round trip)", search_ms))
    print(line("/api/search took_ms (in service)", took))
    print(line("/api/chat via Rasa (sequential)", chat_ms))
    print(line("retriever, 1,000 pairs (hybrid)", scale_1k))
    print(
        line("retriever, 100,000 pairs (hybrid)", scale_100k)
        + f"  [synthetic vectors; BM25 + snapshot build {setup_100k:.0f} s]"
    )
    for text in publish_lines(published):
        print(text)
    ratio = pct(search_ms, 50) / pct(bare_ms, 50)
    print(f"  /api/search p50 / bare p50         {ratio:.2f}x")
    print(
        f"  chat, {args.clients} concurrent clients       {rate:.1f} messages/s   p50 {pct(lat, 50):.0f} ms"
        f"   p95 {pct(lat, 95):.0f} ms   errors or degraded: {errors}/{len(lat)}"
    )
    out = Path("bench-results")
    out.mkdir(exist_ok=True)
    summary = {
        **results,
        "bare_p50_ms": pct(bare_ms, 50),
        "bare_p95_ms": pct(bare_ms, 95),
        "search_p50_ms": pct(search_ms, 50),
        "search_p95_ms": pct(search_ms, 95),
        "search_took_p50_ms": pct(took, 50),
        "search_took_p95_ms": pct(took, 95),
        "retriever_1k_p50_ms": pct(scale_1k, 50),
        "retriever_1k_p95_ms": pct(scale_1k, 95),
        "retriever_100k_p50_ms": pct(scale_100k, 50),
        "retriever_100k_p95_ms": pct(scale_100k, 95),
        "chat_p50_ms": pct(chat_ms, 50),
        "chat_p95_ms": pct(chat_ms, 95),
        "throughput_msgs_per_s": rate,
        "throughput_p95_ms": pct(lat, 95),
        "throughput_errors": errors,
        "mean_chat_ms": statistics.mean(chat_ms),
    }
    for run in published:
        summary[f"publish_{run['items']}_p50_ms"] = pct(run["publish_ms"], 50)
        summary[f"publish_{run['items']}_search_p50_ms"] = pct(run["search_ms"], 50)
    (out / f"bench-{time.strftime('%Y%m%d-%H%M%S')}.json").write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
