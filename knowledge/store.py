"""The knowledge store: Q&A pairs as editors see them, and visitors' feedback on them (SQLAlchemy).

SQLite in WAL mode by default; the same code runs on PostgreSQL by changing FAQBOT_DATABASE_URL.
Every pair carries a version; its ETag is derived from id and version, so a stale edit is caught.

Seeding: the files in knowledge/qa/ are the shipped starting content. A pair is copied from the
files when the store has never seen it, and updated from the files only while the store still
holds exactly what was last seeded (no editor has touched it). An editor's change or deletion is
never overwritten by a later start.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import (
    Column,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    delete,
    event,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Engine

from knowledge.schema import QAPair

metadata = MetaData()

qa_pairs = Table(
    "qa_pairs",
    metadata,
    Column("id", String(80), primary_key=True),
    Column("data", Text, nullable=False),
    Column("status", String(16), nullable=False, index=True),
    Column("version", Integer, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("updated_by", String(80), nullable=False),
)

seed_log = Table(
    "seed_log",
    metadata,
    Column("id", String(80), primary_key=True),
    Column("content_hash", String(64), nullable=False),
)

# Visitors' "was this helpful?" answers: the pair and the time only, never anything they wrote.
feedback = Table(
    "feedback",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("pair_id", String(120), nullable=False, index=True),
    Column("helpful", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

# Staff mark an answer that needs an editor's attention; an editor closes the flag with a note.
# pair_id is not a foreign key: a flag outlives the pair it was about, as a record of what was said.
flags = Table(
    "flags",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("pair_id", String(120), nullable=False, index=True),
    Column("note", Text, nullable=False),
    Column("state", String(8), nullable=False, index=True),
    Column("created_by", String(80), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("closed_by", String(80), nullable=True),
    Column("closed_at", DateTime(timezone=True), nullable=True),
    Column("close_note", Text, nullable=True),
)

FLAG_STATES = ("open", "closed")
FLAG_NOTE_MAX = 1000


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def pair_json(pair: QAPair) -> str:
    return json.dumps(pair.model_dump(mode="json"), ensure_ascii=False, sort_keys=True)


def content_hash(pair: QAPair) -> str:
    return hashlib.sha256(pair_json(pair).encode()).hexdigest()


@dataclass(frozen=True)
class StoredPair:
    pair: QAPair
    version: int
    updated_at: dt.datetime

    @property
    def etag(self) -> str:
        return '"' + hashlib.sha256(f"{self.pair.id}:{self.version}".encode()).hexdigest()[:20] + '"'


@dataclass(frozen=True)
class Flag:
    """A staff member's note that a pair needs attention, and how an editor closed it."""

    id: int
    pair_id: str
    note: str
    state: str
    created_by: str
    created_at: dt.datetime
    closed_by: str | None = None
    closed_at: dt.datetime | None = None
    close_note: str | None = None


@dataclass(frozen=True)
class SeedReport:
    created: int
    updated: int
    kept_editor_changes: int


def connect(url: str) -> Engine:
    """An engine for the store's database (SQLite gets WAL mode and a busy timeout)."""
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, future=True)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


class Conflict(Exception):
    """The pair exists already, or changed since the version the caller read (or a flag is closed already)."""


class Missing(Exception):
    """No pair with that id."""


class Store:
    def __init__(self, url: str):
        self.url = url
        self.engine: Engine = connect(url)
        metadata.create_all(self.engine)

    def close(self) -> None:
        self.engine.dispose()

    # --- pairs ----------------------------------------------------------------------------

    def _row_to_stored(self, row) -> StoredPair:
        return StoredPair(QAPair.model_validate_json(row.data), row.version, row.updated_at)

    def list_pairs(self, status: str | None = None, tag: str | None = None) -> list[StoredPair]:
        q = select(qa_pairs).order_by(qa_pairs.c.id)
        if status:
            q = q.where(qa_pairs.c.status == status)
        with self.engine.connect() as c:
            rows = [self._row_to_stored(r) for r in c.execute(q)]
        return [r for r in rows if tag is None or tag in r.pair.tags]

    def published_pairs(self) -> list[QAPair]:
        return [s.pair for s in self.list_pairs(status="published")]

    def get(self, pair_id: str) -> StoredPair | None:
        with self.engine.connect() as c:
            row = c.execute(select(qa_pairs).where(qa_pairs.c.id == pair_id)).first()
        return self._row_to_stored(row) if row else None

    def _must_get(self, pair_id: str) -> StoredPair:
        stored = self.get(pair_id)
        if stored is None:  # deleted between our write and this read
            raise Missing(pair_id)
        return stored

    def count(self) -> int:
        with self.engine.connect() as c:
            return len(c.execute(select(qa_pairs.c.id)).all())

    # --- seeding --------------------------------------------------------------------------

    def seed(self, pairs: list[QAPair]) -> SeedReport:
        created = updated = kept = 0
        with self.engine.begin() as c:
            stored = {r.id: r for r in c.execute(select(qa_pairs))}
            seeded = {r.id: r.content_hash for r in c.execute(select(seed_log))}
            for pair in pairs:
                h = content_hash(pair)
                row = stored.get(pair.id)
                if row is None:
                    if pair.id in seeded:
                        kept += 1  # an editor deleted it: stays deleted
                        continue
                    _insert_pair(c, pair, "seed")
                    created += 1
                else:
                    current = content_hash(QAPair.model_validate_json(row.data))
                    if current == h:
                        pass
                    elif seeded.get(pair.id) == current:
                        c.execute(
                            update(qa_pairs)
                            .where(qa_pairs.c.id == pair.id)
                            .values(
                                data=pair_json(pair),
                                status=pair.status,
                                version=row.version + 1,
                                updated_at=_now(),
                                updated_by="seed",
                            )
                        )
                        updated += 1
                    else:
                        kept += 1
                        continue
                if pair.id in seeded:
                    c.execute(update(seed_log).where(seed_log.c.id == pair.id).values(content_hash=h))
                else:
                    c.execute(insert(seed_log).values(id=pair.id, content_hash=h))
        return SeedReport(created, updated, kept)

    # --- editors --------------------------------------------------------------------------

    def create(self, pair: QAPair, by: str) -> StoredPair:
        with self.engine.begin() as c:
            if c.execute(select(qa_pairs.c.id).where(qa_pairs.c.id == pair.id)).first():
                raise Conflict(f"a pair with id {pair.id!r} exists already")
            _insert_pair(c, pair, by)
        return self._must_get(pair.id)

    def replace(self, pair: QAPair, version: int, by: str) -> StoredPair:
        """Replace the pair only if it is still at `version` (optimistic locking)."""
        with self.engine.begin() as c:
            if not _update_pair(c, pair, version, by):
                if not c.execute(select(qa_pairs.c.id).where(qa_pairs.c.id == pair.id)).first():
                    raise Missing(pair.id)
                raise Conflict("the pair was changed by someone else since you read it")
        return self._must_get(pair.id)

    def delete(self, pair_id: str, version: int) -> None:
        with self.engine.begin() as c:
            res = c.execute(delete(qa_pairs).where(qa_pairs.c.id == pair_id, qa_pairs.c.version == version))
            if res.rowcount != 1:
                if not c.execute(select(qa_pairs.c.id).where(qa_pairs.c.id == pair_id)).first():
                    raise Missing(pair_id)
                raise Conflict("the pair was changed by someone else since you read it")

    def import_pairs(self, pairs: list[QAPair], by: str) -> tuple[int, int]:
        """Create or update every pair in one transaction: all or nothing."""
        created = updated = 0
        with self.engine.begin() as c:
            versions = {r.id: r.version for r in c.execute(select(qa_pairs.c.id, qa_pairs.c.version))}
            for pair in pairs:
                if pair.id in versions:
                    _update_pair(c, pair, versions[pair.id], by)
                    updated += 1
                else:
                    _insert_pair(c, pair, by)
                    created += 1
        return created, updated

    # --- feedback -------------------------------------------------------------------------

    def add_feedback(self, pair_id: str, helpful: bool) -> None:
        with self.engine.begin() as c:
            c.execute(insert(feedback).values(pair_id=pair_id, helpful=int(helpful), created_at=_now()))

    def feedback_counts(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        with self.engine.connect() as c:
            q = select(feedback.c.pair_id, feedback.c.helpful, func.count()).group_by(
                feedback.c.pair_id, feedback.c.helpful
            )
            for pair_id, helpful, n in c.execute(q):
                out.setdefault(pair_id, {"helpful": 0, "not_helpful": 0})["helpful" if helpful else "not_helpful"] = n
        return out

    # --- flags ----------------------------------------------------------------------------

    def add_flag(self, pair_id: str, note: str, by: str) -> Flag:
        """Flag a pair for the editors. Missing when no pair has that id (a typo would go unseen)."""
        note = _flag_note(note, required=True)
        with self.engine.begin() as c:
            if not c.execute(select(qa_pairs.c.id).where(qa_pairs.c.id == pair_id)).first():
                raise Missing(pair_id)
            row = c.execute(
                insert(flags)
                .values(pair_id=pair_id, note=note, state="open", created_by=by, created_at=_now())
                .returning(*flags.c)
            ).one()
        return _row_to_flag(row)

    def list_flags(self, state: str | None = None) -> list[Flag]:
        """Flags in one state (or all), newest first."""
        if state is not None and state not in FLAG_STATES:
            raise ValueError(f"state must be one of {', '.join(FLAG_STATES)}")
        q = select(flags).order_by(flags.c.created_at.desc(), flags.c.id.desc())
        if state:
            q = q.where(flags.c.state == state)
        with self.engine.connect() as c:
            return [_row_to_flag(r) for r in c.execute(q)]

    def close_flag(self, flag_id: int, by: str, note: str = "") -> Flag:
        """Close an open flag. Missing if there is no such flag; Conflict if someone closed it already."""
        note = _flag_note(note, required=False)
        with self.engine.begin() as c:
            res = c.execute(
                update(flags)
                .where(flags.c.id == flag_id, flags.c.state == "open")
                .values(state="closed", closed_by=by, closed_at=_now(), close_note=note or None)
            )
            row = c.execute(select(flags).where(flags.c.id == flag_id)).first()
            if row is None:
                raise Missing(str(flag_id))
            if res.rowcount != 1:
                raise Conflict(f"closed already by {row.closed_by}")
        return _row_to_flag(row)


def _flag_note(note: str, required: bool) -> str:
    note = note.strip()
    if required and not note:
        raise ValueError("a flag needs a note saying what is wrong")
    if len(note) > FLAG_NOTE_MAX:
        raise ValueError(f"a note has at most {FLAG_NOTE_MAX} characters")
    return note


def _aware(value: dt.datetime) -> dt.datetime:
    """SQLite hands back naive datetimes; everything here is written in UTC."""
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value


def _row_to_flag(row) -> Flag:
    return Flag(
        id=row.id,
        pair_id=row.pair_id,
        note=row.note,
        state=row.state,
        created_by=row.created_by,
        created_at=_aware(row.created_at),
        closed_by=row.closed_by,
        closed_at=_aware(row.closed_at) if row.closed_at else None,
        close_note=row.close_note,
    )


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=5000")
    cur.close()


def _insert_pair(c, pair: QAPair, by: str) -> None:
    c.execute(
        insert(qa_pairs).values(
            id=pair.id, data=pair_json(pair), status=pair.status, version=1, updated_at=_now(), updated_by=by
        )
    )


def _update_pair(c, pair: QAPair, version: int, by: str) -> bool:
    res = c.execute(
        update(qa_pairs)
        .where(qa_pairs.c.id == pair.id, qa_pairs.c.version == version)
        .values(data=pair_json(pair), status=pair.status, version=version + 1, updated_at=_now(), updated_by=by)
    )
    return res.rowcount == 1
