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
