"""Helpline staff: GET /api/search, the same retriever and thresholds the bot uses."""

from __future__ import annotations

import time
from typing import Literal

from fastapi import APIRouter, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from api.deps import RuntimeDep, StaffRole, check_rate
from api.runtime import Runtime
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
) -> Response:
    check_rate(runtime.search_limiter, request, "searches")
    # One hop to the thread pool for all of it (search, votes, the reply's JSON): each hop costs more
    # than most of the steps. The reply is returned as JSON made here from a validated SearchResponse,
    # so FastAPI does not validate and encode it a second time (response_model stays for the docs).
    body = await run_in_threadpool(respond, runtime, q, k, tag, kind, mode, explain)
    return Response(body, media_type="application/json")


def respond(runtime: Runtime, q: str, k: int, tag: str | None, kind: str | None, mode: str, explain: bool) -> bytes:
    """The search reply's JSON."""
    query = q.strip() or q
    start = time.perf_counter()
    retriever = runtime.retriever
    hits, analysis = retriever.search_analysed(query, k, tag, kind, mode)
    took = (time.perf_counter() - start) * 1000
    decision = None
    if explain:
        # What the chat would do, in the same collection, from the one analysis of the query's words.
        d = retriever.decide(query, tag, analysis)
        corrections = analysis.corrections if analysis else {}
        decision = SearchDecision(kind=d.kind, ids=[h.key for h in d.hits], corrections=corrections)
    answerer = runtime.answerer
    pair_ids = [h.pair.id for h in hits if h.pair]
    counts = runtime.store.votes_for(pair_ids) if pair_ids else {}
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
    reply = SearchResponse(query=q, took_ms=round(took, 2), mode=mode, results=results, decision=decision)
    return reply.model_dump_json().encode()
