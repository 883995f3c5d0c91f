"""Fine-tunes the encoder on the knowledge base's own questions and alternates, on CPU.

Each alternate wording of a pair is trained towards the pair's question with sentence-transformers'
MultipleNegativesRankingLoss: the other questions in the batch are the negatives, plus one hard
negative per example (see training_examples), and no batch holds two examples of one pair, so a
pair is never its own negative. Nothing else is trained on:
the dev set and the third-party benchmarks are only ever used to measure (`make eval`).

Measured (`make eval`, see the closing note of issue 4): R@1 on the held-out questions and on the
public COVID FAQ set goes up by 8-13 points; on the multi-topic consumer-health set (rqe) it goes
down by about 5, because every negative in training is about CCSVI, so the model learns to tell
question *intents* apart more than *topics*. `encoder.finetune: false` in config.yml turns it off.

The model is written beside its final place and moved in whole, then `CURRENT` is repointed, so a
crash mid-training leaves the previous model (or none) in use, never half a model.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import random
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

from embeddings.encoder import configure_runtime
from embeddings.query import STOP_WORDS, replace_words, words, zipf
from knowledge.atomic import build_beside, locked, read_pointer, write_pointer
from knowledge.schema import QAPair

log = logging.getLogger("faqbot")

CURRENT = "CURRENT"
INFO = "finetune.json"


@dataclass(frozen=True)
class Recipe:
    """How the model is trained. Chosen on the dev split (tests/eval), never on the held-out part."""

    epochs: int = 2
    batch_size: int = 32
    learning_rate: float = 2e-5
    warmup: float = 0.1
    seed: int = 42
    # Topic swaps: see training_examples. Words at or above this English frequency (Zipf) are kept.
    topic_swap: bool = True
    swap_max_zipf: float = 4.5


@dataclass(frozen=True)
class Example:
    anchor: str  # how a visitor might ask
    positive: str  # the pair's question
    negative: str  # a question that must not match: the same question about another topic, or another pair's
    group: str  # the pair id: one example of a pair per batch


@lru_cache(maxsize=1)
def _swap_words() -> list[str]:
    """Ordinary English words to stand in for a topic."""
    from wordfreq import top_n_list

    words = [w for w in top_n_list("en", 40000) if w.isalpha() and len(w) >= 5 and 2.5 <= zipf(w) <= 4.5]
    return sorted(words)


def training_examples(pairs: list[QAPair], recipe: Recipe = Recipe()) -> list[Example]:
    """(alternate -> question) for every published pair, in a fixed order so the same content trains the same model.

    Every question in our knowledge base is about CCSVI, so plain training teaches the model to tell
    question *intents* apart ("is it safe?" from "does it work?") and to care less about the *topic*,
    which other collections need. Topic swaps keep the topic in play: the specific words an alternate
    shares with its question ("liberation", "procedure", "zamboni") are replaced, in both, by the same
    ordinary English word, giving a second example ("is the harbour safe?" -> "What are the risks of
    the harbour?"), and each example's hard negative is the same question about the other topic.
    Measured on the dev split: hybrid MRR 0.872 -> 0.896 against plain training.
    """
    rng = random.Random(recipe.seed)
    pool = _swap_words() if recipe.topic_swap else []
    published = [p for p in sorted(pairs, key=lambda p: p.id) if p.status == "published"]
    questions = [p.question.strip() for p in published]
    out: list[Example] = []
    for p in published:
        question = p.question.strip()
        others = [q for q in questions if q != question] or [question]
        for alt in (a.strip() for a in p.alternates):
            if not alt or alt.lower() == question.lower():
                continue
            shared = sorted((set(words(alt)) & set(words(question))) - STOP_WORDS)
            shared = [w for w in shared if zipf(w) < recipe.swap_max_zipf]
            if not pool or not shared:
                out.append(Example(alt, question, rng.choice(others), p.id))
                continue
            stand_in = {w: rng.choice(pool) for w in shared}
            other_topic = replace_words(question, stand_in)
            out.append(Example(alt, question, other_topic, p.id))
            out.append(Example(replace_words(alt, stand_in), other_topic, question, f"{p.id}#swap"))
    return out


def batches(groups: list[str], batch_size: int, seed: int) -> list[list[int]]:
    """Shuffled batches of example positions with at most one example of each group per batch."""
    rng = random.Random(seed)
    remaining = list(range(len(groups)))
    rng.shuffle(remaining)
    out: list[list[int]] = []
    while remaining:
        batch: list[int] = []
        seen: set[str] = set()
        rest: list[int] = []
        for i in remaining:
            if len(batch) < batch_size and groups[i] not in seen:
                batch.append(i)
                seen.add(groups[i])
            else:
                rest.append(i)
        remaining = rest
        out.append(batch)
    return out


def digest(base_model_id: str, examples: list[Example], recipe: Recipe) -> str:
    """Names a model by what it was made from: the same base, content and recipe give the same name."""
    h = hashlib.sha256(base_model_id.encode())
    h.update(json.dumps(asdict(recipe), sort_keys=True).encode())
    for e in examples:
        h.update(f"{e.group}\x00{e.anchor}\x00{e.positive}\x00{e.negative}\x01".encode())
    return h.hexdigest()[:12]


def current(root: Path, base_model_id: str) -> Path | None:
    """The fine-tuned model in use, if there is one made from this base model."""
    name = read_pointer(root, CURRENT)
    if name is None:
        return None
    target = root / name
    try:
        info = json.loads((target / INFO).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return target if info.get("base_model_id") == base_model_id else None


def is_finetuned(model_path: Path) -> bool:
    """Whether this model folder was made here by fine-tuning (its confidence is fitted apart)."""
    return (Path(model_path) / INFO).exists()


def finetune(
    base_path: Path,
    base_model_id: str,
    pairs: list[QAPair],
    root: Path,
    recipe: Recipe = Recipe(),
    progress: Callable[[int, int], None] | None = None,
    make_current: bool = True,
) -> Path:
    """Train on these pairs (or reuse the model already trained on exactly them) and make it current.

    `progress(step, steps)` is called after each training step. Without `make_current` the model is
    only written (a retrain makes it current once it serves, embeddings/retraining.py).
    """
    examples = training_examples(pairs, recipe)
    if len({e.group for e in examples}) < 2:
        raise ValueError("fine-tuning needs at least two published pairs with alternates")
    name = f"finetuned-{digest(base_model_id, examples, recipe)}"
    target = root / name
    with locked(root):
        if not (target / INFO).exists():
            _train(base_path, base_model_id, examples, recipe, target, progress)
        if make_current:
            _promote(root, target)
    return target


def promote(root: Path, target: Path) -> None:
    """Point CURRENT at this fine-tuned model (complete on disk), so that the next start uses it."""
    with locked(root):
        _promote(root, target)


def _promote(root: Path, target: Path) -> None:
    if not (target / INFO).exists():
        raise FileNotFoundError(f"no fine-tuned model in {target}")
    previous = read_pointer(root, CURRENT)
    write_pointer(root, target.name, CURRENT)
    # Keep the new model and the one before it (a service still starting may be loading it).
    for old in root.glob("finetuned-*"):
        if old.name not in (target.name, previous):
            shutil.rmtree(old, ignore_errors=True)


def train_step(model, loss, optimiser, schedule) -> float:
    """One training step: back-propagate, clip the gradients to norm 1, step the optimiser and the
    learning-rate schedule; the loss as a float."""
    import torch

    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimiser.step()
    schedule.step()
    optimiser.zero_grad()
    return float(loss.item())


def _train(
    base_path: Path,
    base_model_id: str,
    examples: list[Example],
    recipe: Recipe,
    target: Path,
    progress: Callable[[int, int], None] | None = None,
) -> None:
    import numpy as np

    configure_runtime()
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

    started = time.time()
    random.seed(recipe.seed)
    np.random.seed(recipe.seed)
    torch.manual_seed(recipe.seed)
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    model = SentenceTransformer(str(base_path), device="cpu")
    loss_fn = MultipleNegativesRankingLoss(model)
    groups = [e.group for e in examples]
    n_pairs = len({g.split("#")[0] for g in groups})
    plan = [b for epoch in range(recipe.epochs) for b in batches(groups, recipe.batch_size, recipe.seed + epoch)]
    warm = max(1, int(recipe.warmup * len(plan)))
    optimiser = torch.optim.AdamW(model.parameters(), lr=recipe.learning_rate, weight_decay=0.0)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda s: (s + 1) / warm if s < warm else max(0.0, (len(plan) - s) / max(1, len(plan) - warm))
    )
    log.info("fine-tuning the encoder: %d examples from %d pairs, %d steps", len(examples), n_pairs, len(plan))
    model.train()
    losses = []
    for batch in plan:
        features = [
            model.preprocess([examples[i].anchor for i in batch]),
            model.preprocess([examples[i].positive for i in batch]),
            model.preprocess([examples[i].negative for i in batch]),
        ]
        losses.append(train_step(model, loss_fn(features, None), optimiser, schedule))
        if progress is not None:
            progress(len(losses), len(plan))
    model.eval()
    if not all(math.isfinite(x) for x in losses):
        raise RuntimeError("fine-tuning diverged (the loss is not finite); the base model stays in use")
    info = {
        "base_model_id": base_model_id,
        "base": str(base_path),
        "examples": len(examples),
        "pairs": n_pairs,
        "steps": len(plan),
        "recipe": asdict(recipe),
        "loss_first": round(losses[0], 4),
        "loss_last": round(losses[-1], 4),
        "seconds": round(time.time() - started, 1),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    with build_beside(target) as tmp:
        model.save_pretrained(str(tmp))
        (tmp / INFO).write_text(json.dumps(info, indent=2), encoding="utf-8")
    log.info(
        "fine-tuned encoder saved to %s in %.1f s (loss %.3f -> %.3f)", target, info["seconds"], losses[0], losses[-1]
    )
