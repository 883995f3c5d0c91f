"""The retriever: one place where a query becomes ranked hits with a confidence, and a decision.

The bot's custom action, the direct chat path and the staff search all call this module, with the
same settings from config.yml.

First the query's typos are mended against the searched collection's own words (embeddings/query.py).

How an item (a Q&A pair or an article passage) is scored for a query:
- dense: cosine similarity (FAISS, inner product on normalised vectors) of the query with each of
  the item's texts: the best of a pair's question and alternates (or the passage), plus
  answer_weight times the similarity with the pair's answer (0 by default). The encoder is the one fine-tuned on the knowledge base's alternates when present
  (embeddings/finetune.py).
- lexical: BM25 over the item's whole text, squashed onto 0..1 by s / (s + lexical_saturation),
  a fixed scale (not relative to the query's best hit), so a query that shares one rare word with
  the knowledge base does not look like a perfect lexical match.
- fused: dense + lexical_weight * lexical. The weights were chosen on the dev split of
  tests/eval (see `make eval`), never on the held-out part.
- confidence: a logistic model of the top item's fused score and of two facts about the query's
  words (how many the collection never uses that are rare in English, and the share of its content
  words the collection never uses), fitted on the dev split (tests/eval/tune.py) so that it
  estimates the chance that the top item answers the question.
- decision: answer at or above the answer threshold, unless the best two are too close or the query
  names something the collection never mentions; "did you mean" between the thresholds; fallback below.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import math
import operator
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from embeddings.choice import MIN_ALTERNATES, Choice, choose
from embeddings.index import Entry, VectorIndex, load_or_build
from embeddings.lexical import LexicalIndex, Subset
from embeddings.query import QueryAnalysis, Vocabulary
from embeddings.settings import RetrievalSettings
from knowledge.passages import Passage
from knowledge.schema import QAPair

if TYPE_CHECKING:
    from embeddings.encoder import Encoder, QueryEncoder

log = logging.getLogger("faqbot")

MODES = ("hybrid", "dense", "bm25")
# Up to this many vectors every query is compared with every vector (a few milliseconds).
EXHAUSTIVE_ROWS = 20_000


@dataclass(frozen=True)
class Thresholds:
    """When to answer, ask or fall back. Built from RetrievalSettings, where the defaults live."""

    answer: float
    clarify: float
    margin: float
    options: int
    ask_on_unknown_names: bool

    @classmethod
    def default(cls) -> Thresholds:
        return RetrievalSettings().thresholds()


@dataclass(frozen=True)
class Scoring:
    """How scores are fused and calibrated. Built from RetrievalSettings, where the defaults live."""

    lexical_weight: float
    lexical_saturation: float
    answer_weight: float
    lexical_per_term: bool
    spelling: bool
    calibration_a: float
    calibration_b: float
    calibration_rare: float
    calibration_unknown: float

    @classmethod
    def default(cls) -> Scoring:
        return RetrievalSettings().scoring()

    def confidence(self, fused: float, query: QueryAnalysis | None = None) -> float:
        z = self.calibration_a * fused + self.calibration_b
        if query is not None:
            z += self.calibration_rare * query.rare_unknown + self.calibration_unknown * query.unknown_share
        return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))


@dataclass(frozen=True)
class Hit:
    key: str
    kind: str  # "qa" or "passage"
    score: float  # confidence in [0, 1]
    field: str  # the field whose text matched best ("lexical" when only BM25 found it)
    pair: QAPair | None = None
    passage: Passage | None = None
    dense: float = 0.0
    lexical: float = 0.0
    fused: float = 0.0


@dataclass(frozen=True)
class Decision:
    """What to do with a visitor's question: answer the best pair, ask which one, or fall back."""

    kind: str  # "answer", "clarify" or "fallback"
    hits: list[Hit] = field(default_factory=list)  # for answer: [best]; for clarify: the candidates
    unknown: tuple[str, ...] = ()  # words of the question the knowledge base never uses (rare in English)

    @property
    def best(self) -> Hit | None:
        return self.hits[0] if self.hits else None


def _entries(item: QAPair | Passage) -> list[Entry]:
    if isinstance(item, Passage):
        return [Entry(item.id, "passage", "passage", item.text)]
    return [
        Entry(item.id, "qa", "question", item.question),
        *(Entry(item.id, "qa", "alternate", a, i) for i, a in enumerate(item.alternates)),
        Entry(item.id, "qa", "answer", item.answer),
    ]


def _document(item: QAPair | Passage) -> str:
    """The item's whole text, for BM25 and the vocabulary."""
    return item.text if isinstance(item, Passage) else " ".join([item.question, *item.alternates, item.answer])


# What is searched of a pair (its vectors, BM25 terms and words), and what else the snapshot reads of it.
_pair_text = operator.attrgetter("question", "alternates", "answer")
_pair_meta = operator.attrgetter("tags", "citable")


def _differences(old: dict[str, QAPair], new: dict[str, QAPair]) -> tuple[list[str], list[str]]:
    """(pairs whose searched text changed or that are new, pairs whose tags or citability changed), in
    one pass that costs little per unchanged pair (100,000 pairs are compared on every publish)."""
    text, meta = [], []
    for k, p in new.items():
        o = old.get(k)
        if o is p:
            continue
        if o is None:
            text.append(k)
            meta.append(k)
            continue
        if _pair_text(o) != _pair_text(p):
            text.append(k)
        if _pair_meta(o) != _pair_meta(p):
            meta.append(k)
    return text, meta


def entries_for(pairs: list[QAPair], passages: list[Passage]) -> list[Entry]:
    entries: list[Entry] = []
    for p in sorted(pairs, key=lambda p: p.id):
        entries.extend(_entries(p))
    for x in sorted(passages, key=lambda x: x.id):
        entries.extend(_entries(x))
    return entries


def _highest(values: np.ndarray, k: int) -> np.ndarray:
    """The positions of the k highest values, highest first, equal values in their order: what a stable
    sort of all of them gives, without sorting more than the k best.

    A sample of every `step`-th value gives a floor (its k-th highest: at least k values reach it), and
    only the values above that floor are partitioned. numpy's partition is slow on values that are
    nearly all equal (8-10 ms for 100,000, against 1 ms), which is what BM25 gives when one word of the
    query is in every item: at 100,000 pairs it was a third of a search's p95."""
    n = len(values)
    if n > 4 * k:
        step = max(1, min(16, n // (4 * k)))
        sample = values[::step]
        floor = np.partition(sample, len(sample) - k)[len(sample) - k]
        above = np.flatnonzero(values > floor)
        if len(above) >= k:  # the k best are all above the floor
            chosen = above[_highest_among(values[above], k)]
        else:  # the k-th best is the floor itself: those above it, then the first of those equal to it
            chosen = np.concatenate([above[np.argsort(-values[above], kind="stable")], np.flatnonzero(values == floor)])
        if len(chosen) >= k:  # else NaNs, which sort last
            return chosen[:k]
    return np.argsort(-values, kind="stable")[:k]


def _highest_among(values: np.ndarray, k: int) -> np.ndarray:
    """_highest for len(values) >= k, with one partition: those above the k-th value sorted, then those
    equal to it in their order."""
    if len(values) <= 4 * k:
        return np.argsort(-values, kind="stable")[:k]
    kth = np.partition(values, len(values) - k)[len(values) - k]
    above = np.flatnonzero(values > kth)
    chosen = above[np.argsort(-values[above], kind="stable")]
    if len(chosen) < k:
        chosen = np.concatenate([chosen, np.flatnonzero(values == kth)[: k - len(chosen)]])
    return chosen[:k] if len(chosen) >= k else np.argsort(-values, kind="stable")[:k]


def _row_arrays(entries: list[Entry], position: dict[str, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row: the item's position, whether it is an answer, and its place within the item
    (question or passage 0, alternates after), which settles ties between an item's own texts."""
    n = len(entries)
    items = np.fromiter((position[e.key] for e in entries), np.int64, n)
    answers = np.fromiter((e.field == "answer" for e in entries), bool, n)
    ranks = np.fromiter((e.position + 1 if e.field == "alternate" else 0 for e in entries), np.int64, n)
    return items, answers, ranks


@dataclass(frozen=True)
class _Collection:
    """A tag's items, searched as a collection of their own: BM25 statistics and vocabulary."""

    members: np.ndarray  # item positions
    subset: Subset | None
    vocabulary: Vocabulary


@dataclass(frozen=True)
class _View:
    """What a dense search reads: an index, the encoder of its vectors, and per row its item (position in
    the snapshot), whether it is an answer, and its place within the item."""

    index: VectorIndex
    encoder: QueryEncoder
    item_of_row: np.ndarray
    is_answer_row: np.ndarray
    rank_of_row: np.ndarray


@dataclass(frozen=True)
class _Side:
    """A collection's encoder check (embeddings/choice.py) and, when it chose the base encoder over the
    served one, the collection's own index of base-encoder vectors (kept in memory, made again when the
    collection's texts change). Kept by the retriever across snapshots, keyed by the texts' digest."""

    digest: str
    choice: Choice
    index: VectorIndex | None


class Snapshot:
    """An immutable view of what is served: the index, the items, their BM25 statistics and vocabulary.

    Items are in a fixed order (pairs by id, then passages by id) whatever the history of edits, so
    ties rank the same after an incremental update as after a fresh build. `updated` makes the next
    snapshot from this one and the changed items only, while this one keeps serving.
    """

    # The encoder whose vectors the index holds: a query is encoded by the snapshot's own encoder, so a
    # search running while a retrain swaps the encoder never mixes the new model with the old index.
    encoder: QueryEncoder | None = None

    def __init__(self, index: VectorIndex, pairs: dict[str, QAPair], passages: dict[str, Passage]):
        self.index = index
        self.pairs = pairs
        self.passages = passages
        self.keys: list[str] = sorted(pairs) + sorted(passages)
        self.position = {k: i for i, k in enumerate(self.keys)}
        self.docs = [_document(self._item(k)) for k in self.keys]
        if index.alive() is not None:  # one base, every row searched (a fresh or just loaded index is)
            index, _ = index.compacted()
            self.index = index
        self.item_of_row, self.is_answer_row, self.rank_of_row = _row_arrays(index.entries, self.position)
        self.index.prepare()
        self.lexical = LexicalIndex(self.keys, self.docs)
        self.slot_of_item = self.lexical.slots(self.keys)
        self.vocabulary = Vocabulary(self.docs)
        self._finish()

    def _item(self, key: str) -> QAPair | Passage:
        return self.pairs.get(key) or self.passages[key]

    def _finish(self, previous: Snapshot | None = None, touched: list[str] | None = None) -> None:
        """What follows from the items' other fields (kind, sources, tags): read afresh, or carried over
        from `previous` with the `touched` items (whose tags or citability changed, new ones included)
        read again, which costs the size of the change (and of the keys' positions when keys changed)."""
        n, n_pairs = len(self.keys), len(self.pairs)
        if previous is None or touched is None:
            citable = np.zeros(n, dtype=bool)
            citable[:n_pairs] = np.fromiter((self.pairs[k].citable for k in self.keys[:n_pairs]), bool, n_pairs)
            members: dict[str, list[int]] = {}
            for i, k in enumerate(self.keys):
                for t in self._item(k).tags:
                    members.setdefault(t, []).append(i)
            self._tags: dict[str, np.ndarray] = {}
            for t, positions in members.items():
                self._tags[t] = np.zeros(n, dtype=bool)
                self._tags[t][positions] = True
        else:
            if previous.keys is self.keys:
                citable = previous._masks["citable"].copy()
                tags = dict(previous._tags)
            else:  # positions moved: each item takes what it had at its old position (new ones: nothing)
                old = np.fromiter((previous.position.get(k, -1) for k in self.keys), np.int64, n)
                known = old >= 0
                citable = previous._masks["citable"][np.maximum(old, 0)] & known
                tags = {t: m[np.maximum(old, 0)] & known for t, m in previous._tags.items()}
            copied: set[str] = set()
            for k in touched:
                i = self.position[k]
                item = self._item(k)
                was = previous._item(k).tags if k in previous.position else []
                citable[i] = k in self.pairs and self.pairs[k].citable
                for t, on in [*((t, False) for t in was), *((t, True) for t in item.tags)]:
                    if t not in copied:
                        tags[t] = tags[t].copy() if t in tags else np.zeros(n, dtype=bool)
                        copied.add(t)
                    tags[t][i] = on
            moved = previous.keys is not self.keys
            self._tags = {t: m for t, m in tags.items() if (t not in copied and not moved) or m.any()}
        is_qa = np.zeros(n, dtype=bool)
        is_qa[:n_pairs] = True
        # Item masks for filters. "citable": pairs that cite a source, the only ones visitors are answered from.
        self._masks: dict[str, np.ndarray] = {"qa": is_qa, "passage": ~is_qa, "citable": citable}
        # A tagged collection has its own BM25 statistics and vocabulary, built on first use.
        self._collections: dict[str, _Collection] = {}
        # Per tag searched by name: the view its dense search reads (see Retriever._view).
        self._views: dict[str, _View] = {}
        self._lock = threading.Lock()
        self.related: dict[str, list[QAPair]] = {}

    def updated(
        self, pairs: list[QAPair], passages: list[Passage], encoder: Encoder | None, index_root: Path | None
    ) -> tuple[Snapshot, bool]:
        """The snapshot serving these items, made from this one: only the items whose searched text
        changed are re-embedded (their vectors removed and re-added under their ids) and re-counted
        in BM25 and the vocabulary; the new index is on disk before this returns (index_root None: a
        shadow kept in memory only, for trying a change out). (snapshot, changed)."""
        new_pairs = {p.id: p for p in pairs}
        new_passages = {x.id: x for x in passages}
        same_keys = new_pairs.keys() == self.pairs.keys() and new_passages.keys() == self.passages.keys()
        keys = self.keys if same_keys else sorted(new_pairs) + sorted(new_passages)
        position = self.position if same_keys else {k: i for i, k in enumerate(keys)}
        changed, touched = _differences(self.pairs, new_pairs)
        for k, x in new_passages.items():
            o = self.passages.get(k)
            if o is None or (o is not x and o.text != x.text):
                changed.append(k)
            if o is None or (o is not x and o.tags != x.tags):
                touched.append(k)
        changed.sort(key=position.__getitem__)
        removed = [] if same_keys else [k for k in self.keys if k not in position]
        new = object.__new__(Snapshot)
        new.encoder = self.encoder
        new.pairs, new.passages, new.keys, new.position = new_pairs, new_passages, keys, position
        if not changed and not removed:
            new.index, new.docs, new.lexical, new.vocabulary = self.index, self.docs, self.lexical, self.vocabulary
            new.item_of_row, new.is_answer_row, new.rank_of_row = self.item_of_row, self.is_answer_row, self.rank_of_row
            new.slot_of_item = self.slot_of_item
            new._finish(self, touched)
            new._carry_collections(self, touched)
            return new, False
        # The vectors: the changed and removed items' rows out, the changed items' entries in.
        replaced = [k for k in changed if k in self.position] + removed
        rows = np.flatnonzero(np.isin(self.item_of_row, [self.position[k] for k in replaced]))
        added = [e for k in changed for e in _entries(new._item(k))]
        new.index, change, source = self.index.apply(rows, added, encoder)
        new.index.prepare()  # after a fold, a new base
        if index_root is not None:
            new.index.persist(index_root, since=self.index, change=change)
        # Per row: what the row it was says, for the rows kept; -1 (no item) for rows now dead.
        old_rows = source[: len(source) - len(added)]
        kept = self.item_of_row[old_rows]
        kept[np.isin(old_rows, rows)] = -1
        if not same_keys:
            remap = np.fromiter((position.get(k, -1) for k in self.keys), np.int64, len(self.keys))
            kept = np.where(kept >= 0, remap[kept], -1)
        items, answers, ranks = _row_arrays(added, position)
        new.item_of_row = np.concatenate([kept, items])
        new.is_answer_row = np.concatenate([self.is_answer_row[old_rows], answers])
        new.rank_of_row = np.concatenate([self.rank_of_row[old_rows], ranks])
        # The words: BM25 statistics and the vocabulary lose the old texts and gain the new.
        documents = {k: _document(new._item(k)) for k in changed}
        if same_keys:
            new.docs = list(self.docs)
            for k in changed:
                new.docs[position[k]] = documents[k]
        else:
            new.docs = [documents[k] if k in documents else self.docs[self.position[k]] for k in keys]
        new.lexical = self.lexical.updated(removed, documents)
        new.slot_of_item = self.slot_of_item if same_keys else new.lexical.slots(keys)
        new.vocabulary = self.vocabulary.updated([self.docs[self.position[k]] for k in replaced], documents.values())
        new._finish(self, touched)
        new._carry_collections(self, [*changed, *touched, *removed])
        return new, True

    def _carry_collections(self, previous: Snapshot, affected: list[str]) -> None:
        """The tagged collections `previous` had built, brought up to this snapshot: a collection's
        vocabulary loses the old texts and gains the new of the `affected` items (changed, retagged,
        new or removed) only, so that a tagged search after a publish does not read its whole collection."""
        with previous._lock:
            built = dict(previous._collections)
        keys = set(affected)
        for tag, old in built.items():
            members = np.flatnonzero(self._tags.get(tag, np.zeros(len(self.keys), dtype=bool)))
            gone = [
                previous.docs[previous.position[k]]
                for k in keys
                if k in previous.position and tag in previous._item(k).tags
            ]
            came = [self.docs[self.position[k]] for k in keys if k in self.position and tag in self._item(k).tags]
            vocabulary = old.vocabulary.updated(gone, came) if gone or came else old.vocabulary
            subset = self.lexical.subset_of(self.slot_of_item[members]) if len(members) else None
            self._collections[tag] = _Collection(members, subset, vocabulary)

    def _collection(self, tag: str) -> _Collection:
        with self._lock:
            if tag not in self._collections:
                members = np.flatnonzero(self._tags.get(tag, np.zeros(len(self.keys), dtype=bool)))
                subset = self.lexical.subset_of(self.slot_of_item[members]) if len(members) else None
                self._collections[tag] = _Collection(members, subset, Vocabulary([self.docs[i] for i in members]))
            return self._collections[tag]

    def analyse(self, query: str, tag: str | None, correct: bool) -> QueryAnalysis:
        """Typos mended against the searched collection's words, and the words it never uses."""
        vocabulary = self.vocabulary if tag is None else self._collection(tag).vocabulary
        analysis = vocabulary.analyse(query, correct=correct)
        return analysis if tag is None else dataclasses.replace(analysis, tag=tag)

    def lexical_scores(self, query: str, tag: str | None, per_term: bool) -> np.ndarray:
        """BM25 of every item (0 outside the tag's collection when a tag is given)."""
        if tag is None:
            return self.lexical.scores(query, per_term=per_term)[self.slot_of_item]
        collection = self._collection(tag)
        if collection.subset is None:
            return np.zeros(len(self.keys), np.float32)
        return self.lexical.scores(query, per_term=per_term, subset=collection.subset)[self.slot_of_item]

    def main_view(self, encoder: QueryEncoder) -> _View:
        """The snapshot's own index, read with its encoder (or `encoder`, for a snapshot without one)."""
        return _View(self.index, self.encoder or encoder, self.item_of_row, self.is_answer_row, self.rank_of_row)

    def tagged_pairs(self, tag: str) -> list[QAPair]:
        """The pairs of one collection (tag), in the snapshot's order."""
        members = self._tags.get(tag)
        if members is None:
            return []
        return [self.pairs[self.keys[i]] for i in np.flatnonzero(members) if self.keys[i] in self.pairs]

    def mask(self, tag: str | None, kind: str | None) -> np.ndarray | None:
        """Which items may be returned (None: all)."""
        if tag is None and kind is None:
            return None
        m = np.ones(len(self.keys), dtype=bool)
        if tag is not None:
            m &= self._tags.get(tag, np.zeros(len(self.keys), dtype=bool))
        if kind is not None:
            m &= self._masks[kind]
        return m


class Retriever:
    def __init__(
        self,
        encoder: QueryEncoder,
        index_root: Path,
        thresholds: Thresholds,
        scoring: Scoring | None = None,
        base_encoder: QueryEncoder | None = None,
        min_alternates: int = MIN_ALTERNATES,
        base_scoring: Scoring | None = None,
    ):
        """`base_encoder`: the model the served one was fine-tuned from. Given, each collection searched
        by its tag is checked (embeddings/choice.py) and searched with whichever of the two tells its
        pairs apart better; None: every search uses `encoder`. `base_scoring`: the confidence fitted for
        the base encoder, for the collections it searches (the served scoring when not given)."""
        self.encoder = encoder
        self.index_root = index_root
        self.thresholds = thresholds
        self.scoring = scoring or Scoring.default()
        self.base_encoder = base_encoder
        self.base_scoring = base_scoring
        self.min_alternates = min_alternates
        self._snapshot: Snapshot | None = None
        self._swap_lock = threading.Lock()
        self._sides: dict[str, _Side] = {}
        self._sides_lock = threading.Lock()

    # --- content --------------------------------------------------------------------------

    def load(self, pairs: list[QAPair], passages: list[Passage]) -> bool:
        """Serve these published pairs and passages.

        The first call uses the saved index when it matches (re-embedding only texts changed since);
        later calls change only the items that changed since the snapshot being served: a publish
        re-embeds, re-indexes and re-counts one pair, not the collection. Returns True when the
        index changed. The old snapshot serves until the new one is ready and on disk, and a
        failure leaves it serving.
        """
        published = [p for p in pairs if p.status == "published"]
        with self._swap_lock:
            if self._snapshot is None:
                index, built = load_or_build(self.index_root, entries_for(published, passages), self.encoder)
                self._snapshot = Snapshot(index, {p.id: p for p in published}, {x.id: x for x in passages})
                self._snapshot.encoder = self.encoder
            else:
                self._snapshot, built = self._snapshot.updated(published, passages, self.encoder, self.index_root)
        return built

    @property
    def snapshot(self) -> Snapshot:
        if self._snapshot is None:
            raise RuntimeError("the retriever has no content loaded")
        return self._snapshot

    # --- scoring --------------------------------------------------------------------------

    def _dense(
        self, snap: Snapshot, query: str, mask: np.ndarray | None, n: int, view: _View | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(dense score per item, the row of its best matching text); -1 where the item was not reached.

        An item's dense score is its best question/alternate (or passage) similarity plus
        answer_weight times its answer's similarity: the answer confirms a match on the question.
        `view`: the index to read (a collection's own, see _view); the snapshot's by default.
        """
        view = view or snap.main_view(self.encoder)
        vector = view.encoder.encode_query(query)
        allowed = None
        if mask is not None:
            allowed = mask[np.maximum(view.item_of_row, 0)] & (view.item_of_row >= 0)
            if not allowed.any():
                return np.full(len(snap.keys), -1.0, np.float32), np.full(len(snap.keys), -1, np.int64)
        # Small collections are scored exhaustively; large ones through the top rows only.
        n = len(view.index) if len(view.index) <= EXHAUSTIVE_ROWS else min(n, len(view.index))
        flat_scores, flat_rows = view.index.top(vector, n, allowed)
        items = view.item_of_row[flat_rows]
        is_answer = view.is_answer_row[flat_rows]
        order = np.argsort(flat_scores)  # ascending: with repeated items, the last (highest) write wins
        best = np.full(len(snap.keys), -1.0, np.float32)
        best_row = np.full(len(snap.keys), -1, np.int64)
        answer = np.zeros(len(snap.keys), np.float32)
        q_order = order[~is_answer[order]]
        best[items[q_order]] = flat_scores[q_order]
        best_row[items[q_order]] = flat_rows[q_order]
        self._settle_ties(view.rank_of_row, best, best_row, flat_rows, flat_scores, items, ~is_answer)
        a_order = order[is_answer[order]]
        answer[items[a_order]] = np.maximum(flat_scores[a_order], 0)
        # An item reached only through its answer still counts, by its answer alone.
        only_answer = (best < -0.5) & (answer > 0)
        best[only_answer] = 0.0
        reached = best > -0.5
        best[reached] += self.scoring.answer_weight * answer[reached]
        return best, best_row

    @staticmethod
    def _settle_ties(
        rank_of_row: np.ndarray,
        best: np.ndarray,
        best_row: np.ndarray,
        rows: np.ndarray,
        scores: np.ndarray,
        items: np.ndarray,
        searched: np.ndarray,
    ) -> None:
        """When an item's best score comes from two of its texts (the same text twice), the question
        (then the first alternate) is its best row, whatever the rows' order in the index, which
        differs between an index updated in place and one built afresh."""
        top = searched & (scores == best[items])
        if np.count_nonzero(top) <= np.count_nonzero(best_row >= 0):
            return  # one top row per item: no tie
        for i in np.flatnonzero(np.bincount(items[top], minlength=len(best)) > 1):
            tied = rows[top & (items == i)]
            best_row[i] = tied[np.argmin(rank_of_row[tied])]

    def _lexical(self, snap: Snapshot, query: str, mask: np.ndarray | None, tag: str | None) -> np.ndarray:
        raw = snap.lexical_scores(query, tag, self.scoring.lexical_per_term)
        if mask is not None:
            raw = np.where(mask, raw, 0.0)
        return raw / (raw + self.scoring.lexical_saturation)

    def search(
        self, query: str, k: int = 5, tag: str | None = None, kind: str | None = None, mode: str = "hybrid"
    ) -> list[Hit]:
        """The k best items for the query, best first, one hit per pair or passage."""
        return self._search(query, k, tag, kind, mode)[0]

    def search_analysed(
        self, query: str, k: int = 5, tag: str | None = None, kind: str | None = None, mode: str = "hybrid"
    ) -> tuple[list[Hit], QueryAnalysis]:
        """search(), and how the query was read for it (typos mended, unknown words): to show staff,
        and to hand to decide() for the same query and tag so that it is not read again."""
        return self._search(query, k, tag, kind, mode)

    def _search(
        self, query: str, k: int, tag: str | None, kind: str | None, mode: str, analysis: QueryAnalysis | None = None
    ) -> tuple[list[Hit], QueryAnalysis]:
        if k <= 0:
            raise ValueError("k must be positive")
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}")
        snap = self.snapshot
        if analysis is None:
            analysis = snap.analyse(query, tag, self.scoring.spelling)
        elif analysis.query != query or analysis.tag != tag:
            raise ValueError("the analysis given was made for another query or tag")
        mask = snap.mask(tag, kind)
        if mask is not None and not mask.any():
            return [], analysis
        query = analysis.text
        n_rows = max(128, k * 32)
        dense = np.zeros(len(snap.keys), np.float32)
        best_row = np.full(len(snap.keys), -1, np.int64)
        lexical = np.zeros(len(snap.keys), np.float32)
        view = self._view(snap, tag)
        if mode in ("hybrid", "dense"):
            dense, best_row = self._dense(snap, query, mask, n_rows, view)
        if mode in ("hybrid", "bm25"):
            lexical = self._lexical(snap, query, mask, tag)
        # The items that may be returned (reached by FAISS or sharing a word), and their fused scores.
        reached = dense > -1
        candidates = np.flatnonzero(lexical > 0 if mode == "bm25" else reached | (lexical > 0))
        if mask is not None:
            candidates = candidates[mask[candidates]]
        if mode == "dense":
            fused = dense[candidates]
        elif mode == "bm25":
            fused = lexical[candidates]
        else:
            # An item only BM25 found gets the lowest dense score that was reached, not -1.
            floor = float(dense[reached].min()) if reached.any() else 0.0
            fused = (
                np.where(reached[candidates], dense[candidates], floor)
                + self.scoring.lexical_weight * lexical[candidates]
            )
        chosen = _highest(fused, k)
        top, fused = candidates[chosen], fused[chosen]
        # The confidence fitted for the encoder that scored these items.
        on_base = view.index is not snap.index  # a collection's own index, of the base encoder's vectors
        scoring = self.base_scoring if on_base and self.base_scoring is not None else self.scoring
        hits = []
        for i, f in zip(top, fused.tolist(), strict=True):
            key = snap.keys[i]
            row = best_row[i]
            fld = view.index.entry(row).field if row >= 0 else "lexical"
            conf = scoring.confidence(f, analysis) if mode == "hybrid" else float(min(1.0, max(0.0, f)))
            pair = snap.pairs.get(key)
            hits.append(
                Hit(
                    key,
                    "qa" if pair else "passage",
                    conf,
                    fld,
                    pair=pair,
                    passage=None if pair else snap.passages[key],
                    dense=float(max(dense[i], 0.0)),
                    lexical=float(lexical[i]),
                    fused=f,
                )
            )
        return hits, analysis

    # --- the encoder of each collection -----------------------------------------------------

    def collection_choice(self, tag: str) -> Choice | None:
        """The encoder check's choice for a collection (embeddings/choice.py); None when none is made
        (no base encoder given, or fewer than min_alternates alternates: the served encoder searches it)."""
        side = self._side(self.snapshot, tag)
        return side.choice if side else None

    def _view(self, snap: Snapshot, tag: str | None) -> _View:
        """The index a search of this collection reads: the collection's own when its check chose the
        base encoder, else the snapshot's."""
        main = snap.main_view(self.encoder)
        if tag is None or self.base_encoder is None:
            return main
        with snap._lock:
            cached = snap._views.get(tag)
        if cached is not None:
            return cached
        side = self._side(snap, tag)
        view = main
        if side is not None and side.index is not None:
            # The side is reused only while the collection's texts are the same, so its items are all here.
            view = _View(side.index, self.base_encoder, *_row_arrays(side.index.entries, snap.position))
        with snap._lock:
            snap._views[tag] = view
        return view

    def _side(self, snap: Snapshot, tag: str) -> _Side | None:
        base, served = self.base_encoder, snap.encoder or self.encoder
        if base is None or base.model_id == served.model_id:
            return None
        pairs = snap.tagged_pairs(tag)
        if sum(len(p.alternates) for p in pairs) < self.min_alternates:
            return None
        h = hashlib.sha256(f"{served.model_id}\0{base.model_id}".encode())
        for p in pairs:
            h.update("\0".join([p.id, p.question, *p.alternates, "\1", p.answer]).encode())
        digest = h.hexdigest()
        with self._sides_lock:
            side = self._sides.get(tag)
            if side is not None and side.digest == digest:
                return side
            choice = choose(pairs, {"finetuned": served, "packaged": base}, self.min_alternates)
            index = None
            if choice.encoder == "packaged":
                entries = [e for p in pairs for e in _entries(p)]
                index = VectorIndex.build(entries, base)
            side = _Side(digest, choice, index)
            self._sides[tag] = side
            log.info("collection %s: %s encoder (%s)", tag, choice.encoder, choice.reason)
            return side

    def analyse(self, query: str, tag: str | None = None) -> QueryAnalysis:
        """The typos search would mend in this query, and the words the collection never uses."""
        return self.snapshot.analyse(query, tag, self.scoring.spelling)

    def decide(self, query: str, tag: str | None = None, analysis: QueryAnalysis | None = None) -> Decision:
        """Answer, clarify or fall back, by the thresholds in config.yml, among the citable pairs
        (with the tag, if one is given). `analysis`: search_analysed's for this query and tag, reused."""
        t = self.thresholds
        hits, analysis = self._search(query, max(t.options, 2), tag, "citable", "hybrid", analysis)
        if not hits or hits[0].score < t.clarify:
            return Decision("fallback", [])
        top = hits[0]
        close = len(hits) > 1 and top.fused - hits[1].fused < t.margin
        # A question naming something the knowledge base never mentions ("side effects of baclofen")
        # may look like one it answers ("what are the risks of the procedure?"): ask, never assume.
        unknown = analysis.unknown_names
        if top.score >= t.answer and not close and not (t.ask_on_unknown_names and unknown):
            return Decision("answer", [top])
        candidates = [h for h in hits if h.score >= t.clarify][: t.options]
        return Decision("clarify", candidates, unknown)

    def pair(self, pair_id: str) -> QAPair | None:
        return self.snapshot.pairs.get(pair_id)

    def related(self, pair_id: str, n: int = 3) -> list[QAPair]:
        """Up to n other citable pairs nearest to this one, for "related questions" under an answer."""
        snap = self.snapshot
        with snap._lock:
            cached = snap.related.get(pair_id)
        if cached is None:
            pair = snap.pairs.get(pair_id)
            if pair is None:
                return []
            hits = self.search(f"{pair.question} {pair.answer}", k=n + 1, kind="citable", mode="dense")
            cached = [h.pair for h in hits if h.key != pair_id and h.pair is not None][:n]
            with snap._lock:
                snap.related[pair_id] = cached
        return cached

    # --- changing the encoder ------------------------------------------------------------

    def swap_encoder(self, encoder: QueryEncoder, scoring: Scoring) -> bool:
        """Serve with another encoder and the confidence fitted for it (a retrain, embeddings/retraining.py).

        The whole collection served now is embedded again into a new index, saved beside the one in
        use (its manifest names the new encoder), while the old snapshot keeps answering chat and
        search and publishes keep updating it. Then, under the lock publishes take, what was published
        meanwhile is applied to the new index, and encoder, scoring and snapshot are replaced together.
        A failure leaves the old ones serving. Returns False when the encoder is the one serving (only
        the scoring is replaced).
        """
        if encoder.model_id == self.encoder.model_id:
            self.scoring = scoring
            return False
        served = self.snapshot
        pairs, passages = list(served.pairs.values()), list(served.passages.values())
        index = VectorIndex.build(entries_for(pairs, passages), encoder)
        # On disk first: a crash from here on restarts on an index and a model that may differ, which
        # load_or_build sees (the manifest's model) and rebuilds; never on vectors of the wrong model.
        index.save(self.index_root)
        fresh = Snapshot(index, dict(served.pairs), dict(served.passages))
        with self._swap_lock:
            latest = self.snapshot
            if latest is not served:
                fresh, _ = fresh.updated(
                    list(latest.pairs.values()), list(latest.passages.values()), encoder, self.index_root
                )
            fresh.encoder = encoder
            self._snapshot, self.encoder, self.scoring = fresh, encoder, scoring
        return True
