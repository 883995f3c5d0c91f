"""The schema of a Q&A pair, enforced in this one place for files, import and the editors' API.

Field names follow ../shared/api-contract.md. Drafts may be incomplete (an editor must be able to
save work in progress). A published pair whose evidence is not settled must carry caveats.

Two rules are about the quality of curated content rather than the shape of a pair, so they live
in `publication_problems`: at least one source, and at least four alternates. `make validate`
rejects shipped content that breaks them; the API accepts such pairs (a third-party FAQ collection
has no alternates) and reports them, and the chat never answers a visitor from a pair without a
source: such a pair is found by staff search only.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Evidence = Literal["established", "uncertain", "not-supported", "disproven", "background"]
Status = Literal["draft", "published"]
# Who is answered from a pair: visitors in the chat (and staff search), or staff search only (a
# collection imported for the helpline's look-ups is never answered to visitors unless marked so).
Audience = Literal["visitors", "staff"]

# Ids are stable and safe in a URL path. Shipped content uses lowercase slugs; imported collections
# may bring their own ids (letters, digits, '.', '_', ':', '-').
SLUG = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,119}$"
# A published date as sources give it: a year, a month or a day.
PUBLISHED = r"^\d{4}(-\d{2}(-\d{2})?)?$"
MIN_ALTERNATES_PUBLISHED = 4
EVIDENCE_WITHOUT_CAVEATS = {"established", "background"}


def _text(value: str, field: str) -> str:
    """Text is kept exactly as typed (trimmed): "a score < 3" or "conditions = ..." are honest health
    text. Safety lies in how text is shown (as text, never parsed as markup), not in refusing it."""
    value = value.strip()
    if not value:
        raise ValueError(f"{field} must not be empty")
    return value


class Source(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=300)
    publisher: str = Field(min_length=1, max_length=200)
    # Left out only when the source gives no date (an editor is warned; visitors see "date unknown").
    published: str | None = Field(default=None, pattern=PUBLISHED, description="YYYY, YYYY-MM or YYYY-MM-DD")
    url: str | None = Field(default=None, max_length=500)
    passage: str | None = Field(default=None, max_length=2000)

    @field_validator("title", "publisher", "passage")
    @classmethod
    def _plain_text(cls, v: str | None, info) -> str | None:
        return None if v is None else _text(v, info.field_name)

    @field_validator("url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        if v is None or not v.strip():
            return None
        if not re.match(r"^https?://[^\s<>\"']+$", v.strip()):
            raise ValueError("url must be an http(s) address")
        return v.strip()

    @field_validator("published", mode="before")
    @classmethod
    def _no_date(cls, v: object) -> object:
        return None if isinstance(v, str) and not v.strip() else v

    @field_validator("published", mode="after")
    @classmethod
    def _real_date(cls, v: str | None) -> str | None:
        if v is not None:
            parts = [int(p) for p in v.split("-")]
            try:
                dt.date(parts[0], parts[1] if len(parts) > 1 else 1, parts[2] if len(parts) > 2 else 1)
            except ValueError:
                raise ValueError(f"{v!r} is not a real date") from None
        return v

    def published_date(self) -> dt.date | None:
        if self.published is None:
            return None
        parts = [int(p) for p in self.published.split("-")]
        return dt.date(parts[0], parts[1] if len(parts) > 1 else 1, parts[2] if len(parts) > 2 else 1)


class QAFields(BaseModel):
    """Everything of a pair that an editor writes."""

    model_config = ConfigDict(extra="forbid")

    question: str = Field(min_length=1, max_length=1000)
    alternates: list[str] = Field(default_factory=list, max_length=50)
    answer: str = Field(min_length=1, max_length=20000)
    evidence: Evidence = "background"
    caveats: list[str] = Field(default_factory=list, max_length=10)
    sources: list[Source] = Field(default_factory=list, max_length=20)
    tags: list[str] = Field(default_factory=list, max_length=20)
    status: Status = "draft"
    audience: Audience = "visitors"
    reviewed_on: dt.date | None = None
    review_due: dt.date | None = None

    @field_validator("question", "answer")
    @classmethod
    def _plain_text(cls, v: str, info) -> str:
        return _text(v, info.field_name)

    @field_validator("alternates", "caveats")
    @classmethod
    def _plain_list(cls, v: list[str], info) -> list[str]:
        out = []
        for i, item in enumerate(v):
            out.append(_text(item, f"{info.field_name}[{i}]"))
        return out

    @field_validator("tags")
    @classmethod
    def _tags(cls, v: list[str]) -> list[str]:
        out = []
        for t in v:
            t = t.strip()
            if not re.match(r"^[^\s<>\"'&]{1,50}$", t):
                raise ValueError(f"tag {t!r} must be 1 to 50 characters without spaces, quotes, '<', '>' or '&'")
            if t not in out:
                out.append(t)
        return out

    @model_validator(mode="after")
    def _consistent(self) -> QAFields:
        if self.reviewed_on and self.review_due and self.review_due < self.reviewed_on:
            raise ValueError("review_due must not be before reviewed_on")
        if self.status == "published" and self.evidence not in EVIDENCE_WITHOUT_CAVEATS and not self.caveats:
            raise ValueError(f"caveats: required when evidence is {self.evidence}")
        return self

    @property
    def citable(self) -> bool:
        """Whether visitors may be answered from this pair: it is meant for them, and every factual
        answer cites a source."""
        return bool(self.sources) and self.audience == "visitors"


def publication_problems(pair: QAFields) -> list[tuple[str, str]]:
    """(field, message) for each curated-content rule a published pair breaks."""
    if pair.status != "published":
        return []
    problems = []
    if not pair.sources:
        problems.append(
            ("sources", "a published pair needs at least one source (visitors are never answered without one)")
        )
    if len(pair.alternates) < MIN_ALTERNATES_PUBLISHED:
        problems.append(
            ("alternates", f"a published pair needs at least {MIN_ALTERNATES_PUBLISHED} other ways people ask it")
        )
    return problems


class QACreate(QAFields):
    """A pair as an editor creates it; the id may be left out and the service makes one."""

    id: str | None = Field(default=None, pattern=SLUG)


class QAPair(QAFields):
    """A pair with its id, as stored in files and returned by the API."""

    id: str = Field(pattern=SLUG)


def slugify(text: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug[:60].rstrip("-") or "pair"
