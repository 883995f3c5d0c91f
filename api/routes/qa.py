"""Editors: /api/qa. Optimistic locking with ETag / If-Match, so no edit silently overwrites another.

- Every change is recorded as a revision (who, when, which fields, old and new values) by the store,
  in the same transaction; a delete is soft (restorable) and an old revision can be restored.
- A change that alters what visitors are answered from first runs the golden questions against a
  shadow index with the change applied (embeddings/editing.py); when one that passes now would fail,
  the change is refused (409) unless an admin overrides it with a reason, which the history records.
- A change is answered by /api/chat and /api/search as soon as the call that made it returns: the
  changed pair's vectors, BM25 statistics and typo vocabulary are updated (Runtime.reindex) before the
  response is sent. Chat keeps being answered from the previous snapshot meanwhile.
- Import and export as JSON or CSV (knowledge/transfer.py); an import is all or nothing.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from api.deps import Caller, EditorCaller, RuntimeDep
from api.errors import (
    ConflictError,
    Forbidden,
    NotFound,
    PayloadTooLarge,
    PreconditionFailed,
    PreconditionRequired,
    Unprocessable,
    UnsupportedMediaType,
)
from api.hardening import text_problem
from api.runtime import Runtime
from api.schemas import IsoDate, ItemId, PairId, QACreate, TagQuery, import_row_problems, pair_problems
from embeddings.editing import (
    compare,
    golden_questions,
    published_after,
    shadow,
    too_close,
)
from knowledge.schema import Audience, QAFields, QAPair, slugify
from knowledge.store import Conflict, Missing, Revision, StoredPair
from knowledge.transfer import MAX_ROWS, ImportProblems, RowProblem, read_csv, read_json, to_csv, to_json
from knowledge.warnings import reading_age_of, text_warnings

router = APIRouter(prefix="/api/qa", tags=["editors"])

OVERRIDE_HEADER = "X-Golden-Override"
StatusFilter = Literal["draft", "published", "deleted"]


class GoldenBroken(ConflictError):
    code = "golden_broken"


def _body(stored: StoredPair) -> dict:
    return stored.pair.model_dump(mode="json")


def _with_etag(stored: StoredPair, status: int = 200) -> JSONResponse:
    return JSONResponse(_body(stored), status_code=status, headers={"ETag": stored.etag})


def _pair_response(description: str) -> dict[str, Any]:
    """A pair in the body and its version in ETag, as the OpenAPI document states it."""
    return {
        "model": QAPair,
        "description": description,
        "headers": {"ETag": {"required": True, "schema": {"type": "string"}, "description": "send it in If-Match"}},
    }


def _check_if_match(stored: StoredPair, if_match: str | None) -> None:
    if not if_match:
        raise PreconditionRequired("Send the pair's current ETag in If-Match, so no one else's edit is overwritten.")
    tags = [t.strip().removeprefix("W/").strip('"') for t in if_match.split(",")]
    if "*" not in tags and stored.etag.strip('"') not in tags:
        raise PreconditionFailed(
            "The pair was changed since you read it. Reload it, then apply your change again.",
            headers={"ETag": stored.etag},
            extra={"current": _body(stored), "updated_by": stored.updated_by},
        )


def _not_found(pair_id: str) -> NotFound:
    return NotFound(f"No pair with id {pair_id!r}.")


async def _live(runtime: Runtime, pair_id: str, deleted: bool = False) -> StoredPair:
    stored = await asyncio.to_thread(runtime.store.get, pair_id, deleted)
    if stored is None or (stored.deleted and not deleted):
        raise _not_found(pair_id)
    return stored


async def _reindex(runtime: Runtime) -> None:
    await asyncio.to_thread(runtime.reindex_after_change)


def _golden_guard(
    runtime: Runtime, caller: Caller, changed: list[QAPair], removed: set[str], override: str | None
) -> str | None:
    """Refuse a change to what is published that breaks a golden question, unless an admin overrides it.

    Returns the note the history records for an override (None when nothing was overridden)."""
    questions = golden_questions(runtime.store)
    if not questions:
        return None
    after = shadow(runtime.retriever, published_after(runtime.store, changed, removed))
    report = compare(runtime.retriever, after, questions)
    if not report.broken:
        return None
    by_id = {g.id: g for g in questions}
    broken = [
        {
            "id": gid,
            "question": by_id[gid].question,
            "pair_id": by_id[gid].pair_id,
            "top": report.draft[gid].top,
            "top_question": report.draft[gid].top_question,
        }
        for gid in report.broken
    ]
    return golden_override_note(
        caller,
        override,
        broken,
        refused=f"This change would break {len(broken)} golden question(s): they would no longer reach their pair. "
        f"Fix the change or the golden questions; an admin can override with a reason ({OVERRIDE_HEADER}).",
        not_admin="Only an admin can publish a change that breaks golden questions.",
    )


def golden_override_note(caller: Caller, override: str | None, broken: list[dict], refused: str, not_admin: str) -> str:
    """What breaking these golden questions takes: an admin's reason in the override header (409
    `refused` without one, 403 `not_admin` from anyone else, 422 over 500 characters). The note the
    history records for the override."""
    reason = (override or "").strip()
    if not reason:
        raise GoldenBroken(refused, extra={"broken": broken})
    if caller.role != "admin":
        raise Forbidden(not_admin, extra={"broken": broken})
    if len(reason) > 500:
        raise Unprocessable("The override reason has at most 500 characters.")
    ids = ", ".join(f"g{b['id']}" for b in broken)
    return f"golden override by {caller.name}: {reason} (broke {ids})"


def _affects_published(old: QAPair | None, new: QAPair | None) -> bool:
    return any(p is not None and p.status == "published" for p in (old, new))


def revision_summary(r: Revision) -> dict[str, Any]:
    return {
        "pair_id": r.pair_id,
        "number": r.number,
        "at": r.at.isoformat(),
        "by": r.by,
        "action": r.action,
        "fields": r.fields,
        "note": r.note,
    }


# --- lists -------------------------------------------------------------------------------------


def _filtered(
    runtime: Runtime,
    status: str | None,
    tag: str | None,
    q: str | None,
    due: bool,
    changed_since: dt.date | None,
    flagged: bool,
) -> list[StoredPair]:
    store = runtime.store
    deleted = status == "deleted"
    rows = store.list_pairs(status=None if deleted else status, tag=tag, deleted=deleted)
    if q:
        needle = q.casefold()
        rows = [
            s
            for s in rows
            if needle in s.pair.id.casefold()
            or needle in s.pair.question.casefold()
            or needle in s.pair.answer.casefold()
            or any(needle in a.casefold() for a in s.pair.alternates)
        ]
    if due:
        today = dt.date.today()
        rows = [s for s in rows if s.pair.review_due is not None and s.pair.review_due <= today]
    if changed_since is not None:
        since = dt.datetime.combine(changed_since, dt.time(), dt.UTC)
        rows = [s for s in rows if s.updated_at >= since]
    if flagged:
        open_flags = {f.pair_id for f in store.list_flags("open")}
        rows = [s for s in rows if s.pair.id in open_flags]
    return rows


@router.get("")
def list_pairs(
    runtime: RuntimeDep,
    _caller: EditorCaller,
    status: StatusFilter | None = None,
    tag: TagQuery = None,
    q: str | None = Query(None, max_length=200, description="text anywhere in the id, question, alternates or answer"),
    due: bool = Query(False, description="only pairs whose review date has come"),
    changed_since: IsoDate | None = Query(None, description="only pairs changed on or after this day"),
    flagged: bool = Query(False, description="only pairs with an open staff flag"),
) -> list[dict]:
    return [_body(s) for s in _filtered(runtime, status, tag, q, due, changed_since, flagged)]


@router.get("/overview")
def overview(
    runtime: RuntimeDep,
    _caller: EditorCaller,
    status: StatusFilter | None = None,
    tag: TagQuery = None,
    q: str | None = Query(None, max_length=200),
    due: bool = False,
    changed_since: IsoDate | None = None,
    flagged: bool = False,
) -> list[dict]:
    """One line per pair for the editors' list: the pair's state, who changed it last, its flags and votes."""
    rows = _filtered(runtime, status, tag, q, due, changed_since, flagged)
    open_flags: dict[str, int] = {}
    for f in runtime.store.list_flags("open"):
        open_flags[f.pair_id] = open_flags.get(f.pair_id, 0) + 1
    votes = runtime.store.feedback_counts()
    today = dt.date.today()
    return [
        {
            "id": s.pair.id,
            "question": s.pair.question,
            "status": s.pair.status,
            "tags": s.pair.tags,
            "evidence": s.pair.evidence,
            "version": s.version,
            "etag": s.etag,
            "updated_at": s.updated_at.isoformat(),
            "updated_by": s.updated_by,
            "deleted": s.deleted,
            "review_due": s.pair.review_due.isoformat() if s.pair.review_due else None,
            "due": bool(s.pair.review_due and s.pair.review_due <= today),
            "open_flags": open_flags.get(s.pair.id, 0),
            "helpful": votes.get(s.pair.id, {}).get("helpful", 0),
            "not_helpful": votes.get(s.pair.id, {}).get("not_helpful", 0),
        }
        for s in rows
    ]


# --- import and export -------------------------------------------------------------------------


@router.get(
    "/export",
    response_model=None,
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}, "description": "JSON, or CSV"}},
)
def export_pairs(
    runtime: RuntimeDep, _caller: EditorCaller, format: Literal["json", "csv"] = "json"
) -> list[dict] | Response:
    """Every live pair (drafts included), in the import format."""
    pairs = [s.pair for s in runtime.store.list_pairs()]
    if format == "csv":
        stamp = dt.date.today().isoformat()
        return Response(
            to_csv(pairs),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="faqbot-pairs-{stamp}.csv"'},
        )
    return to_json(pairs)


async def _read_body(request: Request, limit: int) -> bytes:
    """The body, up to `limit` bytes (api/hardening.py refuses a larger one before it gets here)."""
    too_large = PayloadTooLarge(f"An import has at most {limit:,} bytes.", extra={"limit_bytes": limit})
    if int(request.headers.get("content-length") or 0) > limit:
        raise too_large
    chunks, total = [], 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


def _not_text(where: list[str | int], message: str) -> Unprocessable:
    field = ".".join(str(x) for x in where) or "body"
    return Unprocessable(f"The import is not valid: {field}: {message}.", extra={"fields": [field]})


def _problems_response(exc: ImportProblems) -> JSONResponse:
    return JSONResponse(
        {
            "error": "validation_error",
            "message": f"{len(exc.problems)} of {exc.total} rows are not valid; nothing was written.",
            "rows": [p.as_dict() for p in exc.problems],
        },
        status_code=422,
    )


@router.post(
    "/import",
    response_model=None,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "type": "array",
                        "maxItems": MAX_ROWS,
                        "items": {"$ref": "#/components/schemas/QAImportRow"},
                    }
                },
                "text/csv": {"schema": {"type": "string"}},
            },
        }
    },
    responses={422: {"description": "bad rows, each named with its fields; nothing written"}},
)
async def import_pairs(
    request: Request,
    runtime: RuntimeDep,
    caller: EditorCaller,
    dry_run: bool = Query(False, description="check every row and report, write nothing"),
    audience: Audience = Query(
        "staff",
        description="for rows that do not say: 'staff' (staff search only, the default for an imported "
        "collection) or 'visitors' (also answered in the chat)",
    ),
    override: Annotated[str | None, Header(alias=OVERRIDE_HEADER)] = None,
) -> dict | JSONResponse:
    """Create or update many pairs, all or nothing: a JSON list of pairs, or CSV (Content-Type: text/csv).

    An imported collection is for staff search unless the import (`?audience=visitors`) or its rows
    mark it for the chat."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    raw = await _read_body(request, runtime.settings.web.max_import_bytes)
    stored = await asyncio.to_thread(runtime.store.list_pairs)
    known = {s.pair.id: s.pair.audience for s in stored}
    try:
        if ctype == "text/csv":
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise Unprocessable("The CSV file must be UTF-8 text.") from exc
            if "\x00" in text:
                raise _not_text([], "holds a NUL character (\\u0000), which is not allowed in text")
            pairs = read_csv(text, audience, known)
        elif ctype == "application/json" or ctype.endswith("+json"):
            try:
                data = json.loads(raw.decode("utf-8").removeprefix("\ufeff"))
            except UnicodeDecodeError as exc:
                raise Unprocessable("The body must be UTF-8 text.") from exc
            except RecursionError as exc:
                raise Unprocessable("The JSON is nested too deeply.") from exc
            except ValueError as exc:  # json.JSONDecodeError, or a number too long to read
                raise Unprocessable(f"The body is not valid JSON: {exc}") from exc
            problem = text_problem(data)
            if problem is not None:
                raise _not_text(problem[0], problem[1])
            loose = [
                RowProblem(i, None, [{"field": f, "msg": m} for f, m in problems])
                for i, row in enumerate(data if isinstance(data, list) else [])
                if (problems := import_row_problems(row))
            ]
            if loose:
                raise ImportProblems(loose, len(data))
            pairs = read_json(data, audience, known)
        else:
            raise UnsupportedMediaType("Send a JSON list (application/json) or a CSV file (text/csv).")
    except ImportProblems as exc:
        return _problems_response(exc)
    first = 1 if ctype == "text/csv" else 0  # rows are counted as knowledge/transfer.py counts them
    bad = [
        RowProblem(i, p.id, [{"field": f, "msg": m} for f, m in problems])
        for i, p in enumerate(pairs, start=first)
        if (problems := pair_problems(p))
    ]
    if bad:
        return _problems_response(ImportProblems(bad, len(pairs)))
    existing = {s.pair.id: s.pair for s in stored}
    created = sum(1 for p in pairs if p.id not in existing)
    if dry_run:
        return {"created": created, "updated": len(pairs) - created, "dry_run": True}
    note = None
    if any(_affects_published(existing.get(p.id), p) for p in pairs):
        note = await asyncio.to_thread(_golden_guard, runtime, caller, pairs, set(), override)
    created, updated = await asyncio.to_thread(runtime.store.import_pairs, pairs, caller.name, note)
    await _reindex(runtime)
    return {"created": created, "updated": updated}


# --- checks while editing ----------------------------------------------------------------------


class Checked(BaseModel):
    warnings: list[dict[str, str]]
    reading_age: float


@router.post("/check", response_model=Checked)
async def check_pair(body: QACreate, runtime: RuntimeDep, _caller: EditorCaller) -> Checked:
    """What the editor should know before saving: warnings, each naming its field."""
    return Checked(warnings=await pair_warnings(runtime, body, body.id), reading_age=reading_age_of(body))


async def pair_warnings(runtime: Runtime, pair: QAFields, pair_id: str | None) -> list[dict[str, str]]:
    """The warnings an editor sees while editing (this route, the quality loop's changes): a question or
    alternate too close to another pair's, and the text checks; each naming its field."""
    s = runtime.settings
    found = text_warnings(pair, s.validation.max_reading_age)
    close = await asyncio.to_thread(too_close, runtime.retriever, pair, pair_id, s.validation.near_duplicate_threshold)
    return [{"field": w.field, "code": w.code, "message": w.message} for w in close + found]


@router.post("/preview")
def preview_pair(body: QACreate, runtime: RuntimeDep, _caller: EditorCaller) -> dict:
    """The reply a visitor would get from this pair, exactly as /api/chat sends it."""
    pair = QAPair.model_validate({**body.model_dump(), "id": body.id or slugify(body.question)})
    reply = runtime.answerer.answer(pair, 1.0)
    return {"reply": reply.model_dump(mode="json")}


# --- one pair ----------------------------------------------------------------------------------


@router.post(
    "",
    status_code=201,
    responses={
        201: _pair_response("the pair as stored"),
        409: {"description": "the id is taken, or golden questions break"},
    },
)
async def create_pair(
    body: QACreate,
    runtime: RuntimeDep,
    caller: EditorCaller,
    override: Annotated[str | None, Header(alias=OVERRIDE_HEADER)] = None,
) -> JSONResponse:
    data = body.model_dump()
    data["id"] = body.id or slugify(body.question)
    stored = await create_checked(runtime, caller, QAPair.model_validate(data), override)
    return _with_etag(stored, 201)


def _noted(*notes: str | None) -> str | None:
    return "; ".join(n for n in notes if n) or None


async def create_checked(
    runtime: Runtime, caller: Caller, pair: QAPair, override: str | None, note: str | None = None
) -> StoredPair:
    """The one way a pair is created (this route, the quality loop's drafts): golden questions first when
    it is published (refused, or an admin's override recorded), then the store and its revision (with
    `note`), then the index."""
    guard = None
    if pair.status == "published":
        if await asyncio.to_thread(runtime.store.get, pair.id):
            raise ConflictError(f"A pair with id {pair.id!r} exists already.")
        guard = await asyncio.to_thread(_golden_guard, runtime, caller, [pair], set(), override)
    try:
        stored = await asyncio.to_thread(runtime.store.create, pair, caller.name, _noted(note, guard))
    except Conflict as exc:
        raise ConflictError(f"A pair with id {pair.id!r} exists already.") from exc
    if pair.status == "published":
        await _reindex(runtime)
    return stored


@router.get(
    "/{pair_id}",
    responses={200: _pair_response("the pair"), 404: {"description": "no such pair (or it was deleted)"}},
)
async def read_pair(pair_id: PairId, runtime: RuntimeDep, _caller: EditorCaller) -> JSONResponse:
    return _with_etag(await _live(runtime, pair_id))


@router.put(
    "/{pair_id}",
    responses={
        200: _pair_response("the pair as stored"),
        409: {"description": "golden questions break"},
        412: {},
        428: {},
    },
)
async def replace_pair(
    pair_id: PairId,
    body: QACreate,
    runtime: RuntimeDep,
    caller: EditorCaller,
    if_match: str | None = Header(None),
    override: Annotated[str | None, Header(alias=OVERRIDE_HEADER)] = None,
) -> JSONResponse:
    stored = await _live(runtime, pair_id)
    _check_if_match(stored, if_match)
    if body.id and body.id != pair_id:
        raise ConflictError("The id in the body differs from the id in the address; ids cannot be changed.")
    pair = QAPair.model_validate({**body.model_dump(), "id": pair_id})
    return _with_etag(await replace_checked(runtime, caller, stored, pair, override))


async def replace_checked(
    runtime: Runtime, caller: Caller, stored: StoredPair, pair: QAPair, override: str | None, note: str | None = None
) -> StoredPair:
    """The one way a pair is replaced (this route, the quality loop's alternates), once If-Match was checked
    against `stored`: golden questions first when it changes what is published (refused, or an admin's
    override recorded), then the store and its revision (with `note`; 412 when someone saved first),
    then the index."""
    guard = None
    if _affects_published(stored.pair, pair) and pair != stored.pair:
        guard = await asyncio.to_thread(_golden_guard, runtime, caller, [pair], set(), override)
    try:
        new = await asyncio.to_thread(runtime.store.replace, pair, stored.version, caller.name, _noted(note, guard))
    except Conflict as exc:
        latest = await asyncio.to_thread(runtime.store.get, pair.id)
        extra = {"current": _body(latest), "updated_by": latest.updated_by} if latest else {}
        raise PreconditionFailed(
            "The pair was changed by someone else while you saved. Reload it, then apply your change again.",
            headers={"ETag": latest.etag} if latest else None,
            extra=extra,
        ) from exc
    except Missing as exc:
        raise _not_found(pair.id) from exc
    if _affects_published(stored.pair, pair):
        await _reindex(runtime)
    return new


@router.delete(
    "/{pair_id}", status_code=204, responses={409: {"description": "golden questions break"}, 412: {}, 428: {}}
)
async def delete_pair(
    pair_id: PairId,
    runtime: RuntimeDep,
    caller: EditorCaller,
    if_match: str | None = Header(None),
    override: Annotated[str | None, Header(alias=OVERRIDE_HEADER)] = None,
) -> Response:
    """Delete softly: the pair leaves chat, search and the lists, and can be restored with its history."""
    stored = await _live(runtime, pair_id)
    _check_if_match(stored, if_match)
    note = None
    if stored.pair.status == "published":
        note = await asyncio.to_thread(_golden_guard, runtime, caller, [], {pair_id}, override)
    try:
        await asyncio.to_thread(runtime.store.delete, pair_id, stored.version, caller.name, note)
    except Conflict as exc:
        raise PreconditionFailed("The pair was changed by someone else since you read it. Reload it.") from exc
    except Missing as exc:
        raise _not_found(pair_id) from exc
    if stored.pair.status == "published":
        await _reindex(runtime)
    return Response(status_code=204)


@router.post(
    "/{pair_id}/restore",
    responses={200: _pair_response("the pair, restored"), 404: {"description": "no deleted pair with that id"}},
)
async def restore_pair(
    pair_id: PairId,
    runtime: RuntimeDep,
    caller: EditorCaller,
    override: Annotated[str | None, Header(alias=OVERRIDE_HEADER)] = None,
) -> JSONResponse:
    """Bring back a deleted pair as it was (published again if it was published)."""
    stored = await asyncio.to_thread(runtime.store.get, pair_id, True)
    if stored is None or not stored.deleted:
        raise NotFound(f"No deleted pair with id {pair_id!r}.")
    note = None
    if stored.pair.status == "published":
        note = await asyncio.to_thread(_golden_guard, runtime, caller, [stored.pair], set(), override)
    try:
        new = await asyncio.to_thread(runtime.store.restore, pair_id, caller.name, note)
    except Missing as exc:
        raise NotFound(f"No deleted pair with id {pair_id!r}.") from exc
    except Conflict as exc:
        raise ConflictError(str(exc)) from exc
    if new.pair.status == "published":
        await _reindex(runtime)
    return _with_etag(new)


@router.get("/{pair_id}/revisions")
async def list_revisions(pair_id: PairId, runtime: RuntimeDep, _caller: EditorCaller) -> list[dict]:
    """Every change of the pair, newest first (deleted pairs too)."""
    revisions = await asyncio.to_thread(runtime.store.revisions, pair_id)
    if not revisions:
        raise _not_found(pair_id)
    return [revision_summary(r) for r in revisions]


@router.get("/{pair_id}/revisions/{number}")
async def read_revision(pair_id: PairId, number: ItemId, runtime: RuntimeDep, _caller: EditorCaller) -> dict:
    r = await asyncio.to_thread(runtime.store.revision, pair_id, number)
    if r is None:
        raise NotFound(f"The pair {pair_id!r} has no revision {number}.")
    return {**revision_summary(r), "old": r.old, "new": r.new, "pair": r.pair}


@router.post(
    "/{pair_id}/revisions/{number}/restore",
    responses={200: _pair_response("the pair as stored"), 409: {}, 412: {}, 428: {}},
)
async def restore_revision(
    pair_id: PairId,
    number: ItemId,
    runtime: RuntimeDep,
    caller: EditorCaller,
    if_match: str | None = Header(None),
    override: Annotated[str | None, Header(alias=OVERRIDE_HEADER)] = None,
) -> JSONResponse:
    """Make an old revision's content the pair's current content (a new revision; nothing is erased)."""
    stored = await _live(runtime, pair_id)
    _check_if_match(stored, if_match)
    r = await asyncio.to_thread(runtime.store.revision, pair_id, number)
    if r is None or r.pair is None:
        raise NotFound(f"The pair {pair_id!r} has no revision {number} with content to restore.")
    old = QAPair.model_validate(r.pair)
    note = None
    if _affects_published(stored.pair, old) and old != stored.pair:
        note = await asyncio.to_thread(_golden_guard, runtime, caller, [old], set(), override)
    try:
        new = await asyncio.to_thread(runtime.store.revert, pair_id, number, stored.version, caller.name, note)
    except Conflict as exc:
        raise PreconditionFailed("The pair was changed by someone else since you read it. Reload it.") from exc
    except Missing as exc:
        raise _not_found(pair_id) from exc
    if _affects_published(stored.pair, new.pair):
        await _reindex(runtime)
    return _with_etag(new)
