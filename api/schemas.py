"""Request and response shapes of the HTTP interface (../shared/api-contract.md).

The replies inside a chat response are the conversation layer's own models (bot/replies.py).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictStr, field_validator

from bot.replies import Citation, Reply
from knowledge.schema import Evidence

MAX_MESSAGE = 1000


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
