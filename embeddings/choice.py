"""Which encoder serves a collection best, by a check on the collection's own question/alternate pairs.

The check (leave one out): every alternate of every pair is searched against all the collection's
other texts (each pair's question and alternates, the alternate itself left out); it passes when
the best of them belongs to its own pair. R@1 of that search, per encoder, says which encoder tells
the collection's pairs apart better.

Read the fine-tuned encoder's figure with care: it was trained on the shipped pairs' alternates, so
on the shipped content its check is in-sample and flatters it (on the held-out questions it is still
the better one: R@1 0.89 against 0.75). On a collection it was not trained on the check is fair.

A collection with fewer than `min_alternates` alternates (an imported third-party FAQ has none)
cannot be checked and gets `unchecked`. Measured with `make eval` on the two public sets, neither of
which has alternates: the fine-tuned encoder serves covidfaq better (R@1 0.622 against 0.540, 1,387
questions) and the packaged one rqe (0.814 against 0.775, 129 questions), so no single default is
right for both; the default follows the larger set and the issue's unseen set (fine-tuned).

The retriever uses the choice (retrieval.encoder_per_collection): a search naming a collection's tag
reads, when its check chose the base model, an index of the collection made with that model
(embeddings/retriever.py `_view`); searches over everything read the served index.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from embeddings.encoder import Encoder, encode_stored
from knowledge.schema import QAPair

ENCODERS = ("finetuned", "packaged")
MIN_ALTERNATES = 30


@dataclass(frozen=True)
class Check:
    """How well an encoder tells a collection's pairs apart: R@1 and MRR of its alternates, left out one at a time."""

    pairs: int
    alternates: int
    r1: float
    mrr: float


@dataclass(frozen=True)
class Choice:
    encoder: str  # "finetuned" or "packaged"
    reason: str
    checks: dict[str, Check]


def check(pairs: list[QAPair], encoder: Encoder) -> Check:
    """The leave-one-out check of these pairs (one collection) with this encoder."""
    texts: list[str] = []
    owner: list[int] = []
    is_alternate: list[bool] = []
    for i, p in enumerate(pairs):
        for j, text in enumerate([p.question, *p.alternates]):
            texts.append(text)
            owner.append(i)
            is_alternate.append(j > 0)
    queries = np.flatnonzero(is_alternate)
    if not len(queries):
        return Check(len(pairs), 0, 0.0, 0.0)
    vectors = encode_stored(encoder, texts)
    owners = np.asarray(owner)
    sims = vectors[queries] @ vectors.T
    sims[np.arange(len(queries)), queries] = -np.inf  # the alternate itself
    # Per query, each pair's best text; then where its own pair ranks among the pairs.
    best = np.full((len(queries), len(pairs)), -np.inf, np.float32)
    np.maximum.at(best.T, owners, sims.T)
    own = best[np.arange(len(queries)), owners[queries]]
    rank = (best >= own[:, None]).sum(axis=1) - 1  # a tie with another pair counts against
    return Check(len(pairs), len(queries), float(np.mean(rank == 0)), float(np.mean(1.0 / (rank + 1))))


def choose(
    pairs: list[QAPair],
    encoders: Mapping[str, Encoder],
    min_alternates: int = MIN_ALTERNATES,
    unchecked: str = "finetuned",
) -> Choice:
    """The encoder (a key of `encoders`: "finetuned", "packaged") that serves this collection best.

    With at least `min_alternates` alternates: the one with the higher check R@1 (then MRR; a tie goes
    to the packaged one, whose figure is never in-sample). Otherwise `unchecked`, or the only encoder given.
    """
    checks = {name: check(pairs, e) for name, e in encoders.items()}
    n = max((c.alternates for c in checks.values()), default=0)
    if len(checks) == 1:
        return Choice(next(iter(checks)), "the only encoder", checks)
    if n < min_alternates:
        return Choice(unchecked, f"{n} alternates, fewer than {min_alternates}: not checked", checks)
    ranked = sorted(checks, key=lambda k: (checks[k].r1, checks[k].mrr, k == "packaged"), reverse=True)
    best = ranked[0]
    return Choice(best, f"check R@1 {checks[best].r1:.3f} against {checks[ranked[1]].r1:.3f}", checks)
