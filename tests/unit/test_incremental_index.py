"""Stable ids and incremental publishing (embeddings/index.py, retriever.Snapshot.updated), with a small
deterministic stand-in for the encoder: the same results as a fresh build, only changed texts encoded,
and the index on disk always whole (journal records cut short by a crash are ignored)."""

import hashlib
import logging

import numpy as np
import pytest

from embeddings import index as index_module
from embeddings.index import JOURNAL, Entry, IndexMismatch, VectorIndex, entry_id, load_or_build
from embeddings.retriever import Retriever, Thresholds
from knowledge.atomic import read_pointer
from knowledge.loader import load_pairs
from knowledge.passages import load_passages

pytestmark = pytest.mark.unit


class WordEncoder:
    """Bag-of-hashed-words vectors: deterministic per text, and it counts what it encodes."""

    model_id = "words@1"
    dimension = 48

    def __init__(self):
        self.encoded: list[str] = []

    def encode(self, texts: list[str]) -> np.ndarray:
        self.encoded.extend(texts)
        out = np.full((len(texts), self.dimension), 0.01, np.float32)
        for i, text in enumerate(texts):
            for w in text.lower().split():
                h = hashlib.md5(w.strip("?.,!").encode()).digest()
                out[i, h[0] % self.dimension] += 1 + h[1] / 255
        return out / np.linalg.norm(out, axis=1, keepdims=True)

    def encode_query(self, text: str) -> np.ndarray:
        return self.encode([text])


@pytest.fixture(scope="module")
def content():
    return load_pairs()[:30], load_passages()[:40]


def hits(r: Retriever, query: str, **kw) -> list[tuple]:
    return [(h.key, h.kind, h.score, h.field, h.dense, h.lexical, h.fused) for h in r.search(query, 10, **kw)]


QUERIES = [
    "is the liberation procedure proven?",
    "jugular stents",
    "brand new wording about azygos",
    "CCSVI veins",
    "ms nurse",
    "zamboni",
    "liberation",
    "what did the trials find",
    "zzz",
]


def same_results(a: Retriever, b: Retriever) -> None:
    tags = {t for p in b.snapshot.pairs.values() for t in p.tags} | {"source-article", "no-such-tag"}
    for q in QUERIES:
        for mode in ("hybrid", "dense", "bm25"):
            assert hits(a, q, mode=mode) == hits(b, q, mode=mode), (q, mode)
        for tag in sorted(tags):
            assert hits(a, q, tag=tag) == hits(b, q, tag=tag), (q, tag)
        assert hits(a, q, kind="citable") == hits(b, q, kind="citable")
        assert a.decide(q) == b.decide(q)
        assert a.analyse(q) == b.analyse(q)


def edited(pairs, i, **changes):
    return [*pairs[:i], pairs[i].model_copy(update=changes), *pairs[i + 1 :]]


def test_publishing_one_edit_gives_what_a_fresh_build_gives_and_encodes_only_the_new_texts(tmp_path, content):
    pairs, passages = content
    encoder = WordEncoder()
    live = Retriever(encoder, tmp_path / "live", Thresholds.default())
    assert live.load(pairs, passages)
    p = pairs[4]
    changed = edited(
        pairs,
        4,
        answer=p.answer + " Now also about azygos stents.",
        alternates=[*p.alternates[1:], "brand new wording about azygos"],
        tags=[*p.tags, "extra"],
    )
    encoder.encoded.clear()
    assert live.load(changed, passages)
    assert sorted(encoder.encoded) == sorted([changed[4].answer, "brand new wording about azygos"])
    fresh = Retriever(WordEncoder(), tmp_path / "fresh", Thresholds.default())
    fresh.load(changed, passages)
    same_results(live, fresh)
    assert live.snapshot.index.checksum == fresh.snapshot.index.checksum


def test_new_and_deleted_pairs_and_passages_and_other_field_changes(tmp_path, content):
    pairs, passages = content
    encoder = WordEncoder()
    live = Retriever(encoder, tmp_path / "live", Thresholds.default())
    live.load(pairs[:20], passages[:30])

    def texts(items) -> list[str]:
        return sorted(
            t for x in items for t in ([x.question, *x.alternates, x.answer] if hasattr(x, "answer") else [x.text])
        )

    steps = [  # (pairs, passages, the texts that must be encoded)
        (pairs[:25], passages[:30], texts(pairs[20:25])),  # five new pairs
        (pairs[2:25], passages[5:35], texts(passages[30:35])),  # pairs and passages deleted, others added
        (edited(pairs[2:25], 3, sources=[], tags=["retagged"]), passages[5:35], []),  # no text changed
        ([], passages[:3], texts(passages[:3])),
        (pairs, passages, texts(pairs + passages[3:])),
    ]
    for step_pairs, step_passages, encoded in steps:
        encoder.encoded.clear()
        live.load(step_pairs, step_passages)
        assert sorted(encoder.encoded) == encoded
        fresh = Retriever(WordEncoder(), tmp_path / "fresh", Thresholds.default())
        fresh.load(step_pairs, step_passages)
        same_results(live, fresh)
        assert live.snapshot.index.checksum == fresh.snapshot.index.checksum


def test_an_unchanged_publish_keeps_the_index_and_a_draft_is_not_served(tmp_path, content):
    pairs, passages = content
    live = Retriever(WordEncoder(), tmp_path, Thresholds.default())
    live.load(pairs, passages)
    index = live.snapshot.index
    assert not live.load(pairs, passages) and live.snapshot.index is index
    assert live.load(edited(pairs, 0, status="draft"), passages)
    assert pairs[0].id not in live.snapshot.pairs and all(e.key != pairs[0].id for e in live.snapshot.index.entries)


def test_a_restart_reuses_the_index_and_encodes_only_texts_changed_while_stopped(tmp_path, content):
    pairs, passages = content
    first = Retriever(WordEncoder(), tmp_path, Thresholds.default())
    first.load(pairs, passages)
    now = edited(pairs, 1, question="What is a brand new question?")
    first.load(now, passages)  # a journal record
    encoder = WordEncoder()
    again = Retriever(encoder, tmp_path, Thresholds.default())
    assert not again.load(now, passages)
    assert encoder.encoded == []
    later = edited(now, 2, answer="Changed while the service was stopped.")
    encoder = WordEncoder()
    restarted = Retriever(encoder, tmp_path, Thresholds.default())
    assert restarted.load(later, passages) and encoder.encoded == ["Changed while the service was stopped."]
    fresh = Retriever(WordEncoder(), tmp_path / "fresh", Thresholds.default())
    fresh.load(later, passages)
    same_results(restarted, fresh)


def test_a_publish_appends_a_journal_record_and_a_record_cut_short_by_a_crash_is_ignored(tmp_path, content):
    pairs, passages = content
    live = Retriever(WordEncoder(), tmp_path, Thresholds.default())
    live.load(pairs, passages)
    folder = tmp_path / read_pointer(tmp_path)
    live.load(edited(pairs, 5, answer="First edit."), passages)
    good = (folder / JOURNAL).read_bytes()
    live.load(edited(pairs, 5, answer="Second edit."), passages)
    assert read_pointer(tmp_path) == folder.name  # appended, not rewritten
    whole = (folder / JOURNAL).read_bytes()
    assert len(whole) > len(good)
    (folder / JOURNAL).write_bytes(whole[:-7])  # the crash: the last record is not all on disk
    encoder = WordEncoder()
    restarted = Retriever(encoder, tmp_path, Thresholds.default())
    assert restarted.load(edited(pairs, 5, answer="First edit."), passages) is False  # the state before it
    assert (folder / JOURNAL).read_bytes() == good  # the damaged tail is dropped before anything is appended
    restarted.load(edited(pairs, 5, answer="Second edit."), passages)
    assert encoder.encoded == ["Second edit."]
    with pytest.raises(IndexMismatch):
        VectorIndex.load(tmp_path, [Entry("x", "qa", "question", "y")], WordEncoder.model_id)


def test_a_long_journal_is_folded_into_a_new_folder(tmp_path, content, monkeypatch):
    monkeypatch.setattr(index_module, "JOURNAL_RECORDS", 2)
    pairs, passages = content
    live = Retriever(WordEncoder(), tmp_path, Thresholds.default())
    live.load(pairs, passages)
    first = read_pointer(tmp_path)
    for i in range(3):
        live.load(edited(pairs, 5, answer=f"Edit {i}."), passages)
    assert read_pointer(tmp_path) != first
    assert not (tmp_path / read_pointer(tmp_path) / JOURNAL).exists()
    assert len([p for p in tmp_path.iterdir() if p.is_dir()]) <= 2  # the new folder and the one before
    again = Retriever(WordEncoder(), tmp_path, Thresholds.default())
    assert not again.load(edited(pairs, 5, answer="Edit 2."), passages)


def test_a_failed_save_leaves_the_old_snapshot_serving_and_the_old_index_on_disk(tmp_path, content, monkeypatch):
    pairs, passages = content
    live = Retriever(WordEncoder(), tmp_path, Thresholds.default())
    live.load(pairs, passages)
    before = hits(live, "liberation")

    def broken(*_a, **_k):
        raise OSError("disk full")

    monkeypatch.setattr(VectorIndex, "persist", broken)
    with pytest.raises(OSError):
        live.load(edited(pairs, 0, question="Something else entirely?"), passages)
    assert hits(live, "liberation") == before
    monkeypatch.undo()
    assert not Retriever(WordEncoder(), tmp_path, Thresholds.default()).load(pairs, passages)


def test_ids_depend_only_on_what_a_vector_stands_for_and_a_collision_takes_the_next_id(tmp_path, monkeypatch, caplog):
    entries = [
        Entry("a", "qa", "question", "one"),
        Entry("a", "qa", "alternate", "two", 0),
        Entry("a", "qa", "alternate", "three", 1),
        Entry("b", "passage", "passage", "four"),
    ]
    encoder = WordEncoder()
    index = VectorIndex.build(entries, encoder)
    assert list(index.ids) == [entry_id(e.identity) for e in entries]
    assert VectorIndex.build(entries[2:], encoder).ids[0] == index.ids[2]  # not a row number
    assert all(0 <= i < 2**63 for i in index.ids)

    real = index_module.entry_id
    monkeypatch.setattr(
        index_module, "entry_id", lambda identity, attempt=0: real(("qa", "same", "question", 0), attempt)
    )
    with caplog.at_level(logging.WARNING, logger="faqbot"):
        collided = VectorIndex.build(entries, encoder)
    assert len(set(collided.ids.tolist())) == 4 and "collision" in caplog.text
    collided.save(tmp_path)
    assert list(VectorIndex.load(tmp_path, entries, encoder.model_id).ids) == list(collided.ids)
    # A later update keeps the ids it recorded, and never hands out one in use.
    updated, _, _ = collided.apply(np.array([1]), [Entry("a", "qa", "alternate", "two again", 0)], encoder)
    live = updated.compacted()[0].ids.tolist()
    assert len(set(live)) == 4 and {collided.ids[i] for i in (0, 2, 3)} <= set(live)


def test_an_index_saved_before_stable_ids_is_adopted_without_encoding(tmp_path):
    import json

    from embeddings.index import _v1_checksum, faiss_module

    faiss = faiss_module()
    entries = [Entry("a", "qa", "question", "one"), Entry("a", "qa", "answer", "two")]
    encoder = WordEncoder()
    vectors = encoder.encode([e.text for e in entries])
    old = faiss.IndexIDMap2(faiss.IndexFlatIP(encoder.dimension))
    old.add_with_ids(vectors, np.arange(2, dtype=np.int64))
    folder = tmp_path / "abc"
    folder.mkdir()
    (folder / "vectors.faiss").write_bytes(faiss.serialize_index(old).tobytes())
    (folder / "manifest.json").write_text(
        json.dumps(
            {
                "version": 1,
                "model": encoder.model_id,
                "dimension": encoder.dimension,
                "count": 2,
                "checksum": _v1_checksum(entries, encoder.model_id),
                "entries": [[e.key, e.kind, e.field] for e in entries],
            }
        )
    )
    (tmp_path / "CURRENT").write_text("abc")
    encoder.encoded.clear()
    index, built = load_or_build(tmp_path, entries, encoder)
    assert not built and encoder.encoded == [] and np.array_equal(index.vectors(), vectors)
    assert VectorIndex.load(tmp_path, entries, encoder.model_id).checksum == index.checksum


def test_the_staff_explain_path_reads_the_query_once_and_decide_honours_a_tag(tmp_path, content, monkeypatch):
    pairs, passages = content
    r = Retriever(WordEncoder(), tmp_path, Thresholds.default())
    r.load(pairs, passages)
    tag = next(t for p in pairs if p.sources for t in p.tags)
    calls = []
    real = type(r.snapshot).analyse

    def counted(self, *args):
        calls.append(args)
        return real(self, *args)

    monkeypatch.setattr(type(r.snapshot), "analyse", counted)
    found, analysis = r.search_analysed("is the liberaton procedure proven?", 5, tag, None, "hybrid")
    decision = r.decide("is the liberaton procedure proven?", tag, analysis)
    assert len(calls) == 1 and analysis.corrections == {"liberaton": "liberation"} and analysis.tag == tag
    assert found and all(tag in h.pair.tags for h in found if h.pair)
    assert all(tag in h.pair.tags for h in decision.hits)
    assert decision == r.decide("is the liberaton procedure proven?", tag)
    assert r.decide("is the liberation procedure proven?") == r.decide(
        "is the liberation procedure proven?", None, None
    )
    with pytest.raises(ValueError):
        r.decide("another question", tag, analysis)
    with pytest.raises(ValueError):
        r.decide("is the liberaton procedure proven?", None, analysis)


@pytest.mark.parametrize("exhaustive", [True, False])
def test_many_publishes_fold_the_delta_into_the_base_now_and_then_and_change_nothing_found(
    tmp_path, content, monkeypatch, exhaustive
):
    import random

    from embeddings import retriever as retriever_module

    monkeypatch.setattr(index_module, "DELTA_ROWS", 12)
    if not exhaustive:  # large collections are searched through their top rows only
        monkeypatch.setattr(retriever_module, "EXHAUSTIVE_ROWS", 50)
    rng = random.Random(5)
    pairs, passages = list(content[0]), list(content[1][:10])
    live = Retriever(WordEncoder(), tmp_path / "live", Thresholds.default())
    live.load(pairs, passages)
    folded = 0
    for step in range(14):
        i = rng.randrange(len(pairs)) if step % 3 else 7  # pair 7 is edited again and again
        pairs[i] = pairs[i].model_copy(
            update={
                "answer": f"Edit {step}: {rng.choice(QUERIES)}",
                "alternates": [*pairs[i].alternates[:2], f"wording {step}"],
            }
        )
        if step % 5 == 4:
            pairs.insert(0, pairs.pop())  # same content, another order: nothing to do
            gone = pairs.pop(rng.randrange(len(pairs)))
            live.load(pairs, passages)
            pairs.append(gone)
        base = live.snapshot.index.index
        live.load(pairs, passages)
        folded += live.snapshot.index.index is not base
        fresh = Retriever(WordEncoder(), tmp_path / f"fresh{step}", Thresholds.default())
        fresh.load(pairs, passages)
        same_results(live, fresh)
    assert folded >= 2
    restarted = Retriever(WordEncoder(), tmp_path / "live", Thresholds.default())
    assert not restarted.load(pairs, passages)
    same_results(restarted, live)


def test_when_two_texts_of_an_item_score_the_same_the_question_is_the_match_whatever_the_row_order():
    rank_of_row = np.array([0, 2, 0, 1, 0])  # item 0: question row 0, alternates rows 3 and 1
    rows, items = np.array([1, 3, 0, 4]), np.array([0, 0, 0, 1])
    scores = np.array([0.9, 0.7, 0.9, 0.5], np.float32)  # the question and alternate 1 are the same text
    for written in (1, 0):  # whichever of the tied rows the scores' sort happened to put last
        best, best_row = np.array([0.9, 0.5], np.float32), np.array([written, 4])
        Retriever._settle_ties(rank_of_row, best, best_row, rows, scores, items, np.ones(4, bool))
        assert list(best_row) == [0, 4]


def test_search_never_returns_a_dead_row_and_cuts_to_k_best_first(tmp_path):
    encoder = WordEncoder()
    entries = [Entry(f"k{i}", "qa", "question", f"jugular vein number {i} " + "x " * i) for i in range(40)]
    index = VectorIndex.build(entries, encoder)
    live, _, _ = index.apply(np.arange(0, 40, 3), [], encoder)  # only removals: dead rows, no delta
    query = encoder.encode(["jugular vein number"])
    fresh = VectorIndex.build([e for i, e in enumerate(entries) if i % 3], encoder)
    for k in (1, 5, 26, 100):
        scores, rows = live.search(query, k)
        want, _ = fresh.search(query, k)
        assert rows.shape[1] == min(k, 26) and all(r % 3 for r in rows[0])
        assert np.array_equal(scores, want) and list(scores[0]) == sorted(scores[0], reverse=True)
    allowed = np.zeros(live.rows, bool)
    allowed[:10] = True
    _, rows = live.search(query, 100, allowed)
    assert sorted(r for r in rows[0] if r >= 0) == [i for i in range(10) if i % 3]
