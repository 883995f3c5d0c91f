"""The knowledge store: Q&A pairs as editors see them, their history, and visitors' feedback (SQLAlchemy).

SQLite in WAL mode by default; the same code runs on PostgreSQL by changing FAQBOT_DATABASE_URL
(`postgresql+psycopg://...`). The schema is Alembic's (knowledge/migrations): every start upgrades the
database to the newest schema, and adopts one made by the release before migrations existed.

Every pair carries a version; its ETag is derived from id and version, so a stale edit is caught: a
write is `UPDATE ... WHERE version = <the version the editor read>`, and only one writer per version
wins. Every change also appends a revision (who, when, what changed, and the whole pair afterwards)
in the same transaction, so the history is never behind the content. A deleted pair keeps its row
and its history (soft delete) and can be restored; creating a pair under a deleted pair's id revives
that row, its version counting on, so an ETag never repeats.

The quality loop's tables (misses, turn_counts, scope_marks, quality_actions; api/quality.py) are here
too: what visitors asked that the bot could not answer, redacted before it gets here.

Seeding: the files in knowledge/qa/ are the shipped starting content. A pair is copied from the
files when the store has never seen it, and updated from the files only while the store still
holds exactly what was last seeded (no editor has touched it). An editor's change or deletion is
never overwritten by a later start.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    func,
    insert,
    select,
    text,
    type_coerce,
    update,
)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from knowledge.schema import QAPair

log = logging.getLogger("faqbot")

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# pg_advisory_xact_lock key: one schema upgrade (and one seeding) at a time across processes.
_PG_LOCK = 0x66617162  # "faqb"

# The tables as the newest migration leaves them (knowledge/migrations/versions). The code reads and
# writes through these; the migrations, not create_all, make them.
metadata = MetaData()

qa_pairs = Table(
    "qa_pairs",
    metadata,
    Column("id", String(120), primary_key=True),
    Column("data", Text, nullable=False),
    Column("status", String(16), nullable=False, index=True),
    Column("version", Integer, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("updated_by", String(80), nullable=False),
    Column("deleted_at", DateTime(timezone=True), nullable=True),
    Column("deleted_by", String(80), nullable=True),
)

seed_log = Table(
    "seed_log",
    metadata,
    Column("id", String(120), primary_key=True),
    Column("content_hash", String(64), nullable=False),
)

# Visitors' "was this helpful?" answers: the pair and the time only, never anything they wrote. A
# not-helpful vote is also an item in the editors' queue, which an editor closes with a note.
feedback = Table(
    "feedback",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("pair_id", String(120), nullable=False, index=True),
    Column("helpful", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("state", String(8), nullable=False, server_default="open", index=True),
    Column("closed_by", String(80), nullable=True),
    Column("closed_at", DateTime(timezone=True), nullable=True),
    Column("close_note", Text, nullable=True),
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

# Append-only: one row per change of a pair, written in the change's transaction. number is the
# pair's version after the change, so (pair_id, number) is unique and a lost race cannot add one.
revisions = Table(
    "revisions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("pair_id", String(120), ForeignKey("qa_pairs.id"), nullable=False),
    Column("number", Integer, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False, index=True),
    Column("by", String(80), nullable=False),
    Column("action", String(16), nullable=False),
    Column("fields", Text, nullable=False),
    Column("old", Text, nullable=False),
    Column("new", Text, nullable=False),
    Column("pair", Text, nullable=True),
    Column("note", Text, nullable=True),
    UniqueConstraint("pair_id", "number", name="uq_revisions_pair_number"),
)

# Questions whose right answer is known: a change that would make one of them fail is caught.
golden = Table(
    "golden",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("question", Text, nullable=False),
    Column("pair_id", String(120), nullable=False, index=True),
    Column("created_by", String(80), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# One-off things the store has done once and must not do again (e.g. "golden-seeded").
markers = Table(
    "store_markers",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("at", DateTime(timezone=True), nullable=False),
)

# Visitors' turns, kept only where privacy.store_transcripts is on: the session id hashed, the message
# with personal details replaced before it gets here (bot/redact.py), and what was answered. Rows older
# than the retention are deleted (Store.purge_turns).
transcripts = Table(
    "transcripts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("session", String(64), nullable=False, index=True),
    Column("at", DateTime(timezone=True), nullable=False, index=True),
    Column("message", Text, nullable=False),
    Column("reply_kinds", String(200), nullable=False),
    Column("pair_id", String(120), nullable=True),
    Column("confidence", Float, nullable=True),
)

# The quality loop (api/quality.py): each visitor's question that ended in a fallback, a "did you mean", a
# "None of these" or a not-helpful vote, with personal details replaced before it gets here (bot/redact.py)
# and no session id; deleted after quality.retention_days (Store.purge_misses). reply_kind is what the
# bot replied to the question (fallback, clarify, answer); outcome how it ended (MISS_OUTCOMES);
# candidates the pair ids offered (JSON); chosen the pair the visitor picked, or was answered from and
# voted not helpful; resolution how an editor dealt with it (RESOLUTIONS), resolved_ref the pair or mark.
misses = Table(
    "misses",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False, index=True),
    Column("question", Text, nullable=False),
    Column("reply_kind", String(16), nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("candidates", Text, nullable=False),
    Column("chosen", String(120), nullable=True),
    Column("resolution", String(16), nullable=True, index=True),
    Column("resolved_ref", String(120), nullable=True),
    Column("resolved_by", String(80), nullable=True),
    Column("resolved_at", DateTime(timezone=True), nullable=True),
)

# Turns per day and kind, without any text: the dashboard's rates (fallbacks among all questions).
turn_counts = Table(
    "turn_counts",
    metadata,
    Column("day", Date, primary_key=True),
    Column("kind", String(16), primary_key=True),
    Column("count", Integer, nullable=False),
)

# Clusters of misses editors marked out of scope: the reason visitors are given and the questions a new
# message is compared with. Undoing a mark keeps its row (undone_at), as a record.
scope_marks = Table(
    "scope_marks",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("reason", Text, nullable=False),
    Column("questions", Text, nullable=False),
    Column("created_by", String(80), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("undone_by", String(80), nullable=True),
    Column("undone_at", DateTime(timezone=True), nullable=True),
)

# Every suggestion of the quality loop an editor accepted or undid (the pair's own change is also a revision).
quality_actions = Table(
    "quality_actions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False, index=True),
    Column("by", String(80), nullable=False),
    Column("action", String(24), nullable=False),
    Column("pair_id", String(120), nullable=True),
    Column("revision", Integer, nullable=True),
    Column("mark_id", Integer, nullable=True),
    Column("miss_ids", Text, nullable=False),
    Column("note", Text, nullable=True),
)

Index("ix_revisions_pair_id", revisions.c.pair_id)

FLAG_STATES = ("open", "closed")
FEEDBACK_STATES = ("open", "closed")
# Store.votes_for: how long a pair's vote counts are shown from memory (a staff search's hits).
VOTES_CACHE_SECONDS = 5.0
VOTES_CACHE_SIZE = 4096
FLAG_NOTE_MAX = 1000
GOLDEN_QUESTION_MAX = 1000
ACTIONS = ("create", "update", "publish", "unpublish", "delete", "restore", "revert", "import", "seed")
GOLDEN_SEEDED = "golden-seeded"
# The quality loop: what the bot replied to a kept question, how the visitor went on, how an editor dealt with it.
MISS_KINDS = ("fallback", "clarify", "answer")
MISS_OUTCOMES = ("fallback", "open", "chosen", "none_of_these", "not_helpful")
RESOLUTIONS = ("alternate", "draft", "out_of_scope", "dismissed")
QUALITY_ACTIONS = ("alternate", "draft", "out_of_scope", "undo_out_of_scope", "dismiss")
MISS_QUESTION_MAX = 1000
SCOPE_REASON_MAX = 300


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
    updated_by: str = ""
    deleted_at: dt.datetime | None = None
    deleted_by: str | None = None

    @property
    def etag(self) -> str:
        return '"' + hashlib.sha256(f"{self.pair.id}:{self.version}".encode()).hexdigest()[:20] + '"'

    @property
    def deleted(self) -> bool:
        return self.deleted_at is not None


@dataclass(frozen=True)
class Revision:
    """One change of one pair: number is the pair's version after it."""

    id: int
    pair_id: str
    number: int
    at: dt.datetime
    by: str
    action: str
    fields: list[str]
    old: dict[str, Any]
    new: dict[str, Any]
    pair: dict[str, Any] | None
    note: str | None


@dataclass(frozen=True)
class Golden:
    id: int
    question: str
    pair_id: str
    created_by: str
    created_at: dt.datetime
    updated_at: dt.datetime


@dataclass(frozen=True)
class FeedbackItem:
    """A visitor's not-helpful vote in the editors' queue (question: the pair's question now, if it exists)."""

    id: int
    pair_id: str
    question: str | None
    created_at: dt.datetime
    state: str
    closed_by: str | None = None
    closed_at: dt.datetime | None = None
    close_note: str | None = None


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
class Turn:
    """One stored turn of a visitor's conversation (privacy.store_transcripts)."""

    session: str
    at: dt.datetime
    message: str
    reply_kinds: tuple[str, ...]
    pair_id: str | None = None
    confidence: float | None = None


@dataclass(frozen=True)
class Miss:
    """A visitor's question the bot could not answer well (the quality loop); see the `misses` table."""

    id: int
    at: dt.datetime
    question: str
    reply_kind: str
    outcome: str
    candidates: tuple[str, ...] = ()
    chosen: str | None = None
    resolution: str | None = None
    resolved_ref: str | None = None
    resolved_by: str | None = None
    resolved_at: dt.datetime | None = None


@dataclass(frozen=True)
class ScopeMark:
    """A cluster of questions editors marked out of scope, and the reason visitors are given."""

    id: int
    reason: str
    questions: tuple[str, ...]
    created_by: str
    created_at: dt.datetime
    undone_by: str | None = None
    undone_at: dt.datetime | None = None

    @property
    def active(self) -> bool:
        return self.undone_at is None


@dataclass(frozen=True)
class QualityAction:
    """A suggestion of the quality loop an editor accepted (or an out-of-scope mark undone)."""

    id: int
    at: dt.datetime
    by: str
    action: str
    miss_ids: tuple[int, ...]
    pair_id: str | None = None
    revision: int | None = None
    mark_id: int | None = None
    note: str | None = None


@dataclass(frozen=True)
class SeedReport:
    created: int
    updated: int
    kept_editor_changes: int


class Conflict(Exception):
    """The pair exists already, changed since the version the caller read, or is deleted (or a flag or
    feedback item is closed already)."""


class Missing(Exception):
    """No pair (revision, golden question, flag, feedback item) with that id."""


# --- the engine ---------------------------------------------------------------------------------

_READ = "faqbot_read"


def connect(url: str) -> Engine:
    """An engine for the store's database.

    SQLite: WAL, synchronous=FULL, a busy timeout, and transactions that begin with BEGIN IMMEDIATE
    (the write lock is taken at the start, so two writers queue on the busy timeout instead of one
    failing with "database is locked" when it upgrades a read lock); the store's read-only
    transactions begin with a plain BEGIN and never wait for a writer (WAL).
    """
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    # hide_parameters: a database error's text (logged with its traceback) never holds the values
    # written, which can be a staff member's note or a visitor's redacted message.
    # A PostgreSQL host that does not answer at all must not hold a request (or /readyz) for minutes.
    connect_args = {"connect_timeout": 5} if url.startswith("postgresql") else {}
    engine = create_engine(
        url, pool_pre_ping=not url.startswith("sqlite"), hide_parameters=True, connect_args=connect_args
    )
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
    return engine


def _sqlite_connect(dbapi_conn, _record) -> None:
    # Let SQLAlchemy's "begin" event issue BEGIN itself (pysqlite's own BEGIN comes late and deferred).
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=FULL")
    cur.execute("PRAGMA busy_timeout=5000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def _sqlite_begin(conn: Connection) -> None:
    conn.exec_driver_sql("BEGIN" if conn.get_execution_options().get(_READ) else "BEGIN IMMEDIATE")


def upgrade_schema(engine: Engine) -> list[str]:
    """Upgrade the database to the newest schema (quick when nothing is pending); the revisions applied.

    A database made by the release before migrations (its tables, no alembic_version) is adopted:
    the first migration creates only what is missing, the later ones add what is new. One process
    at a time: PostgreSQL takes an advisory lock, SQLite the write lock (BEGIN IMMEDIATE).
    """
    from alembic import command
    from alembic.config import Config
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    head = ScriptDirectory.from_config(cfg).get_current_head()
    with engine.connect() as c:
        c.execution_options(**{_READ: True})
        if MigrationContext.configure(c).get_current_revision() == head:
            return []
    with engine.begin() as c:
        _lock(c)
        before = MigrationContext.configure(c).get_current_revision()
        if before == head:  # another process did it while we waited
            return []
        adopted = before is None and "qa_pairs" in _tables(c)
        cfg.attributes["connection"] = c
        command.upgrade(cfg, "head")
    applied = _revisions_between(ScriptDirectory.from_config(cfg), before, head)
    log.info(
        "store: schema upgraded to %s (%s)%s",
        head,
        ", ".join(applied),
        "; adopted a database made by the previous release" if adopted else "",
    )
    return applied


def _tables(c: Connection) -> set[str]:
    from sqlalchemy import inspect

    return set(inspect(c).get_table_names())


def _revisions_between(script, before: str | None, head: str | None) -> list[str]:
    revs = [r.revision for r in script.walk_revisions(base="base", head=head or "heads")]
    revs.reverse()
    if before is None:
        return revs
    return revs[revs.index(before) + 1 :] if before in revs else revs


def _lock(c: Connection) -> None:
    """Serialise with other processes for the rest of this transaction (PostgreSQL; SQLite holds the write lock)."""
    if c.dialect.name == "postgresql":
        c.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK})


# --- the store ----------------------------------------------------------------------------------


class Store:
    def __init__(self, url: str):
        self.url = url
        self._votes: dict[str, tuple[dict[str, int], float]] = {}  # votes_for's: pair id -> (counts, until)
        self._votes_lock = threading.Lock()
        self.clock = time.monotonic
        # published_pairs's parsed pairs: id -> ((version, updated_at), pair)
        self._published: dict[str, tuple[tuple[Any, Any], QAPair]] = {}
        self._published_lock = threading.Lock()
        self.engine: Engine = connect(url)
        try:
            upgrade_schema(self.engine)
        except Exception:
            self.engine.dispose()
            raise

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with self.engine.connect() as c:
            c.execution_options(**{_READ: True})
            yield c

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        with self.engine.begin() as c:
            yield c

    # --- pairs ----------------------------------------------------------------------------

    def list_pairs(self, status: str | None = None, tag: str | None = None, deleted: bool = False) -> list[StoredPair]:
        """Live pairs (deleted=True: only the deleted ones), ordered by id."""
        q = select(qa_pairs).order_by(qa_pairs.c.id)
        q = q.where(qa_pairs.c.deleted_at.is_not(None) if deleted else qa_pairs.c.deleted_at.is_(None))
        if status:
            q = q.where(qa_pairs.c.status == status)
        with self._read() as c:
            rows = [_row_to_stored(r) for r in c.execute(q)]
        return [r for r in rows if tag is None or tag in r.pair.tags]

    def published_pairs(self) -> list[QAPair]:
        """The live published pairs, ordered by id. Each row's text is read and validated again only when
        its version or time of change differs from the last call's: a re-index after one edit at
        100,000 pairs read and validated them all (1.9 s), now it reads two short columns and one pair.
        The pairs returned are shared between calls: not to be changed in place."""
        live = (qa_pairs.c.status == "published") & qa_pairs.c.deleted_at.is_(None)
        # The time of change as the database holds it (a string in SQLite: not parsed into a datetime).
        changed = type_coerce(qa_pairs.c.updated_at, String).label("changed")
        with self._read() as c:
            listed = c.execute(
                select(qa_pairs.c.id, qa_pairs.c.version, changed).where(live).order_by(qa_pairs.c.id)
            ).all()
            with self._published_lock:
                known = dict(self._published)
            stale = [r.id for r in listed if (held := known.get(r.id)) is None or held[0] != (r.version, r.changed)]
            q = select(qa_pairs.c.id, qa_pairs.c.version, changed, qa_pairs.c.data).where(live)
            # Many: one read of them all (the first call); few: by id.
            batches = (
                [q]
                if len(stale) > 2000
                else [q.where(qa_pairs.c.id.in_(stale[i : i + 500])) for i in range(0, len(stale), 500)]
            )
            for batch in batches:
                for r in c.execute(batch):
                    held = known.get(r.id)
                    if held is None or held[0] != (r.version, r.changed):
                        known[r.id] = ((r.version, r.changed), QAPair.model_validate_json(r.data))
        # A row listed and changed (or unpublished) between the two reads: its newest text, or left out.
        out = [known[r.id][1] for r in listed if r.id in known]
        with self._published_lock:
            self._published = {r.id: known[r.id] for r in listed if r.id in known}
        return out

    def get(self, pair_id: str, deleted: bool = False) -> StoredPair | None:
        """The live pair (deleted=True: also a deleted one), or None."""
        with self._read() as c:
            row = _row(c, pair_id)
        if row is None or (row.deleted_at is not None and not deleted):
            return None
        return _row_to_stored(row)

    def content_version(self) -> int:
        """A number that grows with every change to any pair (the newest revision's id): a replica
        whose index was built at an older number has missed another replica's change."""
        with self._read() as c:
            return int(c.execute(select(func.max(revisions.c.id))).scalar_one() or 0)

    def count(self) -> int:
        """How many live pairs there are."""
        with self._read() as c:
            return int(
                c.execute(
                    select(func.count()).select_from(qa_pairs).where(qa_pairs.c.deleted_at.is_(None))
                ).scalar_one()
            )

    def create(self, pair: QAPair, by: str, note: str | None = None) -> StoredPair:
        """A new pair; Conflict if a live pair has the id. A deleted pair's id revives its row."""
        with self._write() as c:
            row = _row(c, pair.id)
            if row is None:
                stored = _insert_pair(c, pair, by)
                _add_revision(c, None, stored, "create", by, note)
            elif row.deleted_at is None:
                raise Conflict(f"a pair with id {pair.id!r} exists already")
            else:
                before = _row_to_stored(row)
                revived = _update_pair(c, pair, before.version, by, revive=True)
                if revived is None:
                    raise Conflict("the pair was changed by someone else at the same time")
                _add_revision(c, before, revived, "create", by, note)
                stored = revived
        return stored

    def replace(
        self, pair: QAPair, version: int, by: str, note: str | None = None, action: str | None = None
    ) -> StoredPair:
        """Replace the pair only if it is still at `version` (optimistic locking).

        Conflict when the version is stale or the pair is deleted; Missing when there is no such id.
        The revision's action is `action`, else publish/unpublish when the status changed, else update.
        """
        if action is not None and action not in ACTIONS:
            raise ValueError(f"action must be one of {', '.join(ACTIONS)}")
        with self._write() as c:
            row = _row(c, pair.id)
            if row is None:
                raise Missing(pair.id)
            if row.deleted_at is not None:
                raise Conflict("the pair was deleted; restore it first")
            before = _row_to_stored(row)
            stored = _update_pair(c, pair, version, by) if before.version == version else None
            if stored is None:
                raise Conflict("the pair was changed by someone else since you read it")
            _add_revision(c, before, stored, action or _edit_action(before.pair, pair), by, note)
        return stored

    def delete(self, pair_id: str, version: int, by: str = "", note: str | None = None) -> StoredPair:
        """Soft delete: the pair is no longer served or listed, its row and history stay. Conflict/Missing."""
        with self._write() as c:
            row = _row(c, pair_id)
            if row is None or row.deleted_at is not None:
                raise Missing(pair_id)
            before = _row_to_stored(row)
            now = _now()
            res = c.execute(
                update(qa_pairs)
                .where(qa_pairs.c.id == pair_id, qa_pairs.c.version == version, qa_pairs.c.deleted_at.is_(None))
                .values(version=version + 1, updated_at=now, updated_by=by, deleted_at=now, deleted_by=by)
            )
            if res.rowcount != 1:
                raise Conflict("the pair was changed by someone else since you read it")
            stored = StoredPair(before.pair, version + 1, now, by, now, by)
            _add_revision(c, before, stored, "delete", by, note)
        return stored

    def restore(self, pair_id: str, by: str, note: str | None = None) -> StoredPair:
        """Undelete a deleted pair (as it was when deleted). Missing if there is no deleted pair with that id."""
        with self._write() as c:
            row = _row(c, pair_id)
            if row is None or row.deleted_at is None:
                raise Missing(pair_id)
            before = _row_to_stored(row)
            now = _now()
            res = c.execute(
                update(qa_pairs)
                .where(qa_pairs.c.id == pair_id, qa_pairs.c.version == before.version)
                .values(version=before.version + 1, updated_at=now, updated_by=by, deleted_at=None, deleted_by=None)
            )
            if res.rowcount != 1:
                raise Conflict("the pair was changed by someone else at the same time")
            stored = StoredPair(before.pair, before.version + 1, now, by)
            _add_revision(c, before, stored, "restore", by, note)
        return stored

    def revisions(self, pair_id: str) -> list[Revision]:
        """The pair's revisions, newest first ([] if it never existed); also for a deleted pair."""
        q = select(revisions).where(revisions.c.pair_id == pair_id).order_by(revisions.c.number.desc())
        with self._read() as c:
            return [_row_to_revision(r) for r in c.execute(q)]

    def revision(self, pair_id: str, number: int) -> Revision | None:
        q = select(revisions).where(revisions.c.pair_id == pair_id, revisions.c.number == number)
        with self._read() as c:
            row = c.execute(q).first()
        return _row_to_revision(row) if row else None

    def revert(self, pair_id: str, number: int, version: int, by: str, note: str | None = None) -> StoredPair:
        """The pair's content becomes revision `number`'s (a new version, action "revert").

        Missing when the pair or the revision does not exist; Conflict when `version` is stale or the
        pair is deleted; ValueError when the revision holds no content (a deletion).
        """
        rev = self.revision(pair_id, number)
        if rev is None:
            raise Missing(f"{pair_id} revision {number}")
        if rev.pair is None:
            raise ValueError(f"revision {number} is a deletion and holds no content; restore the pair instead")
        said = f"reverted to revision {number}" + (f"; {note}" if note else "")
        return self.replace(QAPair.model_validate(rev.pair), version, by, note=said, action="revert")

    def history(self, since: dt.datetime | None = None, limit: int = 200) -> list[Revision]:
        """Revisions of all pairs, newest first."""
        q = select(revisions).order_by(revisions.c.at.desc(), revisions.c.id.desc()).limit(max(0, limit))
        if since is not None:
            q = q.where(revisions.c.at >= (since if since.tzinfo else since.replace(tzinfo=dt.UTC)))
        with self._read() as c:
            return [_row_to_revision(r) for r in c.execute(q)]

    def import_pairs(self, pairs: list[QAPair], by: str, note: str | None = None) -> tuple[int, int]:
        """Create or update every pair in one transaction: all or nothing. (created, updated).

        A pair under a deleted pair's id revives it (counted as created)."""
        created = updated = 0
        with self._write() as c:
            rows = {r.id: r for r in c.execute(select(qa_pairs))}
            for pair in pairs:
                row = rows.get(pair.id)
                if row is None:
                    stored = _insert_pair(c, pair, by)
                    _add_revision(c, None, stored, "import", by, note)
                    created += 1
                    continue
                before = _row_to_stored(row)
                new = _update_pair(c, pair, before.version, by, revive=before.deleted)
                if new is None:
                    raise Conflict(f"pair {pair.id!r} was changed by someone else during the import")
                _add_revision(c, before, new, "import", by, note)
                created, updated = (created + 1, updated) if before.deleted else (created, updated + 1)
                rows[pair.id] = _row(c, pair.id)  # the same id twice in one import: the second sees the first
        return created, updated

    # --- seeding --------------------------------------------------------------------------

    def seed(self, pairs: list[QAPair]) -> SeedReport:
        created = updated = kept = 0
        with self._write() as c:
            _lock(c)
            stored = {r.id: r for r in c.execute(select(qa_pairs))}
            seeded = {r.id: r.content_hash for r in c.execute(select(seed_log))}
            for pair in pairs:
                h = content_hash(pair)
                row = stored.get(pair.id)
                if row is None:
                    if pair.id in seeded:
                        kept += 1  # deleted for good by the release before soft delete: stays deleted
                        continue
                    new = _insert_pair(c, pair, "seed")
                    _add_revision(c, None, new, "seed", "seed", None)
                    created += 1
                elif row.deleted_at is not None:
                    kept += 1  # an editor deleted it: stays deleted
                    continue
                else:
                    before = _row_to_stored(row)
                    current = content_hash(before.pair)
                    if current == h:
                        pass
                    elif seeded.get(pair.id) == current:
                        new_stored = _update_pair(c, pair, before.version, "seed")
                        if new_stored is None:
                            raise Conflict(f"pair {pair.id!r} changed while seeding")
                        _add_revision(c, before, new_stored, "seed", "seed", None)
                        updated += 1
                    else:
                        kept += 1
                        continue
                if pair.id in seeded:
                    c.execute(update(seed_log).where(seed_log.c.id == pair.id).values(content_hash=h))
                else:
                    c.execute(insert(seed_log).values(id=pair.id, content_hash=h))
        return SeedReport(created, updated, kept)

    # --- golden questions -----------------------------------------------------------------

    def list_golden(self) -> list[Golden]:
        with self._read() as c:
            return [_row_to_golden(r) for r in c.execute(select(golden).order_by(golden.c.id))]

    def add_golden(self, question: str, pair_id: str, by: str) -> Golden:
        """A golden question: `question` must be answered from `pair_id`. Missing when no live pair has that id."""
        question = _golden_question(question)
        now = _now()
        with self._write() as c:
            _must_be_live(c, pair_id)
            row = c.execute(
                insert(golden)
                .values(question=question, pair_id=pair_id, created_by=by, created_at=now, updated_at=now)
                .returning(*golden.c)
            ).one()
        return _row_to_golden(row)

    def update_golden(self, golden_id: int, question: str, pair_id: str, by: str) -> Golden:
        """Change a golden question. Missing when there is no such golden question or no live pair with that id."""
        question = _golden_question(question)
        with self._write() as c:
            _must_be_live(c, pair_id)
            row = c.execute(
                update(golden)
                .where(golden.c.id == golden_id)
                .values(question=question, pair_id=pair_id, updated_at=_now())
                .returning(*golden.c)
            ).first()
            if row is None:
                raise Missing(f"golden question {golden_id}")
        return _row_to_golden(row)

    def delete_golden(self, golden_id: int) -> None:
        with self._write() as c:
            if c.execute(golden.delete().where(golden.c.id == golden_id)).rowcount != 1:
                raise Missing(f"golden question {golden_id}")

    def seed_golden(self, pairs: list[QAPair], per_pair: int = 2) -> int:
        """Once only (a marker remembers it): each published pair's first `per_pair` alternates become
        golden questions for it. How many were added (0 on later calls, even if all were deleted since)."""
        now = _now()
        try:
            with self._write() as c:
                if c.execute(select(markers.c.name).where(markers.c.name == GOLDEN_SEEDED)).first():
                    return 0
                c.execute(insert(markers).values(name=GOLDEN_SEEDED, at=now))
                rows = [
                    {"question": q, "pair_id": p.id, "created_by": "seed", "created_at": now, "updated_at": now}
                    for p in pairs
                    if p.status == "published"
                    for q in p.alternates[: max(0, per_pair)]
                ]
                if rows:
                    c.execute(insert(golden), rows)
        except IntegrityError:  # another process set the marker at the same moment
            return 0
        return len(rows)

    # --- feedback -------------------------------------------------------------------------

    def add_feedback(self, pair_id: str, helpful: bool) -> None:
        with self._write() as c:
            c.execute(insert(feedback).values(pair_id=pair_id, helpful=int(helpful), created_at=_now(), state="open"))
        with self._votes_lock:
            self._votes.pop(pair_id, None)  # this process shows the vote at once

    def votes_for(self, pair_ids: Iterable[str]) -> dict[str, dict[str, int]]:
        """feedback_counts(pair_ids) for every pair asked (zeros when none), each read from the database
        at most every VOTES_CACHE_SECONDS: a staff search shows its hits' votes without a database
        read each time. A vote cast through this store shows at once; one cast through another
        replica within that time."""
        now = self.clock()
        wanted = set(pair_ids)
        with self._votes_lock:
            out = {i: held[0] for i in wanted if (held := self._votes.get(i)) is not None and now < held[1]}
        missing = wanted - out.keys()
        if missing:
            fresh = self.feedback_counts(missing)
            with self._votes_lock:
                if len(self._votes) >= VOTES_CACHE_SIZE:
                    self._votes.clear()
                for i in missing:
                    out[i] = fresh.get(i, {"helpful": 0, "not_helpful": 0})
                    self._votes[i] = (out[i], now + VOTES_CACHE_SECONDS)
        return {i: dict(v) for i, v in out.items()}

    def feedback_counts(self, pair_ids: Iterable[str] | None = None) -> dict[str, dict[str, int]]:
        """Helpful and not-helpful votes per pair: of every pair voted on, or of these pairs only (a
        search's hits: counted through the pair_id index, not over every vote ever cast)."""
        out: dict[str, dict[str, int]] = {}
        q = select(feedback.c.pair_id, feedback.c.helpful, func.count()).group_by(
            feedback.c.pair_id, feedback.c.helpful
        )
        if pair_ids is not None:
            wanted = sorted(set(pair_ids))
            if not wanted:
                return out
            q = q.where(feedback.c.pair_id.in_(wanted))
        with self._read() as c:
            for pair_id, helpful, n in c.execute(q):
                out.setdefault(pair_id, {"helpful": 0, "not_helpful": 0})["helpful" if helpful else "not_helpful"] = n
        return out

    def list_feedback(self, state: str | None = "open") -> list[FeedbackItem]:
        """Not-helpful votes in one state (None: all), newest first."""
        if state is not None and state not in FEEDBACK_STATES:
            raise ValueError(f"state must be one of {', '.join(FEEDBACK_STATES)}")
        q = (
            select(feedback, qa_pairs.c.data)
            .select_from(feedback.outerjoin(qa_pairs, qa_pairs.c.id == feedback.c.pair_id))
            .where(feedback.c.helpful == 0)
            .order_by(feedback.c.created_at.desc(), feedback.c.id.desc())
        )
        if state:
            q = q.where(feedback.c.state == state)
        with self._read() as c:
            return [_row_to_feedback(r) for r in c.execute(q)]

    def close_feedback(self, feedback_id: int, by: str, note: str = "") -> FeedbackItem:
        """Close an open not-helpful vote with a note. Missing if there is none; Conflict if closed already."""
        note = _flag_note(note, required=False)
        with self._write() as c:
            res = c.execute(
                update(feedback)
                .where(feedback.c.id == feedback_id, feedback.c.helpful == 0, feedback.c.state == "open")
                .values(state="closed", closed_by=by, closed_at=_now(), close_note=note or None)
            )
            row = c.execute(
                select(feedback, qa_pairs.c.data)
                .select_from(feedback.outerjoin(qa_pairs, qa_pairs.c.id == feedback.c.pair_id))
                .where(feedback.c.id == feedback_id, feedback.c.helpful == 0)
            ).first()
            if row is None:
                raise Missing(str(feedback_id))
            if res.rowcount != 1:
                raise Conflict(f"closed already by {row.closed_by}")
        return _row_to_feedback(row)

    # --- flags ----------------------------------------------------------------------------

    def add_flag(self, pair_id: str, note: str, by: str) -> Flag:
        """Flag a pair for the editors. Missing when no live pair has that id (a typo would go unseen)."""
        note = _flag_note(note, required=True)
        with self._write() as c:
            _must_be_live(c, pair_id)
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
        with self._read() as c:
            return [_row_to_flag(r) for r in c.execute(q)]

    def close_flag(self, flag_id: int, by: str, note: str = "") -> Flag:
        """Close an open flag. Missing if there is no such flag; Conflict if someone closed it already."""
        note = _flag_note(note, required=False)
        with self._write() as c:
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

    # --- transcripts ----------------------------------------------------------------------

    def add_turn(self, turn: Turn) -> None:
        """Store one turn as given: the caller has hashed the session and redacted the message."""
        with self._write() as c:
            c.execute(
                insert(transcripts).values(
                    session=turn.session[:64],
                    at=_aware(turn.at).astimezone(dt.UTC),
                    message=_storable(turn.message),
                    reply_kinds=",".join(turn.reply_kinds)[:200],
                    pair_id=turn.pair_id,
                    confidence=turn.confidence,
                )
            )

    def turns(self, session: str | None = None, limit: int = 1000) -> list[Turn]:
        """Stored turns, oldest first (one session's, or all)."""
        q = select(transcripts).order_by(transcripts.c.at, transcripts.c.id).limit(limit)
        if session is not None:
            q = q.where(transcripts.c.session == session)
        with self._read() as c:
            return [
                Turn(
                    session=r.session,
                    at=_aware(r.at),
                    message=r.message,
                    reply_kinds=tuple(k for k in r.reply_kinds.split(",") if k),
                    pair_id=r.pair_id,
                    confidence=r.confidence,
                )
                for r in c.execute(q)
            ]

    def purge_turns(self, before: dt.datetime) -> int:
        """Delete the turns stored before this time; how many were deleted."""
        cutoff = _aware(before).astimezone(dt.UTC)
        with self._write() as c:
            return c.execute(transcripts.delete().where(transcripts.c.at < cutoff)).rowcount or 0

    # --- the quality loop -----------------------------------------------------------------

    def add_miss(
        self,
        question: str,
        reply_kind: str,
        outcome: str,
        candidates: tuple[str, ...] | list[str] = (),
        chosen: str | None = None,
        at: dt.datetime | None = None,
        resolution: str | None = None,
        resolved_ref: str | None = None,
    ) -> int:
        """Keep one miss as given (the caller has redacted the question); its id."""
        if reply_kind not in MISS_KINDS or outcome not in MISS_OUTCOMES:
            raise ValueError(f"reply_kind must be one of {MISS_KINDS} and outcome one of {MISS_OUTCOMES}")
        if resolution is not None and resolution not in RESOLUTIONS:
            raise ValueError(f"resolution must be one of {', '.join(RESOLUTIONS)}")
        with self._write() as c:
            return int(
                c.execute(
                    insert(misses)
                    .values(
                        at=_aware(at or _now()).astimezone(dt.UTC),
                        question=_storable(question)[:MISS_QUESTION_MAX],
                        reply_kind=reply_kind,
                        outcome=outcome,
                        candidates=json.dumps(list(candidates)),
                        chosen=chosen,
                        resolution=resolution,
                        resolved_ref=resolved_ref,
                        resolved_by="service" if resolution else None,
                        resolved_at=_now() if resolution else None,
                    )
                    .returning(misses.c.id)
                ).scalar_one()
            )

    def follow_miss(self, miss_id: int, outcome: str, chosen: str | None = None) -> bool:
        """How the visitor went on after a miss (chose a candidate, said none fit, voted the answer down);
        False when the miss is gone (purged)."""
        if outcome not in MISS_OUTCOMES:
            raise ValueError(f"outcome must be one of {', '.join(MISS_OUTCOMES)}")
        values: dict[str, Any] = {"outcome": outcome}
        if chosen is not None:
            values["chosen"] = chosen
        with self._write() as c:
            return c.execute(update(misses).where(misses.c.id == miss_id).values(**values)).rowcount == 1

    def misses(
        self,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
        unresolved: bool = False,
        ids: list[int] | None = None,
        limit: int = 10_000,
    ) -> list[Miss]:
        """Kept misses, newest first: in [since, until), only those no editor dealt with, or these ids."""
        q = select(misses).order_by(misses.c.at.desc(), misses.c.id.desc()).limit(max(0, limit))
        if since is not None:
            q = q.where(misses.c.at >= _aware(since).astimezone(dt.UTC))
        if until is not None:
            q = q.where(misses.c.at < _aware(until).astimezone(dt.UTC))
        if unresolved:
            q = q.where(misses.c.resolution.is_(None))
        if ids is not None:
            q = q.where(misses.c.id.in_(list(ids)))
        with self._read() as c:
            return [_row_to_miss(r) for r in c.execute(q)]

    def miss_counts(self, since: dt.datetime, until: dt.datetime) -> dict[tuple[str, str | None], int]:
        """How many misses were kept in [since, until), by (outcome, resolution)."""
        q = (
            select(misses.c.outcome, misses.c.resolution, func.count())
            .where(misses.c.at >= _aware(since).astimezone(dt.UTC), misses.c.at < _aware(until).astimezone(dt.UTC))
            .group_by(misses.c.outcome, misses.c.resolution)
        )
        with self._read() as c:
            return {(outcome, resolution): int(n) for outcome, resolution, n in c.execute(q)}

    def purge_misses(self, before: dt.datetime) -> int:
        """Delete the misses kept before this time; how many were deleted."""
        cutoff = _aware(before).astimezone(dt.UTC)
        with self._write() as c:
            return c.execute(misses.delete().where(misses.c.at < cutoff)).rowcount or 0

    def record_action(
        self,
        action: str,
        by: str,
        miss_ids: list[int],
        pair_id: str | None = None,
        revision: int | None = None,
        note: str | None = None,
    ) -> QualityAction:
        """An accepted suggestion (an alternate added, a draft started, misses dismissed): the misses it
        dealt with are resolved and the action recorded, in one transaction."""
        resolution = {"alternate": "alternate", "draft": "draft", "dismiss": "dismissed"}.get(action)
        if resolution is None:
            raise ValueError("action must be alternate, draft or dismiss (out-of-scope marks have their own calls)")
        with self._write() as c:
            _resolve(c, miss_ids, resolution, pair_id or "", by)
            return _add_action(c, action, by, miss_ids, pair_id=pair_id, revision=revision, note=note)

    def quality_actions(self, limit: int = 200) -> list[QualityAction]:
        """Accepted suggestions and undone marks, newest first."""
        q = select(quality_actions).order_by(quality_actions.c.at.desc(), quality_actions.c.id.desc())
        with self._read() as c:
            return [_row_to_action(r) for r in c.execute(q.limit(max(0, limit)))]

    def add_scope_mark(
        self, reason: str, questions: list[str], by: str, miss_ids: list[int], note: str | None = None
    ) -> tuple[ScopeMark, QualityAction]:
        """Mark these questions out of scope with a reason; the misses are resolved, the action recorded
        (its note: the reason, and `note`)."""
        reason = reason.strip()
        if not reason or len(reason) > SCOPE_REASON_MAX:
            raise ValueError(f"a reason of 1 to {SCOPE_REASON_MAX} characters is needed")
        if not questions:
            raise ValueError("a mark needs at least one question")
        now = _now()
        with self._write() as c:
            row = c.execute(
                insert(scope_marks)
                .values(
                    reason=_storable(reason),
                    questions=json.dumps([_storable(q) for q in questions], ensure_ascii=False),
                    created_by=by,
                    created_at=now,
                )
                .returning(*scope_marks.c)
            ).one()
            _resolve(c, miss_ids, "out_of_scope", str(row.id), by)
            action = _add_action(
                c, "out_of_scope", by, miss_ids, mark_id=row.id, note="; ".join(filter(None, [reason, note]))
            )
        return _row_to_mark(row), action

    def scope_marks(self, active: bool = True) -> list[ScopeMark]:
        """Out-of-scope marks, oldest first (active=False: the undone ones too)."""
        q = select(scope_marks).order_by(scope_marks.c.id)
        if active:
            q = q.where(scope_marks.c.undone_at.is_(None))
        with self._read() as c:
            return [_row_to_mark(r) for r in c.execute(q)]

    def undo_scope_mark(self, mark_id: int, by: str) -> tuple[ScopeMark, QualityAction]:
        """Undo a mark: matching messages are answered as usual again, and its misses are open again.
        Missing if there is no such mark; Conflict if it was undone already."""
        now = _now()
        with self._write() as c:
            res = c.execute(
                update(scope_marks)
                .where(scope_marks.c.id == mark_id, scope_marks.c.undone_at.is_(None))
                .values(undone_by=by, undone_at=now)
            )
            row = c.execute(select(scope_marks).where(scope_marks.c.id == mark_id)).first()
            if row is None:
                raise Missing(f"mark {mark_id}")
            if res.rowcount != 1:
                raise Conflict(f"undone already by {row.undone_by}")
            reopened = [
                r.id
                for r in c.execute(
                    select(misses.c.id).where(
                        misses.c.resolution == "out_of_scope", misses.c.resolved_ref == str(mark_id)
                    )
                )
            ]
            if reopened:
                c.execute(
                    update(misses)
                    .where(misses.c.id.in_(reopened))
                    .values(resolution=None, resolved_ref=None, resolved_by=None, resolved_at=None)
                )
            action = _add_action(c, "undo_out_of_scope", by, reopened, mark_id=mark_id)
        return _row_to_mark(row), action

    def scope_version(self) -> tuple[int, int]:
        """Changes whenever a mark is made or undone (a replica reloads its marks when it does)."""
        with self._read() as c:
            newest = c.execute(select(func.max(scope_marks.c.id))).scalar_one() or 0
            undone = c.execute(
                select(func.count()).select_from(scope_marks).where(scope_marks.c.undone_at.is_not(None))
            ).scalar_one()
        return int(newest), int(undone)

    def add_turn_counts(self, counts: dict[tuple[dt.date, str], int]) -> None:
        """Add to the turns counted per day and kind (from every replica: each adds its own)."""
        if not counts:
            return
        with self._write() as c:
            if c.dialect.name == "postgresql":
                from sqlalchemy.dialects.postgresql import insert as upsert
            else:
                from sqlalchemy.dialects.sqlite import insert as upsert  # type: ignore[assignment]
            for (day, kind), n in sorted(counts.items()):
                stmt = upsert(turn_counts).values(day=day, kind=kind[:16], count=n)
                c.execute(
                    stmt.on_conflict_do_update(
                        index_elements=[turn_counts.c.day, turn_counts.c.kind],
                        set_={"count": turn_counts.c.count + n},
                    )
                )

    def turn_counts(self, since: dt.date, until: dt.date) -> dict[dt.date, dict[str, int]]:
        """Turns per day (since..until, both included) and kind."""
        q = select(turn_counts.c.day, turn_counts.c.kind, turn_counts.c.count).where(
            turn_counts.c.day >= since, turn_counts.c.day <= until
        )
        out: dict[dt.date, dict[str, int]] = {}
        with self._read() as c:
            for day, kind, n in c.execute(q):
                out.setdefault(day, {})[kind] = int(n)
        return out

    def feedback_between(self, since: dt.datetime, until: dt.datetime) -> dict[str, dict[str, int]]:
        """Visitors' "was this helpful" votes per pair in [since, until)."""
        q = (
            select(feedback.c.pair_id, feedback.c.helpful, func.count())
            .where(
                feedback.c.created_at >= _aware(since).astimezone(dt.UTC),
                feedback.c.created_at < _aware(until).astimezone(dt.UTC),
            )
            .group_by(feedback.c.pair_id, feedback.c.helpful)
        )
        out: dict[str, dict[str, int]] = {}
        with self._read() as c:
            for pair_id, helpful, n in c.execute(q):
                out.setdefault(pair_id, {"helpful": 0, "not_helpful": 0})["helpful" if helpful else "not_helpful"] = n
        return out


# --- helpers ------------------------------------------------------------------------------------


def _storable(value: str) -> str:
    """Text every backend can hold: no NUL (PostgreSQL refuses it), no lone surrogates (not UTF-8)."""
    return value.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")


def _flag_note(note: str, required: bool) -> str:
    note = note.strip()
    if required and not note:
        raise ValueError("a flag needs a note saying what is wrong")
    if len(note) > FLAG_NOTE_MAX:
        raise ValueError(f"a note has at most {FLAG_NOTE_MAX} characters")
    return note


def _golden_question(question: str) -> str:
    question = question.strip()
    if not question:
        raise ValueError("a golden question must not be empty")
    if len(question) > GOLDEN_QUESTION_MAX:
        raise ValueError(f"a golden question has at most {GOLDEN_QUESTION_MAX} characters")
    return question


def _aware(value: dt.datetime) -> dt.datetime:
    """SQLite hands back naive datetimes; everything here is written in UTC."""
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value


def _maybe_aware(value: dt.datetime | None) -> dt.datetime | None:
    return _aware(value) if value is not None else None


def _row(c: Connection, pair_id: str):
    return c.execute(select(qa_pairs).where(qa_pairs.c.id == pair_id)).first()


def _must_be_live(c: Connection, pair_id: str) -> None:
    if not c.execute(select(qa_pairs.c.id).where(qa_pairs.c.id == pair_id, qa_pairs.c.deleted_at.is_(None))).first():
        raise Missing(pair_id)


# Parsed pairs by their stored JSON, for the editors' lists (list_pairs, get): validating 10,000 of them
# again each time costs half a second. The JSON is the whole content, so a hit is exact. A re-index
# reads through published_pairs, which keeps its own pairs by version (this bound thrashes at 100,000).
_PARSED_MAX = 50_000
_parsed: OrderedDict[str, QAPair] = OrderedDict()
_parsed_lock = threading.Lock()


def _parse_pair(data: str) -> QAPair:
    with _parsed_lock:
        pair = _parsed.get(data)
        if pair is not None:
            _parsed.move_to_end(data)
            return pair
    pair = QAPair.model_validate_json(data)
    with _parsed_lock:
        _parsed[data] = pair
        if len(_parsed) > _PARSED_MAX:
            _parsed.popitem(last=False)
    return pair


def _row_to_stored(row) -> StoredPair:
    return StoredPair(
        pair=_parse_pair(row.data),
        version=row.version,
        updated_at=_aware(row.updated_at),
        updated_by=row.updated_by,
        deleted_at=_maybe_aware(row.deleted_at),
        deleted_by=row.deleted_by,
    )


def _row_to_revision(row) -> Revision:
    return Revision(
        id=row.id,
        pair_id=row.pair_id,
        number=row.number,
        at=_aware(row.at),
        by=row.by,
        action=row.action,
        fields=json.loads(row.fields),
        old=json.loads(row.old),
        new=json.loads(row.new),
        pair=json.loads(row.pair) if row.pair is not None else None,
        note=row.note,
    )


def _row_to_golden(row) -> Golden:
    return Golden(
        id=row.id,
        question=row.question,
        pair_id=row.pair_id,
        created_by=row.created_by,
        created_at=_aware(row.created_at),
        updated_at=_aware(row.updated_at),
    )


def _row_to_feedback(row) -> FeedbackItem:
    question = json.loads(row.data).get("question") if row.data else None
    return FeedbackItem(
        id=row.id,
        pair_id=row.pair_id,
        question=question,
        created_at=_aware(row.created_at),
        state=row.state,
        closed_by=row.closed_by,
        closed_at=_maybe_aware(row.closed_at),
        close_note=row.close_note,
    )


def _row_to_flag(row) -> Flag:
    return Flag(
        id=row.id,
        pair_id=row.pair_id,
        note=row.note,
        state=row.state,
        created_by=row.created_by,
        created_at=_aware(row.created_at),
        closed_by=row.closed_by,
        closed_at=_maybe_aware(row.closed_at),
        close_note=row.close_note,
    )


def _row_to_miss(row) -> Miss:
    return Miss(
        id=row.id,
        at=_aware(row.at),
        question=row.question,
        reply_kind=row.reply_kind,
        outcome=row.outcome,
        candidates=tuple(json.loads(row.candidates)),
        chosen=row.chosen,
        resolution=row.resolution,
        resolved_ref=row.resolved_ref,
        resolved_by=row.resolved_by,
        resolved_at=_maybe_aware(row.resolved_at),
    )


def _row_to_mark(row) -> ScopeMark:
    return ScopeMark(
        id=row.id,
        reason=row.reason,
        questions=tuple(json.loads(row.questions)),
        created_by=row.created_by,
        created_at=_aware(row.created_at),
        undone_by=row.undone_by,
        undone_at=_maybe_aware(row.undone_at),
    )


def _row_to_action(row) -> QualityAction:
    return QualityAction(
        id=row.id,
        at=_aware(row.at),
        by=row.by,
        action=row.action,
        miss_ids=tuple(json.loads(row.miss_ids)),
        pair_id=row.pair_id,
        revision=row.revision,
        mark_id=row.mark_id,
        note=row.note,
    )


def _resolve(c: Connection, miss_ids: list[int], resolution: str, ref: str, by: str) -> None:
    """Mark the misses not dealt with yet as dealt with (by an alternate, a draft, a mark, a dismissal)."""
    if miss_ids:
        c.execute(
            update(misses)
            .where(misses.c.id.in_(list(miss_ids)), misses.c.resolution.is_(None))
            .values(resolution=resolution, resolved_ref=ref[:120], resolved_by=by, resolved_at=_now())
        )


def _add_action(
    c: Connection,
    action: str,
    by: str,
    miss_ids: list[int],
    pair_id: str | None = None,
    revision: int | None = None,
    mark_id: int | None = None,
    note: str | None = None,
) -> QualityAction:
    if action not in QUALITY_ACTIONS:
        raise ValueError(f"action must be one of {', '.join(QUALITY_ACTIONS)}")
    row = c.execute(
        insert(quality_actions)
        .values(
            at=_now(),
            by=by,
            action=action,
            pair_id=pair_id,
            revision=revision,
            mark_id=mark_id,
            miss_ids=json.dumps(sorted(set(miss_ids))),
            note=note,
        )
        .returning(*quality_actions.c)
    ).one()
    return _row_to_action(row)


def _insert_pair(c: Connection, pair: QAPair, by: str) -> StoredPair:
    now = _now()
    c.execute(
        insert(qa_pairs).values(
            id=pair.id, data=pair_json(pair), status=pair.status, version=1, updated_at=now, updated_by=by
        )
    )
    return StoredPair(pair, 1, now, by)


def _update_pair(c: Connection, pair: QAPair, version: int, by: str, revive: bool = False) -> StoredPair | None:
    """Write the pair if it is still at `version` (and live, unless reviving it); None if it is not."""
    now = _now()
    q = update(qa_pairs).where(qa_pairs.c.id == pair.id, qa_pairs.c.version == version)
    if not revive:
        q = q.where(qa_pairs.c.deleted_at.is_(None))
    res = c.execute(
        q.values(
            data=pair_json(pair),
            status=pair.status,
            version=version + 1,
            updated_at=now,
            updated_by=by,
            deleted_at=None,
            deleted_by=None,
        )
    )
    return StoredPair(pair, version + 1, now, by) if res.rowcount == 1 else None


def _edit_action(old: QAPair, new: QAPair) -> str:
    if old.status != new.status:
        return "publish" if new.status == "published" else "unpublish"
    return "update"


def _add_revision(
    c: Connection, before: StoredPair | None, after: StoredPair, action: str, by: str, note: str | None
) -> None:
    """Append the revision for a change, in the change's transaction (number = the version after it)."""
    new_data = after.pair.model_dump(mode="json")
    new_data.pop("id", None)
    fields: list[str] = []
    old: dict[str, Any] = {}
    new: dict[str, Any] = {}
    if before is None:
        fields = list(new_data)
        new = dict(new_data)
    else:
        old_data = before.pair.model_dump(mode="json")
        if not after.deleted:
            for name, value in new_data.items():
                if old_data.get(name) != value:
                    fields.append(name)
                    old[name], new[name] = old_data.get(name), value
        if before.deleted != after.deleted:
            fields.append("deleted")
            old["deleted"], new["deleted"] = before.deleted, after.deleted
    c.execute(
        insert(revisions).values(
            pair_id=after.pair.id,
            number=after.version,
            at=after.updated_at,
            by=by,
            action=action,
            fields=json.dumps(fields),
            old=json.dumps(old, ensure_ascii=False),
            new=json.dumps(new, ensure_ascii=False),
            pair=None if after.deleted else pair_json(after.pair),
            note=note,
        )
    )
