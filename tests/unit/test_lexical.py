"""BM25 kept as per-term statistics gives bm25s' scores to the last bit, after any series of updates."""

import random

import bm25s
import numpy as np
import pytest

from embeddings.lexical import EMPTY, STOP_WORDS, LexicalIndex, tokens

pytestmark = pytest.mark.unit

WORDS = [
    "vein",
    "veins",
    "jugular",
    "stent",
    "stents",
    "balloon",
    "liberation",
    "procedure",
    "trial",
    "trials",
    "risk",
    "risks",
    "brain",
    "blood",
    "relapse",
    "nurse",
    "clinic",
    "scan",
    "study",
    "fatigue",
    "walking",
    "sight",
    "diet",
    "sleep",
    "pain",
    "drug",
    "dose",
    "theory",
    "surgeon",
    "review",
    "guidance",
    "ccsvi",
    "zamboni",
    "azygos",
    "ipg640",
    "the",
    "a",
    "of",
    "and",
    "is",
    "it",
    "2010",
    "x",
]


def bm25s_scores(docs: list[str], query: str, per_term: bool, members: list[int] | None = None) -> np.ndarray:
    """What the index scored with bm25s before (one bm25s index per searched collection)."""
    picked = list(range(len(docs))) if members is None else members
    out = np.zeros(len(docs), np.float32)
    if not picked:
        return out
    model = bm25s.BM25(k1=1.2, b=0.75)
    model.index([tokens(docs[i]) or [EMPTY] for i in picked], show_progress=False)
    words = tokens(query)
    q = [t for t in words if t in model.vocab_dict]
    if not q:
        return out
    raw = np.asarray(model.get_scores(q), dtype=np.float32)
    out[picked] = raw / len(words) if per_term else raw
    return out


def test_the_stop_words_are_bm25s_english_ones():
    assert frozenset(bm25s.stopwords.STOPWORDS_EN) == STOP_WORDS


@pytest.mark.parametrize("seed", range(8))
def test_scores_equal_a_fresh_bm25s_index_exactly_after_removals_edits_and_additions(seed):
    rng = random.Random(seed)

    def doc() -> str:
        return " ".join(rng.choice(WORDS) for _ in range(rng.randint(0, 40)))  # some documents have no terms

    docs = {f"k{i}": doc() for i in range(rng.randint(1, 120))}
    index = LexicalIndex(list(docs), list(docs.values()))
    for step in range(6):
        removed = rng.sample(sorted(docs), min(len(docs) - 1, rng.randint(0, 3)))
        for k in removed:
            del docs[k]
        changed = {k: doc() for k in rng.sample(sorted(docs), min(len(docs), 2))}
        changed.update({f"n{step}-{i}": doc() for i in range(rng.randint(0, 3))})
        docs.update(changed)
        index = index.updated(removed, changed)
        keys, texts = list(docs), list(docs.values())
        members = sorted(rng.sample(range(len(keys)), rng.randint(0, len(keys))))
        subset = index.subset([keys[i] for i in members])
        for _ in range(6):
            query = " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 7)))
            for per_term in (False, True):
                got = index.scores(query, per_term=per_term)[index.slots(keys)]
                assert np.array_equal(got, bm25s_scores(texts, query, per_term)), query
                got = index.scores(query, per_term=per_term, subset=subset)[index.slots(keys)]
                assert np.array_equal(got, bm25s_scores(texts, query, per_term, members)), query


def test_an_update_leaves_the_index_it_came_from_unchanged():
    index = LexicalIndex(["a", "b"], ["jugular vein stent", "balloon trial"])
    before = index.scores("jugular balloon").copy()
    index.updated(["a"], {"b": "jugular jugular", "c": "stent"})
    assert np.array_equal(index.scores("jugular balloon"), before) and index.keys == ["a", "b"]
