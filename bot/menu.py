"""Short and vague messages ("help", "hi can you", "?", "info"): the menu instead of a guess.

Why: the retriever always has a nearest pair, and for a message that names no topic that pair is
arbitrary: "help" was once answered from an unrelated pair of an imported collection. A visitor who
types one vague word wants to know what they can ask, so they get a short menu: what the bot answers,
a few example questions from the published content, and the helpline.

The rule is general, not a list of phrasings. A message is vague when
- it has at most `vague_max_words` content words (words that are not function words), and
- none of them is a word the collection is *about*: a word it uses far more often than English does
  (at least ten times: "ccsvi", "venoplasty", "ms", "relapse"; not "help", "info", "question"), after
  the retriever's typo mending, and
- none of them is rare in English (a name: "baclofen", "scleroderma"): a question about something
  the collection does not cover gets the polite decline, which says so, not the menu; and
- the retriever would not answer it from a pair whose own question has those words. The retriever
  does answer "info", "why" or "help me" outright, from whichever pair is nearest, and that pair
  is arbitrary; "safe?" and "risks" are answered as before (their words are topical).
A greeting is still a greeting (Rasa's smalltalk intent answers it before this is asked), and a
crisis is still a crisis: the safety check sees every message first.

The example questions are the most central published pairs that visitors may be answered from
(nearest the centre of all their questions' vectors), picked so that no two are near-duplicates;
computed once per served snapshot.
"""

from __future__ import annotations

import math
import threading

import numpy as np

from embeddings.query import RARE_ZIPF, STOP_WORDS, Vocabulary, words, zipf
from embeddings.retriever import Decision, Retriever

# A word is what the collection is about when it is this many times (log10) commoner in the
# collection than in English: 1.0 = ten times.
TOPICAL_KEYNESS = 1.0
# Example questions closer to one already chosen than this (cosine) are skipped as near-duplicates.
DUPLICATE_SIMILARITY = 0.75


def content_words(text: str) -> list[str]:
    """The words of a text that are not function words (single letters dropped)."""
    return [w for w in words(text) if w not in STOP_WORDS and len(w) >= 2]


def is_topical(word: str, vocabulary: Vocabulary, total: int) -> bool:
    """Whether the collection is about this word: it uses it, and far more often than English does."""
    count = vocabulary.counts.get(word, 0)
    if count <= 0 or total <= 0:
        return False
    collection_zipf = math.log10(count / total * 1e9)  # the Zipf scale: per billion words
    return collection_zipf - zipf(word) >= TOPICAL_KEYNESS


def is_vague(message: str, retriever: Retriever, max_words: int, decision: Decision | None = None) -> bool:
    """A message that names nothing, or nothing the collection is about, in a few words (module
    docstring). `decision`: the retriever's on this message, when the caller has it."""
    analysis = retriever.analyse(message)
    content = content_words(analysis.text)
    if len(content) > max_words:
        return False
    vocabulary = retriever.snapshot.vocabulary
    total = sum(vocabulary.counts.values())
    if any(is_topical(w, vocabulary, total) or zipf(w) < RARE_ZIPF for w in content):
        return False
    best = decision.best if decision is not None and decision.kind == "answer" else None
    if content and best is not None and best.pair is not None:
        return not set(content) <= set(words(best.pair.question))
    return True


class ExampleQuestions:
    """The most central citable pairs of the served snapshot, cached until the snapshot changes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._snapshot: object = None
        self._ids: list[str] = []

    def pick(self, retriever: Retriever, n: int) -> list[str]:
        snapshot = retriever.snapshot
        with self._lock:
            if self._snapshot is snapshot and len(self._ids) >= n:
                return self._ids[:n]
        ids = central_pairs(retriever, n)
        with self._lock:
            self._snapshot, self._ids = snapshot, ids
        return ids


def central_pairs(retriever: Retriever, n: int) -> list[str]:
    """Ids of up to n citable pairs nearest the centre of all citable questions, no two near-duplicates."""
    snapshot = retriever.snapshot
    index = snapshot.index
    alive = index.alive()
    rows = np.flatnonzero(alive) if alive is not None else np.arange(index.rows)
    keep, keys = [], []
    for row in rows:
        entry = index.entry(int(row))
        pair = snapshot.pairs.get(entry.key)
        if entry.field == "question" and pair is not None and pair.citable:
            keep.append(int(row))
            keys.append(entry.key)
    if not keep:
        return []
    vectors = index.vectors(np.asarray(keep, np.int64)).astype(np.float64)
    centre = vectors.mean(axis=0)
    centre /= np.linalg.norm(centre) or 1.0
    order = np.argsort(-(vectors @ centre), kind="stable")
    chosen: list[int] = []
    for i in order:
        if all(float(vectors[i] @ vectors[j]) < DUPLICATE_SIMILARITY for j in chosen):
            chosen.append(int(i))
        if len(chosen) == n:
            break
    return [keys[i] for i in chosen]
