"""Retrieval at scale: one hybrid search and one publish over many pairs, and a check that a change to
the retriever leaves its results as they were. Prints figures; asserts nothing.

    .venv/bin/python -m tests.bench.scale [--sizes shipped,1000,100000] [--publish 100000] [--profile]
    .venv/bin/python -m tests.bench.scale --capture results.json    (before a change)
    .venv/bin/python -m tests.bench.scale --compare results.json    (after it: same ids, scores within 1e-5)

search_at(items): the real retriever over `items` synthetic pairs (tests/bench/run.py's scale(): a question
and an answer each; random unit vectors above 1,000 pairs, the query encoded for real), or over the shipped
content (items=0). publish_at(items): tests/bench/run.py's publish() over synthetic_pairs(items) (a question,
four alternates and an answer each), the collection's vectors random (encoding 600,000 texts would take
hours here) and the edited pair's texts encoded for real: what a publish costs does not depend on the
other vectors' values.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from embeddings.encoder import SentenceEncoder
from tests.bench.run import pct, publish, questions, scale, scale_pairs, synthetic_pairs
from tests.conftest import TEST_CACHE

# A publish's encoder is asked for this many texts at most (one pair's); more is the first load.
_ONE_PAIR = 64


def encoder() -> SentenceEncoder:
    return SentenceEncoder(backend="onnx", cache_dir=TEST_CACHE / "encoder", cache_size=0)


class _RandomCollection:
    """The real encoder, except that the collection's texts in bulk (the first load) get random unit vectors."""

    def __init__(self, inner: SentenceEncoder, seed: int = 3):
        self.inner = inner
        self.model_id = inner.model_id
        self.dimension = inner.dimension
        self.rng = np.random.default_rng(seed)

    def encode(self, texts: list[str]) -> np.ndarray:
        return self.inner.encode(texts)

    def encode_query(self, text: str) -> np.ndarray:
        return self.inner.encode_query(text)

    def encode_stored(self, texts: list[str]) -> np.ndarray:
        if len(texts) <= _ONE_PAIR:
            return self.inner.encode(texts)
        v = self.rng.standard_normal((len(texts), self.dimension)).astype(np.float32)
        return v / np.linalg.norm(v, axis=1, keepdims=True)


def _figures(ms: list[float]) -> dict:
    return {"p50_ms": pct(ms, 50), "p95_ms": pct(ms, 95), "n": len(ms)}


def _shipped_retriever(enc, root: Path):
    from embeddings.retriever import Retriever, Thresholds
    from knowledge.loader import load_pairs
    from knowledge.passages import load_passages

    r = Retriever(enc, root, Thresholds.default())
    r.load(load_pairs(), load_passages())
    return r


def search_at(items: int, n_questions: int = 150, enc: SentenceEncoder | None = None) -> dict:
    """p50/p95 of one hybrid search (Retriever.search, k=5) over `items` synthetic pairs, or over the
    shipped content for items=0, with the setup time (snapshot: BM25, vocabulary) in seconds."""
    enc = enc or encoder()
    qs = questions()[:n_questions]
    for q in qs:  # the encoder's own warm-up; the query cache is off
        enc.encode_query(q)
        break
    if items:
        times, setup = scale(enc, items, qs, synthetic_vectors=items > 1000)
        return {"items": items, "setup_s": setup, **_figures(times), "encoder": _encoder_figures(enc, qs)}
    with tempfile.TemporaryDirectory() as d:
        t = time.perf_counter()
        r = _shipped_retriever(enc, Path(d))
        setup = time.perf_counter() - t
        r.search("warm up", 5)
        times = []
        for q in qs:
            t = time.perf_counter()
            r.search(q + " ?", 5)
            times.append((time.perf_counter() - t) * 1000)
        return {
            "items": len(r.snapshot.keys),
            "setup_s": setup,
            **_figures(times),
            "encoder": _encoder_figures(enc, qs),
        }


def _encoder_figures(enc: SentenceEncoder, qs: list[str]) -> dict:
    """The floor beside a search figure: the query encoder alone on the same questions, just after."""
    times = []
    for q in qs:
        t = time.perf_counter()
        enc.encode_query(q + " ?")
        times.append((time.perf_counter() - t) * 1000)
    return _figures(times)


def publish_at(items: int, edits: int = 7, n_questions: int = 30, enc: SentenceEncoder | None = None) -> dict:
    """The time to publish one edited pair (Retriever.load) over `items` synthetic pairs, p50/p95, and
    the first load (the index built from random vectors and saved) in seconds."""
    enc = enc or encoder()
    run = publish(_RandomCollection(enc), items, questions()[:n_questions], edits)  # type: ignore[arg-type]
    return {
        "items": items,
        "first_load_s": run["first_load_s"],
        "publish": _figures(run["publish_ms"]),
        "search": _figures(run["search_ms"]),
        **{k: run[k] for k in ("fold_ms", "save_ms") if k in run},
    }


# --- same results before and after a change ----------------------------------------------------


def _hits(hits) -> list:
    return [[h.key, h.field, h.score, h.dense, h.lexical, h.fused] for h in hits]


def _ask(r, qs: list[str], tags: list[str]) -> dict:
    out: dict = {}
    for i, q in enumerate(qs):
        row = {
            "hybrid": _hits(r.search(q, 10)),
            "citable": _hits(r.search(q, 10, kind="qa" if i % 2 else "citable")),
        }
        if i % 3 == 0:
            row["dense"] = _hits(r.search(q, 10, mode="dense"))
            row["bm25"] = _hits(r.search(q, 10, mode="bm25"))
        if tags:
            tag = tags[i % len(tags)]
            row["tag"] = _hits(r.search(q, 10, tag=tag))
        d = r.decide(q)
        row["decide"] = [d.kind, list(d.unknown), _hits(d.hits)]
        a = r.analyse(q)
        row["analysis"] = [a.text, a.corrections, list(a.unknown_names), a.unknown_share]
        out[q] = row
    return out


def outputs(enc: SentenceEncoder | None = None) -> dict:
    """Ranked ids and scores for the dev set's questions (and some of the out-of-scope ones): over the
    shipped content, over 10,000 synthetic pairs on random vectors, and over those after a publish."""
    from embeddings.index import VectorIndex
    from embeddings.retriever import Retriever, Snapshot, Thresholds, entries_for
    from tests.eval.metrics import dev_set, out_of_scope

    enc = enc or encoder()
    qs = [r["query"] for r in dev_set()] + [r["query"] for r in out_of_scope()][:80]
    result: dict = {}
    with tempfile.TemporaryDirectory() as d:
        r = _shipped_retriever(enc, Path(d))
        tags = sorted(r.snapshot._tags)[:6]
        result["shipped"] = _ask(r, qs, tags)
        # A publish that changes more than texts: tags, who a pair is for, a pair gone and one new.
        from knowledge.loader import load_pairs
        from knowledge.passages import load_passages

        pairs = [p for p in load_pairs() if p.status == "published"]
        pairs[0] = pairs[0].model_copy(update={"tags": [*pairs[0].tags, "t-new"]})
        pairs[1] = pairs[1].model_copy(update={"tags": []})
        pairs[2] = pairs[2].model_copy(update={"audience": "staff"})
        pairs[5] = pairs[5].model_copy(update={"answer": pairs[5].answer + " Reviewed by the ms nurse."})
        pairs.append(pairs[4].model_copy(update={"id": "zz-new", "question": "Can I see a nurse about the stent?"}))
        del pairs[3]
        r.load(pairs, load_passages())
        result["shipped_published"] = _ask(r, qs[:150], [*tags[:3], "t-new"])
    pairs = synthetic_pairs(10_000)
    entries = entries_for(pairs, [])
    rng = np.random.default_rng(17)
    vectors = rng.standard_normal((len(entries), enc.dimension)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    r = Retriever(enc, Path(tempfile.mkdtemp()), Thresholds.default())
    r._snapshot = Snapshot(VectorIndex.from_vectors(entries, vectors, enc.model_id), {p.id: p for p in pairs}, {})
    tags = ["t0", "t3", "t6"]
    result["synthetic"] = _ask(r, qs[:150], tags)
    # A publish: two pairs edited, one removed, one added (a delta and dead rows in the index).
    edited = list(pairs)
    for j in (17, 4242):
        p = edited[j]
        edited[j] = p.model_copy(update={"answer": f"{p.answer} jugular stent", "alternates": [*p.alternates[:3], "x"]})
    del edited[999]
    edited.append(pairs[5].model_copy(update={"id": "syn-new", "question": "Is the azygos vein scanned?"}))
    r._snapshot, _ = r.snapshot.updated(edited, [], enc, None)
    result["synthetic_published"] = _ask(r, qs[:150], tags)
    return result


def compare(old: dict, new: dict, tolerance: float = 1e-5) -> list[str]:
    """What differs: a list of messages (empty when the two agree)."""
    problems: list[str] = []

    def same(a, b, where: str) -> None:
        if isinstance(a, float) or isinstance(b, float):
            if not (isinstance(a, (int, float)) and isinstance(b, (int, float))) or abs(a - b) > tolerance:
                problems.append(f"{where}: {a!r} != {b!r}")
        elif isinstance(a, list) and isinstance(b, list):
            if len(a) != len(b):
                problems.append(f"{where}: {len(a)} items != {len(b)}")
                return
            for i, (x, y) in enumerate(zip(a, b, strict=True)):
                same(x, y, f"{where}[{i}]")
        elif isinstance(a, dict) and isinstance(b, dict):
            if a.keys() != b.keys():
                problems.append(f"{where}: keys {sorted(a)} != {sorted(b)}")
                return
            for k in a:
                same(a[k], b[k], f"{where}.{k}")
        elif a != b:
            problems.append(f"{where}: {a!r} != {b!r}")

    same(old, new, "")
    return problems


# --- profiles -----------------------------------------------------------------------------------


def profile_search(items: int, n_questions: int = 60) -> str:
    """pyinstrument's profile of searches over `items` synthetic pairs (0: the shipped content; the setup
    not profiled)."""
    from embeddings.index import VectorIndex
    from embeddings.retriever import Retriever, Snapshot, Thresholds, entries_for

    enc = encoder()
    qs = questions()[:n_questions]
    if not items:  # the shipped content
        with tempfile.TemporaryDirectory() as d:
            r = _shipped_retriever(enc, Path(d))
            return _profiled(r, qs)
    # As run.scale() builds it (the same pairs), with the searches profiled on their own.
    rng = np.random.default_rng(7)
    pairs = scale_pairs(items, rng)
    entries = entries_for(pairs, [])
    vecs = rng.standard_normal((len(entries), enc.dimension)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    r = Retriever(enc, Path(tempfile.mkdtemp()), Thresholds.default())
    r._snapshot = Snapshot(VectorIndex.from_vectors(entries, vecs, enc.model_id), {p.id: p for p in pairs}, {})
    return _profiled(r, qs)


def _profiled(r, qs: list[str]) -> str:
    from pyinstrument import Profiler

    r.search("warm up", 5)
    profiler = Profiler(interval=0.0002)
    with profiler:
        for q in qs:
            r.search(q + " ?", 5)
    return profiler.output_text(unicode=False, color=False, show_all=False)


def profile_publish(items: int, edits: int = 5) -> str:
    """pyinstrument's profile of publishing one edited pair (Retriever.load), `edits` times."""
    from pyinstrument import Profiler

    from embeddings.retriever import Retriever, Thresholds

    enc = _RandomCollection(encoder())
    pairs = synthetic_pairs(items)
    rng = np.random.default_rng(11)
    with tempfile.TemporaryDirectory() as d:
        r = Retriever(enc, Path(d) / "index", Thresholds.default())
        r.load(pairs, [])
        profiler = Profiler(interval=0.001)
        for e in range(edits):
            j = int(rng.integers(items))
            p = pairs[j]
            pairs[j] = p.model_copy(
                update={"answer": f"{p.answer} Edited {e}.", "alternates": [*p.alternates[:3], f"e{e}"]}
            )
            with profiler:
                r.load(pairs, [])
        return profiler.output_text(unicode=False, color=False, show_all=False)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="0,1000,100000", help="pairs for the search figures (0: the shipped content)")
    ap.add_argument("--publish", default="100000", help="pairs for the publish figures ('' skips them)")
    ap.add_argument("--profile", action="store_true", help="print pyinstrument's profiles instead of figures")
    ap.add_argument("--capture", type=Path, help="write the ranked ids and scores to this file")
    ap.add_argument("--compare", type=Path, help="compare the ranked ids and scores with this file's")
    ap.add_argument("--tolerance", type=float, default=1e-5, help="largest difference of a score taken as equal")
    args = ap.parse_args()
    if args.capture or args.compare:
        now = outputs()
        if args.capture:
            args.capture.write_text(json.dumps(now))
            print(f"captured {sum(len(v) for v in now.values())} questions' results into {args.capture}")
        if args.compare:
            problems = compare(json.loads(args.compare.read_text()), json.loads(json.dumps(now)), args.tolerance)
            print("\n".join(problems[:40]) or f"the same ranked ids and scores (within {args.tolerance:g})")
            print(f"{len(problems)} differences")
        return
    sizes = [int(x) for x in args.sizes.split(",") if x.strip()]
    publishes = [int(x) for x in args.publish.split(",") if x.strip()]
    if args.profile:
        for n in sizes:
            print(f"\n=== search, {n:,} pairs (0: shipped) ===\n{profile_search(n)}")
        for n in publishes:
            print(f"\n=== publish one pair, {n:,} pairs ===\n{profile_publish(n)}")
        return
    enc = encoder()
    print("Retrieval at scale (2-core CPU, in process; noisy when other work runs)")
    for n in sizes:
        f = search_at(n, enc=enc)
        name = f"{f['items']:,} items (shipped)" if not n else f"{n:,} pairs"
        e = f["encoder"]
        print(
            f"  hybrid search, {name:<24} p50 {f['p50_ms']:6.1f} ms   p95 {f['p95_ms']:6.1f} ms"
            f"   (n={f['n']}; setup {f['setup_s']:.1f} s; the query encoder alone: p50 {e['p50_ms']:.1f} ms,"
            f" p95 {e['p95_ms']:.1f} ms)"
        )
    for n in publishes:
        f = publish_at(n, enc=enc)
        p, s = f["publish"], f["search"]
        print(
            f"  publish one pair, {n:,} pairs        p50 {p['p50_ms']:6.0f} ms   p95 {p['p95_ms']:6.0f} ms"
            f"   (n={p['n']}; first load {f['first_load_s']:.0f} s; now and then: delta folded"
            f" {f.get('fold_ms', float('nan')):.0f} ms, whole index saved {f.get('save_ms', float('nan')):.0f} ms)"
        )
        print(f"  search after, {n:,} pairs            p50 {s['p50_ms']:6.1f} ms   p95 {s['p95_ms']:6.1f} ms")


if __name__ == "__main__":
    main()
