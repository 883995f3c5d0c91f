"""Chooses the fusion weights and fits the confidence calibration on the DEV split only.

    .venv/bin/python -m tests.eval.tune [--encoder finetuned|packaged]

Fits the confidence: a logistic regression of "the top pair answers the question" (out-of-scope
questions are all wrong) on the top fused score of the hybrid as configured in config.yml and on
two facts about the query's words (embeddings/query.py: words the knowledge base never uses that
are rare in English, and the share of content words it never uses). Prints how well the confidence
is calibrated, with and without the word features, and what each clarify threshold would cost, for
choosing the thresholds. Copy the values into config.yml (retrieval section): they serve a model
that has no calibration.json of its own. A retrain (POST /api/retrain, or on the schedule in config.yml)
fits the same numbers for the model it makes, with the golden questions added (embeddings/calibration.py).
The held-out split is never read.

The fusion weights themselves were chosen by a grid over the dev split and the two public
benchmarks together, taking the setting that improved R@1 over dense alone on all three rather
than the one best on our own questions (which overfitted to this domain's keywords and lost 2-5
points on both public sets).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from api.settings import get_settings
from embeddings.calibration import features, fit_logistic
from embeddings.encoder import SentenceEncoder
from embeddings.loading import encoder_path
from embeddings.retriever import Retriever, Thresholds
from knowledge.loader import load_pairs
from knowledge.passages import load_passages
from tests.conftest import TEST_CACHE
from tests.eval.metrics import dev_set, out_of_scope, ranking


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--encoder",
        choices=("finetuned", "packaged"),
        default="finetuned",
        help="fit for the fine-tuned encoder (calibration_*) or the packaged one (calibration_base_*)",
    )
    args = ap.parse_args()
    finetuned = args.encoder == "finetuned"
    settings = get_settings()
    settings.encoder.cache_dir = str(TEST_CACHE / "encoder")
    settings.encoder.finetune = finetuned
    # The encoder the service would use: the fine-tuned one (trained if missing) or the packaged one.
    encoder = SentenceEncoder(
        encoder_path(settings.encoder, settings.encoder_cache_dir, load_pairs()),
        backend="onnx",
        cache_dir=settings.encoder_cache_dir,
    )
    print(f"encoder: {encoder.model_id}")
    with tempfile.TemporaryDirectory() as d:
        r = Retriever(encoder, Path(d), Thresholds.default())
        r.load(load_pairs(), load_passages())
        dev, oos = dev_set("dev"), out_of_scope("dev")
        print(f"dev split: {len(dev)} questions, {len(oos)} out of scope")
        r.scoring = settings.retrieval.scoring(finetuned=finetuned)
        for mode in ("bm25", "dense", "hybrid"):
            res = [([h.key for h in r.search(q["query"], 10, kind="qa", mode=mode)], set(q["expected"])) for q in dev]
            print(f"  {mode:<6} {ranking(res).row()}")
        x, y = [], []
        for q in dev:
            f, key = features(r, q["query"])
            x.append(f)
            y.append(float(key in set(q["expected"])))
        for q in oos:
            x.append(features(r, q["query"])[0])
            y.append(0.0)
        xs, ys = np.array(x), np.array(y)
        for cols, label in (([0], "fused score alone"), ([0, 1, 2], "fused score + unknown words")):
            w = fit_logistic(xs[:, cols], ys)
            z = xs[:, cols] @ w[:-1] + w[-1]
            probs = 1 / (1 + np.exp(-z))
            print(f"\ncalibration on {label}: weights {np.round(w[:-1], 3).tolist()}, intercept {w[-1]:.3f}")
            for lo, hi in ((0, 0.2), (0.2, 0.4), (0.4, 0.6), (0.6, 0.8), (0.8, 1.01)):
                sel = (probs >= lo) & (probs < hi)
                if sel.any():
                    print(f"  confidence {lo:.1f}-{min(hi, 1):.1f}: {sel.sum():3d} queries, right {ys[sel].mean():.2f}")
            n_in = len(dev)
            for t in (0.1, 0.2, 0.3, 0.4, 0.5):
                print(
                    f"  clarify_threshold {t:.2f}: OOS caught {np.mean(probs[n_in:] < t):.3f}, "
                    f"in-scope lost {np.mean(probs[:n_in] < t):.3f}"
                )
        prefix = "calibration_" if finetuned else "calibration_base_"
        print("\nconfig.yml (retrieval):")
        for key, value in zip(("a", "rare", "unknown", "b"), w, strict=True):
            print(f"  {prefix}{key}: {value:.3f}")


if __name__ == "__main__":
    main()
