"""Request and response shapes of the HTTP interface (../shared/api-contract.md).

The replies inside a chat response are the conversation layer's own models (bot/replies.py).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Literal

from fastapi import Path, Query
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictStr, field_validator

from api.hardening import NO_NUL, NOT_BLANK, WS
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


# --- the quality loop (api/routes/quality.py) ------------------------------------------------------------

MissIds = Annotated[list[Annotated[int, Field(ge=1, le=MAX_ID)]], Field(min_length=1)]


class QualityAlternatesIn(BaseModel):
    """Add kept questions as alternates of a pair (needs the pair's ETag in If-Match)."""

    model_config = ConfigDict(extra="forbid")

    pair_id: str = Field(pattern=SLUG, description="the pair to add them to (usually the suggestion's)")
    miss_ids: MissIds = Field(max_length=20, description="the kept questions to add, as a cluster's suggestion lists")


class QualityDraftIn(BaseModel):
    """Start a new draft pair from kept questions (never published by this call)."""

    model_config = ConfigDict(extra="forbid")

    miss_ids: MissIds = Field(max_length=200, description="the cluster's kept questions")
    question: str | None = Field(
        None,
        min_length=1,
        max_length=1000,
        pattern=NOT_BLANK,
        description="the draft's question (default: the cluster's most central question)",
    )


class QualityScopeIn(BaseModel):
    """Mark a cluster out of scope: messages like its questions get the helpline fallback with the reason."""

    model_config = ConfigDict(extra="forbid")

    miss_ids: MissIds = Field(max_length=200, description="the cluster's kept questions")
    reason: str = Field(
        min_length=1, max_length=300, pattern=NOT_BLANK, description="shown to visitors in the fallback"
    )


class QualityDismissIn(BaseModel):
    """Set kept questions aside without a change (they leave the clusters)."""

    model_config = ConfigDict(extra="forbid")

    miss_ids: MissIds = Field(max_length=1000)
    note: str = Field("", max_length=300, pattern=NO_NUL)


class MissOut(BaseModel):
    id: int
    at: str
    question: str = Field(description="as kept: personal details replaced")
    reply_kind: Literal["fallback", "clarify", "answer"]
    outcome: Literal["fallback", "open", "chosen", "none_of_these", "not_helpful"]
    candidates: list[str]
    chosen: str | None
    resolution: Literal["alternate", "draft", "out_of_scope", "dismissed"] | None
    resolved_ref: str | None
    resolved_by: str | None
    resolved_at: str | None


class ClusterExample(BaseModel):
    miss_id: int
    question: str
    at: str
    reply_kind: str
    outcome: str


class TrendDay(BaseModel):
    day: str
    count: int


class ClusterTrend(BaseModel):
    days: list[TrendDay] = Field(description="kept questions per day (days with none left out)")
    this_week: int = Field(description="in the 7 days before the range's end")
    last_week: int = Field(description="in the 7 days before those")


class ClusterNearest(BaseModel):
    pair_id: str
    question: str
    score: float = Field(description="the retriever's confidence for this pair, averaged over the cluster")
    first: int = Field(description="how many of the cluster's questions reach it first")


class QualitySuggestion(BaseModel):
    action: Literal["alternate", "draft", "out_of_scope"]
    score: float
    recommended: bool
    pair_id: str | None = Field(description="alternate: the pair to add the questions to")
    etag: str | None = Field(description="alternate: the pair's ETag now, for If-Match")
    question: str | None = Field(description="alternate: the pair's question; draft: the draft's question")
    miss_ids: list[int] = Field(description="what to send to the action's route")
    alternates: list[str] = Field(description="the questions the action would add")
    why: str


class ClusterOut(BaseModel):
    id: str = Field(description="names the cluster in this answer only; the actions take miss_ids")
    size: int
    miss_ids: list[int] = Field(description="most central first")
    examples: list[ClusterExample]
    outcomes: dict[str, int]
    chosen: dict[str, int] = Field(description="pairs visitors chose after a 'did you mean', and how often")
    first_at: str
    last_at: str
    trend: ClusterTrend
    nearest: ClusterNearest | None
    suggestions: list[QualitySuggestion] = Field(description="best first; the first is the recommended one")


class ClustersOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    from_: str = Field(alias="from")
    to: str
    clustered: int = Field(description="kept questions no editor dealt with, grouped here")
    clusters: list[ClusterOut]


class TurnCounts(BaseModel):
    answer: int
    clarify: int
    fallback: int
    none_of_these: int
    choice: int
    vote: int
    smalltalk: int
    handoff: int
    safety: int


class DashboardDay(BaseModel):
    day: str | None = Field(description="YYYY-MM-DD (null in totals)")
    counts: TurnCounts
    questions: int = Field(description="answer + clarify + fallback: typed questions the retriever decided on")
    fallback_rate: float | None = Field(description="fallback / questions; null without questions")
    clarify_rate: float | None
    none_of_these_rate: float | None = Field(description="'None of these' / clarify")


class HelpfulRow(BaseModel):
    pair_id: str
    question: str | None
    helpful: int
    not_helpful: int
    votes: int
    helpful_rate: float | None


class DashboardMisses(BaseModel):
    kept: int
    open: int
    by_outcome: dict[str, int]
    by_resolution: dict[str, int]


class DashboardCluster(BaseModel):
    id: str
    size: int
    example: str
    this_week: int
    last_week: int
    nearest: ClusterNearest | None
    recommended: Literal["alternate", "draft", "out_of_scope"]


class DashboardOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    from_: str = Field(alias="from")
    to: str
    days: list[DashboardDay]
    totals: DashboardDay
    helpful: list[HelpfulRow] = Field(description="votes per pair in the range, most voted first")
    misses: DashboardMisses
    clusters: list[DashboardCluster] = Field(description="the largest clusters no editor dealt with")
    clustered: int


class ScopeMarkOut(BaseModel):
    id: int
    reason: str
    questions: list[str]
    created_by: str
    created_at: str
    undone_by: str | None
    undone_at: str | None
    active: bool


class QualityWarning(BaseModel):
    field: str
    code: str
    message: str


class QualityPairOut(BaseModel):
    pair: knowledge.QAPair
    added: list[str] = Field(description="the questions added (alternates, or the draft's question and alternates)")
    warnings: list[QualityWarning]
    revision: int = Field(description="the pair's revision made by this change (see its history)")
    action_id: int


class QualityScopeOut(BaseModel):
    mark: ScopeMarkOut
    warnings: list[QualityWarning] = Field(description="published pairs whose own question the mark would catch")
    action_id: int


class QualityActionOut(BaseModel):
    id: int
    at: str
    by: str
    action: Literal["alternate", "draft", "out_of_scope", "undo_out_of_scope", "dismiss"]
    miss_ids: list[int]
    pair_id: str | None
    revision: int | None
    mark_id: int | None
    note: str | None


class QualityDismissOut(BaseModel):
    dismissed: int
    action_id: int
