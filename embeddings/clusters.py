"""Visitors' questions grouped by meaning, and new messages matched to the groups editors marked out of scope.

What the quality loop (api/quality.py) asks of the retrieval layer:

- `locate(retriever, questions)`: each question as the served retriever sees it: the served encoder's
  vector, and the citable pairs it reaches with their confidence (its top five hits).
- `group(located, similarity)`: clusters. Each question is represented by its vector joined with where
  the collection would send it (a profile over its top hits, weighted by exp((fused - best) / 0.05)),
  the profile weighted by 1.5 times the confidence of the question's best hit, and the joint vectors are
  clustered by average-linkage agglomerative clustering (scikit-learn) at a cosine distance of
  1 - similarity. The algorithm has no randomness and the questions come in a fixed order (the
  caller's: by id), so the same questions always give the same clusters. Why joint: the fine-tuned
  encoder pulls each alternate towards its pair's question, not towards the other ways of asking it, so
  raw question-to-question similarity separates paraphrases of one pair from other questions poorly
  (dev split: adjusted Rand index 0.14 against the labelled pairs); with a fixed profile weight 0.50,
  weighted by the confidence 0.58 (held-out 0.64), with the weight, the temperature and the default
  similarity (0.6) chosen on the dev split (out-of-scope questions included, each its own label).
- `nearest(located)`: the pair a cluster's questions reach best (mean confidence over the cluster) and how
  many reach it first.
- `ScopeMatcher`: the questions of the clusters marked out of scope, encoded once; a message at least
  `threshold` similar (cosine) to one of them matches its mark.

scikit-learn is imported inside `group`, so the serving process loads it only when an editor asks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from embeddings.encoder import QueryEncoder
    from embeddings.retriever import Retriever

# How many of a question's hits make its profile, how sharply the best dominates it, and its weight
# beside the vector, times the best hit's confidence (chosen on the dev split, see the module's docstring).
PROFILE_HITS = 5
PROFILE_TEMPERATURE = 0.05
PROFILE_WEIGHT = 1.5


@dataclass(frozen=True)
class Located:
    """A question as the retriever sees it."""

    vector: np.ndarray  # the served encoder's, normalised
    hits: tuple[tuple[str, float, float], ...]  # (pair id, confidence, fused score), best first


def locate(retriever: Retriever, questions: list[str], k: int = PROFILE_HITS) -> list[Located]:
    """Each question's vector (one batch) and its top citable pairs (the retriever's search, as a visitor's)."""
    if not questions:
        return []
    vectors = np.asarray(retriever.encoder.encode(questions), np.float32)
    out = []
    for question, vector in zip(questions, vectors, strict=True):
        hits = retriever.search(question, k, kind="citable") if question.strip() else []
        out.append(Located(vector, tuple((h.key, float(h.score), float(h.fused)) for h in hits)))
    return out


def joint_vectors(located: list[Located]) -> np.ndarray:
    """Each question's vector joined with its profile over the pairs it reaches, normalised."""
    keys = sorted({key for item in located for key, _, _ in item.hits})
    column = {key: i for i, key in enumerate(keys)}
    profiles = np.zeros((len(located), len(keys)), np.float32)
    weights = np.zeros((len(located), 1), np.float32)
    for row, item in enumerate(located):
        if item.hits:
            best = max(f for _, _, f in item.hits)
            for key, _, fused in item.hits:
                profiles[row, column[key]] = np.exp((fused - best) / PROFILE_TEMPERATURE)
            # Where the retriever is unsure (a question the collection does not answer), where it would send
            # the question says little: its meaning alone groups it.
            weights[row] = PROFILE_WEIGHT * item.hits[0][1]
    norms = np.linalg.norm(profiles, axis=1, keepdims=True)
    profiles /= np.where(norms > 0, norms, 1.0)
    vectors = np.vstack([item.vector for item in located]).astype(np.float32)
    joint = np.hstack([vectors, weights * profiles])
    return joint / np.maximum(np.linalg.norm(joint, axis=1, keepdims=True), 1e-12)


def group(located: list[Located], similarity: float) -> list[list[int]]:
    """Clusters of the questions (indexes into `located`), largest first (then by first index), each
    ordered from its most central question (highest mean similarity to the others) outwards."""
    if not 0 < similarity < 1:
        raise ValueError("similarity must be between 0 and 1")
    n = len(located)
    if n == 0:
        return []
    joint = joint_vectors(located)
    if n == 1:
        labels = np.zeros(1, np.int64)
    else:
        from sklearn.cluster import AgglomerativeClustering

        model = AgglomerativeClustering(
            n_clusters=None, metric="cosine", linkage="average", distance_threshold=1.0 - similarity
        )
        labels = model.fit_predict(joint)
    clusters: dict[int, list[int]] = {}
    for i, label in enumerate(labels.tolist()):
        clusters.setdefault(label, []).append(i)
    out = []
    for members in clusters.values():
        if len(members) > 2:
            sims = joint[members] @ joint[members].T
            centrality = (sims.sum(axis=1) - 1.0) / (len(members) - 1)
            members = [members[j] for j in np.argsort(-centrality, kind="stable")]
        out.append(members)
    out.sort(key=lambda m: (-len(m), min(m)))
    return out


@dataclass(frozen=True)
class Nearest:
    pair_id: str
    score: float  # the pair's confidence averaged over the questions (0 where it is not among a question's hits)
    first: int  # how many of the questions reach it first


def nearest(located: list[Located]) -> Nearest | None:
    """The pair the questions reach best together, or None when they reach none."""
    if not located:
        return None
    total: dict[str, float] = {}
    first: dict[str, int] = {}
    for item in located:
        for key, confidence, _ in item.hits:
            total[key] = total.get(key, 0.0) + confidence
        if item.hits:
            first[item.hits[0][0]] = first.get(item.hits[0][0], 0) + 1
    if not total:
        return None
    best = min(total, key=lambda k: (-total[k], -first.get(k, 0), k))
    return Nearest(best, round(total[best] / len(located), 4), first.get(best, 0))


@dataclass(frozen=True)
class ScopeMatch:
    mark_id: int
    reason: str
    similarity: float
    question: str  # the marked question the message is nearest to


class ScopeMatcher:
    """The questions of the clusters marked out of scope, encoded once by the served encoder."""

    def __init__(self, encoder: QueryEncoder, marks: list[tuple[int, str, list[str]]], threshold: float):
        """`marks`: (mark id, reason, questions) each. `threshold`: cosine similarity to a marked question
        at or above which a message matches the mark."""
        if not 0 < threshold <= 1:
            raise ValueError("threshold must be in (0, 1]")
        self.model_id = encoder.model_id
        self.threshold = threshold
        self.marks = {mark_id: reason for mark_id, reason, _ in marks}
        self.questions = [q for _, _, questions in marks for q in questions]
        self.owner = np.array([mark_id for mark_id, _, questions in marks for _ in questions], np.int64)
        dim = encoder.dimension
        self.vectors = (
            np.asarray(encoder.encode(self.questions), np.float32) if self.questions else np.zeros((0, dim), np.float32)
        )

    def __len__(self) -> int:
        return len(self.marks)

    def match(self, text: str, encoder: QueryEncoder) -> ScopeMatch | None:
        """The mark this message matches, or None (also when `encoder`, the one serving now, is not the one
        the marks were encoded with: a new encoder is being swapped in and the marks are encoded again)."""
        if not len(self.vectors) or encoder.model_id != self.model_id or not text.strip():
            return None
        return self._best(np.asarray(encoder.encode_query(text), np.float32).ravel())

    def matches(self, texts: list[str], encoder: QueryEncoder) -> list[ScopeMatch | None]:
        """match() for many texts at once (one batch)."""
        if not len(self.vectors) or encoder.model_id != self.model_id or not texts:
            return [None] * len(texts)
        vectors = np.asarray(encoder.encode(texts), np.float32)
        return [self._best(v) for v in vectors]

    def _best(self, vector: np.ndarray) -> ScopeMatch | None:
        sims = self.vectors @ vector
        i = int(np.argmax(sims))
        if float(sims[i]) < self.threshold:
            return None
        mark_id = int(self.owner[i])
        return ScopeMatch(mark_id, self.marks[mark_id], round(float(sims[i]), 4), self.questions[i])
