"""Editors: /api/quality, the quality loop (api/quality.py): what visitors asked that the bot could not
answer, grouped, with one action per suggestion. For a caller of role editor or admin (401/403 as /api/qa).

Reading (`from`/`to`: days YYYY-MM-DD, UTC, both included; default the 28 days to today; 422 when a date
is not a date, `from` is after `to` or the range is over 366 days):

- `GET /api/quality/dashboard?from&to&clusters=10` -> `DashboardOut`: per day the turns by kind (answer,
  clarify, fallback, none_of_these, choice, vote, smalltalk, handoff, safety), `questions` (answer +
  clarify + fallback), `fallback_rate`, `clarify_rate`, `none_of_these_rate`; `totals` the same over the
  range; `helpful`: votes per pair with `helpful_rate`; `misses`: kept, open, by outcome and resolution;
  `clusters`: the largest clusters no editor dealt with (size, an example, this week and last, the
  nearest pair, the recommended action).
- `GET /api/quality/clusters?from&to&limit=50` -> `ClustersOut`: each cluster with its `miss_ids`,
  `examples`, `outcomes`, `chosen`, `trend` (`days`, `this_week`, `last_week`), `nearest` (pair, question,
  score, first) and `suggestions` (best first, `recommended` on the first), each naming the route to
  send it to by its `action` and carrying the `miss_ids` (and for an alternate the `pair_id` and its
  `etag`) to send.
- `GET /api/quality/misses?from&to&state=open|all&limit=200` -> `[MissOut]`, newest first.
- `GET /api/quality/out-of-scope?state=active|all` -> `[ScopeMarkOut]`.
- `GET /api/quality/actions?limit=100` -> `[QualityActionOut]`: the accepted suggestions, newest first.

Acting (each through the same path as an edit on /api/qa: golden questions, warnings, the pair's
history; the action is also kept in /api/quality/actions):

- `POST /api/quality/alternates` `{"pair_id", "miss_ids"}` with `If-Match: <the pair's ETag>` ->
  `200 QualityPairOut` (the pair, the questions added, warnings, the revision) and the new `ETag`;
  428 without If-Match, 412 stale, 404 no such pair or kept question, 409 nothing new to add or golden
  questions broken (`X-Golden-Override` by an admin as on /api/qa), 422 past 50 alternates.
- `POST /api/quality/drafts` `{"miss_ids", "question"?}` -> `201 QualityPairOut`: a new draft pair
  (never published by this), its question the cluster's most central one unless given, the others
  its alternates.
- `POST /api/quality/out-of-scope` `{"miss_ids", "reason"}` -> `201 QualityScopeOut`: from now on a
  message at least quality.out_of_scope_similarity alike one of these questions gets the helpline
  fallback with the reason (bot/answering.py); 409 when a golden question would match (an admin's
  `X-Golden-Override` records a reason), warnings for published pairs whose own question would match.
- `DELETE /api/quality/out-of-scope/{mark_id}` -> `200 ScopeMarkOut` (undone; its questions open again);
  404, 409 when undone already.
- `POST /api/quality/dismiss` `{"miss_ids", "note"?}` -> `200 QualityDismissOut`: set aside, no change.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, FastAPI, Header, Query, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from api.deps import EditorCaller, RuntimeDep
from api.errors import ConflictError, NotFound, Unprocessable
from api.quality import PLACEHOLDER, QualityLoop, day_bounds
from api.routes.qa import (
    OVERRIDE_HEADER,
    _check_if_match,
    _live,
    create_checked,
    golden_override_note,
    pair_warnings,
    replace_checked,
)
from api.runtime import Runtime
from api.schemas import (
    ClustersOut,
    DashboardOut,
    IsoDate,
    ItemId,
    MissOut,
    QualityActionOut,
    QualityAlternatesIn,
    QualityDismissIn,
    QualityDismissOut,
    QualityDraftIn,
    QualityPairOut,
    QualityScopeIn,
    QualityScopeOut,
    ScopeMarkOut,
)
from embeddings.clusters import ScopeMatcher
from embeddings.editing import golden_questions
from knowledge.schema import QAPair, slugify
from knowledge.store import Conflict, Miss, Missing, QualityAction, ScopeMark

log = logging.getLogger("faqbot.quality")

DEFAULT_DAYS = 28
MAX_DAYS = 366
EARLIEST, LATEST = dt.date(1970, 1, 1), dt.date(9999, 12, 30)
DRAFT_ANSWER = (
    "Draft from the quality loop: write the answer, add its sources and check the alternates (visitors' "
    "questions, personal details replaced) before publishing."
)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """After the service's own start (the runtime is built): the loop, its marks, and its upkeep."""
    runtime: Runtime | None = getattr(app.state, "runtime", None)
    if runtime is None:
        yield
        return
    loop = QualityLoop(runtime)
    app.state.quality = loop
    try:
        await asyncio.to_thread(loop.start)
    except Exception as exc:  # a store that is down: the upkeep tries again
        log.warning("quality loop: start-up work failed (%s); trying again later", type(exc).__name__)
    task = asyncio.create_task(loop.keep_up(), name="quality-loop")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(Exception):
            await asyncio.to_thread(loop.flush)


router = APIRouter(prefix="/api/quality", tags=["editors"], lifespan=lifespan)


def get_quality(request: Request) -> QualityLoop:
    return request.app.state.quality


QualityDep = Annotated[QualityLoop, Depends(get_quality)]


def date_range(
    first: IsoDate | None = Query(
        None, alias="from", description="first day, YYYY-MM-DD (UTC); default 27 days before `to`"
    ),
    last: IsoDate | None = Query(None, alias="to", description="last day, YYYY-MM-DD (UTC), included; default today"),
) -> tuple[dt.date, dt.date]:
    for value, name in ((first, "from"), (last, "to")):
        if value is not None and not EARLIEST <= value <= LATEST:
            raise Unprocessable(f"{name}: a day from {EARLIEST} to {LATEST}.", extra={"fields": [name]})
    last = last or dt.datetime.now(dt.UTC).date()
    first = first or max(EARLIEST, last - dt.timedelta(days=DEFAULT_DAYS - 1))
    if first > last:
        raise Unprocessable("from must not be after to.", extra={"fields": ["from", "to"]})
    if (last - first).days >= MAX_DAYS:
        raise Unprocessable(f"A range has at most {MAX_DAYS} days.", extra={"fields": ["from", "to"]})
    return first, last


DateRange = Annotated[tuple[dt.date, dt.date], Depends(date_range)]


# --- reading -----------------------------------------------------------------------------------


@router.get("/dashboard", response_model=DashboardOut, response_model_by_alias=True)
def dashboard(
    days: DateRange,
    quality: QualityDep,
    _caller: EditorCaller,
    clusters: int = Query(10, ge=0, le=50, description="how many of the largest clusters"),
) -> DashboardOut:
    """The dashboard's data: turns per day by kind, the fallback and clarify rates, helpful votes per pair,
    the kept questions, and the largest clusters no editor dealt with."""
    return DashboardOut.model_validate(quality.dashboard(days[0], days[1], clusters))


@router.get("/clusters", response_model=ClustersOut, response_model_by_alias=True)
def clusters(
    days: DateRange,
    quality: QualityDep,
    _caller: EditorCaller,
    limit: int = Query(50, ge=1, le=200),
) -> ClustersOut:
    """The kept questions no editor dealt with, grouped by meaning, largest first, each with suggestions."""
    since, until = day_bounds(*days)
    grouped, found = quality.clusters(since, until, limit)
    return ClustersOut.model_validate(
        {"from": days[0].isoformat(), "to": days[1].isoformat(), "clustered": grouped, "clusters": found}
    )


def _miss_out(m: Miss) -> MissOut:
    return MissOut(
        id=m.id,
        at=m.at.isoformat(),
        question=m.question,
        reply_kind=m.reply_kind,
        outcome=m.outcome,
        candidates=list(m.candidates),
        chosen=m.chosen,
        resolution=m.resolution,
        resolved_ref=m.resolved_ref,
        resolved_by=m.resolved_by,
        resolved_at=m.resolved_at.isoformat() if m.resolved_at else None,
    )


@router.get("/misses", response_model=list[MissOut])
def list_misses(
    days: DateRange,
    runtime: RuntimeDep,
    _caller: EditorCaller,
    state: Literal["open", "all"] = "open",
    limit: int = Query(200, ge=1, le=1000),
) -> list[MissOut]:
    """The kept questions, newest first (open: those no editor dealt with)."""
    since, until = day_bounds(*days)
    return [_miss_out(m) for m in runtime.store.misses(since, until, unresolved=state == "open", limit=limit)]


def _mark_out(m: ScopeMark) -> ScopeMarkOut:
    return ScopeMarkOut(
        id=m.id,
        reason=m.reason,
        questions=list(m.questions),
        created_by=m.created_by,
        created_at=m.created_at.isoformat(),
        undone_by=m.undone_by,
        undone_at=m.undone_at.isoformat() if m.undone_at else None,
        active=m.active,
    )


@router.get("/out-of-scope", response_model=list[ScopeMarkOut])
def list_marks(
    runtime: RuntimeDep, _caller: EditorCaller, state: Literal["active", "all"] = "active"
) -> list[ScopeMarkOut]:
    """Clusters marked out of scope, oldest first (all: the undone ones too)."""
    return [_mark_out(m) for m in runtime.store.scope_marks(active=state == "active")]


def _action_out(a: QualityAction) -> QualityActionOut:
    return QualityActionOut(
        id=a.id,
        at=a.at.isoformat(),
        by=a.by,
        action=a.action,
        miss_ids=list(a.miss_ids),
        pair_id=a.pair_id,
        revision=a.revision,
        mark_id=a.mark_id,
        note=a.note,
    )


@router.get("/actions", response_model=list[QualityActionOut])
def list_actions(
    runtime: RuntimeDep, _caller: EditorCaller, limit: int = Query(100, ge=1, le=1000)
) -> list[QualityActionOut]:
    """The suggestions editors accepted (and marks undone), newest first."""
    return [_action_out(a) for a in runtime.store.quality_actions(limit)]


# --- acting ------------------------------------------------------------------------------------


async def _misses(runtime: Runtime, ids: list[int]) -> list[Miss]:
    """The kept questions with these ids, in the order given; 404 naming those that are not kept."""
    wanted = list(dict.fromkeys(ids))
    found = await asyncio.to_thread(runtime.store.misses, None, None, False, wanted, len(wanted))
    missing = [i for i in wanted if i not in {m.id for m in found}]
    if missing:
        raise NotFound(
            f"No kept question with id {', '.join(map(str, missing))} (deleted after the retention, or never kept)."
        )
    order = {i: k for k, i in enumerate(wanted)}
    return sorted(found, key=lambda m: order[m.id])


def _pair_response(stored, added: list[str], warnings: list[dict], action: QualityAction, status: int) -> JSONResponse:
    body = QualityPairOut.model_validate(
        {"pair": stored.pair, "added": added, "warnings": warnings, "revision": stored.version, "action_id": action.id}
    )
    return JSONResponse(body.model_dump(mode="json"), status_code=status, headers={"ETag": stored.etag})


PAIR_RESPONSE = {"headers": {"ETag": {"required": True, "schema": {"type": "string"}, "description": "the pair's"}}}


@router.post(
    "/alternates",
    response_model=QualityPairOut,
    responses={
        200: {**PAIR_RESPONSE, "description": "the pair with the questions added"},
        404: {"description": "no such pair or kept question"},
        409: {"description": "nothing new to add, or golden questions break"},
        412: {},
        428: {},
    },
)
async def add_alternates(
    body: QualityAlternatesIn,
    runtime: RuntimeDep,
    caller: EditorCaller,
    if_match: str | None = Header(None),
    override: Annotated[str | None, Header(alias=OVERRIDE_HEADER)] = None,
) -> JSONResponse:
    """Add kept questions as alternates of a pair, as an edit of the pair on /api/qa would."""
    stored = await _live(runtime, body.pair_id)
    _check_if_match(stored, if_match)
    items = await _misses(runtime, body.miss_ids)
    have = {q.casefold() for q in [stored.pair.question, *stored.pair.alternates]}
    added: list[str] = []
    for m in items:
        question = m.question.strip()
        if question and question.casefold() not in have:
            have.add(question.casefold())
            added.append(question)
    if not added:
        raise ConflictError("These questions are the pair's question or alternates already.")
    try:
        pair = QAPair.model_validate({**stored.pair.model_dump(), "alternates": [*stored.pair.alternates, *added]})
    except ValidationError as exc:
        raise Unprocessable(
            f"The pair cannot take these alternates ({exc.errors()[0]['msg']}); a pair has at most 50.",
            extra={"fields": ["miss_ids"]},
        ) from exc
    ids = [m.id for m in items]
    note = f"quality loop: {len(added)} visitor question(s) added as alternates (kept questions {ids})"
    new = await replace_checked(runtime, caller, stored, pair, override, note)
    warnings = await pair_warnings(runtime, new.pair, new.pair.id)
    action = await asyncio.to_thread(
        runtime.store.record_action, "alternate", caller.name, ids, new.pair.id, new.version, note
    )
    return _pair_response(new, added, warnings, action, 200)


def _free_id(runtime: Runtime, question: str) -> str:
    """An id for a new pair that no pair, live or deleted, has (a deleted one would be revived)."""
    base = slugify(question)
    candidate, n = base, 1
    while runtime.store.get(candidate, deleted=True) is not None:
        n += 1
        candidate = f"{base}-{n}"
    return candidate


@router.post(
    "/drafts",
    status_code=201,
    response_model=QualityPairOut,
    responses={201: {**PAIR_RESPONSE, "description": "the new draft"}, 404: {"description": "no such kept question"}},
)
async def start_draft(body: QualityDraftIn, runtime: RuntimeDep, caller: EditorCaller) -> JSONResponse:
    """A new draft pair from kept questions: never published by this; an editor writes its answer."""
    items = await _misses(runtime, body.miss_ids)
    texts = list(dict.fromkeys(m.question.strip() for m in items if m.question.strip()))
    clean = [t for t in texts if PLACEHOLDER not in t] or texts
    question = body.question.strip() if body.question else clean[0]
    alternates = [t for t in clean if t.casefold() != question.casefold()][:50]
    pair_id = await asyncio.to_thread(_free_id, runtime, question)
    pair = QAPair(id=pair_id, question=question, alternates=alternates, answer=DRAFT_ANSWER, status="draft")
    ids = [m.id for m in items]
    note = f"quality loop: draft started from {len(ids)} visitor question(s) (kept questions {ids})"
    stored = await create_checked(runtime, caller, pair, None, note)
    warnings = await pair_warnings(runtime, stored.pair, stored.pair.id)
    action = await asyncio.to_thread(
        runtime.store.record_action, "draft", caller.name, ids, stored.pair.id, stored.version, note
    )
    return _pair_response(stored, [question, *alternates], warnings, action, 201)


@router.post("/dismiss", response_model=QualityDismissOut, responses={404: {"description": "no such kept question"}})
async def dismiss(body: QualityDismissIn, runtime: RuntimeDep, caller: EditorCaller) -> QualityDismissOut:
    """Set kept questions aside without changing anything (they leave the clusters)."""
    items = await _misses(runtime, body.miss_ids)
    ids = [m.id for m in items]
    action = await asyncio.to_thread(
        runtime.store.record_action, "dismiss", caller.name, ids, None, None, body.note.strip() or None
    )
    return QualityDismissOut(dismissed=sum(1 for m in items if m.resolution is None), action_id=action.id)


def _scope_check(runtime: Runtime, quality: QualityLoop, questions: list[str]) -> tuple[list[dict], list[dict]]:
    """(golden questions the mark would send to the helpline, warnings for published pairs it would catch)."""
    encoder = runtime.retriever.encoder
    matcher = ScopeMatcher(encoder, [(0, "", questions)], quality.settings.out_of_scope_similarity)
    golden = golden_questions(runtime.store)
    broken = [
        {"id": g.id, "question": g.question, "pair_id": g.pair_id, "similarity": hit.similarity}
        for g, hit in zip(golden, matcher.matches([g.question for g in golden], encoder), strict=True)
        if hit is not None
    ]
    pairs = [p for p in runtime.store.published_pairs() if p.citable]
    warnings = [
        {
            "field": "miss_ids",
            "code": "catches-pair",
            "message": f"Visitors asking {p.question!r} (the pair {p.id!r}) would get the helpline instead of its "
            f"answer (similarity {hit.similarity:.2f} to {hit.question!r}).",
        }
        for p, hit in zip(pairs, matcher.matches([p.question for p in pairs], encoder), strict=True)
        if hit is not None
    ]
    return broken, warnings


@router.post(
    "/out-of-scope",
    status_code=201,
    response_model=QualityScopeOut,
    responses={404: {"description": "no such kept question"}, 409: {"description": "golden questions break"}},
)
async def mark_out_of_scope(
    body: QualityScopeIn,
    runtime: RuntimeDep,
    quality: QualityDep,
    caller: EditorCaller,
    override: Annotated[str | None, Header(alias=OVERRIDE_HEADER)] = None,
) -> QualityScopeOut:
    """Mark kept questions out of scope: messages like them get the helpline fallback with the reason."""
    items = await _misses(runtime, body.miss_ids)
    questions = list(dict.fromkeys(m.question for m in items))
    broken, warnings = await asyncio.to_thread(_scope_check, runtime, quality, questions)
    note = None
    if broken:
        note = golden_override_note(
            caller,
            override,
            broken,
            refused=f"This mark would send {len(broken)} golden question(s) to the helpline instead of their pair. "
            f"Leave those questions out; an admin can override with a reason ({OVERRIDE_HEADER}).",
            not_admin="Only an admin can make a mark that breaks golden questions.",
        )
    mark, action = await asyncio.to_thread(
        runtime.store.add_scope_mark, body.reason, questions, caller.name, [m.id for m in items], note
    )
    await asyncio.to_thread(quality.refresh_scope, True)
    return QualityScopeOut.model_validate({"mark": _mark_out(mark), "warnings": warnings, "action_id": action.id})


@router.delete(
    "/out-of-scope/{mark_id}",
    response_model=ScopeMarkOut,
    responses={404: {"description": "no such mark"}, 409: {"description": "undone already"}},
)
async def undo_mark(
    mark_id: ItemId,
    runtime: RuntimeDep,
    quality: QualityDep,
    caller: EditorCaller,
) -> ScopeMarkOut:
    """Undo a mark: matching messages are answered as usual again and its questions are open again."""
    try:
        mark, _action = await asyncio.to_thread(runtime.store.undo_scope_mark, mark_id, caller.name)
    except Missing as exc:
        raise NotFound(f"No out-of-scope mark {mark_id}.") from exc
    except Conflict as exc:
        raise ConflictError(str(exc)) from exc
    await asyncio.to_thread(quality.refresh_scope, True)
    return _mark_out(mark)
