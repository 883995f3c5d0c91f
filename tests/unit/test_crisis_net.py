"""The crisis net's logic: how its probability and Rasa's crisis intent combine, the sentence-by-
sentence judgement, the JSON cache, and the training file's hygiene (no model: a keyword encoder)."""

import json
import re

import numpy as np
import pytest
import yaml

from bot.safety.base import HARM_DISCLOSURE, SUICIDE_SELF_HARM, SafetyMatch
from bot.safety.semantic import (
    PERSONAL_AGREE,
    REMINDER,
    SAFETY,
    TOPIC_PROBABILITY,
    TRAINING_PATH,
    CrisisNet,
    Example,
    combine,
    load_net,
    read_examples,
    sentences,
)
from bot.settings import ConversationSettings
from tests.conftest import REPO

pytestmark = pytest.mark.unit

CUT = ConversationSettings()


class KeywordEncoder:
    """Stands in for the sentence encoder: one axis per cue word, so the fit is predictable."""

    model_id = "keywords@test"
    CUES = ("die", "hits", "coffee", "clot")
    dimension = len(CUES) + 1

    def __init__(self) -> None:
        self.calls = 0

    def encode(self, texts: list[str]) -> np.ndarray:
        self.calls += 1
        rows = []
        for t in texts:
            found = set(re.findall(r"[a-z]+", t.lower()))
            v = np.array([float(c in found) for c in self.CUES] + [0.1], dtype=np.float32)
            rows.append(v / np.linalg.norm(v))
        return np.vstack(rows)


EXAMPLES = [
    *(Example(t, SUICIDE_SELF_HARM) for t in ["i want to die", "i would rather die", "let me die"]),
    *(Example(t, HARM_DISCLOSURE) for t in ["he hits me", "my partner hits me"]),
    *(Example(t, None) for t in ["a coffee please", "coffee time", "what is a clot", "clot risk", "hello"]),
]


def test_a_sure_net_gives_the_safety_reply_and_an_unsure_one_the_numbers_under_the_answer():
    assert combine(0.95, 0.0, CUT) == SAFETY
    assert combine(0.5, 0.0, CUT) == REMINDER
    assert combine(0.05, 0.0, CUT) is None


def test_rasas_crisis_intent_counts_only_where_the_net_agrees():
    # Sure classifier, net leaning the same way: a verdict. Net unsure: the numbers only. Net sure it
    # is nothing (the stray cat, the lost glasses): nothing at all.
    assert combine(0.6, 0.95, CUT) == SAFETY
    assert combine(0.2, 0.95, CUT) == REMINDER
    assert combine(0.02, 0.99, CUT) is None
    # Without a net, the intent is weighed alone, as before.
    assert combine(None, 0.95, CUT) == SAFETY
    assert combine(None, 0.5, CUT) is None


def test_a_crisis_in_one_sentence_of_a_long_message_is_not_diluted_by_the_rest():
    net = CrisisNet.fit(KeywordEncoder(), EXAMPLES)
    alone = net.judge("what is a clot")
    mixed = net.judge("What is a clot. Honestly I want to die. Thanks for the coffee.")
    assert alone.probability < CUT.crisis_net_doubt
    assert mixed.probability >= CUT.crisis_net_sure and mixed.category == SUICIDE_SELF_HARM
    assert net.judge("my partner hits me").category == HARM_DISCLOSURE
    assert sentences("One two. Three four! five")[1:] == ["One two.", "Three four!"]


def test_the_fitted_net_is_cached_as_json_and_refitted_when_the_training_file_changes(tmp_path):
    data = tmp_path / "training.jsonl"
    data.write_text("".join(json.dumps({"text": e.text, "label": e.category}) + "\n" for e in EXAMPLES))
    encoder = KeywordEncoder()
    first = load_net(encoder, tmp_path, data)
    cached = json.loads((tmp_path / "crisis_net.json").read_text())
    assert len(cached["weights"]) == encoder.dimension + 1
    calls = encoder.calls
    again = load_net(encoder, tmp_path, data)
    assert encoder.calls == calls  # read back, not fitted again
    assert np.allclose(again.weights, first.weights)
    data.write_text(data.read_text() + json.dumps({"text": "please let me die", "label": SUICIDE_SELF_HARM}) + "\n")
    load_net(encoder, tmp_path, data)
    assert encoder.calls == calls + 1


def test_a_training_file_with_an_unknown_label_is_refused(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"text": "x", "label": "chest_breathing"}) + "\n")
    with pytest.raises(ValueError, match=r"bad\.jsonl:1"):
        read_examples(bad)


def test_the_held_out_sets_share_no_message_with_the_training_file():
    """The net is measured on messages written apart from what it learned from."""
    trained = {" ".join(e.text.lower().split()) for e in read_examples(TRAINING_PATH)}
    for name in (
        "crisis_heldout",
        "health_lookalikes",
        "everyday_chatter",
        *(
            f"{kind}_{batch}"
            for batch in ("fresh", "blind2", "blind3", "blind4")
            for kind in ("crisis", "lookalikes", "chatter")
        ),
    ):
        rows = [json.loads(line) for line in (REPO / "tests" / "eval" / f"{name}.jsonl").read_text().splitlines()]
        assert len(rows) >= (50 if name.startswith("crisis") else 90)
        overlap = [r["message"] for r in rows if " ".join(r["message"].lower().split()) in trained]
        assert not overlap, f"{name} repeats training messages: {overlap[:3]}"


def test_a_topic_question_the_rules_held_back_is_answered_with_the_numbers_added():
    # "What is the suicide rate in MS?": the rules hold their match back; the net then judges it at
    # least TOPIC_PROBABILITY, so the answer is given with the crisis numbers under it, and Rasa's
    # crisis intent alone cannot turn it into the safety reply.
    net = CrisisNet.fit(KeywordEncoder(), EXAMPLES)
    judged = net.judge("What is the suicide rate among people with MS?")
    assert judged.topic == "suicide" and judged.probability >= TOPIC_PROBABILITY
    assert combine(judged.probability, 0.0, CUT) == REMINDER
    assert combine(judged.probability, 0.99, CUT) == REMINDER
    assert net.judge("what is a clot").topic is None


def test_the_topic_probability_sits_inside_the_doubt_band_of_the_defaults_and_config_yml():
    shipped = yaml.safe_load((REPO / "config.yml").read_text())["conversation"]
    for cut in (CUT.model_dump(), shipped):
        assert cut["crisis_net_doubt"] <= TOPIC_PROBABILITY < min(cut["crisis_net_agree"], cut["crisis_net_sure"])


def test_a_personal_match_held_back_is_a_crisis_when_the_net_leans_the_same_way():
    # "A character in my novel considers suicide" (someone in it, in a frame): the rules hold their match
    # back with personal=True; the safety reply if the net leans towards a crisis, else the numbers added.
    held = SafetyMatch(SUICIDE_SELF_HARM, "suicide", personal=True)
    plain = CrisisNet.fit(KeywordEncoder(), EXAMPLES)
    net = CrisisNet.fit(KeywordEncoder(), EXAMPLES)
    net.topics = lambda message: held
    # Leaning but unsure: alone only the numbers; with the rules' personal match, the safety reply.
    assert PERSONAL_AGREE <= plain.judge("die coffee").probability < CUT.crisis_net_sure
    assert combine(plain.judge("die coffee").probability, 0.0, CUT) == REMINDER
    leaning = net.judge("die coffee")
    assert leaning.probability == 1.0 and combine(leaning.probability, 0.0, CUT) == SAFETY
    calm = net.judge("coffee time")
    assert calm.probability == TOPIC_PROBABILITY and combine(calm.probability, 0.0, CUT) == REMINDER
    assert CUT.crisis_net_doubt <= PERSONAL_AGREE <= CUT.crisis_net_sure


def test_a_message_without_a_word_is_not_judged_by_the_net():
    # "?" alone is not a crisis; the vector of punctuation says nothing either way.
    encoder = KeywordEncoder()
    net = CrisisNet.fit(encoder, EXAMPLES)
    calls = encoder.calls
    for message in ("?", "!!", "...", "12"):
        assert net.judge(message).probability == 0.0
    assert encoder.calls == calls
    assert net.judge("i want to die").probability >= CUT.crisis_net_sure
