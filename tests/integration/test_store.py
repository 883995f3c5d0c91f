"""The SQLite store: seeding never overwrites editors' work; stale edits are refused."""

import sqlite3

import pytest

from api.auth import Tokens
from knowledge.schema import QAPair
from knowledge.store import Conflict, Store
from tests.factories import pair_data

pytestmark = pytest.mark.integration


def pair(**kw) -> QAPair:
    return QAPair.model_validate(pair_data(**kw))


@pytest.fixture
def store(tmp_path):
    s = Store(f"sqlite:///{tmp_path / 'faqbot.db'}")
    yield s
    s.close()


def test_store_uses_wal_mode(store, tmp_path):
    store.count()
    assert sqlite3.connect(tmp_path / "faqbot.db").execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_first_start_fills_the_store_and_later_starts_keep_editor_changes(store):
    a, b, c = pair(id="a"), pair(id="b"), pair(id="c")
    assert store.seed([a, b, c]).created == 3
    # An editor changes a and deletes b.
    stored = store.get("a")
    store.replace(pair(id="a", answer="Edited by an editor."), stored.version, "editor")
    store.delete("b", store.get("b").version)
    # A new release ships changed files for a, b and c, and a new pair d.
    report = store.seed(
        [
            pair(id="a", answer="New file text."),
            pair(id="b", answer="New file text."),
            pair(id="c", answer="New file text."),
            pair(id="d"),
        ]
    )
    assert store.get("a").pair.answer == "Edited by an editor."
    assert store.get("b") is None
    assert store.get("c").pair.answer == "New file text."
    assert store.get("d") is not None
    assert (report.created, report.updated, report.kept_editor_changes) == (1, 1, 2)


def test_a_stale_version_is_refused_and_loses_nothing(store):
    store.seed([pair(id="a")])
    v = store.get("a").version
    store.replace(pair(id="a", answer="First editor."), v, "editor")
    with pytest.raises(Conflict):
        store.replace(pair(id="a", answer="Second editor, from a stale read."), v, "editor")
    assert store.get("a").pair.answer == "First editor."


def test_tokens_are_stored_as_hashes_only(store, tmp_path):
    tokens = Tokens(store.engine)
    tokens.add("secret-token-value", "staff")
    assert tokens.role_for("secret-token-value") == "staff" and tokens.role_for("other") is None
    assert b"secret-token-value" not in (tmp_path / "faqbot.db").read_bytes()
    with pytest.raises(ValueError):
        tokens.add("x", "superuser")
