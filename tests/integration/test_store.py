"""The store on SQLite and PostgreSQL: seeding never overwrites editors' work; stale edits are refused;
every change leaves a revision; deleted pairs can be restored; golden questions, feedback queue, flags."""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading
import time

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

import knowledge.store
from api.auth import ROLE_CACHE_SECONDS, Tokens, hash_token
from api.auth import tokens as auth_tokens
from knowledge.schema import QAPair
from knowledge.store import VOTES_CACHE_SECONDS, Conflict, Missing, Store
from tests.factories import pair_data

pytestmark = pytest.mark.integration


def pair(**kw) -> QAPair:
    return QAPair.model_validate(pair_data(**kw))


@pytest.fixture
def store(store_url):
    s = Store(store_url)
    yield s
    s.close()


# --- SQLite specifics -----------------------------------------------------------------------------


@pytest.fixture
def sqlite_store(tmp_path):
    s = Store(f"sqlite:///{tmp_path / 'faqbot.db'}")
    yield s
    s.close()


def test_sqlite_uses_wal_mode_and_full_sync(sqlite_store, tmp_path):
    sqlite_store.count()
    assert sqlite3.connect(tmp_path / "faqbot.db").execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    with sqlite_store.engine.connect() as c:
        assert c.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
        assert c.exec_driver_sql("PRAGMA busy_timeout").scalar() == 5000


def test_tokens_are_stored_as_hashes_only(sqlite_store, tmp_path):
    tokens = Tokens(sqlite_store.engine)
    tokens.add("secret-token-value", "staff")
    assert tokens.role_for("secret-token-value") == "staff" and tokens.role_for("other") is None
    assert b"secret-token-value" not in (tmp_path / "faqbot.db").read_bytes()
    with pytest.raises(ValueError):
        tokens.add("x", "superuser")


def test_a_token_role_is_remembered_briefly_and_a_deleted_token_stops_working(store):
    """The search path reads a valid token's role from memory; a token removed from the table stops
    working within ROLE_CACHE_SECONDS (on every replica), an unknown token is never remembered."""
    now = [1000.0]
    tokens = Tokens(store.engine, clock=lambda: now[0])
    assert tokens.cached_role("fresh") is None and tokens.role_for("fresh") is None
    Tokens(store.engine).add("fresh", "editor")  # made by another process (python -m api.cli token)
    assert tokens.cached_role("fresh") is None, "an unknown token was remembered"
    assert tokens.role_for("fresh") == "editor" and tokens.cached_role("fresh") == "editor"
    with store.engine.begin() as c:
        c.execute(auth_tokens.delete().where(auth_tokens.c.token_hash == hash_token("fresh")))
    now[0] += ROLE_CACHE_SECONDS - 0.5
    assert tokens.cached_role("fresh") == "editor"
    now[0] += 1.0
    assert tokens.cached_role("fresh") is None and tokens.role_for("fresh") is None
    # Revoked through this process (python -m api.cli revoke-token does it in its own): refused at once.
    tokens.add("second", "staff", "desk 3")
    assert tokens.role_for("second") == "staff"
    assert [(t.fingerprint, t.label) for t in tokens.listed()] == [(tokens.fingerprint("second"), "desk 3")]
    with pytest.raises(ValueError):
        tokens.revoke("abc")  # too short to name one token
    assert tokens.revoke(tokens.fingerprint("second")[:8]).label == "desk 3"
    assert tokens.cached_role("second") is None and tokens.role_for("second") is None


# --- pairs ----------------------------------------------------------------------------------------


def test_create_get_list_and_a_duplicate_id_is_refused(store):
    created = store.create(pair(id="a", status="draft"), "alice")
    assert (created.version, created.updated_by, created.deleted) == (1, "alice", False)
    store.create(pair(id="b"), "alice")
    with pytest.raises(Conflict):
        store.create(pair(id="a", answer="Another."), "bob")
    assert store.get("a").pair.answer == pair().answer
    assert [s.pair.id for s in store.list_pairs()] == ["a", "b"]
    assert [s.pair.id for s in store.list_pairs(status="draft")] == ["a"]
    assert [p.id for p in store.published_pairs()] == ["b"]
    assert store.list_pairs(tag="nope") == [] and len(store.list_pairs(tag="test")) == 2
    assert store.count() == 2
    long_id = "x" * 120  # the longest id the schema allows fits on both backends
    assert store.create(pair(id=long_id), "alice").pair.id == long_id


def test_replace_bumps_the_version_and_a_stale_version_is_refused_and_loses_nothing(store):
    store.create(pair(id="a"), "alice")
    read = store.get("a")
    v = read.version
    new = store.replace(pair(id="a", answer="First editor."), v, "alice")
    assert new.version == v + 1 and new.etag != read.etag and store.get("a").etag == new.etag
    with pytest.raises(Conflict):
        store.replace(pair(id="a", answer="Second editor, from a stale read."), v, "bob")
    assert store.get("a").pair.answer == "First editor."
    with pytest.raises(Missing):
        store.replace(pair(id="nope"), 1, "bob")


def test_delete_is_soft_restore_brings_it_back_and_the_etag_never_repeats(store):
    store.create(pair(id="a"), "alice")
    etags = {store.get("a").etag}
    with pytest.raises(Conflict):
        store.delete("a", 99, "bob")
    deleted = store.delete("a", store.get("a").version, "bob", note="out of date")
    etags.add(deleted.etag)
    assert store.get("a") is None and store.published_pairs() == [] and store.count() == 0
    assert [s.pair.id for s in store.list_pairs(deleted=True)] == ["a"]
    assert store.get("a", deleted=True).deleted_by == "bob"
    with pytest.raises(Conflict):  # a deleted pair cannot be edited
        store.replace(pair(id="a", answer="x"), deleted.version, "alice")
    with pytest.raises(Missing):
        store.delete("a", deleted.version, "bob")
    restored = store.restore("a", "carol")
    etags.add(restored.etag)
    assert store.get("a").pair.answer == pair().answer and not restored.deleted
    assert len(etags) == 3
    with pytest.raises(Missing):
        store.restore("a", "carol")  # not deleted
    with pytest.raises(Missing):
        store.restore("nope", "carol")


def test_creating_a_deleted_pairs_id_revives_it_with_a_higher_version(store):
    store.create(pair(id="a"), "alice")
    gone = store.delete("a", 1, "alice")
    revived = store.create(pair(id="a", answer="Written again."), "bob")
    assert revived.version == gone.version + 1 == 3
    assert store.get("a").pair.answer == "Written again."
    top = store.revisions("a")[0]
    assert (top.action, top.number) == ("create", 3) and "deleted" in top.fields and "answer" in top.fields


def test_every_change_leaves_a_revision_with_what_changed(store):
    store.create(pair(id="a", status="draft"), "alice", note="first draft")
    store.replace(pair(id="a", status="published"), 1, "bob")
    store.replace(pair(id="a", answer="Better answer."), 2, "carol")
    store.replace(pair(id="a", status="draft", answer="Better answer."), 3, "dave")
    store.delete("a", 4, "erin")
    store.restore("a", "frank")
    revs = store.revisions("a")
    assert [r.number for r in revs] == [6, 5, 4, 3, 2, 1]
    assert [r.action for r in revs] == ["restore", "delete", "unpublish", "update", "publish", "create"]
    assert [r.by for r in revs] == ["frank", "erin", "dave", "carol", "bob", "alice"]
    create, publish, update = revs[5], revs[4], revs[3]
    assert create.note == "first draft" and create.old == {} and create.new["status"] == "draft"
    assert publish.fields == ["status"] and (publish.old, publish.new) == (
        {"status": "draft"},
        {"status": "published"},
    )
    assert update.fields == ["answer"] and update.new == {"answer": "Better answer."}
    assert update.pair["answer"] == "Better answer." and update.pair["id"] == "a"
    assert revs[1].pair is None and revs[1].fields == ["deleted"] and revs[1].new == {"deleted": True}
    assert revs[0].pair["status"] == "draft" and revs[0].new == {"deleted": False}
    assert store.revision("a", 3) == update and store.revision("a", 99) is None
    assert store.revisions("never-existed") == []


def test_revert_restores_an_old_revisions_content_as_a_new_version(store):
    store.create(pair(id="a", answer="Original."), "alice")
    store.replace(pair(id="a", answer="Vandalised."), 1, "mallory")
    reverted = store.revert("a", 1, 2, "alice", note="undo")
    assert reverted.version == 3 and store.get("a").pair.answer == "Original."
    top = store.revisions("a")[0]
    assert top.action == "revert" and top.note == "reverted to revision 1; undo" and top.fields == ["answer"]
    with pytest.raises(Conflict):
        store.revert("a", 2, 2, "alice")  # stale version
    with pytest.raises(Missing):
        store.revert("a", 42, 3, "alice")
    store.delete("a", 3, "alice")
    with pytest.raises(ValueError):
        store.revert("a", 4, 4, "alice")  # a deletion holds no content


def test_history_spans_pairs_newest_first(store):
    store.create(pair(id="a"), "alice")
    store.create(pair(id="b"), "bob")
    store.replace(pair(id="a", answer="Changed."), 1, "carol")
    history = store.history()
    assert [(r.pair_id, r.number, r.by) for r in history] == [("a", 2, "carol"), ("b", 1, "bob"), ("a", 1, "alice")]
    assert len(store.history(limit=2)) == 2
    assert store.history(since=dt.datetime.now(dt.UTC) + dt.timedelta(seconds=5)) == []
    assert len(store.history(since=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1))) == 3


def test_import_is_all_or_nothing(store, monkeypatch):
    store.create(pair(id="a"), "alice")
    assert store.import_pairs([pair(id="a", answer="Imported."), pair(id="b")], "bob", note="batch 1") == (1, 1)
    assert store.get("a").pair.answer == "Imported." and store.get("b") is not None
    assert [r.action for r in store.revisions("b")] == ["import"] and store.revisions("a")[0].note == "batch 1"
    # The database fails on the third pair of a batch: nothing of the batch is written.
    real = knowledge.store._add_revision

    def failing(c, before, after, *args):
        if after.pair.id == "e":
            c.execute(text("SELECT * FROM no_such_table"))
        return real(c, before, after, *args)

    monkeypatch.setattr(knowledge.store, "_add_revision", failing)
    with pytest.raises(DBAPIError):
        store.import_pairs([pair(id="c"), pair(id="a", answer="Half an import."), pair(id="e")], "bob")
    monkeypatch.undo()
    assert store.get("a").pair.answer == "Imported." and len(store.revisions("a")) == 2
    assert store.get("c") is None and store.revisions("c") == []
    # A deleted pair's id in an import revives it.
    store.delete("b", store.get("b").version, "alice")
    assert store.import_pairs([pair(id="b", answer="Back.")], "bob") == (1, 0)
    assert store.get("b").pair.answer == "Back."


def test_first_start_fills_the_store_and_later_starts_keep_editor_changes(store):
    a, b, c = pair(id="a"), pair(id="b"), pair(id="c")
    assert store.seed([a, b, c]).created == 3
    assert [r.action for r in store.revisions("a")] == ["seed"] and store.revisions("a")[0].by == "seed"
    # An editor changes a and deletes b.
    store.replace(pair(id="a", answer="Edited by an editor."), store.get("a").version, "editor")
    store.delete("b", store.get("b").version, "editor")
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
    assert [r.action for r in store.revisions("c")] == ["seed", "seed"]
    assert store.get("d") is not None
    assert (report.created, report.updated, report.kept_editor_changes) == (1, 1, 2)
    # Starting again with the same files changes nothing.
    again = store.seed([pair(id="a"), pair(id="c", answer="New file text."), pair(id="d")])
    assert (again.created, again.updated) == (0, 0) and len(store.revisions("c")) == 2


# --- golden questions -----------------------------------------------------------------------------


def test_golden_questions_crud(store):
    store.create(pair(id="a"), "alice")
    store.create(pair(id="b"), "alice")
    g = store.add_golden("  does the test op work?  ", "a", "alice")
    assert (g.question, g.pair_id, g.created_by) == ("does the test op work?", "a", "alice")
    with pytest.raises(Missing):
        store.add_golden("q", "nope", "alice")
    with pytest.raises(ValueError):
        store.add_golden("   ", "a", "alice")
    changed = store.update_golden(g.id, "is testing proven", "b", "bob")
    assert (changed.question, changed.pair_id) == ("is testing proven", "b") and changed.updated_at >= g.updated_at
    assert store.list_golden() == [changed]
    with pytest.raises(Missing):
        store.update_golden(999, "q", "a", "bob")
    store.delete_golden(g.id)
    assert store.list_golden() == []
    with pytest.raises(Missing):
        store.delete_golden(g.id)


def test_published_pairs_follow_every_change_here_and_by_another_replica(store, store_url):
    """published_pairs re-reads only changed rows (the re-index after an edit); what it returns must still
    be what the table holds after every kind of change, made through this store or another."""
    for i in "abcd":
        store.create(pair(id=i, question=f"Question {i}?"), "alice")
    assert [p.id for p in store.published_pairs()] == ["a", "b", "c", "d"]
    a = store.get("a")
    store.replace(a.pair.model_copy(update={"answer": "A new answer."}), a.version, "bob")
    b = store.get("b")
    store.replace(b.pair.model_copy(update={"status": "draft"}), b.version, "bob")
    store.delete("c", store.get("c").version, "bob")
    other = Store(store_url)  # another replica
    try:
        d = other.get("d")
        other.replace(d.pair.model_copy(update={"question": "Asked elsewhere?"}), d.version, "eve")
        other.create(pair(id="e"), "eve")
    finally:
        other.close()
    got = {p.id: p for p in store.published_pairs()}
    assert sorted(got) == ["a", "d", "e"]
    assert got["a"].answer == "A new answer." and got["d"].question == "Asked elsewhere?"
    store.restore("c", "bob")
    assert [p.id for p in store.published_pairs()] == ["a", "c", "d", "e"]


def test_golden_questions_are_seeded_once_from_published_pairs(store):
    pairs = [pair(id="a"), pair(id="b"), pair(id="c", status="draft")]
    assert store.seed_golden(pairs, per_pair=2) == 4
    golden = store.list_golden()
    assert {(g.pair_id, g.question) for g in golden} == {(p.id, q) for p in pairs[:2] for q in p.alternates[:2]}
    for g in golden:
        store.delete_golden(g.id)
    # A later start does not bring back what editors deleted.
    assert store.seed_golden(pairs) == 0 and store.list_golden() == []
    assert Store(store.url).seed_golden(pairs) == 0


# --- feedback -------------------------------------------------------------------------------------


def test_feedback_counts_and_the_not_helpful_queue(store):
    store.create(pair(id="a", question="Does it work?"), "alice")
    store.add_feedback("a", True)
    store.add_feedback("a", False)
    store.add_feedback("gone", False)
    assert store.feedback_counts() == {"a": {"helpful": 1, "not_helpful": 1}, "gone": {"helpful": 0, "not_helpful": 1}}
    # A search asks for its hits only: pairs without votes are left out, as with every pair.
    assert store.feedback_counts(["a", "never-voted"]) == {"a": {"helpful": 1, "not_helpful": 1}}
    assert store.feedback_counts([]) == {}

    queue = store.list_feedback()
    assert [(f.pair_id, f.question, f.state) for f in queue] == [("gone", None, "open"), ("a", "Does it work?", "open")]
    closed = store.close_feedback(queue[1].id, "editor", "  answer rewritten  ")
    assert (closed.state, closed.closed_by, closed.close_note) == ("closed", "editor", "answer rewritten")
    assert closed.closed_at is not None
    assert [f.pair_id for f in store.list_feedback()] == ["gone"]
    assert [f.pair_id for f in store.list_feedback("closed")] == ["a"]
    assert len(store.list_feedback(None)) == 2
    with pytest.raises(Conflict):
        store.close_feedback(queue[1].id, "other", "again")
    with pytest.raises(Missing):
        store.close_feedback(99999, "editor")
    with pytest.raises(ValueError):
        store.list_feedback("weird")


def test_votes_for_a_search_show_a_local_vote_at_once_and_another_replicas_soon(store, store_url):
    now = [50.0]
    store.clock = lambda: now[0]
    store.create(pair(id="a"), "alice")
    assert store.votes_for(["a", "b"]) == {"a": {"helpful": 0, "not_helpful": 0}, "b": {"helpful": 0, "not_helpful": 0}}
    store.add_feedback("a", False)  # a visitor's vote through this process
    assert store.votes_for(["a"])["a"] == {"helpful": 0, "not_helpful": 1}
    other = Store(store_url)  # another replica on the same database
    try:
        other.add_feedback("a", True)
    finally:
        other.close()
    assert store.votes_for(["a"])["a"] == {"helpful": 0, "not_helpful": 1}  # from memory, for a few seconds
    now[0] += VOTES_CACHE_SECONDS
    assert store.votes_for(["a"])["a"] == {"helpful": 1, "not_helpful": 1}


# --- flags ----------------------------------------------------------------------------------------


def test_flags_open_and_close(store):
    store.create(pair(id="a"), "alice")
    flag = store.add_flag("a", "the NICE link is dead", "staff1")
    assert (flag.state, flag.created_by, flag.note) == ("open", "staff1", "the NICE link is dead")
    with pytest.raises(Missing):
        store.add_flag("nope", "x", "staff1")
    with pytest.raises(ValueError):
        store.add_flag("a", "  ", "staff1")
    closed = store.close_flag(flag.id, "editor", "fixed")
    assert (closed.state, closed.closed_by, closed.close_note) == ("closed", "editor", "fixed")
    assert store.list_flags("open") == [] and store.list_flags("closed") == [closed]
    with pytest.raises(Conflict):
        store.close_flag(flag.id, "other")
    with pytest.raises(Missing):
        store.close_flag(4242, "other")
    store.delete("a", 1, "alice")
    with pytest.raises(Missing):  # a deleted pair cannot be flagged
        store.add_flag("a", "still wrong", "staff1")


# --- concurrency ----------------------------------------------------------------------------------

WRITERS = 20


def _race(store: Store, version: int, round_: int) -> tuple[list[str], int]:
    """WRITERS threads replace pair "a" from the same `version` at once: (winners' answers, conflicts)."""
    barrier = threading.Barrier(WRITERS)
    wins: list[str] = []
    conflicts: list[int] = []
    errors: list[BaseException] = []

    def write(i: int) -> None:
        answer = f"Round {round_}, writer {i}."
        barrier.wait()
        try:
            store.replace(pair(id="a", answer=answer), version, f"w{i}")
            wins.append(answer)
        except Conflict:
            conflicts.append(i)
        except BaseException as exc:  # "database is locked" or anything else fails the test
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(WRITERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    return wins, len(conflicts)


def test_twenty_concurrent_writers_of_one_pair_one_wins_per_version_nothing_lost(store, capsys):
    store.create(pair(id="a"), "alice")
    rounds = 3
    started = time.perf_counter()
    for round_ in range(rounds):
        stored = store.get("a")
        wins, conflicts = _race(store, stored.version, round_)
        assert len(wins) == 1 and conflicts == WRITERS - 1
        now = store.get("a")
        assert now.version == stored.version + 1 and now.pair.answer == wins[0]
        assert store.revisions("a")[0].new == {"answer": wins[0]}
    took = time.perf_counter() - started
    assert [r.number for r in store.revisions("a")] == list(range(rounds + 1, 0, -1))

    # Writers that retry on Conflict (re-read, write again) all get through, each exactly once.
    retry_started = time.perf_counter()
    done: list[str] = []
    errors: list[BaseException] = []

    def persistent(i: int) -> None:
        answer = f"Persistent writer {i}."
        try:
            for _ in range(500):
                try:
                    store.replace(pair(id="a", answer=answer), store.get("a").version, f"p{i}")
                    done.append(answer)
                    return
                except Conflict:
                    continue
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=persistent, args=(i,)) for i in range(WRITERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    retry_took = time.perf_counter() - retry_started
    assert errors == [] and len(done) == WRITERS
    revs = store.revisions("a")
    assert len(revs) == 1 + rounds + WRITERS and store.get("a").version == len(revs)
    assert sorted(r.new["answer"] for r in revs[:WRITERS]) == sorted(done)
    assert store.get("a").pair.answer == revs[0].new["answer"]
    with capsys.disabled():
        print(
            f"\n[{store.engine.dialect.name}] {rounds} rounds of {WRITERS} racing writers: {took * 1000:.0f} ms; "
            f"{WRITERS} retrying writers all through: {retry_took * 1000:.0f} ms"
        )
