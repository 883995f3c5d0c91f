import pytest

from knowledge.passages import chunk, clean_paragraphs, load_passages

pytestmark = pytest.mark.unit


def test_site_chrome_is_removed_and_prose_kept_in_order():
    raw = """Multiple Sclerosis Resource Centre
  • Home
  • About MS
    Share |
    [Print this page]
    The theory was reported during 2009 by a surgeon in Italy who studied veins.
    Sign up for BootsWebMD's free newsletters.
    Did you find this information useful? Would you like to comment on this page? Let us know what you think!
cute dog
10 common allergy triggers
    Further clinical trials are in process to verify the theory and the proposed treatment.
"""
    assert clean_paragraphs(raw) == [
        "The theory was reported during 2009 by a surgeon in Italy who studied veins.",
        "Further clinical trials are in process to verify the theory and the proposed treatment.",
    ]


def test_short_paragraphs_join_the_next_and_near_duplicates_are_dropped():
    a = "A short opening line of text here."
    b = "A longer paragraph that carries the body of the argument with enough words to stand on its own as a passage."
    assert chunk([a, b, b]) == [f"{a} {b}"]


def test_shipped_articles_become_dated_passages_without_chrome():
    passages = load_passages()
    by_source: dict[str, list] = {}
    for p in passages:
        by_source.setdefault(p.source_id, []).append(p)
    assert set(by_source) == {"src-000", "src-004"}
    text = " ".join(p.text for p in passages).lower()
    for chrome in ("newsletter", "slideshow", "print this page", "share |", "allergy triggers", "investor in people"):
        assert chrome not in text
    assert "edinburgh" in text and "zamboni" in text
    for source_passages in by_source.values():
        assert [p.position for p in source_passages] == list(range(1, len(source_passages) + 1))
    webmd = by_source["src-004"][0]
    assert webmd.published == "2010-10-12" and webmd.title == "CCSVI for MS in the UK"
    assert webmd.id == "src-004#p1"
