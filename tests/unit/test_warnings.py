"""Warnings while editing name the field and say what to do; a clean pair gets none."""

from __future__ import annotations

import datetime as dt

import pytest

from knowledge.schema import QACreate
from knowledge.warnings import text_warnings
from tests.factories import pair_data

pytestmark = pytest.mark.unit
TODAY = dt.date(2026, 12, 1)


def _codes(**overrides) -> dict[str, str]:
    pair = QACreate.model_validate({k: v for k, v in pair_data(**overrides).items() if k != "id"})
    return {w.code: w.field for w in text_warnings(pair, max_reading_age=12, today=TODAY)}


def test_a_clean_pair_has_no_warning():
    assert _codes() == {}


def test_each_problem_is_warned_on_its_own_field():
    hard = (
        "Chronic cerebrospinal venous insufficiency, hypothesised as a pathophysiological contributor to "
        "demyelination, was subsequently investigated through multicentre randomised controlled "
        "methodologies demonstrating statistically insignificant therapeutic differentiation."
    )
    codes = _codes(
        answer=hard,
        sources=[{"title": "Leaflet", "publisher": "Clinic"}],
        review_due="2026-06-01",
        reviewed_on="2026-01-01",
        evidence="uncertain",
        caveats=[],
        status="draft",
        alternates=["one"],
    )
    assert codes["reading-age"] == "answer"
    assert codes["source-undated"] == "sources[0].published"
    assert codes["review-past"] == "review_due"
    assert codes["no-caveat"] == "caveats"
    assert codes["publish-needs"] == "alternates"
