"""Checks the Q&A files before they ship: `make validate` (also part of the test suite).

Errors (exit 1): anything the schema rejects (a missing caveat, a review date before the
review), a published pair without a source or with fewer than four alternates, duplicate ids, and two pairs whose questions or alternates are so similar that
they would fight in retrieval. Warnings: pairs past their review date, and answers harder to read
than the configured reading age. Every message names the file, the pair and the field.

The encoder for the near-duplicate check is handed in (knowledge/ sits below the retrieval layer);
`make validate` runs `python -m api.cli validate`, which builds it from the settings.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import textstat

from knowledge.loader import QA_DIR, ContentError, Problem, load_pair_files
from knowledge.schema import QAPair, publication_problems


@dataclass
class Report:
    errors: list[Problem]
    warnings: list[Problem]
    pairs: int = 0
    reading_ages: dict[str, float] | None = None

    @property
    def ok(self) -> bool:
        return not self.errors


def reading_age(text: str) -> float:
    """UK reading age from the Flesch-Kincaid grade (US grade + 5 years)."""
    return float(textstat.flesch_kincaid_grade(text)) + 5


def near_duplicates(files: list[tuple[str, QAPair]], encoder, threshold: float) -> list[Problem]:
    """Questions or alternates of different pairs whose embeddings are at least `threshold` alike."""
    texts, owners = [], []
    for file, pair in files:
        for field, text in [("question", pair.question)] + [
            (f"alternates[{i}]", a) for i, a in enumerate(pair.alternates)
        ]:
            texts.append(text)
            owners.append((file, pair.id, field))
    if not texts:
        return []
    vectors = encoder.encode(texts)
    sims = vectors @ vectors.T
    problems, reported = [], set()
    for i in range(len(texts)):
        for j in range(i + 1, len(texts)):
            (fi, pi, di), (fj, pj, dj) = owners[i], owners[j]
            if pi == pj or sims[i, j] < threshold or (pi, pj) in reported:
                continue
            reported.add((pi, pj))
            problems.append(
                Problem(
                    fi,
                    pi,
                    di,
                    f"{texts[i]!r} is nearly the same as {pj}'s {dj} {texts[j]!r} "
                    f"in {fj} (similarity {sims[i, j]:.3f} >= {threshold}): the two pairs would "
                    "fight in retrieval; reword one or merge the pairs",
                )
            )
    return problems


def validate(
    qa_dir: Path = QA_DIR,
    encoder=None,
    threshold: float = 0.95,
    max_reading_age: float = 12,
    today: dt.date | None = None,
) -> Report:
    today = today or dt.date.today()
    try:
        files = load_pair_files(qa_dir)
    except ContentError as exc:
        return Report(errors=exc.problems, warnings=[])
    errors: list[Problem] = [
        Problem(file, pair.id, field, message) for file, pair in files for field, message in publication_problems(pair)
    ]
    if encoder is not None:
        errors.extend(near_duplicates(files, encoder, threshold))
    warnings: list[Problem] = []
    ages = {}
    for file, pair in files:
        if pair.review_due and pair.review_due < today:
            warnings.append(
                Problem(
                    file,
                    pair.id,
                    "review_due",
                    f"past its review date ({pair.review_due}): it is still answered, with a 'due for review' note",
                )
            )
        age = ages[pair.id] = reading_age(pair.answer)
        if age > max_reading_age:
            warnings.append(
                Problem(
                    file,
                    pair.id,
                    "answer",
                    f"hard to read: reading age {age:.1f}, "
                    f"above {max_reading_age:g} (shorter sentences and common words help)",
                )
            )
    return Report(errors=errors, warnings=warnings, pairs=len(files), reading_ages=ages)
