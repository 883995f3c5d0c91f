"""The store's schema migrations on SQLite and PostgreSQL: a new database is made at start, a database made
by the previous release (before migrations) is adopted with its data intact, and starts racing each
other do not break. Downgrades are not supported."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
from sqlalchemy import create_engine, inspect, text

from api.accounts import Accounts
from api.auth import Tokens, hash_token
from knowledge.schema import QAPair
from knowledge.store import MIGRATIONS, Store, connect, pair_json
from tests.conftest import REPO
from tests.factories import pair_data

pytestmark = pytest.mark.integration

HEAD = "0004"
STORE_TABLES = {
    "qa_pairs",
    "seed_log",
    "feedback",
    "flags",
    "revisions",
    "golden",
    "store_markers",
    "transcripts",
    "misses",
    "turn_counts",
    "scope_marks",
    "quality_actions",
}
API_TABLES = {"tokens", "users", "web_sessions", "signin_attempts"}

# The previous release's schema, captured from its create_all (git show 3014047:knowledge/store.py,
# api/auth.py, api/accounts.py), statement for statement.
PREVIOUS_DDL = {
    "sqlite": """
CREATE TABLE feedback ( id INTEGER NOT NULL, pair_id VARCHAR(120) NOT NULL, helpful INTEGER NOT NULL, created_at DATETIME NOT NULL, PRIMARY KEY (id) );
CREATE INDEX ix_feedback_pair_id ON feedback (pair_id);
CREATE TABLE flags ( id INTEGER NOT NULL, pair_id VARCHAR(120) NOT NULL, note TEXT NOT NULL, state VARCHAR(8) NOT NULL, created_by VARCHAR(80) NOT NULL, created_at DATETIME NOT NULL, closed_by VARCHAR(80), closed_at DATETIME, close_note TEXT, PRIMARY KEY (id) );
CREATE INDEX ix_flags_pair_id ON flags (pair_id);
CREATE INDEX ix_flags_state ON flags (state);
CREATE TABLE qa_pairs ( id VARCHAR(80) NOT NULL, data TEXT NOT NULL, status VARCHAR(16) NOT NULL, version INTEGER NOT NULL, updated_at DATETIME NOT NULL, updated_by VARCHAR(80) NOT NULL, PRIMARY KEY (id) );
CREATE INDEX ix_qa_pairs_status ON qa_pairs (status);
CREATE TABLE seed_log ( id VARCHAR(80) NOT NULL, content_hash VARCHAR(64) NOT NULL, PRIMARY KEY (id) );
CREATE TABLE tokens ( token_hash VARCHAR(64) NOT NULL, role VARCHAR(16) NOT NULL, label VARCHAR(120) NOT NULL, created_at DATETIME NOT NULL, PRIMARY KEY (token_hash) );
CREATE TABLE signin_attempts ( id INTEGER NOT NULL, username VARCHAR(64) NOT NULL, client VARCHAR(64) NOT NULL, ok BOOLEAN NOT NULL, at DATETIME NOT NULL, PRIMARY KEY (id) );
CREATE INDEX ix_signin_attempts_at ON signin_attempts (at);
CREATE INDEX ix_signin_attempts_client ON signin_attempts (client);
CREATE INDEX ix_signin_attempts_username ON signin_attempts (username);
CREATE TABLE users ( username VARCHAR(64) NOT NULL, role VARCHAR(16) NOT NULL, password_hash VARCHAR(255) NOT NULL, created_at DATETIME NOT NULL, disabled BOOLEAN NOT NULL, PRIMARY KEY (username) );
CREATE TABLE web_sessions ( session_hash VARCHAR(64) NOT NULL, username VARCHAR(64) NOT NULL, csrf_token VARCHAR(64) NOT NULL, created_at DATETIME NOT NULL, last_seen DATETIME NOT NULL, expires_at DATETIME NOT NULL, PRIMARY KEY (session_hash) );
CREATE INDEX ix_web_sessions_expires_at ON web_sessions (expires_at);
CREATE INDEX ix_web_sessions_username ON web_sessions (username);
""",
    "postgresql": """
CREATE TABLE feedback ( id SERIAL NOT NULL, pair_id VARCHAR(120) NOT NULL, helpful INTEGER NOT NULL, created_at TIMESTAMP WITH TIME ZONE NOT NULL, PRIMARY KEY (id) );
CREATE INDEX ix_feedback_pair_id ON feedback (pair_id);
CREATE TABLE flags ( id SERIAL NOT NULL, pair_id VARCHAR(120) NOT NULL, note TEXT NOT NULL, state VARCHAR(8) NOT NULL, created_by VARCHAR(80) NOT NULL, created_at TIMESTAMP WITH TIME ZONE NOT NULL, closed_by VARCHAR(80), closed_at TIMESTAMP WITH TIME ZONE, close_note TEXT, PRIMARY KEY (id) );
CREATE INDEX ix_flags_pair_id ON flags (pair_id);
CREATE INDEX ix_flags_state ON flags (state);
CREATE TABLE qa_pairs ( id VARCHAR(80) NOT NULL, data TEXT NOT NULL, status VARCHAR(16) NOT NULL, version INTEGER NOT NULL, updated_at TIMESTAMP WITH TIME ZONE NOT NULL, updated_by VARCHAR(80) NOT NULL, PRIMARY KEY (id) );
CREATE INDEX ix_qa_pairs_status ON qa_pairs (status);
CREATE TABLE seed_log ( id VARCHAR(80) NOT NULL, content_hash VARCHAR(64) NOT NULL, PRIMARY KEY (id) );
CREATE TABLE tokens ( token_hash VARCHAR(64) NOT NULL, role VARCHAR(16) NOT NULL, label VARCHAR(120) NOT NULL, created_at TIMESTAMP WITH TIME ZONE NOT NULL, PRIMARY KEY (token_hash) );
CREATE TABLE signin_attempts ( id SERIAL NOT NULL, username VARCHAR(64) NOT NULL, client VARCHAR(64) NOT NULL, ok BOOLEAN NOT NULL, at TIMESTAMP WITH TIME ZONE NOT NULL, PRIMARY KEY (id) );
CREATE INDEX ix_signin_attempts_at ON signin_attempts (at);
CREATE INDEX ix_signin_attempts_client ON signin_attempts (client);
CREATE INDEX ix_signin_attempts_username ON signin_attempts (username);
CREATE TABLE users ( username VARCHAR(64) NOT NULL, role VARCHAR(16) NOT NULL, password_hash VARCHAR(255) NOT NULL, created_at TIMESTAMP WITH TIME ZONE NOT NULL, disabled BOOLEAN NOT NULL, PRIMARY KEY (username) );
CREATE TABLE web_sessions ( session_hash VARCHAR(64) NOT NULL, username VARCHAR(64) NOT NULL, csrf_token VARCHAR(64) NOT NULL, created_at TIMESTAMP WITH TIME ZONE NOT NULL, last_seen TIMESTAMP WITH TIME ZONE NOT NULL, expires_at TIMESTAMP WITH TIME ZONE NOT NULL, PRIMARY KEY (session_hash) );
CREATE INDEX ix_web_sessions_expires_at ON web_sessions (expires_at);
CREATE INDEX ix_web_sessions_username ON web_sessions (username);
""",
}


def pair(**kw) -> QAPair:
    return QAPair.model_validate(pair_data(**kw))


def backend(url: str) -> str:
    return "sqlite" if url.startswith("sqlite") else "postgresql"


def make_previous_release_db(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as c:
        for statement in PREVIOUS_DDL[backend(url)].split(";"):
            if statement.strip():
                c.exec_driver_sql(statement)
    engine.dispose()


def schema_of(url: str) -> dict[str, tuple]:
    """Every table's columns (name, type, nullable), primary key and indexes, without alembic's own table."""
    engine = create_engine(url)
    insp = inspect(engine)
    out = {}
    for table in insp.get_table_names():
        if table == "alembic_version":
            continue
        columns = tuple((c["name"], str(c["type"]), c["nullable"]) for c in insp.get_columns(table))
        pk = tuple(insp.get_pk_constraint(table)["constrained_columns"])
        indexes = tuple(
            sorted((i["name"], tuple(i["column_names"]), bool(i["unique"])) for i in insp.get_indexes(table))
        )
        out[table] = (columns, pk, indexes)
    engine.dispose()
    return out


def alembic_version(url: str) -> str | None:
    engine = create_engine(url)
    with engine.connect() as c:
        version = c.execute(text("SELECT version_num FROM alembic_version")).scalar()
    engine.dispose()
    return version


def upgrade_to(url: str, revision: str) -> None:
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    engine = connect(url)
    with engine.begin() as c:
        cfg.attributes["connection"] = c
        command.upgrade(cfg, revision)
    engine.dispose()


def test_a_new_database_gets_every_table_and_a_restart_upgrades_nothing(store_url):
    started = time.perf_counter()
    store = Store(store_url)
    first = time.perf_counter() - started
    tables = set(inspect(store.engine).get_table_names())
    assert tables >= STORE_TABLES | API_TABLES
    assert alembic_version(store_url) == HEAD
    store.create(pair(id="a"), "alice")
    store.close()
    started = time.perf_counter()
    again = Store(store_url)
    second = time.perf_counter() - started
    assert again.get("a").pair.answer == pair().answer and alembic_version(store_url) == HEAD
    # The api layer's own create_all on the same database is harmless: its tables are there already.
    Tokens(again.engine).add("tok", "editor")
    assert Tokens(again.engine).role_for("tok") == "editor"
    again.close()
    assert second < 1.0, f"a start with nothing to upgrade took {second:.2f} s (first start {first:.2f} s)"


def test_the_first_migration_is_the_previous_releases_schema_exactly(store_url, tmp_path):
    upgrade_to(store_url, "0001")
    assert alembic_version(store_url) == "0001"
    made_by_migration = schema_of(store_url)
    if backend(store_url) == "sqlite":
        previous_url = f"sqlite:///{tmp_path / 'previous.db'}"
        make_previous_release_db(previous_url)
        assert schema_of(previous_url) == made_by_migration
    else:
        from tests.integration.conftest import _pg_database

        gen = _pg_database()
        previous_url = next(gen)
        try:
            make_previous_release_db(previous_url)
            assert schema_of(previous_url) == made_by_migration
        finally:
            gen.close()
    assert set(made_by_migration) == {"qa_pairs", "seed_log", "feedback", "flags"} | API_TABLES


def test_a_database_of_the_previous_release_is_adopted_with_its_data(store_url):
    make_previous_release_db(store_url)
    shipped = pair(id="shipped", answer="As shipped.")
    edited = pair(id="edited", answer="Changed by an editor in the old release.")
    from knowledge.store import content_hash

    engine = create_engine(store_url)
    with engine.begin() as c:
        at = "2026-11-01 10:00:00"
        for p, version, by in [(shipped, 1, "seed"), (edited, 3, "editor")]:
            c.execute(
                text(
                    "INSERT INTO qa_pairs (id, data, status, version, updated_at, updated_by) "
                    "VALUES (:id, :data, :status, :version, :at, :by)"
                ),
                {"id": p.id, "data": pair_json(p), "status": p.status, "version": version, "at": at, "by": by},
            )
        seeded_edited = pair(id="edited")
        c.execute(
            text("INSERT INTO seed_log (id, content_hash) VALUES (:a, :ha), (:b, :hb)"),
            {"a": "shipped", "ha": content_hash(shipped), "b": "edited", "hb": content_hash(seeded_edited)},
        )
        c.execute(
            text("INSERT INTO feedback (pair_id, helpful, created_at) VALUES ('shipped', 0, :at), ('shipped', 1, :at)"),
            {"at": at},
        )
        c.execute(
            text(
                "INSERT INTO flags (pair_id, note, state, created_by, created_at) "
                "VALUES ('edited', 'check the source', 'open', 'staff1', :at)"
            ),
            {"at": at},
        )
        c.execute(
            text("INSERT INTO tokens (token_hash, role, label, created_at) VALUES (:h, 'admin', 'desk', :at)"),
            {"h": hash_token("old-admin-token"), "at": at},
        )
    engine.dispose()

    store = Store(store_url)
    try:
        assert alembic_version(store_url) == HEAD
        # The content, versions and ETags are what they were.
        assert store.get("edited").pair.answer == "Changed by an editor in the old release."
        assert store.get("edited").version == 3 and store.count() == 2
        # Each pair's history starts with its content as it was; it can be reverted to.
        first = store.revisions("edited")
        assert [(r.number, r.by) for r in first] == [(3, "editor")] and (first[0].pair or {})["answer"] == edited.answer
        store.replace(pair(id="edited", answer="A mistake."), 3, "alice")
        store.revert("edited", 3, 4, "alice")
        assert store.get("edited").pair.answer == edited.answer and store.get("edited").version == 5
        # The next start's seeding still keeps the old release's editor change.
        report = store.seed([shipped, pair(id="edited", answer="A new release's text.")])
        assert report.kept_editor_changes == 1 and store.get("edited").pair.answer == edited.answer
        # Old feedback counts, and the old not-helpful vote is in the queue, open.
        assert store.feedback_counts() == {"shipped": {"helpful": 1, "not_helpful": 1}}
        queue = store.list_feedback()
        assert [(f.pair_id, f.state, f.question) for f in queue] == [("shipped", "open", shipped.question)]
        assert store.close_feedback(queue[0].id, "editor", "fine as is").state == "closed"
        # Flags and tokens are untouched.
        assert [(f.pair_id, f.note) for f in store.list_flags("open")] == [("edited", "check the source")]
        assert Tokens(store.engine).role_for("old-admin-token") == "admin"
        # New features work on the adopted database.
        store.delete("shipped", 1, "alice")
        assert store.get("shipped") is None and store.restore("shipped", "bob").version == 3
        assert store.seed_golden([shipped]) == 2
        assert store.history()[0].action == "restore"
        # Accounts (api/accounts.py) still create their rows in the adopted tables.
        from api.settings import get_settings

        Accounts(store.engine, get_settings().web).set_user("alice", "a long enough password 1", "editor")
        with store.engine.connect() as c:
            assert c.execute(text("SELECT role FROM users WHERE username = 'alice'")).scalar() == "editor"
    finally:
        store.close()


def test_a_database_with_only_the_tokens_table_is_completed(store_url):
    """`make token` before the first start of the previous release made only `tokens`."""
    engine = create_engine(store_url)
    with engine.begin() as c:
        for statement in PREVIOUS_DDL[backend(store_url)].split(";"):
            if "TABLE tokens" in statement:
                c.exec_driver_sql(statement)
        c.execute(
            text("INSERT INTO tokens (token_hash, role, label, created_at) VALUES (:h, 'staff', '', :at)"),
            {"h": hash_token("t"), "at": "2026-11-01 10:00:00"},
        )
    engine.dispose()
    store = Store(store_url)
    try:
        assert alembic_version(store_url) == HEAD and Tokens(store.engine).role_for("t") == "staff"
        assert store.create(pair(id="a"), "alice").version == 1
    finally:
        store.close()


STARTER = """
import sys
from knowledge.store import Store
s = Store(sys.argv[1])
s.seed([])
print(len(s.list_pairs()))
s.close()
"""


def test_processes_starting_at_once_on_a_new_database_all_succeed(store_url):
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", STARTER, store_url],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    results = [p.communicate(timeout=120) + (p.returncode,) for p in procs]
    assert [r[2] for r in results] == [0, 0, 0, 0], [r[1][-2000:] for r in results]
    assert alembic_version(store_url) == HEAD
    store = Store(store_url)
    try:
        assert store.create(pair(id="a"), "alice").version == 1
        assert json.loads(json.dumps(store.revisions("a")[0].pair))["id"] == "a"
    finally:
        store.close()
