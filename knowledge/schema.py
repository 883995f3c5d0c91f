"""The schema of a Q&A pair, enforced in this one place for files, import and the editors' API.

Field names follow ../shared/api-contract.md. Drafts may be incomplete (an editor must be able to
save work in progress); a pair marked `published` must be complete: sources, caveats where the
evidence is not settled, enough alternates for retrieval to find it.
"""
from __future__ import annotations

import datetime as dt
import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Evidence = Literal["established", "uncertain", "not-supported", "disproven", "background"]
Status = Literal["draft", "published"]

SLUG = r"^[a-z0-9][a-z0-9-]{0,79}$"
# A published date as sources give it: a year, a month or a day.
PUBLISHED = r"^\d{4}(-\d{2}(-\d{2})?)?$"
# Anything that a browser could take for markup.
_MARKUP = re.compile(r"<\s*/?\s*[a-zA-Z!][^>]*>|javascript:|on[a-z]+\s*=", re.IGNORECASE)
MIN_ALTERNATES_PUBLISHED = 4
EVIDENCE_WITHOUT_CAVEATS = {"established", "background"}


def _plain(value: str, field: str) -> str:
    if _MARKUP.search(value):
        raise ValueError(f"{field} must be plain text: HTML or script is not allowed")
    return value


def _text(value: str, field: str) -> str:
    value = value.strip()
    if not value:
        raise ValueError(f"{field} must not be empty")
    return _plain(value, field)


class Source(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=300)
    publisher: str = Field(min_length=1, max_length=200)
    published: str = Field(pattern=PUBLISHED, description="YYYY, YYYY-MM or YYYY-MM-DD")
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

    def published_date(self) -> dt.date:
        parts = [int(p) for p in self.published.split("-")]
        return dt.date(parts[0], parts[1] if len(parts) > 1 else 1, parts[2] if len(parts) > 2 else 1)


class QAFields(BaseModel):
    """Everything of a pair that an editor writes."""

    model_config = ConfigDict(extra="forbid")

    question: str = Field(min_length=1, max_length=300)
    alternates: list[str] = Field(default_factory=list, max_length=50)
    answer: str = Field(min_length=1, max_length=4000)
    evidence: Evidence = "background"
    caveats: list[str] = Field(default_factory=list, max_length=10)
    sources: list[Source] = Field(default_factory=list, max_length=20)
    tags: list[str] = Field(default_factory=list, max_length=20)
    status: Status = "draft"
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
            t = t.strip().lower()
            if not re.match(r"^[a-z0-9][a-z0-9_.:-]{0,49}$", t):
                raise ValueError(f"tag {t!r} must be lowercase letters, digits, '-', '_', '.' or ':'")
            if t not in out:
                out.append(t)
        return out

    @model_validator(mode="after")
    def _consistent(self) -> "QAFields":
        if self.reviewed_on and self.review_due and self.review_due < self.reviewed_on:
            raise ValueError("review_due must not be before reviewed_on")
        if self.status == "published":
            missing = []
            if not self.sources:
                missing.append("sources: a published pair needs at least one source")
            if self.evidence not in EVIDENCE_WITHOUT_CAVEATS and not self.caveats:
                missing.append(f"caveats: required when evidence is {self.evidence}")
            if len(self.alternates) < MIN_ALTERNATES_PUBLISHED:
                missing.append(f"alternates: a published pair needs at least {MIN_ALTERNATES_PUBLISHED}")
            if missing:
                raise ValueError("; ".join(missing))
        return self


class QACreate(QAFields):
    """A pair as an editor creates it; the id may be left out and the service makes one."""

    id: str | None = Field(default=None, pattern=SLUG)


class QAPair(QAFields):
    """A pair with its id, as stored in files and returned by the API."""

    id: str = Field(pattern=SLUG)


def slugify(text: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return (slug[:60].rstrip("-") or "pair")
