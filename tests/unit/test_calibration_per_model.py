"""A model other than all-MiniLM-L6-v2 never serves config.yml's confidence (embeddings/calibration.py:
calibrate_at_start); the MiniLM default keeps it. The fit itself is tested in tests/integration/test_other_model.py."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from embeddings.calibration import Calibration, calibrate_at_start, fitted_path, own_calibration
from embeddings.settings import RetrievalSettings

pytestmark = pytest.mark.unit


@dataclass
class FakeEncoder:
    model_path: Path
    model_id: str
    dimension: int = 4


@dataclass
class FakeSnapshot:
    pairs: dict = field(default_factory=dict)


@dataclass
class FakeRetriever:
    encoder: FakeEncoder
    scoring: object = field(default_factory=lambda: RetrievalSettings().scoring(finetuned=False))
    snapshot: FakeSnapshot = field(default_factory=FakeSnapshot)


def write(path: Path, **numbers) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"a": 5.0, "rare": -1.0, "unknown": -2.0, "b": -3.0, **numbers}))


def test_the_default_model_keeps_config_numbers(tmp_path):
    retriever = FakeRetriever(FakeEncoder(tmp_path / "model", "all-MiniLM-L6-v2@abc"))
    before = retriever.scoring
    assert calibrate_at_start(retriever, RetrievalSettings(), tmp_path / "cache", [], config_fitted=True) is None  # type: ignore[arg-type]
    assert retriever.scoring == before


def test_another_model_uses_the_calibration_kept_for_it(tmp_path):
    cache = tmp_path / "cache"
    retriever = FakeRetriever(FakeEncoder(tmp_path / "mpnet", "all-mpnet-base-v2@123"))
    write(fitted_path(cache, "all-mpnet-base-v2@123"), model_id="all-mpnet-base-v2@123", a=9.0)
    used = calibrate_at_start(retriever, RetrievalSettings(), cache, [], config_fitted=False)  # type: ignore[arg-type]
    assert isinstance(used, Calibration) and used.a == 9.0
    assert retriever.scoring.calibration_a == 9.0  # type: ignore[attr-defined]


def test_a_calibration_of_another_model_id_is_not_used(tmp_path):
    cache = tmp_path / "cache"
    write(fitted_path(cache, "m@new"), model_id="m@old")
    assert own_calibration(tmp_path / "m", cache, "m@new") is None
    write(tmp_path / "m" / "calibration.json", model_id="m@new", a=7.0)
    found = own_calibration(tmp_path / "m", cache, "m@new")
    assert found is not None and found.a == 7.0  # the model folder's own file first


def test_another_model_without_enough_questions_warns_and_keeps_config_numbers(tmp_path, caplog):
    retriever = FakeRetriever(FakeEncoder(tmp_path / "mpnet", "all-mpnet-base-v2@123"))
    before = retriever.scoring
    assert calibrate_at_start(retriever, RetrievalSettings(), tmp_path / "cache", [], config_fitted=False) is None  # type: ignore[arg-type]
    assert retriever.scoring == before
    assert "fitted for all-MiniLM-L6-v2" in caplog.text
    assert not (tmp_path / "cache").exists()  # nothing kept
