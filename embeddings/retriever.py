"""The retriever: one place where a query becomes ranked hits with a confidence, and a decision.

The bot's custom action, the direct chat path and the staff search all call this module, with the
same settings from config.yml.

First the query's typos are mended against the searched collection's own words (embeddings/query.py).

How an item (a Q&A pair or an article passage) is scored for a query:
- dense: cosine similarity (FAISS, inner product on normalised vectors) of the query with each of
  the item's texts: the best of a pair's question and alternates (or the passage), plus
  answer_weight times the similarity with the pair's answer (0 by default). With split_sentences
  (off by default: it did not help on the measured sets) each sentence of a long query counts too.
  The encoder is the one fine-tuned on the knowledge base's alternates when present
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

import math
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from embeddings.encoder import SentenceEncoder
from embeddings.index import Entry, VectorIndex, load_or_build
from embeddings.lexical import LexicalIndex
from embeddings.query import QueryAnalysis, Vocabulary
from knowledge.passages import Passage
from knowledge.schema import QAPair

MODES = ("hybrid", "dense", "bm25")
# Up to this many vectors every query is compared with every vector (a few milliseconds).
EXHAUSTIVE_ROWS = 20_000
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")


@dataclass(frozen=True)
class Thresholds:
    answer: float = 0.6
    clarify: float = 0.3
    margin: float = 0.02
    options: int = 3
    ask_on_unknown_names: bool = True


@dataclass(frozen=True)
class Scoring:
    lexical_weight: float = 1.0
    lexical_saturation: float = 2.0
    answer_weight: float = 0.0
    lexical_per_term: bool = True
    split_sentences: bool = False
    min_sentence_words: int = 3
    spelling: bool = True
    calibration_a: float = 6.457
    calibration_b: float = -3.592
    calibration_rare: float = -0.543
    calibration_unknown: float = -2.413

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


def entries_for(pairs: list[QAPair], passages: list[Passage]) -> list[Entry]:
    entries: list[Entry] = []
    for p in sorted(pairs, key=lambda p: p.id):
        entries.append(Entry(p.id, "qa", "question", p.question))
        entries.extend(Entry(p.id, "qa", "alternate", a) for a in p.alternates)
        entries.append(Entry(p.id, "qa", "answer", p.answer))
    entries.extend(Entry(x.id, "passage", "passage", x.text) for x in sorted(passages, key=lambda x: x.id))
    return entries


def sentences(query: str, min_words: int) -> list[str]:
    parts = [p.strip() for p in _SENTENCE.split(query) if p and len(p.split()) >= min_words]
    return parts if len(parts) > 1 else []


class Snapshot:
    """An immutable view of what is served: the index, the items, and their lexical index."""

    def __init__(self, index: VectorIndex, pairs: dict[str, QAPair], passages: dict[str, Passage]):
        self.index = index
        self.pairs = pairs
        self.passages = passages
        entries = index.entries
        self.keys: list[str] = list(dict.fromkeys(e.key for e in entries))
        position = {k: i for i, k in enumerate(self.keys)}
        self.item_of_row = np.array([position[e.key] for e in entries], dtype=np.int64)
        self.is_answer_row = np.array([e.field == "answer" for e in entries], dtype=bool)
        self.kind_of_item = np.array(["qa" if k in pairs else "passage" for k in self.keys], dtype=object)
        self._docs = []
        for k in self.keys:
            if k in pairs:
                p = pairs[k]
                self._docs.append(" ".join([p.question, *p.alternates, p.answer]))
            else:
                self._docs.append(passages[k].text)
        self.lexical = LexicalIndex(self.keys, self._docs)
        self.vocabulary = Vocabulary(self._docs)
        # A tagged collection has its own BM25 statistics and vocabulary, built on first use.
        self._tag_lexical: dict[str, tuple[np.ndarray, LexicalIndex | None, Vocabulary]] = {}
        self._lock = threading.Lock()
        self.related: dict[str, list[QAPair]] = {}
        # Item masks for filters. "citable": pairs that cite a source, the only ones visitors are answered from.
        self._masks: dict[str, np.ndarray] = {
            "qa": self.kind_of_item == "qa",
            "passage": self.kind_of_item == "passage",
            "citable": np.array([k in pairs and pairs[k].citable for k in self.keys], dtype=bool),
        }
        self._tags: dict[str, np.ndarray] = {}
        for i, k in enumerate(self.keys):
            item = pairs.get(k) or passages.get(k)
            for t in item.tags:
                self._tags.setdefault(t, np.zeros(len(self.keys), dtype=bool))[i] = True

    def _collection(self, tag: str) -> tuple[np.ndarray, LexicalIndex | None, Vocabulary]:
        with self._lock:
            if tag not in self._tag_lexical:
                members = np.flatnonzero(self._tags.get(tag, np.zeros(len(self.keys), dtype=bool)))
                docs = [self._docs[i] for i in members]
                index = LexicalIndex([self.keys[i] for i in members], docs) if len(members) else None
                self._tag_lexical[tag] = (members, index, Vocabulary(docs))
            return self._tag_lexical[tag]

    def analyse(self, query: str, tag: str | None, correct: bool) -> QueryAnalysis:
        """Typos mended against the searched collection's words, and the words it never uses."""
        vocabulary = self.vocabulary if tag is None else self._collection(tag)[2]
        return vocabulary.analyse(query, correct=correct)

    def lexical_scores(self, query: str, tag: str | None, per_term: bool) -> np.ndarray:
        """BM25 of every item (0 outside the tag's collection when a tag is given)."""
        if tag is None:
            return self.lexical.scores(query, per_term=per_term)
        members, index, _ = self._collection(tag)
        out = np.zeros(len(self.keys), np.float32)
        if index is not None:
            out[members] = index.scores(query, per_term=per_term)
        return out

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
    def __init__(self, encoder: SentenceEncoder, index_root: Path, thresholds: Thresholds,
                 scoring: Scoring | None = None):
        self.encoder = encoder
        self.index_root = index_root
        self.thresholds = thresholds
        self.scoring = scoring or Scoring()
        self._snapshot: Snapshot | None = None
        self._swap_lock = threading.Lock()

    # --- content --------------------------------------------------------------------------

    def load(self, pairs: list[QAPair], passages: list[Passage]) -> bool:
        """Serve these published pairs and passages; reuses the saved index when it matches.

        Returns True when the index had to be (re)built. The old snapshot serves until the new
        one is ready, and a failure leaves it serving. Texts already embedded are not encoded again.
        """
        published = [p for p in pairs if p.status == "published"]
        with self._swap_lock:
            previous = self._snapshot.index if self._snapshot else None
            index, built = load_or_build(self.index_root, entries_for(published, passages), self.encoder, previous)
            self._snapshot = Snapshot(index, {p.id: p for p in published}, {x.id: x for x in passages})
        return built

    @property
    def snapshot(self) -> Snapshot:
        if self._snapshot is None:
            raise RuntimeError("the retriever has no content loaded")
        return self._snapshot

    # --- scoring --------------------------------------------------------------------------

    def _dense(self, snap: Snapshot, query: str, mask: np.ndarray | None, n: int) -> tuple[np.ndarray, np.ndarray]:
        """(dense score per item, the row of its best matching text); -1 where the item was not reached.

        An item's dense score is its best question/alternate (or passage) similarity plus
        answer_weight times its answer's similarity: the answer confirms a match on the question.
        """
        texts = [query] + (sentences(query, self.scoring.min_sentence_words) if self.scoring.split_sentences else [])
        vectors = np.vstack([self.encoder.encode_query(t) for t in texts])
        rows_allowed = None
        if mask is not None:
            rows_allowed = np.flatnonzero(mask[snap.item_of_row])
            if len(rows_allowed) == 0:
                return np.full(len(snap.keys), -1.0, np.float32), np.full(len(snap.keys), -1, np.int64)
        # Small collections are scored exhaustively; large ones through the top rows only.
        n = len(snap.index) if len(snap.index) <= EXHAUSTIVE_ROWS else min(n, len(snap.index))
        scores, rows = snap.index.search(vectors, n, rows_allowed)
        flat_rows, flat_scores = rows.ravel(), scores.ravel()
        ok = flat_rows >= 0
        flat_rows, flat_scores = flat_rows[ok], flat_scores[ok]
        items = snap.item_of_row[flat_rows]
        is_answer = snap.is_answer_row[flat_rows]
        order = np.argsort(flat_scores)  # ascending: with repeated items, the last (highest) write wins
        best = np.full(len(snap.keys), -1.0, np.float32)
        best_row = np.full(len(snap.keys), -1, np.int64)
        answer = np.zeros(len(snap.keys), np.float32)
        q_order = order[~is_answer[order]]
        best[items[q_order]] = flat_scores[q_order]
        best_row[items[q_order]] = flat_rows[q_order]
        a_order = order[is_answer[order]]
        answer[items[a_order]] = np.maximum(flat_scores[a_order], 0)
        # An item reached only through its answer still counts, by its answer alone.
        only_answer = (best < -0.5) & (answer > 0)
        best[only_answer] = 0.0
        reached = best > -0.5
        best[reached] += self.scoring.answer_weight * answer[reached]
        return best, best_row

    def _lexical(self, snap: Snapshot, query: str, mask: np.ndarray | None, tag: str | None) -> np.ndarray:
        raw = snap.lexical_scores(query, tag, self.scoring.lexical_per_term)
        if mask is not None:
            raw = np.where(mask, raw, 0.0)
        return raw / (raw + self.scoring.lexical_saturation)

    def search(self, query: str, k: int = 5, tag: str | None = None, kind: str | None = None,
               mode: str = "hybrid") -> list[Hit]:
        """The k best items for the query, best first, one hit per pair or passage."""
        return self._search(query, k, tag, kind, mode)[0]

    def _search(self, query: str, k: int, tag: str | None, kind: str | None,
                mode: str) -> tuple[list[Hit], QueryAnalysis | None]:
        """search(), and what was read from the query's words (None when nothing could match)."""
        if k <= 0:
            raise ValueError("k must be positive")
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}")
        snap = self.snapshot
        mask = snap.mask(tag, kind)
        if mask is not None and not mask.any():
            return [], None
        analysis = snap.analyse(query, tag, self.scoring.spelling)
        query = analysis.text
        n_rows = max(128, k * 32)
        dense = np.zeros(len(snap.keys), np.float32)
        best_row = np.full(len(snap.keys), -1, np.int64)
        lexical = np.zeros(len(snap.keys), np.float32)
        if mode in ("hybrid", "dense"):
            dense, best_row = self._dense(snap, query, mask, n_rows)
        if mode in ("hybrid", "bm25"):
            lexical = self._lexical(snap, query, mask, tag)
        if mode == "dense":
            fused = dense.copy()
        elif mode == "bm25":
            fused = lexical.copy()
        else:
            reached = dense > -1
            # An item only BM25 found gets the lowest dense score that was reached, not -1.
            floor = float(dense[reached].min()) if reached.any() else 0.0
            fused = np.where(reached, dense, floor) + self.scoring.lexical_weight * lexical
        candidates = np.flatnonzero(mask if mask is not None else np.ones(len(snap.keys), dtype=bool))
        if mode != "bm25":
            candidates = candidates[(dense[candidates] > -1) | (lexical[candidates] > 0)]
        else:
            candidates = candidates[lexical[candidates] > 0]
        top = candidates[np.argsort(-fused[candidates], kind="stable")][:k]
        hits = []
        for i in top:
            key = snap.keys[i]
            row = best_row[i]
            fld = snap.index.entries[row].field if row >= 0 else "lexical"
            if mode == "hybrid":
                conf = self.scoring.confidence(float(fused[i]), analysis)
            else:
                conf = float(min(1.0, max(0.0, fused[i])))
            common = dict(score=conf, field=fld, dense=float(max(dense[i], 0.0)), lexical=float(lexical[i]),
                          fused=float(fused[i]))
            if key in snap.pairs:
                hits.append(Hit(key, "qa", pair=snap.pairs[key], **common))
            else:
                hits.append(Hit(key, "passage", passage=snap.passages[key], **common))
        return hits, analysis

    def analyse(self, query: str, tag: str | None = None) -> QueryAnalysis:
        """The typos search would mend in this query, and the words the collection never uses."""
        return self.snapshot.analyse(query, tag, self.scoring.spelling)

    def decide(self, query: str) -> Decision:
        """Answer, clarify or fall back, by the thresholds in config.yml."""
        t = self.thresholds
        hits, analysis = self._search(query, max(t.options, 2), None, "citable", "hybrid")
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
            cached = [h.pair for h in hits if h.key != pair_id][:n]
            with snap._lock:
                snap.related[pair_id] = cached
        return cached
