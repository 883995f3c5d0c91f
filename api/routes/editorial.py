"""Editors' other tools: golden questions (/api/golden), the history of changes (/api/history) and
the queue of visitors' not-helpful votes (/api/feedback).

Golden questions are questions that must keep reaching their pair. "Test all" runs them against the
draft state (every live pair, drafts as if published, plus the editor's unsaved form) on a shadow
index, never the live one, and says what a change would break or fix.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, ConfigDict, Field, field_validator

from api.deps import EditorCaller, RuntimeDep
from api.errors import ConflictError, NotFound, Unprocessable
from api.routes.qa import revision_summary
from api.runtime import Runtime
from api.schemas import IsoDateTime, ItemId, QACreate
from embeddings.editing import GoldenReport, compare, draft_state, golden_questions, shadow
from knowledge.schema import QAPair, slugify
from knowledge.store import Conflict, Golden, Missing

golden_router = APIRouter(prefix="/api/golden", tags=["editors"])
history_router = APIRouter(prefix="/api/history", tags=["editors"])
feedback_router = APIRouter(prefix="/api/feedback", tags=["editors"])


def _iso(value: dt.datetime | None) -> str | None:
    if value is None:
        return None
    return (value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value).isoformat()


# --- golden questions --------------------------------------------------------------------------


class GoldenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question: str = Field(min_length=1, max_length=1000)
    pair_id: str = Field(min_length=1, max_length=120)

    @field_validator("question", "pair_id")
    @classmethod
    def _trimmed(cls, v: str, info) -> str:
        v = v.strip()
        if not v:
            raise ValueError(f"{info.field_name} must not be empty")
        return v


class GoldenOut(BaseModel):
    id: int
    question: str
    pair_id: str
    pair_question: str | None
    created_by: str
    created_at: str | None
    updated_at: str | None


def _golden_out(g: Golden, questions: dict[str, str]) -> GoldenOut:
    return GoldenOut(
        id=g.id,
        question=g.question,
        pair_id=g.pair_id,
        pair_question=questions.get(g.pair_id),
        created_by=g.created_by,
        created_at=_iso(g.created_at),
        updated_at=_iso(g.updated_at),
    )


def _pair_questions(runtime: Runtime) -> dict[str, str]:
    return {s.pair.id: s.pair.question for s in runtime.store.list_pairs()}


def _known_pair(runtime: Runtime, pair_id: str) -> None:
    if runtime.store.get(pair_id) is None:
        raise Unprocessable(f"pair_id: no pair with id {pair_id!r}", extra={"fields": ["pair_id"]})


@golden_router.get("", response_model=list[GoldenOut])
def list_golden(runtime: RuntimeDep, _caller: EditorCaller) -> list[GoldenOut]:
    questions = _pair_questions(runtime)
    return [_golden_out(g, questions) for g in runtime.store.list_golden()]


@golden_router.post("", status_code=201, response_model=GoldenOut)
def add_golden(body: GoldenIn, runtime: RuntimeDep, caller: EditorCaller) -> GoldenOut:
    _known_pair(runtime, body.pair_id)
    g = runtime.store.add_golden(body.question, body.pair_id, caller.name)
    return _golden_out(g, _pair_questions(runtime))


@golden_router.put("/{golden_id}", response_model=GoldenOut)
def update_golden(golden_id: ItemId, body: GoldenIn, runtime: RuntimeDep, caller: EditorCaller) -> GoldenOut:
    _known_pair(runtime, body.pair_id)
    try:
        g = runtime.store.update_golden(golden_id, body.question, body.pair_id, caller.name)
    except Missing as exc:
        raise NotFound(f"No golden question {golden_id}.") from exc
    return _golden_out(g, _pair_questions(runtime))


@golden_router.delete("/{golden_id}", status_code=204)
def delete_golden(golden_id: ItemId, runtime: RuntimeDep, _caller: EditorCaller) -> Response:
    try:
        runtime.store.delete_golden(golden_id)
    except Missing as exc:
        raise NotFound(f"No golden question {golden_id}.") from exc
    return Response(status_code=204)


class GoldenTest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pair: QACreate | None = Field(None, description="the editor's unsaved form, tried in place of the stored pair")


def _report(runtime: Runtime, unsaved: QAPair | None) -> tuple[list, GoldenReport]:
    questions = golden_questions(runtime.store)
    draft = shadow(runtime.retriever, draft_state(runtime.store, unsaved))
    return questions, compare(runtime.retriever, draft, questions)


@golden_router.post("/test")
async def test_golden(runtime: RuntimeDep, _caller: EditorCaller, body: GoldenTest | None = None) -> dict[str, Any]:
    """Every golden question against the live index and against the draft state (a shadow index)."""
    unsaved = None
    if body is not None and body.pair is not None:
        data = body.pair.model_dump()
        unsaved = QAPair.model_validate({**data, "id": body.pair.id or slugify(body.pair.question)})
    questions, report = await asyncio.to_thread(_report, runtime, unsaved)

    def outcome(o) -> dict[str, Any]:
        return {"passed": o.passed, "top": o.top, "top_question": o.top_question, "score": o.score, "rank": o.rank}

    results = [
        {
            "id": g.id,
            "question": g.question,
            "pair_id": g.pair_id,
            "live": outcome(report.live[g.id]),
            "draft": outcome(report.draft[g.id]),
        }
        for g in questions
    ]
    by_id = {r["id"]: r for r in results}
    return {
        "total": report.total,
        "passed_live": report.passed_live,
        "passed_draft": report.passed_draft,
        "took_ms": report.took_ms,
        "broken": [by_id[i] for i in report.broken],
        "fixed": [by_id[i] for i in report.fixed],
        "results": results,
    }


# --- history -----------------------------------------------------------------------------------


@history_router.get("")
def history(
    runtime: RuntimeDep,
    _caller: EditorCaller,
    since: IsoDateTime | None = Query(
        None, description="only changes at or after this time (RFC 3339, e.g. 2026-01-31T09:00:00Z)"
    ),
    limit: int = Query(200, ge=1, le=2000),
) -> list[dict[str, Any]]:
    """Every change to every pair, newest first: who, when, what, and any override's reason."""
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=dt.UTC)
    return [revision_summary(r) for r in runtime.store.history(since=since, limit=limit)]


# --- visitors' not-helpful votes -----------------------------------------------------------------


class FeedbackClose(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: str = Field("", max_length=1000)


def _feedback_out(item: Any, questions: dict[str, str]) -> dict[str, Any]:
    return {
        "id": item.id,
        "pair_id": item.pair_id,
        "question": questions.get(item.pair_id),
        "created_at": _iso(item.created_at),
        "state": item.state,
        "closed_by": item.closed_by,
        "closed_at": _iso(item.closed_at),
        "close_note": item.close_note,
    }


@feedback_router.get("")
def list_feedback(
    runtime: RuntimeDep,
    _caller: EditorCaller,
    state: str | None = Query("open", pattern="^(open|closed)$"),
) -> list[dict[str, Any]]:
    """Visitors' "not helpful" votes, newest first, each with the pair it was about."""
    questions = _pair_questions(runtime)
    return [_feedback_out(f, questions) for f in runtime.store.list_feedback(state)]


@feedback_router.post("/{feedback_id}/close")
def close_feedback(
    feedback_id: ItemId, body: FeedbackClose, runtime: RuntimeDep, caller: EditorCaller
) -> dict[str, Any]:
    try:
        item = runtime.store.close_feedback(feedback_id, caller.name, body.note)
    except Missing as exc:
        raise NotFound(f"No vote {feedback_id}.") from exc
    except Conflict as exc:
        raise ConflictError(str(exc)) from exc
    return _feedback_out(item, _pair_questions(runtime))


routers = (golden_router, history_router, feedback_router)
