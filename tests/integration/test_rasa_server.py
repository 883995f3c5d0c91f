"""What runs inside the Rasa server (bot/rasa_server.py), run by Rasa's own Python (.venv-rasa): the
tracker store that forgets idle conversations and the trackers a conversation left for a fresh one, action responses still validated (against a schema
compiled once), and one kept HTTP connection to the action endpoint instead of one per call."""

from __future__ import annotations

import json
import subprocess

import pytest
import yaml

from api.rasa_runtime import RASA_VENV, _rasa_env, memory_stores
from api.settings import REPO_ROOT

pytestmark = pytest.mark.integration

SCRIPT = r"""
import asyncio, json, sys, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from rasa.shared.utils.common import class_from_module_path
from rasa.shared.core.domain import Domain
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.core.events import UserUttered
import bot.rasa_server as rs

out = {}
store_class = class_from_module_path(sys.argv[1])
clock = [1000.0]
rs.time.monotonic = lambda: clock[0]
store = store_class(host=None, domain=Domain.empty(), event_broker=None, record_exp=60)

async def conversations():
    for sender in ("old", "new"):
        t = DialogueStateTracker(sender, [])
        t.update(UserUttered("hello"))
        await store.save(t)
        clock[0] += 40
    out["kept_in_use"] = (await store.retrieve("new")) is not None
    clock[0] += 30  # "old" idle 110 s, "new" 30 s
    out["idle_gone"] = (await store.retrieve("old")) is None
    out["store_keys"] = sorted(store.store)
    clock[0] += 100
    out["swept"] = store.sweep()
    out["left"] = sorted(store.store)
    # A conversation moving on to a fresh tracker ("<id>.1" after "<id>.0") leaves nothing behind.
    for sender in ("abc.0", "abc.1", "other.0"):
        t = DialogueStateTracker(sender, [])
        t.update(UserUttered("hello"))
        await store.save(t)
    out["after_moving_on"] = sorted(store.store)

asyncio.run(conversations())

from rasa.core.actions.action import RemoteAction
from jsonschema import ValidationError
action = RemoteAction("action_answer_question", None)
out["valid_accepted"] = action._validate_action_result({"events": [{"event": "slot", "name": "x", "value": 1}], "responses": []})
try:
    action._validate_action_result({"events": "not a list", "responses": []})
    out["invalid_rejected"] = False
except ValidationError as e:
    out["invalid_rejected"] = "Failed to validate Action server response" in e.message

peers = set()
class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        peers.add(self.client_address)
        body = json.dumps({"events": [], "responses": []}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass

server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
threading.Thread(target=server.serve_forever, daemon=True).start()
from rasa.utils.endpoints import EndpointConfig
endpoint = EndpointConfig(f"http://127.0.0.1:{server.server_address[1]}/internal/actions")

async def calls():
    replies = [await endpoint.request(json={"next_action": "x"}, method="post") for _ in range(5)]
    out["replies"] = replies
    out["connections"] = len(peers)

asyncio.run(calls())
server.shutdown()
print("RESULT " + json.dumps(out))
"""


def test_the_rasa_server_forgets_idle_conversations_validates_actions_and_keeps_its_connection():
    store_type = yaml.safe_load(memory_stores(60))["tracker_store"]["type"]
    python = RASA_VENV / "bin" / "python"
    result = subprocess.run(
        [str(python), "-c", SCRIPT, store_type],
        cwd=REPO_ROOT / "var" if (REPO_ROOT / "var").is_dir() else REPO_ROOT,
        env=_rasa_env(),  # the environment the API starts Rasa with (this repository on its import path)
        capture_output=True,
        text=True,
        timeout=300,
    )
    line = next((x for x in result.stdout.splitlines() if x.startswith("RESULT ")), None)
    assert line, result.stdout[-2000:] + result.stderr[-3000:]
    out = json.loads(line[len("RESULT ") :])
    assert out["kept_in_use"] and out["idle_gone"]
    assert out["store_keys"] == ["new"]  # the idle conversation left Rasa's memory, not only its answers
    assert out["swept"] == 1 and out["left"] == []
    assert out["after_moving_on"] == ["abc.1", "other.0"]
    assert out["valid_accepted"] is True and out["invalid_rejected"] is True
    assert out["replies"] == [{"events": [], "responses": []}] * 5
    assert out["connections"] == 1  # five calls, one connection (Rasa alone opens one per call)
