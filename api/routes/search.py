"""Helpline staff: GET /api/search, the same retriever and thresholds the bot uses."""

from __future__ import annotations

import asyncio
import time
from typing import Literal

from fastapi import APIRouter, Query, Request

from api.deps import RuntimeDep, StaffRole, check_rate
from api.schemas import SearchDecision, SearchResponse, SearchResult, TagQuery

router = APIRouter(tags=["staff"])


@router.get("/api/search", response_model=SearchResponse)
async def search(
    request: Request,
    runtime: RuntimeDep,
    _role: StaffRole,
    q: str = Query(min_length=1, max_length=1000, description="the question or keywords"),
    k: int = Query(5, ge=1, le=50, description="how many results"),
    tag: TagQuery = None,
    kind: Literal["qa", "passage"] | None = Query(None, description="keep only curated pairs or article passages"),
    mode: Literal["hybrid", "dense", "bm25"] = Query("hybrid", description="retrieval method (for comparison)"),
    explain: bool = Query(False, description="also say what the chat would do with this question"),
) -> SearchResponse:
    check_rate(runtime.search_limiter, request, "searches")
    query = q.strip() or q
    start = time.perf_counter()
    retriever = runtime.retriever
    hits, analysis = await asyncio.to_thread(retriever.search_analysed, query, k, tag, kind, mode)
    took = (time.perf_counter() - start) * 1000
    decision = None
    if explain:
        # What the chat would do, in the same collection, from the one analysis of the query's words.
        d = await asyncio.to_thread(retriever.decide, query, tag, analysis)
        corrections = analysis.corrections if analysis else {}
        decision = SearchDecision(kind=d.kind, ids=[h.key for h in d.hits], corrections=corrections)
    answerer = runtime.answerer
    counts = await asyncio.to_thread(runtime.store.feedback_counts) if any(h.pair for h in hits) else {}
    results = []
    for h in hits:
        if h.pair:
            p = h.pair
            answer = answerer.payload(p, h.score)
            results.append(
                SearchResult(
                    id=p.id,
                    kind="qa",
                    title=p.question,
                    text=p.answer,
                    score=round(h.score, 4),
                    evidence=p.evidence,
                    caveats=list(p.caveats),
                    tags=list(p.tags),
                    citations=answer.citations,
                    status=p.status,
                    feedback=counts.get(p.id, {"helpful": 0, "not_helpful": 0}),
                    reviewed_on=answer.reviewed_on,
                    review_due=answer.review_due,
                    review_overdue=answer.review_overdue,
                    matched_field=h.field,
                    dense=round(h.dense, 4),
                    lexical=round(h.lexical, 4),
                )
            )
        elif h.passage:
            x = h.passage
            results.append(
                SearchResult(
                    id=x.id,
                    kind="passage",
                    title=x.title,
                    text=x.text,
                    score=round(h.score, 4),
                    tags=list(x.tags),
                    citations=[answerer.citation(x.citation())],
                    matched_field=h.field,
                    dense=round(h.dense, 4),
                    lexical=round(h.lexical, 4),
                )
            )
    return SearchResponse(query=q, took_ms=round(took, 2), mode=mode, results=results, decision=decision)
