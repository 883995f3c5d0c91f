"""Issue 12, item 2: does a cross-encoder reranking the hybrid's top candidates help? Figures only.

    .venv/bin/python -m tests.eval.rerank_experiment [--heldout] [--variants plain,swap] [--docs question,qa]

A cross-encoder is initialised from a local BERT folder (the packaged all-MiniLM-L6-v2, or the
encoder fine-tuned here) with a fresh one-logit head and trained on CPU from the shipped pairs only:
each alternate (and each question) is a query whose positive is its own pair's text and whose hard
negatives are the other pairs the retriever as shipped ranks highest for it (softmax cross-entropy
over the group). The dev set and the benchmarks are never trained on. `--variants swap` adds the
fine-tuning's topic swaps (embeddings/finetune.py training_examples): the same question about another
topic as a negative, so that the model keeps looking at the topic, which the benchmarks need.

For each set the hybrid's top 20 (as shipped, through Retriever.search) are scored once; printed is
R@1 / R@5 for the ranking as shipped, for the cross-encoder alone over the top k (5, 10, 20), and for
fused + w * sigmoid(cross-encoder logit) over the top k; then the reranking's cost per query (the
cross-encoder's forward pass over the k candidates, one query at a time, p50/p95 ms). Settings are
chosen on dev, covidfaq and rqe; the held-out split is printed with --heldout only, never chosen on.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from embeddings.encoder import configure_runtime, default_model_path
from embeddings.finetune import Recipe, train_step, training_examples
from embeddings.retriever import Hit, Retriever
from embeddings.settings import EncoderSettings
from knowledge.loader import load_pairs
from knowledge.schema import QAPair
from tests.conftest import TEST_CACHE
from tests.eval.metrics import ranking
from tests.eval.rank_probe import build, encoders, sets

CACHE = TEST_CACHE / "rerank"
TOP = 20
KS = (5, 10, 20)
WEIGHTS = (0.05, 0.1, 0.2, 0.3, 0.5)
# One thread: on this shared 2-core machine two torch threads ran three times slower than one.
THREADS = 1


@dataclass(frozen=True)
class Plan:
    """How the cross-encoder is trained."""

    base: str = "packaged"  # "packaged" or "finetuned": the BERT folder it starts from
    doc: str = "question"  # what a candidate is shown as: "question" or "qa" (question and answer)
    swap: bool = False  # add the topic swaps of embeddings/finetune.py
    negatives: int = 5
    epochs: int = 2
    groups_per_batch: int = 8
    learning_rate: float = 1e-4
    warmup: float = 0.1
    max_length: int = 160
    seed: int = 42

    @property
    def name(self) -> str:
        swap = "-swap" if self.swap else ""
        return f"ce-{self.base}-{self.doc}{swap}-n{self.negatives}-e{self.epochs}-lr{self.learning_rate:g}"


def doc_text(pair: QAPair, doc: str) -> str:
    return pair.question if doc == "question" else f"{pair.question} {pair.answer}"


def training_groups(pairs: list[QAPair], retriever: Retriever, plan: Plan) -> list[tuple[str, list[str]]]:
    """(query, [positive, negatives...]) from the shipped pairs only: each alternate and question is
    a query for its own pair; its negatives are the other pairs ranked highest for it as shipped."""
    rng = random.Random(plan.seed)
    published = sorted((p for p in pairs if p.status == "published"), key=lambda p: p.id)
    by_id = {p.id: p for p in published}
    out: list[tuple[str, list[str]]] = []
    for p in published:
        for text in [p.question, *p.alternates]:
            hits = retriever.search(text, plan.negatives + 1, kind="qa")
            negs = [doc_text(by_id[h.key], plan.doc) for h in hits if h.key != p.id and h.key in by_id]
            out.append((text, [doc_text(p, plan.doc), *negs[: plan.negatives]]))
    if plan.swap:
        # The same question about another topic must lose to the question about this one; the other
        # negatives are random questions (the swapped text is nobody's query as shipped).
        questions = [q.question for q in published]
        answers = {q.question: q.answer for q in published}
        for e in training_examples(published, Recipe()):
            if not e.group.endswith("#swap"):
                continue
            others = rng.sample([q for q in questions if q != e.negative], plan.negatives - 1)
            pos, neg = e.positive, e.negative
            if plan.doc == "qa":
                # The swapped question keeps its pair's answer (the answer's words are swapped too).
                original = e.negative
                pos = f"{e.positive} {answers[original]}"
                neg = f"{original} {answers[original]}"
                others = [f"{q} {answers[q]}" for q in others]
            out.append((e.anchor, [pos, neg, *others]))
    rng.shuffle(out)
    return out


def train(base_path: Path, groups: list[tuple[str, list[str]]], plan: Plan, target: Path) -> dict:
    configure_runtime()
    import torch
    from sentence_transformers import CrossEncoder

    started = time.time()
    random.seed(plan.seed)
    np.random.seed(plan.seed)
    torch.manual_seed(plan.seed)
    torch.set_num_threads(THREADS)
    model = CrossEncoder(str(base_path), num_labels=1, max_length=plan.max_length, device="cpu")
    width = 1 + plan.negatives
    groups = [(q, docs) for q, docs in groups if len(docs) == width]
    steps = [
        groups[i : i + plan.groups_per_batch]
        for epoch in range(plan.epochs)
        for i in range(0, len(groups), plan.groups_per_batch)
    ]
    warm = max(1, int(plan.warmup * len(steps)))
    optimiser = torch.optim.AdamW(model.parameters(), lr=plan.learning_rate, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda s: (s + 1) / warm if s < warm else max(0.0, (len(steps) - s) / max(1, len(steps) - warm))
    )
    model.train()
    losses = []
    for batch in steps:
        features = model.preprocess([(q, d) for q, docs in batch for d in docs])
        logits = model(features)["scores"].view(len(batch), width)
        loss = torch.nn.functional.cross_entropy(logits, torch.zeros(len(batch), dtype=torch.long))
        losses.append(train_step(model, loss, optimiser, schedule))
    model.eval()
    info = {
        "plan": plan.__dict__,
        "groups": len(groups),
        "steps": len(steps),
        "loss_first": round(float(np.mean(losses[:5])), 4),
        "loss_last": round(float(np.mean(losses[-5:])), 4),
        "seconds": round(time.time() - started, 1),
    }
    model.save_pretrained(str(target))
    (target / "rerank.json").write_text(json.dumps(info, indent=2), encoding="utf-8")
    return info


def cross_encoder(plan: Plan, base_paths: dict[str, Path], shipped: Retriever):
    configure_runtime()
    import torch
    from sentence_transformers import CrossEncoder

    target = CACHE / plan.name
    if not (target / "rerank.json").exists():
        groups = training_groups(load_pairs(), shipped, plan)
        print(f"training {plan.name}: {len(groups)} groups of {1 + plan.negatives} ...", flush=True)
        info = train(base_paths[plan.base], groups, plan, target)
    else:
        info = json.loads((target / "rerank.json").read_text(encoding="utf-8"))
    print(
        f"{plan.name}: {info['groups']} groups, {info['steps']} steps, loss {info['loss_first']} -> "
        f"{info['loss_last']}, trained in {info['seconds']} s",
        flush=True,
    )
    torch.set_num_threads(THREADS)
    return CrossEncoder(str(target), device="cpu", activation_fn=torch.nn.Identity())


def _doc(hit: Hit, doc: str) -> str:
    assert hit.pair is not None
    return doc_text(hit.pair, doc)


def evaluate(plans: list[Plan], heldout: bool) -> None:
    named = sets(heldout)
    enc = encoders(EncoderSettings())["finetuned"]
    base_paths = {"packaged": default_model_path(), "finetuned": Path(enc.inner.model_path)}
    with tempfile.TemporaryDirectory() as d:
        shipped, imported = build(enc, Path(d) / "a", False), build(enc, Path(d) / "b", True)
        # The candidates as shipped, once: (ids, fused, hits, mended query, expected) per query.
        cands: dict[str, list[tuple[list[str], np.ndarray, list[Hit], str, set[str]]]] = {}
        searched: list[float] = []  # the search as shipped, for comparison with the reranking's cost
        for name, (tag, queries) in named.items():
            r = shipped if tag is None else imported
            rows = []
            for q in queries:
                t = time.perf_counter()
                hits, analysis = r.search_analysed(q["query"], TOP, tag=tag, kind="qa")
                searched.append(time.perf_counter() - t)
                rows.append(
                    ([h.key for h in hits], np.array([h.fused for h in hits]), hits, analysis.text, set(q["expected"]))
                )
            cands[name] = rows
        enc.save()
        table: dict[str, dict[str, list[tuple[list[str], set[str]]]]] = {}
        for name, rows in cands.items():
            table.setdefault("as shipped", {})[name] = [(ids, exp) for ids, _, _, _, exp in rows]
        costs: dict[str, dict[int, list[float]]] = {}
        for plan in plans:
            model = cross_encoder(plan, base_paths, shipped)
            took: dict[int, list[float]] = {k: [] for k in KS}
            for name, rows in cands.items():
                started = time.time()
                for ids, fused, hits, text, exp in rows:
                    docs = [_doc(h, plan.doc) for h in hits]
                    t = time.perf_counter()
                    logits = np.asarray(model.predict([(text, x) for x in docs], batch_size=TOP), np.float64)
                    took[TOP].append(time.perf_counter() - t)
                    if name == "dev":  # the cost of the smaller k, on the dev queries
                        for k in KS[:-1]:
                            t = time.perf_counter()
                            model.predict([(text, x) for x in docs[:k]], batch_size=k)
                            took[k].append(time.perf_counter() - t)
                    prob = 1 / (1 + np.exp(-logits))
                    for k in KS:
                        head, rest = ids[:k], ids[k:]
                        variants = {f"{plan.name} k={k} alone": logits[:k]}
                        for w in WEIGHTS:
                            variants[f"{plan.name} k={k} fused+{w}"] = fused[:k] + w * prob[:k]
                        for label, s in variants.items():
                            order = np.argsort(-s, kind="stable")
                            table.setdefault(label, {}).setdefault(name, []).append(
                                ([head[i] for i in order] + rest, exp)
                            )
                print(f"  scored {name} ({len(rows)} queries) in {time.time() - started:.0f} s", flush=True)
            costs[plan.name] = took
            print_table(table, named)
        p50, p95 = 1000 * np.percentile(searched, 50), 1000 * np.percentile(searched, 95)
        print(f"\nThe hybrid search as shipped (query encodings cached on disk), ms p50/p95: {p50:.1f}/{p95:.1f}")
        print("Cost per query of the reranking (cross-encoder over the top k, one query at a time), ms p50/p95:")
        for label, took in costs.items():
            cells = "  ".join(
                f"k={k} {1000 * np.percentile(v, 50):.1f}/{1000 * np.percentile(v, 95):.1f}"
                for k, v in took.items()
                if v
            )
            print(f"  {label:<40} {cells}")


def print_table(table: dict, named: dict) -> None:
    print("\nR@1 / R@5 (candidates: the hybrid's top 20 as shipped)")
    print(f"  {'':<52}" + "  ".join(f"{n:<13}" for n in named))
    for label, per_set in table.items():
        cells = "  ".join(f"{ranking(per_set[n]).r1:.3f}/{ranking(per_set[n]).r5:.3f}" for n in named if n in per_set)
        print(f"  {label:<52}{cells}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--heldout", action="store_true", help="also print the held-out split (report only)")
    ap.add_argument("--base", default="packaged", help="comma-separated: packaged, finetuned")
    ap.add_argument("--docs", default="question", help="comma-separated: question, qa")
    ap.add_argument("--swap", default="no", help="comma-separated: no, yes")
    ap.add_argument("--epochs", type=int, default=2)
    args = ap.parse_args()
    plans = [
        Plan(base=b, doc=d, swap=s == "yes", epochs=args.epochs)
        for b in args.base.split(",")
        for d in args.docs.split(",")
        for s in args.swap.split(",")
    ]
    evaluate(plans, args.heldout)


if __name__ == "__main__":
    main()
