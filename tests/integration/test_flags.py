"""Flags on the real app in process: staff mark an answer that needs attention, editors close it."""

from __future__ import annotations

import pytest

from tests.conftest import make_token

pytestmark = pytest.mark.integration

PASSWORD = "correct horse battery"


def bearer(app_client, role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {make_token(app_client.app.state.runtime, role)}"}


def test_staff_flag_an_answer_and_an_editor_closes_it(app_client):
    staff, editor = bearer(app_client, "staff"), bearer(app_client, "editor")
    first = app_client.post(
        "/api/flags",
        json={"pair_id": "liberation-procedure-proven", "note": "  A caller said the 2017 trial is missing.  "},
        headers=staff,
    )
    assert first.status_code == 201
    flag = first.json()
    assert flag["pair_id"] == "liberation-procedure-proven" and flag["state"] == "open"
    assert flag["note"] == "A caller said the 2017 trial is missing."  # trimmed
    assert flag["question"] == "Is the liberation procedure proven to work?"
    assert flag["created_by"] == "staff token" and flag["created_at"]
    assert flag["closed_by"] is None and flag["closed_at"] is None and flag["close_note"] is None
    second = app_client.post("/api/flags", json={"pair_id": "what-is-ccsvi", "note": "Too long."}, headers=staff)
    assert second.status_code == 201

    listed = app_client.get("/api/flags", params={"state": "open"}, headers=staff).json()
    assert [f["id"] for f in listed] == [second.json()["id"], flag["id"]]  # newest first

    # Staff may flag and read, not close.
    r = app_client.patch(f"/api/flags/{flag['id']}", json={"state": "closed"}, headers=staff)
    assert r.status_code == 403 and "editor or admin" in r.json()["message"]

    r = app_client.patch(
        f"/api/flags/{flag['id']}", json={"state": "closed", "note": "Added the 2017 trial."}, headers=editor
    )
    assert r.status_code == 200
    closed = r.json()
    assert closed["state"] == "closed" and closed["closed_by"] == "editor token" and closed["closed_at"]
    assert closed["close_note"] == "Added the 2017 trial." and closed["note"] == flag["note"]

    assert [f["id"] for f in app_client.get("/api/flags", params={"state": "open"}, headers=staff).json()] == [
        second.json()["id"]
    ]
    assert [f["id"] for f in app_client.get("/api/flags", params={"state": "closed"}, headers=staff).json()] == [
        flag["id"]
    ]
    assert len(app_client.get("/api/flags", headers=staff).json()) == 2  # no state: all of them

    # A second editor closing the same flag learns it was done.
    again = app_client.patch(f"/api/flags/{flag['id']}", json={"state": "closed"}, headers=editor)
    assert again.status_code == 409 and "closed already by editor token" in again.json()["message"]
    assert app_client.patch("/api/flags/99999", json={"state": "closed"}, headers=editor).status_code == 404


def test_a_flag_names_the_person_signed_in(app_client):
    app_client.app.state.accounts.set_user("sam", PASSWORD, "staff")
    csrf = app_client.post("/api/auth/login", json={"username": "sam", "password": PASSWORD}).json()["csrf_token"]
    r = app_client.post(
        "/api/flags",
        json={"pair_id": "what-is-ccsvi", "note": "Spelling in the second sentence."},
        headers={"X-CSRF-Token": csrf},
    )
    assert r.status_code == 201 and r.json()["created_by"] == "sam"
    assert [f["created_by"] for f in app_client.get("/api/flags").json()] == ["sam"]


def test_flags_need_a_known_pair_and_a_note_of_1_to_1000_characters(app_client):
    staff, editor = bearer(app_client, "staff"), bearer(app_client, "editor")
    r = app_client.post("/api/flags", json={"pair_id": "no-such-pair", "note": "Wrong."}, headers=staff)
    assert r.status_code == 404 and "no-such-pair" in r.json()["message"]
    for note in ("", "   ", "x" * 1001):
        r = app_client.post("/api/flags", json={"pair_id": "what-is-ccsvi", "note": note}, headers=staff)
        assert r.status_code == 422 and r.json()["fields"] == ["note"]
    ok = app_client.post("/api/flags", json={"pair_id": "what-is-ccsvi", "note": "x" * 1000}, headers=staff)
    assert ok.status_code == 201
    r = app_client.post("/api/flags", json={"pair_id": "what-is-ccsvi", "note": "ok", "state": "closed"}, headers=staff)
    assert r.status_code == 422  # the service owns state and authorship
    r = app_client.patch(f"/api/flags/{ok.json()['id']}", json={"state": "open"}, headers=editor)
    assert r.status_code == 422 and r.json()["fields"] == ["state"]
    r = app_client.patch(f"/api/flags/{ok.json()['id']}", json={"state": "closed", "note": "y" * 1001}, headers=editor)
    assert r.status_code == 422
    assert app_client.get("/api/flags", params={"state": "pending"}, headers=staff).status_code == 422
    assert app_client.get("/api/flags", params={"state": "open"}, headers=staff).json()[0]["state"] == "open"


def test_visitors_cannot_see_or_touch_flags(app_client):
    assert app_client.get("/api/flags").status_code == 401
    r = app_client.post("/api/flags", json={"pair_id": "what-is-ccsvi", "note": "spam"})
    assert r.status_code == 401
    assert app_client.patch("/api/flags/1", json={"state": "closed"}).status_code == 401
    assert app_client.get("/api/flags", headers=bearer(app_client, "admin")).json() == []
