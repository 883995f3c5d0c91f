"""The shipped knowledge loads and covers what visitors ask first."""

import pytest

from knowledge.loader import ContentError, load_pairs

pytestmark = pytest.mark.integration


def test_shipped_pairs_load_and_cover_the_core_questions():
    pairs = {p.id: p for p in load_pairs()}
    assert len([p for p in pairs.values() if p.status == "published"]) >= 12
    text = " ".join(p.question.lower() for p in pairs.values())
    for topic in ("liberation procedure", "ccsvi", "risk", "nice"):
        assert topic in text, topic
    proven = pairs["liberation-procedure-proven"]
    assert proven.evidence == "disproven" and proven.answer.startswith("No")


def test_a_bad_file_is_reported_with_file_pair_and_field(tmp_path):
    (tmp_path / "bad.yml").write_text(
        "pairs:\n  - id: broken-pair\n    question: What?\n    answer: x\n    status: published\n    evidence: disproven\n"
    )
    with pytest.raises(ContentError) as exc:
        load_pairs(tmp_path)
    message = str(exc.value)
    assert "bad.yml: pair broken-pair:" in message and "caveats" in message


def test_duplicate_ids_across_files_are_reported(tmp_path):
    body = "pairs:\n  - id: same\n    question: Q?\n    answer: A.\n    status: draft\n"
    (tmp_path / "a.yml").write_text(body)
    (tmp_path / "b.yml").write_text(body)
    with pytest.raises(ContentError) as exc:
        load_pairs(tmp_path)
    assert "duplicate id" in str(exc.value)
