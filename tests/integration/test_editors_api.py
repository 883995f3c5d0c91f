"""The editors' API through the whole app (real store, encoder, index), on SQLite and on PostgreSQL:
history, soft delete and restore, revision restore, CSV import and export, warnings, preview, golden
questions guarding publishes, the feedback queue, and twenty concurrent edits of one pair."""

from __future__ import annotations

import threading

import pytest

from tests.conftest import make_token
from tests.factories import pair_data

pytestmark = pytest.mark.integration


@pytest.fixture
def client(make_settings, store_url):
    from fastapi.testclient import TestClient

    from api.main import create_app

    settings = make_settings(database_url=store_url)
    with TestClient(create_app(settings)) as c:
        runtime = c.app.state.runtime  # type: ignore[attr-defined]
        c.editor = {"Authorization": f"Bearer {make_token(runtime, 'editor')}"}
        c.admin = {"Authorization": f"Bearer {make_token(runtime, 'admin')}"}
        c.staff = {"Authorization": f"Bearer {make_token(runtime, 'staff')}"}
        yield c


def _top(client, q: str) -> str:
    return client.get("/api/search", params={"q": q, "k": 3}, headers=client.staff).json()["results"][0]["id"]


def test_every_change_is_in_the_history_and_an_old_revision_can_be_restored(client):
    h = client.editor
    body = pair_data(id="history-pair", question="Can cold showers ease MS fatigue?", answer="First answer.")
    r = client.post("/api/qa", json={**body, "status": "draft"}, headers=h)
    assert r.status_code == 201
    r = client.put(
        "/api/qa/history-pair", json={**body, "answer": "Second answer."}, headers={**h, "If-Match": r.headers["etag"]}
    )
    assert r.status_code == 200
    revisions = client.get("/api/qa/history-pair/revisions", headers=h).json()
    assert [x["action"] for x in revisions] == ["publish", "create"]
    assert set(revisions[0]["fields"]) == {"answer", "status"} and revisions[0]["by"] == "editor token"
    second = client.get(f"/api/qa/history-pair/revisions/{revisions[0]['number']}", headers=h).json()
    assert second["old"]["answer"] == "First answer." and second["new"]["answer"] == "Second answer."
    # Restore the first revision: a new revision with the old content; the draft leaves chat again.
    first = revisions[1]["number"]
    r = client.post(f"/api/qa/history-pair/revisions/{first}/restore", headers={**h, "If-Match": r.headers["etag"]})
    assert r.status_code == 200 and r.json()["answer"] == "First answer." and r.json()["status"] == "draft"
    assert client.get("/api/qa/history-pair/revisions", headers=h).json()[0]["action"] == "revert"
    assert client.post(f"/api/qa/history-pair/revisions/{first}/restore", headers=h).status_code == 428
    log = client.get("/api/history", params={"limit": 5}, headers=h).json()
    assert [x["pair_id"] for x in log[:3]] == ["history-pair"] * 3


def test_a_deleted_pair_leaves_chat_and_comes_back_whole_when_restored(client):
    h = client.editor
    body = pair_data(id="deleted-pair", question="Is hyperbaric oxygen a cure for MS?", answer="No; trials found none.")
    r = client.post("/api/qa", json=body, headers=h)
    assert r.status_code == 201 and _top(client, "hyperbaric oxygen cure") == "deleted-pair"
    assert client.delete("/api/qa/deleted-pair", headers={**h, "If-Match": r.headers["etag"]}).status_code == 204
    assert client.get("/api/qa/deleted-pair", headers=h).status_code == 404
    assert _top(client, "hyperbaric oxygen cure") != "deleted-pair"
    deleted = client.get("/api/qa/overview", params={"status": "deleted"}, headers=h).json()
    assert [x["id"] for x in deleted] == ["deleted-pair"] and deleted[0]["deleted"]
    r = client.post("/api/qa/deleted-pair/restore", headers=h)
    assert r.status_code == 200 and r.json() == {**body, "audience": "visitors"}
    assert _top(client, "hyperbaric oxygen cure") == "deleted-pair"
    assert client.post("/api/qa/deleted-pair/restore", headers=h).status_code == 404
    actions = [x["action"] for x in client.get("/api/qa/deleted-pair/revisions", headers=h).json()]
    assert actions == ["restore", "delete", "create"]


def test_text_is_stored_and_answered_exactly_as_typed(client):
    h = client.editor
    answer = 'An EDSS score < 3 is "mild"; javascript: and milliseconds = 5 are just words here. <b>not bold</b>'
    body = pair_data(id="honest-text", question="What does a low EDSS score mean for walking?", answer=answer)
    assert client.post("/api/qa", json=body, headers=h).status_code == 201
    assert client.get("/api/qa/honest-text", headers=h).json()["answer"] == answer
    results = client.get("/api/search", params={"q": "low EDSS score walking"}, headers=client.staff).json()["results"]
    assert results[0]["id"] == "honest-text" and results[0]["text"] == answer


def test_csv_export_and_import_round_trip_and_a_bad_row_writes_nothing(client):
    h = client.editor
    r = client.get("/api/qa/export", params={"format": "csv"}, headers=h)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    before = client.get("/api/qa/export", headers=h).json()
    r = client.post("/api/qa/import", content=r.content, headers={**h, "Content-Type": "text/csv"})
    assert r.status_code == 200 and r.json() == {"created": 0, "updated": len(before)}
    assert client.get("/api/qa/export", headers=h).json() == before
    bad_csv = (
        "id,question,answer,evidence\r\n"
        "csv-new-one,Is a new CSV pair kept?,Yes.,background\r\n"
        "csv-new-two,Is the second one kept?,No.,probably\r\n"
    )
    r = client.post("/api/qa/import", content=bad_csv.encode(), headers={**h, "Content-Type": "text/csv"})
    assert r.status_code == 422
    (row,) = r.json()["rows"]
    assert row["row"] == 2 and row["id"] == "csv-new-two" and row["errors"][0]["field"] == "evidence"
    assert client.get("/api/qa/csv-new-one", headers=h).status_code == 404
    r = client.post("/api/qa/import", content=b"{not json", headers={**h, "Content-Type": "application/json"})
    assert r.status_code == 422
    assert client.post("/api/qa/import", content=b"x", headers={**h, "Content-Type": "text/plain"}).status_code == 415


def test_warnings_name_their_field_and_the_preview_is_the_visitors_reply(client):
    h = client.editor
    draft = pair_data(
        id="warned",
        question="is ms caused by blocked veins",  # an alternate of the shipped pair about the theory
        sources=[{"title": "A leaflet", "publisher": "A clinic"}],
        review_due="2020-01-01",
        reviewed_on="2019-01-01",
        status="draft",
    )
    r = client.post("/api/qa/check", json=draft, headers=h)
    assert r.status_code == 200
    by_code = {w["code"]: w for w in r.json()["warnings"]}
    assert by_code["too-close"]["field"] == "question" and "would fight" in by_code["too-close"]["message"]
    assert by_code["source-undated"]["field"] == "sources[0].published"
    assert by_code["review-past"]["field"] == "review_due"
    reply = client.post("/api/qa/preview", json=draft, headers=h).json()["reply"]
    assert reply["kind"] == "answer" and reply["answer"]["text"] == draft["answer"]
    assert "date unknown" in reply["text"] and reply["answer"]["review_overdue"]


def test_a_publish_that_breaks_a_golden_question_needs_an_admins_override(client):
    golden = client.get("/api/golden", headers=client.editor).json()
    assert golden, "golden questions are seeded from the published pairs' alternates"
    target = golden[0]
    thief = pair_data(id="thief", question=target["question"], answer="A pair that steals a golden question.")
    # "Test all" on the unsaved form shows what would break, on a shadow index: live search is untouched.
    report = client.post("/api/golden/test", json={"pair": {**thief, "status": "draft"}}, headers=client.editor).json()
    assert target["id"] in [b["id"] for b in report["broken"]]
    assert report["passed_live"] == report["total"]
    assert _top(client, target["question"]) == target["pair_id"]
    r = client.post("/api/qa", json=thief, headers=client.editor)
    assert r.status_code == 409 and r.json()["error"] == "golden_broken"
    assert target["id"] in [b["id"] for b in r.json()["broken"]]
    assert client.get("/api/qa/thief", headers=client.editor).status_code == 404
    r = client.post("/api/qa", json=thief, headers={**client.editor, "X-Golden-Override": "trying"})
    assert r.status_code == 403
    r = client.post("/api/qa", json=thief, headers={**client.admin, "X-Golden-Override": "new trial, reviewed"})
    assert r.status_code == 201 and _top(client, target["question"]) == "thief"
    (rev,) = client.get("/api/qa/thief/revisions", headers=client.editor).json()
    assert "new trial, reviewed" in rev["note"] and f"g{target['id']}" in rev["note"]
    # A draft is not published, so it is never stopped.
    draft = {**thief, "id": "thief-draft", "status": "draft"}
    assert client.post("/api/qa", json=draft, headers=client.editor).status_code == 201


def test_golden_questions_are_editable_and_must_name_a_pair(client):
    h = client.editor
    r = client.post("/api/golden", json={"question": "does the vein op fix ms", "pair_id": "no-such-pair"}, headers=h)
    assert r.status_code == 422
    pair_id = client.get("/api/golden", headers=h).json()[0]["pair_id"]
    r = client.post("/api/golden", json={"question": "does the vein op fix ms", "pair_id": pair_id}, headers=h)
    assert r.status_code == 201 and r.json()["pair_question"]
    gid = r.json()["id"]
    r = client.put(f"/api/golden/{gid}", json={"question": "does the vein op cure ms", "pair_id": pair_id}, headers=h)
    assert r.status_code == 200 and r.json()["question"] == "does the vein op cure ms"
    assert client.delete(f"/api/golden/{gid}", headers=h).status_code == 204
    assert client.delete(f"/api/golden/{gid}", headers=h).status_code == 404


def test_not_helpful_votes_queue_for_editors_and_close_with_a_note(client):
    from bot.answering import feedback_payload

    r = client.post("/api/chat", json={"message": feedback_payload("liberation-procedure-proven", False)})
    assert r.status_code == 200
    queue = client.get("/api/feedback", headers=client.editor).json()
    assert [x["pair_id"] for x in queue] == ["liberation-procedure-proven"] and queue[0]["question"]
    r = client.post(f"/api/feedback/{queue[0]['id']}/close", json={"note": "answer reworded"}, headers=client.editor)
    assert r.status_code == 200 and r.json()["state"] == "closed" and r.json()["closed_by"] == "editor token"
    assert client.get("/api/feedback", headers=client.editor).json() == []
    assert client.get("/api/feedback", headers=client.staff).status_code == 403


def test_list_filters_find_due_flagged_and_searched_pairs(client):
    h = client.editor
    due = pair_data(
        id="due-pair", question="Is swimming good for MS?", review_due="2026-01-01", reviewed_on="2025-01-01"
    )
    assert client.post("/api/qa", json={**due, "status": "draft"}, headers=h).status_code == 201
    assert [p["id"] for p in client.get("/api/qa", params={"due": "true", "status": "draft"}, headers=h).json()] == [
        "due-pair"
    ]
    assert [p["id"] for p in client.get("/api/qa", params={"q": "SWIMMING"}, headers=h).json()] == ["due-pair"]
    client.post("/api/flags", json={"pair_id": "due-pair", "note": "check the date"}, headers=client.staff)
    flagged = client.get("/api/qa/overview", params={"flagged": "true"}, headers=h).json()
    assert [(p["id"], p["open_flags"], p["due"]) for p in flagged] == [("due-pair", 1, True)]


def test_twenty_concurrent_edits_of_one_pair_lose_nothing_and_each_loser_gets_412(client):
    h = client.editor
    r = client.get("/api/qa/liberation-procedure-proven", headers=h)
    etag, body = r.headers["etag"], r.json()
    results: list[tuple[int, str]] = []
    lock = threading.Lock()
    start = threading.Barrier(20)

    def edit(i: int) -> None:
        start.wait()
        caveats = [*body["caveats"], f"Edit number {i}."]
        resp = client.put(
            "/api/qa/liberation-procedure-proven", json={**body, "caveats": caveats}, headers={**h, "If-Match": etag}
        )
        with lock:
            results.append((resp.status_code, caveats[-1]))

    threads = [threading.Thread(target=edit, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    codes = sorted(code for code, _ in results)
    assert codes == [200] + [412] * 19, codes
    winner = next(c for code, c in results if code == 200)
    assert client.get("/api/qa/liberation-procedure-proven", headers=h).json()["caveats"][-1] == winner
    revisions = client.get("/api/qa/liberation-procedure-proven/revisions", headers=h).json()
    assert sum(1 for x in revisions if x["action"] == "update") == 1


def test_a_signed_in_editor_edits_with_the_cookie_and_is_named_in_the_history(client):
    """Accounts, sessions and CSRF on the same database as the store (SQLite or PostgreSQL)."""
    accounts = client.app.state.accounts
    accounts.set_user("sam-editor", "a long enough password", "editor")
    r = client.post("/api/auth/login", json={"username": "sam-editor", "password": "a long enough password"})
    assert r.status_code == 200
    csrf = r.json()["csrf_token"]
    body = pair_data(id="cookie-pair", question="Does cooling help MS heat sensitivity?", status="draft")
    assert client.post("/api/qa", json=body).status_code == 403  # the cookie alone never writes
    r = client.post("/api/qa", json=body, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 201
    (rev,) = client.get("/api/qa/cookie-pair/revisions").json()
    assert rev["by"] == "sam-editor" and rev["action"] == "create"


def test_an_imported_collection_is_searched_by_staff_but_answered_in_chat_only_when_marked(client):
    from bot.answering import choice_payload

    row = pair_data(id="imported-sauna", question="Do saunas make MS symptoms worse for a while?", tags=["imported"])
    assert client.post("/api/qa/import", json=[row], headers=client.editor).status_code == 200
    assert _top(client, "saunas make ms symptoms worse") == "imported-sauna"  # staff search finds it
    reply = client.post("/api/chat", json={"message": "Do saunas make MS symptoms worse?"}).json()["replies"][0]
    assert (reply["answer"] or {}).get("id") != "imported-sauna"
    # A crafted "I choose this one" payload does not reach a staff-only pair either.
    reply = client.post("/api/chat", json={"message": choice_payload("imported-sauna")}).json()["replies"][0]
    assert reply["kind"] == "fallback"
    r = client.post("/api/qa/import", params={"audience": "visitors"}, json=[row], headers=client.editor)
    # The import's audience is for new pairs; an existing pair keeps its own unless the row says.
    assert r.status_code == 200 and r.json() == {"created": 0, "updated": 1}
    assert client.get("/api/qa/imported-sauna", headers=client.editor).json()["audience"] == "staff"
    marked = {**row, "audience": "visitors"}
    assert client.post("/api/qa/import", json=[marked], headers=client.editor).status_code == 200
    reply = client.post("/api/chat", json={"message": "Do saunas make MS symptoms worse?"}).json()["replies"][0]
    assert reply["kind"] == "answer" and reply["answer"]["id"] == "imported-sauna"
