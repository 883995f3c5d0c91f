"""Lexical retrieval: BM25 over each item's question, alternates and answer, or a passage.

Dense retrieval misses rare exact words (drug and trial names, "IPG640", "azygos") and BM25 misses
paraphrases; the retriever combines both. Words are lower-cased, English stop words dropped and
stemmed (Snowball), the same way for documents and queries.

The statistics are kept per term (which documents hold it and how often, and each document's
length) instead of as a matrix of precomputed scores, so that publishing one pair changes that
pair's terms only; a query's few terms are scored at query time. The scores are those of bm25s
(Lucene variant, k1=1.2, b=0.75, float32), which built this index before, to the last bit
(tests/unit/test_lexical.py compares the two). Measured at 10,000 pairs: rebuilding bm25s from
already-stemmed documents would take 0.2 s per publish (20 ms at 1,000); updating these statistics
takes about 2 ms (1 ms), and a query costs the same as before. For queries, each index keeps the
length part of every document's denominator and the scores of the terms asked recently (bounded by
TERM_CACHE_ENTRIES), so a frequent word is not scored again over its postings at every question.
"""

from __future__ import annotations

import math
import re
import threading
from collections import Counter, OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

_TOKEN = re.compile(r"[a-z0-9]+")
# bm25s.stopwords.STOPWORDS_EN (a test checks they stay equal), here so that importing this module loads nothing.
STOP_WORDS = frozenset(
    {
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "but",
        "by",
        "for",
        "if",
        "in",
        "into",
        "is",
        "it",
        "no",
        "not",
        "of",
        "on",
        "or",
        "such",
        "that",
        "the",
        "their",
        "then",
        "there",
        "these",
        "they",
        "this",
        "to",
        "was",
        "will",
        "with",
    }
)
K1 = 1.2
B = 0.75
# The one token of a document that has none: it counts in the document's length, as it did in bm25s.
EMPTY = "_empty_"


@lru_cache(maxsize=1)
def _stemmer():
    import Stemmer

    return Stemmer.Stemmer("english")


def tokens(text: str) -> list[str]:
    words = [w for w in _TOKEN.findall(text.lower()) if w not in STOP_WORDS and (len(w) > 1 or w.isdigit())]
    return _stemmer().stemWords(words)


@lru_cache(maxsize=4096)
def _query_tokens(text: str) -> tuple[str, ...]:
    """A query's tokens; a question is often asked again (and decide() reads the query search read)."""
    return tuple(tokens(text))


# Per index, the BM25 scores of this many of its postings' entries are kept for the next query with the
# same words (12 bytes each): a frequent word in a large collection need not be scored again.
TERM_CACHE_ENTRIES = 1_000_000


@dataclass(frozen=True, eq=False)
class Subset:
    """Some of the documents, scored as a collection of their own (its own N, average length and df).
    Equal only to itself (the index keeps scores per subset)."""

    member: np.ndarray  # bool per slot
    count: int
    length: int  # the members' total length


class LexicalIndex:
    """BM25 over one document per item (by key); scores for every item at once.

    Immutable: `updated` returns a new index and leaves this one serving. Each document has a slot
    that it keeps while it exists, so a changed document does not move the others.
    """

    def __init__(self, keys: list[str], documents: list[str]):
        self._slot: dict[str, int] = {}
        self._terms: dict[str, Counter[str]] = {}
        self._postings: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._length = np.zeros(0, np.int64)
        self.count = 0
        self.total_length = 0
        self._add(dict(zip(keys, documents, strict=True)), self._postings)
        self._clear_caches()

    def _clear_caches(self) -> None:
        # Computed for queries, from this (immutable) index: each document's length part of the BM25
        # denominator per collection scored (the whole, or a Subset), and terms' scores.
        self._lock = threading.Lock()
        self._norms: dict[Subset | None, np.ndarray] = {}
        self._scored: OrderedDict[tuple[str, Subset | None], tuple[np.ndarray, np.ndarray] | None] = OrderedDict()
        self._scored_entries = 0

    @property
    def keys(self) -> list[str]:
        return list(self._slot)

    def slots(self, keys: list[str]) -> np.ndarray:
        """The slot of each key, to arrange scores (which come per slot) in the caller's order."""
        return np.fromiter((self._slot[k] for k in keys), np.int64, len(keys))

    def updated(self, removed: Iterable[str], documents: dict[str, str]) -> LexicalIndex:
        """A new index without the `removed` keys and with `documents` added or replacing their old text."""
        new = object.__new__(LexicalIndex)
        new._slot = dict(self._slot)
        new._terms = dict(self._terms)
        new._length = self._length.copy()
        new.count, new.total_length = self.count, self.total_length
        gone: dict[str, list[int]] = {}
        for key in [*removed, *(k for k in documents if k in self._slot)]:
            slot = new._slot[key]
            for term in new._terms.pop(key):
                gone.setdefault(term, []).append(slot)
            new.count -= 1
            new.total_length -= int(new._length[slot])
            new._length[slot] = 0
            if key not in documents:
                del new._slot[key]
        postings = dict(self._postings)
        for term, slots in gone.items():
            held, tf = postings[term]
            keep = ~np.isin(held, slots)
            if keep.any():
                postings[term] = (held[keep], tf[keep])
            else:
                del postings[term]
        new._postings = postings
        new._add(documents, postings)
        new._clear_caches()
        return new

    def _add(self, documents: dict[str, str], postings: dict[str, tuple[np.ndarray, np.ndarray]]) -> None:
        fresh = [k for k in documents if k not in self._slot]
        start = len(self._length)
        for i, key in enumerate(fresh):
            self._slot[key] = start + i
        if fresh:
            self._length = np.concatenate([self._length, np.zeros(len(fresh), np.int64)])
        added: dict[str, tuple[list[int], list[int]]] = {}
        for key, text in documents.items():
            slot = self._slot[key]
            counts = Counter(tokens(text) or [EMPTY])
            self._terms[key] = counts
            size = sum(counts.values())
            self._length[slot] = size
            self.count += 1
            self.total_length += size
            for term, n in counts.items():
                s, f = added.setdefault(term, ([], []))
                s.append(slot)
                f.append(n)
        for term, (s, f) in added.items():
            slots, tf = np.asarray(s, np.int64), np.asarray(f, np.float32)
            if term in postings:
                held, held_tf = postings[term]
                slots, tf = np.concatenate([held, slots]), np.concatenate([held_tf, tf])
            postings[term] = (slots, tf)

    def subset(self, keys: list[str]) -> Subset:
        return self.subset_of(self.slots(keys))

    def subset_of(self, slots: np.ndarray) -> Subset:
        """The documents in these slots (each once), as a collection of their own."""
        member = np.zeros(len(self._length), bool)
        member[slots] = True
        return Subset(member, len(slots), int(self._length[slots].sum()))

    def scores(self, query: str, per_term: bool = False, subset: Subset | None = None) -> np.ndarray:
        """BM25 of every document, by slot (0 outside `subset`); with per_term, divided by the number
        of the query's words, so that a long message full of words that match nothing in particular
        does not outweigh a short one."""
        out = np.zeros(len(self._length), np.float32)
        words = _query_tokens(query)
        count = self.count if subset is None else subset.count
        if not words or not count:
            return out
        # Exactly bm25s' arithmetic: idf and tf parts in float64, each term's score stored as float32,
        # summed in float32 in the query's word order (a repeated word counts again).
        for word in words:
            hit = self._term_scores(word, subset)
            if hit is not None:
                out[hit[0]] += hit[1]
        return out / len(words) if per_term else out

    def _term_scores(self, term: str, subset: Subset | None) -> tuple[np.ndarray, np.ndarray] | None:
        """(slots, scores) of the documents holding the term; None when none does. Kept for the next
        query (up to TERM_CACHE_ENTRIES entries per index, the least recently used dropped first)."""
        key = (term, subset)
        with self._lock:
            if key in self._scored:
                self._scored.move_to_end(key)
                return self._scored[key]
        posting = self._postings.get(term)
        hit = None
        if posting is not None:
            slots, tf = posting
            if subset is not None:
                inside = subset.member[slots]
                slots, tf = slots[inside], tf[inside]
            if len(slots):
                count = self.count if subset is None else subset.count
                df = len(slots)
                idf = np.float32(math.log(1 + (count - df + 0.5) / (df + 0.5)))
                tfc = tf / (self._norm(subset)[slots] + tf)
                hit = slots, (idf * tfc).astype(np.float32)
        with self._lock:
            if key not in self._scored:
                self._scored[key] = hit
                self._scored_entries += 1 if hit is None else len(hit[0])
                while self._scored_entries > TERM_CACHE_ENTRIES and len(self._scored) > 1:
                    _, dropped = self._scored.popitem(last=False)
                    self._scored_entries -= 1 if dropped is None else len(dropped[0])
        return hit

    def _norm(self, subset: Subset | None) -> np.ndarray:
        """K1 * ((1 - B) + B * length / mean length) per slot (float64), for the whole or a subset."""
        with self._lock:
            norm = self._norms.get(subset)
        if norm is not None:
            return norm
        count, length = (self.count, self.total_length) if subset is None else (subset.count, subset.length)
        norm = K1 * ((1 - B) + B * self._length / (length / count))
        with self._lock:
            if len(self._norms) >= 16:  # subsets of snapshots no longer served
                self._norms.clear()
            self._norms[subset] = norm
        return norm
