"""The per-collection encoder check and choice (embeddings/choice.py), with stand-in encoders."""

import hashlib

import numpy as np
import pytest

from embeddings.choice import check, choose
from knowledge.schema import QAPair

pytestmark = pytest.mark.unit


class WordEncoder:
    """Bag-of-hashed-words vectors; `blind` words are not seen (a model that ignores the topic)."""

    dimension = 64

    def __init__(self, model_id: str, blind: frozenset[str] = frozenset()):
        self.model_id = model_id
        self.blind = blind

    def encode(self, texts: list[str]) -> np.ndarray:
        out = np.full((len(texts), self.dimension), 0.01, np.float32)
        for i, text in enumerate(texts):
            for w in text.lower().split():
                w = w.strip("?.,!")
                if w in self.blind:
                    continue
                h = hashlib.md5(w.encode()).digest()
                out[i, h[0] % self.dimension] += 1
        return out / np.linalg.norm(out, axis=1, keepdims=True)


TOPICS = ["asthma", "gout", "eczema", "migraine", "anaemia", "scurvy", "rickets", "mumps"]


def pairs(alternates: bool = True) -> list[QAPair]:
    return [
        QAPair(
            id=f"p-{t}",
            question=f"What is {t}?",
            alternates=[f"{t}?", f"{t} facts", f"about {t}"] if alternates else [],
            answer=f"{t.title()} is a condition.",
        )
        for t in TOPICS
    ]


def test_check_counts_an_alternate_that_reaches_its_own_pair():
    c = check(pairs(), WordEncoder("sees@1"))
    assert (c.pairs, c.alternates) == (len(TOPICS), 3 * len(TOPICS))
    assert c.r1 == 1.0 and c.mrr == 1.0


def test_check_of_a_topic_blind_encoder_is_lower():
    assert check(pairs(), WordEncoder("blind@1", frozenset(TOPICS))).r1 < 0.5


def test_the_encoder_that_tells_the_pairs_apart_is_chosen():
    encoders = {"finetuned": WordEncoder("blind@1", frozenset(TOPICS)), "packaged": WordEncoder("sees@1")}
    choice = choose(pairs(), encoders, min_alternates=10)
    assert choice.encoder == "packaged"
    assert choice.checks["packaged"].r1 > choice.checks["finetuned"].r1


def test_a_tie_goes_to_the_packaged_encoder():
    encoders = {"finetuned": WordEncoder("a@1"), "packaged": WordEncoder("b@1")}
    assert choose(pairs(), encoders, min_alternates=10).encoder == "packaged"


def test_a_collection_without_enough_alternates_gets_the_unchecked_default():
    encoders = {"finetuned": WordEncoder("a@1"), "packaged": WordEncoder("b@1", frozenset(TOPICS))}
    assert choose(pairs(alternates=False), encoders).encoder == "finetuned"
    assert choose(pairs(alternates=False), encoders, unchecked="packaged").encoder == "packaged"
    assert choose(pairs(), encoders, min_alternates=100).reason.endswith("not checked")
    assert check(pairs(alternates=False), encoders["finetuned"]).alternates == 0


class QueryWordEncoder(WordEncoder):
    """A WordEncoder that can also encode one query, as the retriever asks."""

    def encode_query(self, text: str) -> np.ndarray:
        return self.encode([text])


def tagged(tag: str) -> list[QAPair]:
    return [
        p.model_copy(update={"id": f"{tag}-{p.id}", "tags": [tag], "status": "published", "evidence": "background"})
        for p in pairs()
    ]


def retriever(tmp_path, served, base):
    from embeddings.retriever import Retriever, Thresholds

    r = Retriever(served, tmp_path, Thresholds.default(), base_encoder=base, min_alternates=5)
    r.load(tagged("health"), [])
    return r


def test_a_collection_is_searched_with_the_encoder_its_check_prefers(tmp_path):
    # The served encoder is blind to the collection's topic words; the base one sees them. The
    # check chooses the base encoder for the collection, and a search naming the tag uses it:
    # dense alone, "gout facts" reaches the gout pair (the served encoder cannot tell the pairs apart).
    served, base = QueryWordEncoder("served@1", frozenset(TOPICS)), QueryWordEncoder("base@1")
    r = retriever(tmp_path, served, base)
    choice = r.collection_choice("health")
    assert choice is not None and choice.encoder == "packaged"
    hits = r.search("gout facts", 1, tag="health", mode="dense")
    assert hits[0].key == "health-p-gout"
    # Without the base encoder every search reads the served index, blind to the topic.
    plain = retriever(tmp_path / "plain", served, None)
    assert plain.collection_choice("health") is None
    assert plain.search("gout facts", 1, tag="health", mode="dense")[0].dense < hits[0].dense


def test_a_collection_the_served_encoder_serves_better_keeps_it(tmp_path):
    served, base = QueryWordEncoder("served@1"), QueryWordEncoder("base@1", frozenset(TOPICS))
    r = retriever(tmp_path, served, base)
    choice = r.collection_choice("health")
    assert choice is not None and choice.encoder == "finetuned"
    assert r.search("gout facts", 1, tag="health", mode="dense")[0].key == "health-p-gout"


def test_a_collection_without_enough_alternates_is_not_checked(tmp_path):
    from embeddings.retriever import Retriever, Thresholds

    served, base = QueryWordEncoder("served@1"), QueryWordEncoder("base@1")
    r = Retriever(served, tmp_path, Thresholds.default(), base_encoder=base, min_alternates=1000)
    r.load(tagged("health"), [])
    assert r.collection_choice("health") is None
