"""Warnings an editor sees while editing a pair, each naming the field it is about.

Warnings never stop a save: they say what would make the pair worse for visitors (hard to read, an
undated source, a review date gone by, an unsettled claim without a caveat). The check that needs the
encoder (a question too close to another pair's) lives in embeddings/editing.py, which adds its
warnings to these.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from knowledge.schema import EVIDENCE_WITHOUT_CAVEATS, QAFields, publication_problems
from knowledge.validate import reading_age


@dataclass(frozen=True)
class Warning:
    field: str  # "answer", "alternates[2]", "sources[0].published", ...
    code: str  # too-close, reading-age, source-undated, review-past, no-caveat, publish-needs
    message: str


def text_warnings(pair: QAFields, max_reading_age: float, today: dt.date | None = None) -> list[Warning]:
    today = today or dt.date.today()
    out: list[Warning] = []
    age = reading_age(pair.answer)
    if age > max_reading_age:
        out.append(
            Warning(
                "answer",
                "reading-age",
                f"Hard to read: reading age {age:.0f}, above {max_reading_age:g}. "
                "Shorter sentences and everyday words help tired or anxious readers.",
            )
        )
    for i, source in enumerate(pair.sources):
        if source.published is None:
            out.append(
                Warning(
                    f"sources[{i}].published",
                    "source-undated",
                    f"The source {source.title!r} has no date: visitors cannot tell how current it is.",
                )
            )
    if pair.review_due and pair.review_due < today:
        out.append(
            Warning(
                "review_due",
                "review-past",
                f"The review date {pair.review_due.isoformat()} has passed: check the answer is still right "
                "and set a new date. Visitors see a 'due for review' note meanwhile.",
            )
        )
    if pair.evidence not in EVIDENCE_WITHOUT_CAVEATS and not pair.caveats:
        out.append(
            Warning(
                "caveats",
                "no-caveat",
                f"The evidence is {pair.evidence!r} but there is no caveat: say what is uncertain "
                "(a pair like this cannot be published without one).",
            )
        )
    if pair.status == "draft":
        as_published = pair.model_copy(update={"status": "published"})
        for field, message in publication_problems(as_published):
            out.append(Warning(field, "publish-needs", f"Before publishing: {message}."))
    return out


def reading_age_of(pair: QAFields) -> float:
    return round(reading_age(pair.answer), 1)
