"""Flags: helpline staff mark an answer that needs an editor's attention; editors close them.

`POST /api/flags` (staff, editor, admin), `GET /api/flags?state=open|closed` (the same),
`PATCH /api/flags/{id}` (editor, admin). Notes are plain text; the pages show them as text.

Plain `def` handlers: the store is synchronous, and FastAPI runs these in its thread pool.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field, field_validator

from api.deps import EditorCaller, RuntimeDep, StaffCaller
from api.errors import NotFound, ServiceError
from api.schemas import ItemId
from knowledge.store import FLAG_NOTE_MAX, Conflict, Flag, Missing, Store

router = APIRouter(prefix="/api/flags", tags=["staff"])


class FlagConflict(ServiceError):
    status, code = 409, "conflict"


class FlagCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pair_id: str = Field(min_length=1, max_length=120, description="the id of the Q&A pair")
    note: str = Field(min_length=1, max_length=FLAG_NOTE_MAX, description="what needs attention (1 to 1000 characters)")

    @field_validator("note")
    @classmethod
    def _trimmed(cls, v: str) -> str:  # trimmed as every text field is (str.strip), then not blank
        v = v.strip()
        if not v:
            raise ValueError("note must not be empty")
        return v


class FlagClose(BaseModel):
    model_config = ConfigDict(extra="forbid")

    state: Literal["closed"]
    note: str = Field("", max_length=FLAG_NOTE_MAX, description="what was done (up to 1000 characters)")

    @field_validator("note")
    @classmethod
    def _trimmed(cls, v: str) -> str:
        return v.strip()


class FlagOut(BaseModel):
    id: int
    pair_id: str
    question: str | None = Field(description="the pair's question now; null when the pair was deleted since")
    note: str
    state: Literal["open", "closed"]
    created_by: str
    created_at: dt.datetime
    closed_by: str | None
    closed_at: dt.datetime | None
    close_note: str | None


def _out(flag: Flag, questions: dict[str, str]) -> FlagOut:
    return FlagOut(
        id=flag.id,
        pair_id=flag.pair_id,
        question=questions.get(flag.pair_id),
        note=flag.note,
        state=flag.state,  # the store writes only open or closed
        created_by=flag.created_by,
        created_at=flag.created_at,
        closed_by=flag.closed_by,
        closed_at=flag.closed_at,
        close_note=flag.close_note,
    )


def _question(store: Store, pair_id: str) -> dict[str, str]:
    stored = store.get(pair_id)
    return {pair_id: stored.pair.question} if stored else {}


@router.post("", status_code=201, response_model=FlagOut, responses={404: {"description": "no such pair"}})
def create_flag(body: FlagCreate, runtime: RuntimeDep, caller: StaffCaller) -> FlagOut:
    try:
        flag = runtime.store.add_flag(body.pair_id, body.note, caller.name)
    except Missing:
        raise NotFound(f"No pair with id {body.pair_id!r}.") from None
    return _out(flag, _question(runtime.store, flag.pair_id))


@router.get("", response_model=list[FlagOut])
def list_flags(
    runtime: RuntimeDep,
    _caller: StaffCaller,
    state: Literal["open", "closed"] | None = Query(None, description="only open or only closed flags; all if absent"),
) -> list[FlagOut]:
    """Flags, newest first."""
    found = runtime.store.list_flags(state)
    questions = {s.pair.id: s.pair.question for s in runtime.store.list_pairs()} if found else {}
    return [_out(f, questions) for f in found]


@router.patch(
    "/{flag_id}",
    response_model=FlagOut,
    responses={404: {"description": "no such flag"}, 409: {"description": "closed already"}},
)
def close_flag(flag_id: ItemId, body: FlagClose, runtime: RuntimeDep, caller: EditorCaller) -> FlagOut:
    try:
        flag = runtime.store.close_flag(flag_id, caller.name, body.note)
    except Missing:
        raise NotFound(f"No flag with id {flag_id}.") from None
    except Conflict as exc:
        raise FlagConflict(f"This flag was {exc}. Reload the list to see what was done.") from None
    return _out(flag, _question(runtime.store, flag.pair_id))
