"""VectorIndex.top, what the retriever reads: the same best rows and scores (up to float32 rounding) as a
plain FAISS search, also above EXACT_ROWS, where it scans the vectors in half precision first and scores
only the likely rows."""

import numpy as np
import pytest

from embeddings.index import EXACT_ROWS, Entry, VectorIndex

pytestmark = pytest.mark.unit


class RandomEncoder:
    model_id = "random@1"
    dimension = 32

    def __init__(self, seed: int):
        self.rng = np.random.default_rng(seed)

    def encode(self, texts: list[str]) -> np.ndarray:
        v = self.rng.standard_normal((len(texts), self.dimension)).astype(np.float32)
        return v / np.linalg.norm(v, axis=1, keepdims=True)


def best(index: VectorIndex, query: np.ndarray, k: int, allowed: np.ndarray | None) -> dict[int, float]:
    scores, rows = index.search(query[None], k, allowed)
    return {int(r): float(s) for r, s in zip(rows[0], scores[0], strict=True) if r >= 0}


def same_best(found: dict[int, float], expected: dict[int, float], tol: float = 1e-6) -> None:
    """The same best rows with the same scores, up to float32 rounding (FAISS sums a selection of rows
    in another order than all of them); a row may differ only in a tie at the cut."""
    assert len(found) == len(expected)
    cut = min(expected.values(), default=0.0)
    for row, score in found.items():
        if row in expected:
            assert abs(score - expected[row]) <= tol, (row, score, expected[row])
        else:
            assert abs(score - cut) <= tol, (row, score, cut)


@pytest.mark.parametrize("rows", [500, EXACT_ROWS + 5_000])
def test_top_finds_what_a_full_search_finds_with_dead_rows_a_delta_and_a_filter(rows):
    encoder = RandomEncoder(rows)
    entries = [Entry(f"p{i}", "qa", "question", f"text {i}") for i in range(rows)]
    index = VectorIndex.from_vectors(entries, encoder.encode([e.text for e in entries]), encoder.model_id)
    rng = np.random.default_rng(1)
    # Publishes: rows of the base removed, new rows in the delta, one the same text as a row kept.
    for step in range(3):
        alive = index.alive()
        remove = rng.choice(np.flatnonzero(alive) if alive is not None else np.arange(index.rows), 40, replace=False)
        added = [Entry(f"n{step}-{i}", "qa", "question", f"new {step} {i}") for i in range(30)]
        index, _, _ = index.apply(remove, added, encoder)
    queries = encoder.encode(["q"] * 6)
    queries[0] = index.vectors(np.array([index.rows - 1]))[0]  # a query equal to a stored vector
    for query in queries:
        for k in (1, 10, 160):
            for allowed in (None, rng.random(index.rows) < 0.9, rng.random(index.rows) < 0.02):
                scores, found = index.top(query, k, allowed)
                expected = best(index, query, k, allowed)
                same_best(dict(zip(found.tolist(), scores.tolist(), strict=True)), expected)
                alive = index.alive()
                assert alive is None or alive[found].all()


@pytest.mark.parametrize("seed", range(6))
def test_the_retrievers_top_k_is_a_stable_sorts_even_with_many_ties(seed):
    """The fused scores' k best, highest first and equal scores in their order: what a stable sort of all
    of them gives, also when thousands share the k-th score (BM25-only items at 100,000 pairs) or some
    are NaN."""
    from embeddings.retriever import _highest

    rng = np.random.default_rng(seed)
    values = rng.choice(np.array([0.1, 0.25, 0.5, 0.7], np.float32), 5000)  # ties everywhere
    values[rng.choice(5000, 3, replace=False)] = rng.random(3).astype(np.float32) + 0.5
    if seed % 2:
        values[rng.choice(5000, 40, replace=False)] = np.nan
    # Nearly all equal (a word in every item), a few above and some below the mass.
    mass = np.full(20000, 2.8e-7, np.float32)
    mass[rng.choice(20000, 30, replace=False)] = rng.random(30).astype(np.float32)
    mass[rng.choice(20000, 10, replace=False)] = 0.0
    for k in (1, 5, 10, 29, 30, 31, 64):
        for v in (values, mass, rng.random(3000).astype(np.float32)):
            expected = np.argsort(-v, kind="stable")[:k]
            assert _highest(v, k).tolist() == expected.tolist(), k
