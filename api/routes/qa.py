"""Editors: /api/qa. Optimistic locking with ETag / If-Match, so no edit silently overwrites another.

A change is answered by /api/chat and /api/search as soon as the call that made it returns: the
changed pair's vectors, BM25 statistics and typo vocabulary are updated (Runtime.reindex) before the
response is sent.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Body, Header, Query, Response
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from api.deps import EditorRole, RuntimeDep
from api.errors import NotFound, PreconditionFailed, PreconditionRequired, ServiceError
from api.runtime import Runtime
from knowledge.loader import validation_problems
from knowledge.schema import QACreate, QAPair, slugify
from knowledge.store import Conflict, Missing, StoredPair

router = APIRouter(prefix="/api/qa", tags=["editors"])


class ConflictError(ServiceError):
    status, code = 409, "conflict"


def _body(stored: StoredPair) -> dict:
    return stored.pair.model_dump(mode="json")


def _with_etag(stored: StoredPair, status: int = 200) -> JSONResponse:
    return JSONResponse(_body(stored), status_code=status, headers={"ETag": stored.etag})


def _check_if_match(stored: StoredPair, if_match: str | None) -> None:
    if not if_match:
        raise PreconditionRequired("Send the pair's current ETag in If-Match, so no one else's edit is overwritten.")
    tags = [t.strip() for t in if_match.split(",")]
    if "*" not in tags and stored.etag not in tags and stored.etag.strip('"') not in [t.strip('"') for t in tags]:
        raise PreconditionFailed("The pair was changed since you read it. Reload it, then apply your change again.")


async def _reindex(runtime: Runtime) -> None:
    await asyncio.to_thread(runtime.reindex)


def _row_errors(exc: ValidationError) -> list[dict]:
    return [{"field": p.field, "msg": p.message} for p in validation_problems(exc, "", "")]


@router.get("")
def list_pairs(
    runtime: RuntimeDep,
    _role: EditorRole,
    status: str | None = Query(None, pattern="^(draft|published)$"),
    tag: str | None = Query(None, max_length=50),
) -> list[dict]:
    return [_body(s) for s in runtime.store.list_pairs(status=status, tag=tag)]


@router.get("/export")
def export_pairs(runtime: RuntimeDep, _role: EditorRole) -> list[dict]:
    return [_body(s) for s in runtime.store.list_pairs()]


@router.post("/import", response_model=None)
async def import_pairs(runtime: RuntimeDep, role: EditorRole, rows: list[Any] = Body(...)) -> dict | JSONResponse:
    pairs: list[QAPair] = []
    bad: list[dict] = []
    seen: dict[str, int] = {}
    for i, row in enumerate(rows):
        label = row.get("id") if isinstance(row, dict) else None
        try:
            if not isinstance(row, dict):
                raise ValueError("each row must be a JSON object")
            data = dict(row)
            if not data.get("id") and isinstance(data.get("question"), str):
                data["id"] = slugify(data["question"])
            pair = QAPair.model_validate(data)
        except ValidationError as exc:
            bad.append({"row": i, "id": label, "errors": _row_errors(exc)})
            continue
        except ValueError as exc:
            bad.append({"row": i, "id": label, "errors": [{"field": "(row)", "msg": str(exc)}]})
            continue
        if pair.id in seen:
            bad.append({"row": i, "id": pair.id, "errors": [{"field": "id", "msg": f"same id as row {seen[pair.id]}"}]})
            continue
        seen[pair.id] = i
        pairs.append(pair)
    if bad:
        return JSONResponse(
            {
                "error": "validation_error",
                "message": f"{len(bad)} of {len(rows)} rows are not valid; nothing was written.",
                "rows": bad,
            },
            status_code=422,
        )
    created, updated = await asyncio.to_thread(runtime.store.import_pairs, pairs, role)
    await _reindex(runtime)
    return {"created": created, "updated": updated}


@router.post("", status_code=201)
async def create_pair(body: QACreate, runtime: RuntimeDep, role: EditorRole) -> JSONResponse:
    data = body.model_dump()
    data["id"] = body.id or slugify(body.question)
    pair = QAPair.model_validate(data)
    try:
        stored = await asyncio.to_thread(runtime.store.create, pair, role)
    except Conflict as exc:
        raise ConflictError(str(exc)) from exc
    if pair.status == "published":
        await _reindex(runtime)
    return _with_etag(stored, 201)


@router.get("/{pair_id}")
def read_pair(pair_id: str, runtime: RuntimeDep, _role: EditorRole) -> JSONResponse:
    stored = runtime.store.get(pair_id)
    if not stored:
        raise NotFound(f"No pair with id {pair_id!r}.")
    return _with_etag(stored)


@router.put("/{pair_id}")
async def replace_pair(
    pair_id: str, body: QACreate, runtime: RuntimeDep, role: EditorRole, if_match: str | None = Header(None)
) -> JSONResponse:
    stored = await asyncio.to_thread(runtime.store.get, pair_id)
    if not stored:
        raise NotFound(f"No pair with id {pair_id!r}.")
    _check_if_match(stored, if_match)
    if body.id and body.id != pair_id:
        raise ConflictError("The id in the body differs from the id in the address; ids cannot be changed.")
    pair = QAPair.model_validate({**body.model_dump(), "id": pair_id})
    try:
        new = await asyncio.to_thread(runtime.store.replace, pair, stored.version, role)
    except Conflict as exc:
        raise PreconditionFailed(str(exc)) from exc
    except Missing as exc:
        raise NotFound(f"No pair with id {pair_id!r}.") from exc
    if "published" in (pair.status, stored.pair.status):
        await _reindex(runtime)
    return _with_etag(new)


@router.delete("/{pair_id}", status_code=204)
async def delete_pair(
    pair_id: str, runtime: RuntimeDep, _role: EditorRole, if_match: str | None = Header(None)
) -> Response:
    stored = await asyncio.to_thread(runtime.store.get, pair_id)
    if not stored:
        raise NotFound(f"No pair with id {pair_id!r}.")
    _check_if_match(stored, if_match)
    try:
        await asyncio.to_thread(runtime.store.delete, pair_id, stored.version)
    except Conflict as exc:
        raise PreconditionFailed(str(exc)) from exc
    except Missing as exc:
        raise NotFound(f"No pair with id {pair_id!r}.") from exc
    if stored.pair.status == "published":
        await _reindex(runtime)
    return Response(status_code=204)
