"""What an editor's change would do to retrieval, tried on a shadow index, never on the live one.

- `shadow(retriever, pairs)`: a retriever over these pairs, made from the live snapshot in memory
  (only the changed pairs re-embedded; nothing written to disk). The live retriever keeps serving.
- `run_golden(retriever, questions)`: whether each golden question still reaches its pair (the pair
  is the best hit among the pairs visitors may be answered from).
- `too_close(retriever, pair, threshold)`: the pair's question or alternates nearly the same as
  another published pair's (they would fight in retrieval), by cosine of their embeddings.
"""

from __future__ import annotations

import threading
import time
import weakref
from dataclasses import dataclass

import numpy as np

from embeddings.retriever import Retriever, Snapshot
from knowledge.schema import QAFields, QAPair
from knowledge.store import Store
from knowledge.warnings import Warning


@dataclass(frozen=True)
class GoldenQuestion:
    id: int
    question: str
    pair_id: str


@dataclass(frozen=True)
class Outcome:
    passed: bool
    top: str | None  # the pair that came first
    top_question: str | None
    score: float  # the confidence of the first hit
    rank: int | None  # where the expected pair came (1 = first), None when not in the first 5
    fused: float = 0.0  # the first hit's fused score, which a changed pair must reach to take its place


def shadow(retriever: Retriever, pairs: list[QAPair]) -> Retriever:
    """A retriever serving `pairs` (each as if published) and the live passages, in memory only."""
    live = retriever.snapshot
    served = [p if p.status == "published" else p.model_copy(update={"status": "published"}) for p in pairs]
    snap, _ = live.updated(served, list(live.passages.values()), retriever.encoder, None)
    copy = Retriever(retriever.encoder, retriever.index_root, retriever.thresholds, retriever.scoring)
    copy._snapshot = snap
    return copy


def run_golden(retriever: Retriever, questions: list[GoldenQuestion]) -> dict[int, Outcome]:
    out: dict[int, Outcome] = {}
    for g in questions:
        # As a visitor's question is answered: among the pairs visitors may be answered from (citable),
        # so a collection imported for staff search alone never takes a golden question.
        hits = retriever.search(g.question, 5, kind="citable")
        keys = [h.key for h in hits]
        top = hits[0] if hits else None
        out[g.id] = Outcome(
            passed=bool(top and top.key == g.pair_id),
            top=top.key if top else None,
            top_question=top.pair.question if top and top.pair else None,
            score=round(top.score, 4) if top else 0.0,
            rank=keys.index(g.pair_id) + 1 if g.pair_id in keys else None,
            fused=top.fused if top else 0.0,
        )
    return out


@dataclass(frozen=True)
class GoldenReport:
    total: int
    passed_live: int
    passed_draft: int
    broken: list[int]  # passed live, fail in the draft state
    fixed: list[int]  # failed live, pass in the draft state
    live: dict[int, Outcome]
    draft: dict[int, Outcome]
    took_ms: float


# The live snapshot's outcomes, per list of golden questions: the live index changes only on a publish,
# so a run of edits tries each change against the same results.
_live_outcomes: weakref.WeakKeyDictionary[Snapshot, tuple[tuple[GoldenQuestion, ...], dict[int, Outcome]]]
_live_outcomes = weakref.WeakKeyDictionary()
_live_lock = threading.Lock()


def live_outcomes(live: Retriever, questions: list[GoldenQuestion]) -> dict[int, Outcome]:
    snap = live.snapshot
    key = tuple(questions)
    with _live_lock:
        cached = _live_outcomes.get(snap)
    if cached is not None and cached[0] == key:
        return cached[1]
    outcomes = run_golden(live, questions)
    with _live_lock:
        _live_outcomes[snap] = (key, outcomes)
    return outcomes


# Up to this many pairs every golden question is asked again of the shadow index. Above it, only the
# questions a change can affect are: those whose pair or whose first hit changed, and those where a
# changed pair now scores within FUSED_SLACK of the first hit. (A change also moves every pair's BM25
# weights a little; across thousands of pairs one pair's share of that is far below the slack.)
EXHAUSTIVE_PAIRS = 2_000
FUSED_SLACK = 0.05


def affected(live: Retriever, draft: Retriever, questions: list[GoldenQuestion], before: dict[int, Outcome]):
    """The golden questions whose outcome the difference between `live` and `draft` may change."""
    old, new = live.snapshot, draft.snapshot
    changed = {k for k, p in new.pairs.items() if old.pairs.get(k) != p} | (old.pairs.keys() - new.pairs.keys())
    if not changed:
        return []
    positions = np.array([new.position[k] for k in changed if k in new.pairs], np.int64)
    rows = np.flatnonzero(np.isin(new.item_of_row, positions) & ~new.is_answer_row)
    vectors = new.index.vectors(rows) if len(rows) else np.zeros((0, new.index.dimension), np.float32)
    owners = new.item_of_row[rows]
    out = []
    for g in questions:
        o = before[g.id]
        if g.pair_id in changed or o.top is None or o.top in changed:
            out.append(g)
            continue
        if not len(rows):
            continue
        analysis = new.analyse(g.question, None, draft.scoring.spelling)
        sims = vectors @ draft.encoder.encode_query(analysis.text).ravel()
        dense = np.full(len(new.keys), -1.0, np.float32)
        np.maximum.at(dense, owners, sims)
        lexical = draft._lexical(new, analysis.text, None, None)
        fused = dense[positions] + draft.scoring.lexical_weight * lexical[positions]
        if float(fused.max()) >= o.fused - FUSED_SLACK:
            out.append(g)
    return out


def compare(live: Retriever, draft: Retriever, questions: list[GoldenQuestion]) -> GoldenReport:
    start = time.perf_counter()
    before = live_outcomes(live, questions)
    if len(draft.snapshot.pairs) <= EXHAUSTIVE_PAIRS or draft.scoring.answer_weight:
        after = run_golden(draft, questions)
    else:
        asked = run_golden(draft, affected(live, draft, questions, before))
        after = {g.id: asked.get(g.id, before[g.id]) for g in questions}
    return GoldenReport(
        total=len(questions),
        passed_live=sum(o.passed for o in before.values()),
        passed_draft=sum(o.passed for o in after.values()),
        broken=[g.id for g in questions if before[g.id].passed and not after[g.id].passed],
        fixed=[g.id for g in questions if not before[g.id].passed and after[g.id].passed],
        live=before,
        draft=after,
        took_ms=round((time.perf_counter() - start) * 1000, 1),
    )


def too_close(retriever: Retriever, pair: QAFields, pair_id: str | None, threshold: float) -> list[Warning]:
    """One warning per field of the pair whose text is at least `threshold` alike another pair's question
    or alternate (the most similar one named)."""
    snap = retriever.snapshot
    texts = [("question", pair.question)] + [(f"alternates[{i}]", a) for i, a in enumerate(pair.alternates)]
    rows = np.array(
        [
            r
            for r, e in enumerate(snap.index.entries)
            if e.kind == "qa" and e.field in ("question", "alternate") and e.key != pair_id
        ],
        np.int64,
    )
    if not len(rows) or not texts:
        return []
    entries = snap.index.entries
    alive = snap.index.alive()
    live_rows = np.arange(snap.index.rows) if alive is None else np.flatnonzero(alive)
    vectors = snap.index.vectors(live_rows[rows])
    sims = retriever.encoder.encode([t for _, t in texts]) @ vectors.T
    out = []
    for i, (field, text) in enumerate(texts):
        j = int(np.argmax(sims[i]))
        if sims[i, j] >= threshold:
            other = entries[int(rows[j])]
            what = "question" if other.field == "question" else "alternate"
            out.append(
                Warning(
                    field,
                    "too-close",
                    f"{text!r} is nearly the same as the {what} {other.text!r} of the pair {other.key!r} "
                    f"(similarity {sims[i, j]:.2f}): the two pairs would fight in retrieval. "
                    "Reword it, or add it to that pair instead.",
                )
            )
    return out


# --- the store's side: which pairs a change would serve ----------------------------------------


def golden_questions(store: Store) -> list[GoldenQuestion]:
    return [GoldenQuestion(g.id, g.question, g.pair_id) for g in store.list_golden()]


def published_after(store: Store, changed: list[QAPair], removed: set[str]) -> list[QAPair]:
    """The published pairs as they would be after saving `changed` and deleting `removed`."""
    current = {p.id: p for p in store.published_pairs()}
    for pair_id in removed:
        current.pop(pair_id, None)
    for pair in changed:
        if pair.status == "published":
            current[pair.id] = pair
        else:
            current.pop(pair.id, None)
    return list(current.values())


def draft_state(store: Store, unsaved: QAPair | None = None) -> list[QAPair]:
    """Every live pair, drafts included (as if all were published), with an unsaved edit in its place."""
    pairs = {s.pair.id: s.pair for s in store.list_pairs()}
    if unsaved is not None:
        pairs[unsaved.id] = unsaved
    return list(pairs.values())
