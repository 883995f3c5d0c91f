"""The confidence calibration (embeddings/calibration.py): the fit, the questions it is fitted on, its file."""

import json
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

from embeddings.calibration import (
    Calibration,
    CalibrationError,
    Labelled,
    fit,
    fit_logistic,
    labelled_questions,
    load_calibration,
    save_calibration,
    served_scoring,
)
from embeddings.encoder import CALIBRATION_FILE, model_digest
from embeddings.query import QueryAnalysis
from embeddings.settings import RetrievalSettings

pytestmark = pytest.mark.unit


def test_fit_logistic_recovers_known_weights():
    rng = np.random.default_rng(7)
    x = rng.normal(size=(20000, 3))
    true = np.array([2.5, -1.5, 0.7, -0.4])  # three weights, then the intercept
    p = 1 / (1 + np.exp(-(x @ true[:-1] + true[-1])))
    y = (rng.random(len(x)) < p).astype(float)
    w = fit_logistic(x, y, l2=0.0)
    assert np.allclose(w, true, atol=0.1)


def test_fit_logistic_penalises_weights_but_not_the_intercept():
    x = np.array([[0.0], [1.0]] * 50)
    y = np.array([0.0, 1.0] * 50)  # separable: unpenalised weights would run off to infinity
    w = fit_logistic(x, y, l2=1.0)
    assert np.all(np.isfinite(w)) and w[0] > 0
    assert abs(fit_logistic(np.zeros((10, 1)), np.array([1.0] * 8 + [0.0] * 2), l2=1e6)[-1] - math.log(4)) < 1e-3


@dataclass
class _Hit:
    key: str
    fused: float


@dataclass
class _Scoring:
    spelling: bool = True


@dataclass
class _Snapshot:
    pairs: dict
    unknown: dict  # query -> (rare unknown words, unknown share)

    def analyse(self, query, tag, correct):
        rare, share = self.unknown.get(query, (0, 0.0))
        return QueryAnalysis(query, unknown_names=tuple(f"w{i}" for i in range(rare)), unknown_share=share)


@dataclass
class FakeRetriever:
    """Answers each query with a fixed top pair and fused score, as the real one would."""

    top: dict = field(default_factory=dict)  # query -> (pair id, fused)
    unknown: dict = field(default_factory=dict)
    scoring: _Scoring = field(default_factory=_Scoring)

    def __post_init__(self):
        self.snapshot = _Snapshot({"p1": None, "p2": None, "p3": None}, self.unknown)

    def search(self, query, k, kind=None):
        key, fused = self.top[query]
        return [_Hit(key, fused)]


def _population(r: FakeRetriever, n: int = 120, seed: int = 0) -> list[Labelled]:
    """In-scope questions whose top pair is right more often the higher its fused score."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        fused = float(rng.uniform(0.2, 1.4))
        right = rng.random() < 1 / (1 + math.exp(-(6 * fused - 4)))
        q = f"q{seed}-{i}"
        r.top[q] = ("p1" if right else "p2", fused)
        out.append(Labelled(q, ("p1",), "dev"))
    return out


def test_the_fit_from_labelled_questions_gives_the_four_numbers_and_its_figures():
    r: Any = FakeRetriever()
    questions = _population(r)
    c = fit(r, questions, answer_threshold=0.6, model_id="m@1")
    assert c.a > 0 and c.b < 0 and c.n == len(questions) == c.dev
    assert 0.5 < c.accuracy <= 1 and 0 < c.brier < 0.25 and c.model_id == "m@1"


def test_out_of_scope_questions_with_unknown_words_make_unknown_words_count_against():
    r: Any = FakeRetriever()
    questions = _population(r)
    before = fit(r, questions, 0.6)
    # Out of scope (always wrong) yet scoring high: they share many words the collection never uses.
    for i in range(40):
        q = f"oos-{i}"
        r.top[q] = ("p3", 1.1)
        r.unknown[q] = (1, 0.6)
        questions.append(Labelled(q, (), "out_of_scope"))
    after = fit(r, questions, 0.6)
    assert after.unknown < before.unknown - 1 and after.rare < before.rare
    assert after.out_of_scope == 40


def test_golden_questions_that_are_reached_raise_the_confidence_of_middling_scores():
    r: Any = FakeRetriever()
    questions = _population(r)
    before = fit(r, questions, 0.6)
    for i in range(60):
        q = f"golden-{i}"
        r.top[q] = ("p1", 0.55)
        questions.append(Labelled(q, ("p1",), "golden"))
    after = fit(r, questions, 0.6)
    assert after.applied(_scoring()).confidence(0.55) > before.applied(_scoring()).confidence(0.55) + 0.1
    assert after.golden == 60


def test_golden_questions_of_pairs_not_served_are_left_out_and_too_few_questions_give_no_fit():
    r: Any = FakeRetriever()
    questions = _population(r)
    r.top["gone"] = ("p1", 0.9)
    c = fit(r, [*questions, Labelled("gone", ("deleted-pair",), "golden")], 0.6)
    assert c.n == len(questions) and c.golden == 0
    with pytest.raises(CalibrationError, match="at least"):
        fit(r, questions[:5], 0.6)
    right = [q for q in questions if r.top[q.query][0] == "p1"]
    with pytest.raises(CalibrationError, match="all answered right"):
        fit(r, right, 0.6)


def test_labelled_questions_read_the_dev_split_of_the_sets_that_exist(tmp_path):
    dev = tmp_path / "devset.jsonl"
    dev.write_text(
        "\n".join(
            json.dumps(r)
            for r in (
                {"query": "a", "expected": ["p1"], "split": "dev"},
                {"query": "b", "expected": ["p2"], "split": "heldout"},
                {"query": "c", "split": "dev"},
            )
        )
    )
    got = labelled_questions([("g", "p3"), (" ", "p1")], [dev, tmp_path / "missing.jsonl"])
    assert got == [
        Labelled("g", ("p3",), "golden"),
        Labelled("a", ("p1",), "dev"),
        Labelled("c", (), "out_of_scope"),
    ]


def _scoring():
    return RetrievalSettings().scoring()


def test_the_calibration_file_serves_its_model_and_does_not_change_the_models_id(tmp_path):
    model = tmp_path / "finetuned-abc"
    model.mkdir()
    (model / "config.json").write_text("{}")
    (model / "model.safetensors").write_bytes(b"weights")
    digest = model_digest(model)
    settings = RetrievalSettings()
    assert served_scoring(settings, model, finetuned=True) == settings.scoring(finetuned=True)
    assert served_scoring(settings, None, finetuned=False) == settings.scoring(finetuned=False)

    save_calibration(model, Calibration(a=5.0, rare=-1.0, unknown=-2.0, b=-3.0, n=100))
    assert (model / CALIBRATION_FILE).exists() and model_digest(model) == digest
    scoring = served_scoring(settings, model, finetuned=True)
    assert (scoring.calibration_a, scoring.calibration_rare, scoring.calibration_unknown) == (5.0, -1.0, -2.0)
    assert scoring.calibration_b == -3.0 and scoring.lexical_weight == settings.lexical_weight
    assert load_calibration(model) == Calibration(a=5.0, rare=-1.0, unknown=-2.0, b=-3.0, n=100)

    (model / CALIBRATION_FILE).write_text('{"a": "x"}')  # damaged: config.yml's numbers serve
    assert load_calibration(model) is None
    assert served_scoring(settings, model, finetuned=True) == settings.scoring(finetuned=True)
