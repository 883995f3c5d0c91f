import pytest
from pydantic import ValidationError

from knowledge.schema import QACreate, QAPair, publication_problems, slugify
from tests.factories import pair_data

pytestmark = pytest.mark.unit


def errors_of(**overrides) -> str:
    with pytest.raises(ValidationError) as exc:
        QAPair.model_validate(pair_data(**overrides))
    return str(exc.value)


def test_a_complete_pair_is_accepted():
    pair = QAPair.model_validate(pair_data())
    assert pair.id == "test-pair" and pair.sources[0].published == "2018-01"


def test_published_pair_without_a_source_or_alternates_breaks_the_publication_rules():
    pair = QAPair.model_validate(pair_data(sources=[], alternates=["one"]))
    assert not pair.citable
    assert [field for field, _ in publication_problems(pair)] == ["sources", "alternates"]
    assert publication_problems(QAPair.model_validate(pair_data())) == []


@pytest.mark.parametrize("evidence", ["uncertain", "not-supported", "disproven"])
def test_unsettled_evidence_needs_caveats(evidence):
    assert "caveats" in errors_of(evidence=evidence, caveats=[])


@pytest.mark.parametrize("evidence", ["established", "background"])
def test_settled_evidence_may_go_without_caveats(evidence):
    assert QAPair.model_validate(pair_data(evidence=evidence, caveats=[])).caveats == []


def test_a_draft_may_be_incomplete():
    draft = QAPair.model_validate(pair_data(status="draft", alternates=[], sources=[], caveats=[]))
    assert draft.status == "draft" and publication_problems(draft) == []


@pytest.mark.parametrize(
    "field,value",
    [
        ("answer", "No. <script>alert(1)</script>"),
        ("question", "<b>bold</b> question?"),
        ("alternates", ["fine", "fine two", "fine three", "<img src=x onerror=alert(1)>"]),
        ("caveats", ["click <a href='javascript:alert(1)'>here</a>"]),
    ],
)
def test_text_that_looks_like_markup_is_kept_exactly_as_typed(field, value):
    """Nothing is refused for looking like markup; every page shows it as text."""
    pair = QAPair.model_validate(pair_data(**{field: value}))
    assert getattr(pair, field) == value


def test_review_due_before_reviewed_on_is_rejected():
    assert "review_due" in errors_of(reviewed_on="2026-11-01", review_due="2026-01-01")


def test_unknown_fields_and_bad_values_are_rejected():
    assert "extra" in errors_of(version=3).lower()
    assert "evidence" in errors_of(evidence="probably")
    assert "published" in errors_of(sources=[{"title": "t", "publisher": "p", "published": "last year"}])
    assert "url" in errors_of(sources=[{"title": "t", "publisher": "p", "published": "2010", "url": "javascript:x"}])


def test_id_is_a_slug_and_optional_on_create():
    assert "id" in errors_of(id="Not A Slug!")
    assert QACreate.model_validate({k: v for k, v in pair_data().items() if k != "id"}).id is None
    assert slugify("Is the Liberation Procedure proven?") == "is-the-liberation-procedure-proven"


def test_a_source_date_that_is_not_a_real_date_is_refused():
    # "2020-13" fits the pattern but has no thirteenth month: it would break every answer citing it.
    from knowledge.schema import Source

    for bad in ("2020-13", "2021-02-30", "2020-00"):
        with pytest.raises(ValueError, match="not a real date"):
            Source(title="A trial", publisher="A journal", published=bad)
    assert str(Source(title="A trial", publisher="A journal", published="2020-02-29").published_date()) == "2020-02-29"
