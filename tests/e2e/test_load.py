"""The load benchmark's short run (make load runs the long one): nothing fails under concurrent visitors and staff.

The runner runs as its own process (locust patches the standard library for gevent, which must not
happen inside pytest) against the session's live server: API and Rasa, rate limits off.
"""

import json
import subprocess
import sys

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.e2e

USERS = 10


def test_ten_chat_visitors_and_ten_staff_at_once_get_valid_answers_and_no_failure(live_server, tmp_path):
    out = tmp_path / "load.json"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.load.run",
            "--base-url",
            live_server.base_url,
            "--token",
            live_server.token("staff"),
            "--pids",
            f"api={live_server.proc.pid}",
            "--users",
            str(USERS),
            "--minutes",
            "0.15",  # 9 s per scenario
            "--spawn-rate",
            str(USERS),
            "--scenario",
            "both",
            "--quiet",
            "--out",
            str(out),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    report = json.loads(out.read_text())
    chat, search = report["scenarios"]
    assert (chat["scenario"], search["scenario"]) == ("chat", "search")
    for r in (chat, search):
        # Every request answered, and every chat reply valid by the contract (the locustfile counts a reply
        # with no replies, an empty text, an uncited answer or a lost session as a failure).
        assert r["failed"] == 0, f"{r['scenario']}: {r['errors']}\n{run.stdout}"
        assert r["requests"] >= USERS, f"{r['scenario']}: only {r['requests']} requests were made\n{run.stdout}"
    assert chat["reply_kinds"].get("answer", 0) > 0, chat["reply_kinds"]
    assert chat["conversations"] >= USERS
    # The memory report found the API and Rasa under it, and printed them.
    names = [p["name"] for p in report["memory"]["processes"]]
    assert "api" in names and "api > rasa" in names, names
    assert "api > rasa" in run.stdout and "req/s" in run.stdout
