"""Factories for test data: a valid pair, changed only where a test says so."""

from __future__ import annotations

from typing import Any


def pair_data(**overrides: Any) -> dict[str, Any]:
    data = {
        "id": "test-pair",
        "question": "Is the test procedure proven?",
        "alternates": ["does the test op work", "test procedure real?", "tst procedure", "is testing proven"],
        "answer": "No. Trials found no benefit.",
        "evidence": "disproven",
        "caveats": ["Decisions about your own treatment are for your neurologist or MS nurse."],
        "sources": [
            {"title": "A trial", "publisher": "A journal", "published": "2018-01", "url": None, "passage": None}
        ],
        "tags": ["test"],
        "status": "published",
        "reviewed_on": "2026-11-01",
        "review_due": "2027-11-01",
    }
    data.update(overrides)
    return data
