"""Nothing a visitor or a staff member types reaches a log: a canary sent through every way in (chat,
"/" payload syntax, a crisis, feedback, staff search, sign-in, a flag, the editors' checks) is found in
no log file of the live server (the API's output, Rasa's log and Rasa's own output)."""

from __future__ import annotations

import json
import secrets

import httpx
import pytest

from tests.factories import pair_data

pytestmark = pytest.mark.e2e


def log_files(server) -> dict[str, str]:
    files = {p for p in server.data_dir.rglob("*.log")} | {
        p for p in (server.data_dir / "logs").rglob("*") if p.is_file()
    }
    return {str(p.relative_to(server.data_dir)): p.read_text(errors="replace") for p in sorted(files)}


def test_a_canary_sent_every_way_in_is_in_no_log(live_server):
    canary = "cnry" + secrets.token_hex(6)  # a word nothing else would write
    staff = {"Authorization": f"Bearer {live_server.token('staff')}"}
    editor = {"Authorization": f"Bearer {live_server.token('editor')}"}
    chat_messages = [
        f"is the liberation procedure proven {canary}?",
        f"/{canary} is a secret",  # Rasa's intent syntax with an intent nobody defined
        f'/greet{{"name":"{canary}"}}',  # a known intent with an entity nobody defined
        f"/choose_pair{{{canary}",  # a payload that does not parse
        f'/choose_pair{{"pair_id":"{canary}"}}',  # our payload, for a pair that does not exist
        f'/feedback{{"pair_id":"{canary}","helpful":false}}',
        f"I want to end my life {canary}",  # a crisis: the safety reply
        f"my email is {canary}@example.org and my number is 07700 900123",
    ]
    with httpx.Client(base_url=live_server.base_url, timeout=60) as c:
        session_id = None
        for message in chat_messages:
            r = c.post("/api/chat", json={"message": message, "session_id": session_id})
            assert r.status_code == 200, r.text
            session_id = r.json()["session_id"]
        assert r.json()["degraded"] is False, "Rasa was not in the path"
        assert c.get("/api/search", params={"q": f"liberation {canary}", "explain": "true"}, headers=staff).is_success
        signin = c.post("/api/auth/login", json={"username": canary, "password": f"{canary}-password"})
        assert signin.status_code == 401
        flag = c.post("/api/flags", json={"pair_id": "liberation-procedure-proven", "note": canary}, headers=staff)
        assert flag.status_code == 201
        pair = pair_data(id=f"{canary}-pair", question=f"Is {canary} proven?", answer=f"No. {canary} is not.")
        assert c.post("/api/qa/check", json=pair, headers=editor).is_success
        assert c.post("/api/qa/preview", json=pair, headers=editor).is_success
        after = c.post("/api/chat", json={"message": "thank you", "session_id": session_id})
        assert after.status_code == 200
    logs = log_files(live_server)
    assert {"server-output.log", "logs/rasa.log", "logs/rasa-stdout.log"} <= set(logs), sorted(logs)
    assert any('"logger": "faqbot.access"' in line for line in logs["server-output.log"].splitlines())
    leaked = {name: [line for line in text.splitlines() if canary in line] for name, text in logs.items()}
    assert not any(leaked.values()), json.dumps({k: v[:3] for k, v in leaked.items() if v}, indent=1)
