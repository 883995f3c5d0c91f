"""Helpline staff: GET /api/search, the same retriever and thresholds the bot uses."""
from __future__ import annotations

import asyncio
import time

from fastapi import APIRouter, Query

from api.deps import RuntimeDep, StaffRole
from api.models import SearchResponse, SearchResult

router = APIRouter(tags=["staff"])


@router.get("/api/search", response_model=SearchResponse)
async def search(
    runtime: RuntimeDep,
    _role: StaffRole,
    q: str = Query(min_length=1, max_length=1000, description="the question or keywords"),
    k: int = Query(5, ge=1, le=50, description="how many results"),
    tag: str | None = Query(None, max_length=50, description="keep only items with this tag"),
) -> SearchResponse:
    start = time.perf_counter()
    hits = await asyncio.to_thread(runtime.retriever.search, q.strip() or q, k, tag)
    took = (time.perf_counter() - start) * 1000
    answerer = runtime.answerer
    results = []
    for h in hits:
        if h.pair:
            p = h.pair
            answer = answerer.answer(p, h.score).answer
            results.append(SearchResult(
                id=p.id, kind="qa", title=p.question, text=p.answer, score=round(h.score, 4), evidence=p.evidence,
                caveats=list(p.caveats), tags=list(p.tags), citations=answer.citations, status=p.status,
                review_due=answer.review_due, review_overdue=answer.review_overdue, matched_field=h.field))
        else:
            x = h.passage
            results.append(SearchResult(
                id=x.id, kind="passage", title=x.title, text=x.text, score=round(h.score, 4), tags=list(x.tags),
                citations=[answerer.citation(x.citation())], matched_field=h.field))
    return SearchResponse(query=q, took_ms=round(took, 2), results=results)
