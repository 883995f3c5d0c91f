"""The FAISS index with the real encoder: build, save, reload, search, and a crash mid-save."""

import json
import os

import numpy as np
import pytest

from embeddings.index import Entry, IndexMismatch, VectorIndex, load_or_build
from embeddings.retriever import Retriever, Thresholds
from knowledge.loader import load_pairs
from knowledge.passages import load_passages

pytestmark = pytest.mark.integration

ENTRIES = [
    Entry("veins", "qa", "question", "Do narrowed neck veins cause multiple sclerosis?"),
    Entry("nice", "qa", "question", "What does NICE say about the liberation procedure?"),
    Entry("bread", "qa", "question", "How do I bake sourdough bread?"),
]


def test_build_save_reload_gives_the_same_answers(tmp_path, encoder):
    index, built = load_or_build(tmp_path, ENTRIES, encoder)
    assert built and len(index) == 3 and index.dimension == encoder.dimension
    manifest = json.loads((tmp_path / (tmp_path / "CURRENT").read_text() / "manifest.json").read_text())
    assert manifest["count"] == 3 and manifest["model"] == encoder.model_id
    again, built_again = load_or_build(tmp_path, ENTRIES, encoder)
    assert not built_again
    q = encoder.encode(["is MS caused by blocked veins?"])
    s1, i1 = index.search(q, 3)
    s2, i2 = again.search(q, 3)
    assert i1[0][0] == i2[0][0] == 0
    np.testing.assert_allclose(s1, s2, rtol=1e-6)


def test_changed_content_or_model_is_rebuilt_not_reused(tmp_path, encoder):
    load_or_build(tmp_path, ENTRIES, encoder)
    changed = ENTRIES[:2] + [Entry("bread", "qa", "question", "How do I bake rye bread?")]
    with pytest.raises(IndexMismatch):
        VectorIndex.load(tmp_path, changed, encoder.model_id)
    with pytest.raises(IndexMismatch):
        VectorIndex.load(tmp_path, ENTRIES, "another-model@123")
    _, built = load_or_build(tmp_path, changed, encoder)
    assert built


def test_a_crash_while_saving_leaves_the_previous_index_serving(tmp_path, encoder, monkeypatch):
    load_or_build(tmp_path, ENTRIES, encoder)
    new = VectorIndex.build(ENTRIES[:2], encoder)
    real_replace = os.replace

    def crash(src, dst):
        if str(dst).endswith("CURRENT"):
            raise OSError("disk gone")
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError):
        new.save(tmp_path)
    monkeypatch.setattr(os, "replace", real_replace)
    assert len(VectorIndex.load(tmp_path, ENTRIES, encoder.model_id)) == 3


def test_a_corrupt_index_file_is_refused(tmp_path, encoder):
    load_or_build(tmp_path, ENTRIES, encoder)
    folder = tmp_path / (tmp_path / "CURRENT").read_text()
    (folder / "vectors.faiss").write_bytes(b"not an index")
    with pytest.raises(IndexMismatch):
        VectorIndex.load(tmp_path, ENTRIES, encoder.model_id)


@pytest.fixture(scope="module")
def shipped(tmp_path_factory, encoder):
    r = Retriever(encoder, tmp_path_factory.mktemp("index"), Thresholds.default())
    r.load(load_pairs(), load_passages())
    return r


def test_retriever_ranks_the_right_pair_first_for_plain_questions(shipped):
    assert shipped.search("is the liberation procedure proven?", 3)[0].key == "liberation-procedure-proven"
    assert shipped.decide("is the liberation procedure proven?").kind == "answer"


def test_retriever_hits_are_best_first_one_per_item_and_honour_k_and_tag(shipped):
    hits = shipped.search("CCSVI veins", 10)
    assert len(hits) == 10 and len({h.key for h in hits}) == 10
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert all(0 <= h.score <= 1 for h in hits)
    tagged = shipped.search("CCSVI", 50, tag="source-article")
    assert tagged and all(h.kind == "passage" for h in tagged)
    assert shipped.search("CCSVI", 5, tag="no-such-tag") == []


@pytest.mark.parametrize(
    "question",
    [
        "what's the weather in Leeds tomorrow?",
        "give me a lasagne recipe",
        "who won the cup final",
        "how do I write a for loop in python",
    ],
)
def test_questions_unrelated_to_ms_are_not_answered(shipped, question):
    assert shipped.decide(question).kind == "fallback"


def test_publishing_one_edit_gives_the_same_hits_and_scores_as_a_fresh_build(tmp_path, encoder):
    """With the real encoder: the incremental path (one pair's vectors replaced under their ids, BM25
    and vocabulary updated) answers exactly as a retriever built from scratch on the edited content."""
    pairs, passages = load_pairs(), load_passages()
    live = Retriever(encoder, tmp_path / "live", Thresholds.default())
    live.load(pairs, passages)
    i = next(n for n, p in enumerate(pairs) if p.id == "liberation-procedure-proven")
    p = pairs[i]
    changed = [
        *pairs[:i],
        p.model_copy(
            update={
                "answer": p.answer + " A 2017 trial of balloon venoplasty (Brave Dreams) found no benefit either.",
                "alternates": [*p.alternates[:-1], "did the brave dreams trial show venoplasty works"],
            }
        ),
        *pairs[i + 1 :],
    ]
    before = len(live.snapshot.index)
    assert live.load(changed, passages)
    assert len(live.snapshot.index) == before
    fresh = Retriever(encoder, tmp_path / "fresh", Thresholds.default())
    fresh.load(changed, passages)
    assert live.snapshot.index.checksum == fresh.snapshot.index.checksum
    for q in [
        "did the brave dreams trial show venoplasty works",
        "is the liberation procedure proven?",
        "CCSVI veins",
        "what's the weather in Leeds tomorrow?",
        "juglar vien stents",
        "zamboni",
    ]:
        for kw in ({}, {"tag": "source-article"}, {"kind": "citable"}, {"mode": "bm25"}, {"mode": "dense"}):
            a = [(h.key, h.score, h.field, h.dense, h.lexical, h.fused) for h in live.search(q, 10, **kw)]
            b = [(h.key, h.score, h.field, h.dense, h.lexical, h.fused) for h in fresh.search(q, 10, **kw)]
            assert a == b, (q, kw)
        assert live.decide(q) == fresh.decide(q)
    assert live.search("did the brave dreams trial show venoplasty works", 1)[0].key == p.id
