"""What the bot says, as structured replies: the kinds, the answer with its evidence and dated
citations, the options a visitor can tap, and "Was this helpful?".

These shapes are part of the HTTP contract (../shared/api-contract.md) because /api/chat returns
them as they are; they live with the conversation that produces them.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from knowledge.schema import Evidence

ReplyKind = Literal["answer", "clarify", "fallback", "safety", "handoff", "smalltalk"]


class Citation(BaseModel):
    title: str
    publisher: str
    published: str | None
    url: str | None = None
    passage: str | None = None
    historical: bool = Field(False, description="older than the configured age: shown as historical")


class AnswerPayload(BaseModel):
    id: str
    question: str
    text: str = Field(description="the answer alone, without caveats and sources")
    score: float
    evidence: Evidence
    caveats: list[str]
    reviewed_on: str | None = None
    review_due: str | None = None
    review_overdue: bool = False
    citations: list[Citation]
    personal_note: str | None = Field(None, description="set when the visitor asked about their own treatment")


class Option(BaseModel):
    title: str
    payload: str


class Feedback(BaseModel):
    question: str = "Was this helpful?"
    options: list[Option]


class Reply(BaseModel):
    kind: ReplyKind
    text: str
    answer: AnswerPayload | None = None
    options: list[Option] = Field(default_factory=list)
    feedback: Feedback | None = Field(None, description="under an answer: 'Was this helpful?' yes/no")
