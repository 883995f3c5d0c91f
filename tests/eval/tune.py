"""Chooses the fusion weights and fits the confidence calibration on the DEV split only.

    .venv/bin/python -m tests.eval.tune

Fits Platt scaling of the top fused score of the hybrid as configured in config.yml (label: the
top item is a right answer to an in-scope question; out-of-scope questions are all wrong), prints
how well the confidence is calibrated and what each clarify threshold would cost, for choosing the
thresholds. Copy the values into config.yml (retrieval section). The held-out split is never read.

The fusion weights themselves were chosen by a grid over the dev split and the two public
benchmarks together, taking the setting that improved R@1 over dense alone on all three rather
than the one best on our own questions (which overfitted to this domain's keywords and lost 2-5
points on both public sets).
"""
from __future__ import annotations

import math
import tempfile
from pathlib import Path

import numpy as np

from api.settings import get_settings
from embeddings.encoder import SentenceEncoder
from embeddings.retriever import Retriever, Thresholds
from knowledge.loader import load_pairs
from knowledge.passages import load_passages
from tests.conftest import TEST_CACHE
from tests.eval.metrics import dev_set, out_of_scope, ranking


def fit_platt(x: np.ndarray, y: np.ndarray, iters: int = 200) -> tuple[float, float]:
    """Logistic regression of y on one feature, by Newton's method."""
    a, b = 1.0, 0.0
    for _ in range(iters):
        p = 1 / (1 + np.exp(-(a * x + b)))
        w = p * (1 - p) + 1e-9
        g = np.array([np.sum((p - y) * x), np.sum(p - y)])
        h = np.array([[np.sum(w * x * x), np.sum(w * x)], [np.sum(w * x), np.sum(w)]]) + 1e-6 * np.eye(2)
        step = np.linalg.solve(h, g)
        a, b = a - step[0], b - step[1]
        if np.abs(step).max() < 1e-8:
            break
    return float(a), float(b)


def main() -> None:
    encoder = SentenceEncoder(backend="onnx", cache_dir=TEST_CACHE / "encoder")
    with tempfile.TemporaryDirectory() as d:
        r = Retriever(encoder, Path(d), Thresholds())
        r.load(load_pairs(), load_passages())
        dev, oos = dev_set("dev"), out_of_scope("dev")
        print(f"dev split: {len(dev)} questions, {len(oos)} out of scope")
        for mode in ("bm25", "dense"):
            res = [([h.key for h in r.search(q["query"], 10, kind="qa", mode=mode)], set(q["expected"])) for q in dev]
            print(f"  {mode:<6} {ranking(res).row()}")
        r.scoring = get_settings().retrieval.scoring()
        m = ranking([([h.key for h in r.search(q["query"], 10, kind="qa")], set(q["expected"])) for q in dev])
        print(f"  hybrid (config.yml) {m.row()}")
        x, y = [], []
        for q in dev:
            top = r.search(q["query"], 1, kind="qa")[0]
            x.append(top.fused)
            y.append(float(top.key in set(q["expected"])))
        for q in oos:
            top = r.search(q["query"], 1, kind="qa")[0]
            x.append(top.fused)
            y.append(0.0)
        a, b = fit_platt(np.array(x), np.array(y))
        print(f"calibration: a {a:.3f}, b {b:.3f}")
        probs = 1 / (1 + np.exp(-(a * np.array(x) + b)))
        for lo, hi in ((0, .2), (.2, .4), (.4, .6), (.6, .8), (.8, 1.01)):
            sel = (probs >= lo) & (probs < hi)
            if sel.any():
                print(f"  confidence {lo:.1f}-{min(hi, 1):.1f}: {sel.sum():3d} queries, right {np.mean(np.array(y)[sel]):.2f}")
        in_fused = np.array(x[: len(dev)])
        oos_fused = np.array(x[len(dev):])
        for t in (0.1, 0.2, 0.3, 0.4, 0.5):
            f = math.log(t / (1 - t))
            cut = (f - b) / a
            print(f"  clarify_threshold {t:.2f}: OOS caught {np.mean(oos_fused < cut):.3f}, "
                  f"in-scope lost {np.mean(in_fused < cut):.3f}")


if __name__ == "__main__":
    main()
