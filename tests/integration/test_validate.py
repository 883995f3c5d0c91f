"""`make validate`: each rule rejects (or warns on) its kind of bad file, and the shipped content passes."""

import datetime as dt

import pytest
import yaml

from knowledge.validate import validate
from tests.factories import pair_data

pytestmark = pytest.mark.integration


def write(tmp_path, name, *pairs):
    (tmp_path / name).write_text(yaml.safe_dump({"pairs": list(pairs)}, sort_keys=False))


def messages(report):
    return [str(p) for p in report.errors], [str(p) for p in report.warnings]


def test_shipped_content_validates(encoder):
    report = validate(encoder=encoder)
    assert report.ok, "\n".join(str(p) for p in report.errors)
    assert report.pairs >= 60


@pytest.mark.parametrize(
    "overrides,field",
    [
        ({"sources": []}, "sources"),
        ({"caveats": []}, "caveats"),
        ({"answer": "   "}, "answer"),
        ({"reviewed_on": "2026-11-01", "review_due": "2026-10-01"}, "review_due"),
    ],
)
def test_each_schema_rule_fails_the_file_naming_file_pair_and_field(tmp_path, overrides, field):
    write(tmp_path, "bad.yml", pair_data(id="bad-pair", **overrides))
    errors, _ = messages(validate(tmp_path))
    assert errors and errors[0].startswith("bad.yml: pair bad-pair:") and field in errors[0]


def test_duplicate_ids_fail(tmp_path):
    write(tmp_path, "a.yml", pair_data(id="same"))
    write(tmp_path, "b.yml", pair_data(id="same", question="Another question entirely?"))
    errors, _ = messages(validate(tmp_path))
    assert any("b.yml: pair same: id: duplicate id, also in a.yml" in e for e in errors)


def test_pairs_that_would_fight_in_retrieval_fail(tmp_path, encoder):
    write(
        tmp_path,
        "a.yml",
        pair_data(id="first", question="Is the liberation procedure proven to work?"),
        pair_data(
            id="second",
            question="What does NICE say?",
            alternates=["NICE guidance", "nice view", "nice ipg640", "Is the liberation procedure proven to work"],
        ),
    )
    errors, _ = messages(validate(tmp_path, encoder=encoder, threshold=0.95))
    assert len(errors) == 1 and "pair first: question" in errors[0] and "second" in errors[0]


def test_overdue_and_hard_to_read_pairs_warn_but_pass(tmp_path):
    hard = (
        "Notwithstanding considerable methodological heterogeneity, contemporaneous investigations "
        "demonstrated insufficient substantiation of therapeutic efficacy regarding endovascular intervention."
    )
    write(
        tmp_path,
        "a.yml",
        pair_data(id="old", reviewed_on="2024-01-01", review_due="2025-01-01"),
        pair_data(id="hard", question="Another question?", answer=hard),
    )
    report = validate(tmp_path, today=dt.date(2026, 11, 22), max_reading_age=12)
    _, warnings = messages(report)
    assert report.ok
    assert any("pair old: review_due: past its review date" in w for w in warnings)
    assert any("pair hard: answer: hard to read" in w for w in warnings)
    assert report.reading_ages is not None and report.reading_ages["old"] < report.reading_ages["hard"]
