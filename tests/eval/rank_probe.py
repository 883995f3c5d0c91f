"""A quick, in-process look at ranking quality: no HTTP, encodings cached on disk.

    .venv/bin/python -m tests.eval.rank_probe [--heldout]

Builds a Retriever over the shipped pairs and passages plus each benchmark collection of
../shared/benchmarks (as tagged pairs, as /api/qa/import would make them), once with the fine-tuned
encoder and once with the packaged one, and prints hybrid R@1/R@5/MRR per set and the time per
query. For choosing scoring changes in a minute rather than `make eval`'s twelve; `make eval`
(through the service) stays the figure of record. The held-out split is printed only with --heldout.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from embeddings.choice import choose
from embeddings.encoder import SentenceEncoder
from embeddings.finetune import is_finetuned
from embeddings.loading import base_model_path, encoder_path, is_packaged
from embeddings.retriever import Retriever, Thresholds
from embeddings.settings import EncoderSettings, RetrievalSettings
from knowledge.loader import load_pairs
from knowledge.passages import load_passages
from knowledge.schema import QAPair
from tests.conftest import REPO, TEST_CACHE
from tests.eval.metrics import dev_set, load_jsonl, ranking

CACHE = TEST_CACHE / "probe"
BENCHMARKS = REPO.parent / "shared" / "benchmarks"


class CachedEncoder:
    """An encoder whose vectors (texts and queries alike) are kept on disk between runs."""

    def __init__(self, inner: SentenceEncoder):
        self.inner = inner
        self.model_id = inner.model_id
        self.dimension = inner.dimension
        self.path = CACHE / f"{inner.model_id.replace('@', '-')}.npz"
        self.cache: dict[str, np.ndarray] = {}
        if self.path.exists():
            data = np.load(self.path, allow_pickle=False)
            self.cache = dict(zip(data["texts"].tolist(), data["vectors"], strict=True))
        self.dirty = False

    def encode(self, texts: list[str]) -> np.ndarray:
        todo = sorted({t for t in texts if t not in self.cache})
        if todo:
            for t, v in zip(todo, self.inner.encode(todo), strict=True):
                self.cache[t] = v
            self.dirty = True
        if not texts:
            return np.zeros((0, self.dimension), np.float32)
        return np.vstack([self.cache[t] for t in texts]).astype(np.float32)

    def encode_query(self, text: str) -> np.ndarray:
        return self.encode([text])

    def save(self) -> None:
        if self.dirty:
            CACHE.mkdir(parents=True, exist_ok=True)
            texts = list(self.cache)
            np.savez(self.path, texts=np.array(texts), vectors=np.vstack([self.cache[t] for t in texts]))
            self.dirty = False


def benchmark_pairs() -> dict[str, tuple[list[QAPair], list[dict]]]:
    """tag -> (the collection's pairs, its queries with ids as imported)."""
    out: dict[str, tuple[list[QAPair], list[dict]]] = {}
    if not BENCHMARKS.exists():
        return out
    for folder in sorted(p for p in BENCHMARKS.iterdir() if (p / "faqs.jsonl").exists()):
        tag = f"bench-{folder.name}"
        pairs = [
            QAPair(
                id=f"{tag}-{f['id']}",
                question=f["question"],
                answer=f["answer"],
                tags=[tag],
                status="published",
                evidence="background",
            )
            for f in load_jsonl(folder / "faqs.jsonl")
        ]
        queries = [
            {"query": q["query"], "expected": [f"{tag}-{r}" for r in q["relevant"]]}
            for q in load_jsonl(folder / "queries.jsonl")
        ]
        out[tag] = (pairs, queries)
    return out


def encoders(settings: EncoderSettings) -> dict[str, CachedEncoder]:
    cache_dir = TEST_CACHE / "encoder"
    tuned = encoder_path(settings.model_copy(update={"finetune": True}), cache_dir, load_pairs())
    return {
        "finetuned": CachedEncoder(SentenceEncoder(tuned, backend="onnx", cache_dir=cache_dir)),
        # The model the fine-tuned one was made from (all-MiniLM-L6-v2 unless encoder.model_path says otherwise).
        "packaged": CachedEncoder(
            SentenceEncoder(
                None if is_packaged(base_model_path(settings)) else base_model_path(settings),
                backend="onnx",
                cache_dir=cache_dir,
            )
        ),
    }


def sets(heldout: bool) -> dict[str, tuple[str | None, list[dict]]]:
    """name -> (tag, queries with `query` and `expected`)."""
    out: dict[str, tuple[str | None, list[dict]]] = {"dev": (None, dev_set("dev"))}
    if heldout:
        out["heldout"] = (None, dev_set("heldout"))
    for tag, (_, queries) in benchmark_pairs().items():
        out[tag.removeprefix("bench-")] = (tag, queries)
    return out


def build(
    encoder: CachedEncoder, root: Path, benchmarks: bool, retrieval: RetrievalSettings | None = None
) -> Retriever:
    """The shipped content, with the benchmark collections imported or not (`make eval` measures the
    dev set before it imports them, so its untagged searches never meet them)."""
    retrieval = retrieval or RetrievalSettings()
    finetuned = is_finetuned(encoder.inner.model_path)
    r = Retriever(encoder, root, Thresholds.default(), retrieval.scoring(finetuned=finetuned))
    pairs = load_pairs() + ([p for ps, _ in benchmark_pairs().values() for p in ps] if benchmarks else [])
    r.load(pairs, load_passages())
    return r


def measure(
    shipped: Retriever, imported: Retriever, named: dict[str, tuple[str | None, list[dict]]], mode: str = "hybrid"
) -> dict:
    out = {}
    for name, (tag, queries) in named.items():
        r = shipped if tag is None else imported
        took = []
        res = []
        for q in queries:
            t = time.perf_counter()
            hits = r.search(q["query"], 10, tag=tag, kind="qa", mode=mode)
            took.append(time.perf_counter() - t)
            res.append(([h.key for h in hits], set(q["expected"])))
        out[name] = (ranking(res), 1000 * np.percentile(took, 50), 1000 * np.percentile(took, 95))
    return out


def print_table(label: str, results: dict) -> None:
    print(f"\n{label}")
    for name, (m, p50, p95) in results.items():
        print(f"  {name:<10} {m.row()}   {p50:.1f}/{p95:.1f} ms p50/p95")


def _scores(r: Retriever, query: str, tag: str | None) -> tuple[np.ndarray, np.ndarray, str]:
    """(dense per item with unreached items at the lowest reached score, lexical per item, mended query)."""
    snap = r.snapshot
    text = snap.analyse(query, tag, r.scoring.spelling).text
    mask = snap.mask(tag, "qa")
    dense, _ = r._dense(snap, text, mask, 128)
    reached = dense > -1
    dense = np.where(reached, dense, dense[reached].min() if reached.any() else 0.0)
    return dense, r._lexical(snap, text, mask, tag), text


def _maxsim(model, cache: dict, query: str, texts: list[str]) -> float:
    """Late interaction: each query token's best cosine among a text's tokens, averaged; best text."""
    todo = [t for t in {query, *texts} if t not in cache]
    if todo:
        for t, m in zip(todo, model.encode(todo, output_value="token_embeddings", convert_to_numpy=False), strict=True):
            m = np.asarray(m, np.float32)[1:-1]  # without [CLS] and [SEP]
            cache[t] = m / np.linalg.norm(m, axis=1, keepdims=True)
    q = cache[query]
    return max(float((q @ cache[t].T).max(axis=1).mean()) for t in texts)


def experiments(named: dict[str, tuple[str | None, list[dict]]], top: int = 20) -> None:
    """Reranking and fusion candidates against the hybrid as shipped (R@1 / R@5 per set): the dense
    scores of both encoders mixed, and a late-interaction (MaxSim) score on either encoder's token
    vectors added over the top candidates."""
    from sentence_transformers import SentenceTransformer

    from embeddings.retriever import _entries

    encs = encoders(EncoderSettings())
    # Token vectors come from sentence-transformers itself: the service's ONNX runner gives sentence vectors only.
    token_models = {e: SentenceTransformer(str(enc.inner.model_path), device="cpu") for e, enc in encs.items()}
    variants: dict[str, dict[str, list[tuple[list[str], set[str]]]]] = {}
    with tempfile.TemporaryDirectory() as d:
        built = {
            e: (build(enc, Path(d) / f"{e}-a", False), build(enc, Path(d) / f"{e}-b", True)) for e, enc in encs.items()
        }
        caches: dict[str, dict] = {e: {} for e in encs}
        for name, (tag, queries) in named.items():
            ft_r, pk_r = (built[e][0 if tag is None else 1] for e in encs)
            snap = ft_r.snapshot
            for q in queries:
                ft, lex, text = _scores(ft_r, q["query"], tag)
                pk, _, _ = _scores(pk_r, q["query"], tag)
                mask = snap.mask(tag, "qa")
                allowed = np.ones(len(snap.keys), bool) if mask is None else mask
                base = np.where(allowed, ft + lex, -np.inf)
                cand = np.argsort(-base, kind="stable")[:top]
                texts = [[x.text for x in _entries(snap._item(snap.keys[i])) if x.field != "answer"] for i in cand]
                sims = {e: np.array([_maxsim(token_models[e], caches[e], text, t) for t in texts]) for e in encs}
                rows = {"as shipped": base[cand]}
                for w in (0.5, 0.7, 0.9):
                    rows[f"dense {w} ft + {1 - w:.1f} pk"] = (w * ft + (1 - w) * pk + lex)[cand]
                for e in encs:
                    for lam in (0.25, 0.5, 1.0):
                        rows[f"+ {lam} maxsim {e}"] = base[cand] + lam * sims[e]
                for label, s in rows.items():
                    ranked = [snap.keys[i] for i in cand[np.argsort(-s, kind="stable")]]
                    variants.setdefault(label, {}).setdefault(name, []).append((ranked, set(q["expected"])))
    print(f"\nReranking the top {top} (R@1 / R@5):")
    for label, per_set in variants.items():
        cells = "  ".join(f"{n} {ranking(res).r1:.3f}/{ranking(res).r5:.3f}" for n, res in per_set.items())
        print(f"  {label:<26} {cells}")


def encoder_choice(results: dict | None = None) -> dict:
    """For `make eval`: each collection's encoder check (embeddings/choice.py) and the choice it gives;
    for the benchmarks, beside it the hybrid R@1 each encoder reached through the service (`results`:
    run.py's summary, with the shipped and packaged configurations when they ran)."""
    encs = encoders(EncoderSettings())
    named = {"shipped": [p for p in load_pairs() if p.status == "published"]}
    named.update({tag.removeprefix("bench-"): ps for tag, (ps, _) in benchmark_pairs().items()})
    print("\nEncoder per collection (check: each alternate left out and searched; R@1 / MRR):")
    out = {}
    for name, pairs in named.items():
        choice = choose(pairs, dict(encs))
        figures = (
            "  ".join(f"{e} {c.r1:.3f} / {c.mrr:.3f}" for e, c in choice.checks.items() if c.alternates)
            or "no alternates"
        )
        measured = ""
        if results and name != "shipped":
            r1 = {c: results.get(c, {}).get(name, {}).get("hybrid", {}).get("r1") for c in ("shipped", "packaged")}
            if None not in r1.values():
                measured = f" | measured R@1: finetuned {r1['shipped']:.3f}, packaged {r1['packaged']:.3f}"
        n = max(c.alternates for c in choice.checks.values())
        print(
            f"  {name:<10} {len(pairs)} pairs, {n} alternates: {figures} -> {choice.encoder} ({choice.reason}){measured}"
        )
        out[name] = {
            "encoder": choice.encoder,
            "reason": choice.reason,
            **{e: c.__dict__ for e, c in choice.checks.items()},
        }
    for e in encs.values():
        e.save()
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--heldout", action="store_true", help="also print the held-out split (report only)")
    ap.add_argument("--experiments", action="store_true", help="reranking and fusion candidates (a few minutes)")
    ap.add_argument("--choice", action="store_true", help="each collection's encoder check and choice")
    args = ap.parse_args()
    named = sets(args.heldout)
    if args.choice:
        encoder_choice()
    if args.experiments:
        experiments(named)
        return
    encs = encoders(EncoderSettings())
    for name, enc in encs.items():
        with tempfile.TemporaryDirectory() as d:
            shipped, imported = build(enc, Path(d) / "a", False), build(enc, Path(d) / "b", True)
            print_table(f"{name} ({enc.model_id})", measure(shipped, imported, named))
        enc.save()


if __name__ == "__main__":
    main()
