"""The retriever: one place where a query becomes ranked hits with a confidence, and a decision.

The bot's custom action, the direct chat path and the staff search all call this module, with
the same thresholds from config.yml. A hit on any field of a pair (its question, an alternate or
its answer) counts for the pair; the pair's score is its best field's cosine similarity.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from embeddings.encoder import SentenceEncoder
from embeddings.index import Entry, VectorIndex, load_or_build
from knowledge.passages import Passage
from knowledge.schema import QAPair


@dataclass(frozen=True)
class Thresholds:
    answer: float = 0.62
    clarify: float = 0.45
    margin: float = 0.03
    options: int = 3


@dataclass(frozen=True)
class Hit:
    key: str
    kind: str  # "qa" or "passage"
    score: float  # confidence in [0, 1]
    field: str  # the field that matched best
    pair: QAPair | None = None
    passage: Passage | None = None

    @property
    def title(self) -> str:
        return self.pair.question if self.pair else self.passage.title

    @property
    def tags(self) -> list[str]:
        return list(self.pair.tags) if self.pair else list(self.passage.tags)


@dataclass(frozen=True)
class Decision:
    """What to do with a visitor's question: answer the best pair, ask which one, or fall back."""

    kind: str  # "answer", "clarify" or "fallback"
    hits: list[Hit] = field(default_factory=list)  # for answer: [best]; for clarify: the candidates

    @property
    def best(self) -> Hit | None:
        return self.hits[0] if self.hits else None


def entries_for(pairs: list[QAPair], passages: list[Passage]) -> list[Entry]:
    entries: list[Entry] = []
    for p in sorted(pairs, key=lambda p: p.id):
        entries.append(Entry(p.id, "qa", "question", p.question))
        entries.extend(Entry(p.id, "qa", "alternate", a) for a in p.alternates)
        entries.append(Entry(p.id, "qa", "answer", p.answer))
    entries.extend(Entry(x.id, "passage", "passage", x.text) for x in sorted(passages, key=lambda x: x.id))
    return entries


class Snapshot:
    """An immutable view of what is served: the index and the items its entries point to."""

    def __init__(self, index: VectorIndex, pairs: dict[str, QAPair], passages: dict[str, Passage]):
        self.index = index
        self.pairs = pairs
        self.passages = passages
        entries = index.entries
        self._keys = np.array([e.key for e in entries], dtype=object)
        self._tag_ids: dict[str, np.ndarray] = {}
        self._kind_ids: dict[str, np.ndarray] = {
            kind: np.array([i for i, e in enumerate(entries) if e.kind == kind], dtype=np.int64) for kind in ("qa", "passage")
        }
        by_tag: dict[str, list[int]] = {}
        for i, e in enumerate(entries):
            item = pairs.get(e.key) if e.kind == "qa" else passages.get(e.key)
            for t in (item.tags if item else ()):
                by_tag.setdefault(t, []).append(i)
        self._tag_ids = {t: np.array(ids, dtype=np.int64) for t, ids in by_tag.items()}

    def ids_for(self, tag: str | None, kind: str | None) -> np.ndarray | None:
        if tag is None and kind is None:
            return None
        ids = self._tag_ids.get(tag, np.zeros(0, np.int64)) if tag is not None else None
        if kind is not None:
            kind_ids = self._kind_ids.get(kind, np.zeros(0, np.int64))
            ids = kind_ids if ids is None else np.intersect1d(ids, kind_ids)
        return ids


class Retriever:
    def __init__(self, encoder: SentenceEncoder, index_root: Path, thresholds: Thresholds):
        self.encoder = encoder
        self.index_root = index_root
        self.thresholds = thresholds
        self._snapshot: Snapshot | None = None
        self._swap_lock = threading.Lock()
        self.last_build_seconds: float | None = None

    # --- content --------------------------------------------------------------------------

    def load(self, pairs: list[QAPair], passages: list[Passage]) -> bool:
        """Serve these published pairs and passages; reuses the saved index when it matches.

        Returns True when the index had to be (re)built. The old snapshot serves until the new
        one is ready, and a failure leaves it serving.
        """
        published = [p for p in pairs if p.status == "published"]
        with self._swap_lock:
            start = time.perf_counter()
            index, built = load_or_build(self.index_root, entries_for(published, passages), self.encoder)
            if built:
                self.last_build_seconds = time.perf_counter() - start
            self._snapshot = Snapshot(index, {p.id: p for p in published}, {x.id: x for x in passages})
        return built

    @property
    def snapshot(self) -> Snapshot:
        if self._snapshot is None:
            raise RuntimeError("the retriever has no content loaded")
        return self._snapshot

    @property
    def ready(self) -> bool:
        return self._snapshot is not None

    # --- queries --------------------------------------------------------------------------

    def search(self, query: str, k: int = 5, tag: str | None = None, kind: str | None = None) -> list[Hit]:
        """The k best items for the query, best first, one hit per pair or passage."""
        if k <= 0:
            raise ValueError("k must be positive")
        snap = self.snapshot
        ids = snap.ids_for(tag, kind)
        if ids is not None and len(ids) == 0:
            return []
        vec = self.encoder.encode_query(query)
        # Several fields of one pair can crowd the top: fetch enough rows for k distinct items.
        n = min(len(snap.index), max(64, k * 16))
        scores, rows = snap.index.search(vec, n, ids)
        best: dict[str, tuple[float, int]] = {}
        for score, row in zip(scores[0], rows[0]):
            if row < 0:
                continue
            key = snap._keys[row]
            if key not in best or score > best[key][0]:
                best[key] = (float(score), int(row))
        ranked = sorted(best.items(), key=lambda kv: kv[1][0], reverse=True)[:k]
        hits = []
        for key, (score, row) in ranked:
            entry = snap.index.entries[row]
            conf = min(1.0, max(0.0, score))
            if entry.kind == "qa":
                hits.append(Hit(key, "qa", conf, entry.field, pair=snap.pairs[key]))
            else:
                hits.append(Hit(key, "passage", conf, entry.field, passage=snap.passages[key]))
        return hits

    def decide(self, query: str) -> Decision:
        """Answer, clarify or fall back, by the thresholds in config.yml."""
        t = self.thresholds
        hits = self.search(query, k=max(t.options, 2), kind="qa")
        if not hits or hits[0].score < t.clarify:
            return Decision("fallback", [])
        top = hits[0]
        close = len(hits) > 1 and top.score - hits[1].score < t.margin
        if top.score >= t.answer and not close:
            return Decision("answer", [top])
        candidates = [h for h in hits if h.score >= t.clarify][: t.options]
        return Decision("clarify", candidates)

    def pair(self, pair_id: str) -> QAPair | None:
        return self.snapshot.pairs.get(pair_id)
