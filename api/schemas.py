"""Request and response shapes of the HTTP interface (../shared/api-contract.md).

The replies inside a chat response are the conversation layer's own models (bot/replies.py).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Literal

from fastapi import Path, Query
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictStr, field_validator

from api.hardening import WS
from bot.replies import Citation, Reply
from knowledge import schema as knowledge
from knowledge.schema import SLUG, Evidence, QAFields, Source

MAX_MESSAGE = 1000
PUBLISHED_DATE = re.compile(r"[0-9]{4}(-[0-9]{2}(-[0-9]{2})?)?")


def source_date_problems(sources: list[Source]) -> list[tuple[str, str]]:
    """(field, message) for each source date that is not a real date: "2020-13" passes the pattern of
    knowledge/schema.py and would break every answer citing it."""
    problems = []
    for i, source in enumerate(sources):
        if source.published is None:
            continue
        try:
            if not PUBLISHED_DATE.fullmatch(source.published):
                raise ValueError
            source.published_date()
        except ValueError:
            problems.append(
                (f"sources.{i}.published", f"{source.published!r} is not a real date (YYYY, YYYY-MM or YYYY-MM-DD)")
            )
    return problems


def pair_problems(pair: QAFields) -> list[tuple[str, str]]:
    return source_date_problems(pair.sources)


FULL_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
DATE_TIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})"
)
DATE_FIELDS = ("reviewed_on", "review_due")


def _full_date(value: object) -> object:
    """A date as the OpenAPI document says (format: date, YYYY-MM-DD): pydantic alone would also take
    0 or "86400" (as Unix times) and "2026-01-31T00:00:00"."""
    if isinstance(value, dt.date) or (isinstance(value, str) and FULL_DATE.fullmatch(value)):
        return value
    raise ValueError("use a date as YYYY-MM-DD, e.g. 2026-01-31")


def _date_time(value: object) -> object:
    """A date and time as RFC 3339 says (format: date-time), with its offset."""
    if isinstance(value, dt.datetime) or (isinstance(value, str) and DATE_TIME.fullmatch(value)):
        return value
    raise ValueError("use a date and time as in 2026-01-31T09:00:00Z")


IsoDate = Annotated[dt.date, BeforeValidator(_full_date)]
IsoDateTime = Annotated[dt.datetime, BeforeValidator(_date_time)]


def import_row_problems(row: object) -> list[tuple[str, str]]:
    """What knowledge/transfer.py would read loosely in an imported JSON row: dates (see `_full_date`), and
    an id or audience that is not text (an empty one is filled in; `{}` or `0` must not pass as empty)."""
    problems = []
    if isinstance(row, dict):
        for name in DATE_FIELDS:
            value = row.get(name)
            if value is not None and not (isinstance(value, str) and FULL_DATE.fullmatch(value)):
                problems.append((name, "use a date as YYYY-MM-DD, e.g. 2026-01-31"))
        for name in ("id", "audience"):
            value = row.get(name)
            if value is not None and not isinstance(value, str):
                problems.append((name, "must be text"))
    return problems


class QACreate(knowledge.QACreate):
    """A pair as an editor sends it (knowledge/schema.py), with dates that are dates in the form the
    OpenAPI document gives, and source dates that are real dates."""

    reviewed_on: IsoDate | None = None
    review_due: IsoDate | None = None

    @field_validator("sources")
    @classmethod
    def _real_dates(cls, sources: list[Source]) -> list[Source]:
        problems = source_date_problems(sources)
        if problems:
            raise ValueError("; ".join(f"{field}: {message}" for field, message in problems))
        return sources


# Addresses and filters: limits the OpenAPI document states and the routes enforce. Ids are what the
# store can hold (a number past a 32-bit integer would be refused by the database, not answered 404).
MAX_ID = 2**31 - 1
PairId = Annotated[str, Path(pattern=SLUG, description="the pair's id")]
ItemId = Annotated[int, Path(ge=1, le=MAX_ID)]
TAG_FILTER = f"^[^{WS}<>\"'&\\u0000]{{1,50}}$"
TagQuery = Annotated[
    str | None,
    Query(pattern=TAG_FILTER, description="keep only items with this tag (1 to 50 characters, no spaces)"),
]


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    message: StrictStr = Field(description="1 to 1000 characters after trimming whitespace")
    session_id: StrictStr | None = Field(default=None, max_length=200)

    @field_validator("message")
    @classmethod
    def _trimmed(cls, v: str) -> str:
        v = v.strip()
        if not v:
            raise ValueError("message must not be empty")
        if len(v) > MAX_MESSAGE:
            raise ValueError(f"message must be at most {MAX_MESSAGE} characters")
        return v


class ChatResponse(BaseModel):
    session_id: str
    replies: list[Reply]
    degraded: bool = Field(False, description="true when the conversation engine was unavailable")
    notice: str | None = None


class SearchResult(BaseModel):
    id: str
    kind: Literal["qa", "passage"]
    title: str
    text: str
    score: float
    evidence: Evidence | None = None
    caveats: list[str] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)
    citations: list[Citation] = Field(default_factory=list)
    status: str | None = None
    feedback: dict[str, int] | None = Field(None, description="visitors' 'was this helpful' answers for this pair")
    reviewed_on: str | None = None
    review_due: str | None = None
    review_overdue: bool = False
    matched_field: str | None = None
    dense: float | None = None
    lexical: float | None = None


class SearchDecision(BaseModel):
    """What the chat would do with this question (answer, clarify or fallback), for staff to see."""

    kind: Literal["answer", "clarify", "fallback"]
    ids: list[str] = Field(default_factory=list)
    corrections: dict[str, str] = Field(default_factory=dict, description="typos mended before searching")


class SearchResponse(BaseModel):
    query: str
    took_ms: float
    mode: str = "hybrid"
    results: list[SearchResult]
    decision: SearchDecision | None = None
