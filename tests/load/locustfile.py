"""Who the load benchmark simulates: chat visitors holding conversations, and helpline staff searching.

A visitor (ChatVisitor) holds one conversation after another: sometimes a greeting first, then 3 to 6
questions from the dev set (tests/eval/devset.jsonl), with now and then a follow-up ("what are the
risks?"), a click on one of the offered options (its payload sent back), "thanks", a request for a
person, or a goodbye; the session_id the service issued is kept for the whole conversation. Between
messages a visitor pauses 1 to 3 s, as a person typing. Every reply is checked against the HTTP
contract (../shared/api-contract.md); a reply that breaks it counts as a failed request, named by
what was wrong. Replies answered without Rasa (`degraded: true`) are valid and counted apart.

A staff member (StaffSearcher) searches dev-set questions with a bearer token, now and then a first
part of the question before the whole of it (the staff page searches as one types), 0.5 to 1.5 s apart.

Also usable with locust's own command line (the runner, tests/load/run.py, is the documented way):
    LOAD_STAFF_TOKEN=... .venv/bin/locust -f tests/load/locustfile.py -H http://127.0.0.1:8000
"""

from __future__ import annotations

import json
import os
import random
from collections import Counter
from functools import cache
from pathlib import Path
from typing import Any, ClassVar

from locust import FastHttpUser, between, task

DEVSET = Path(__file__).resolve().parent.parent / "eval" / "devset.jsonl"

GREETINGS = ["hello", "hi there", "good morning", "hiya, can you help me?", "hi, I have a question about my MS"]
FOLLOW_UPS = [
    "what are the risks?",
    "tell me more",
    "is that still true today?",
    "where can I read more about it?",
    "why do people still talk about it?",
    "are you a bot?",
]
THANKS = ["thanks", "thank you, that helps", "ok thanks"]
PERSON = ["can I talk to a person?", "I'd like to speak to someone at the helpline", "talk to a human please"]
GOODBYES = ["bye", "thanks, bye", "that's all, goodbye"]
OPTION = "\x00option"  # in a plan: send back the payload of one option the last reply offered

REPLY_KINDS = {"answer", "clarify", "fallback", "safety", "handoff", "smalltalk"}
RESULT_KINDS = {"qa", "passage"}

# What the contract's checks cannot see as failures, per run; tests/load/run.py reads and clears it.
tally: Counter[str] = Counter()


@cache
def questions() -> tuple[str, ...]:
    rows = [json.loads(line) for line in DEVSET.read_text(encoding="utf-8").splitlines() if line.strip()]
    return tuple(row["query"] for row in rows)


def conversation(rng: random.Random) -> list[str]:
    """One visitor's messages, in order (OPTION where the visitor clicks an offered option)."""
    plan = [rng.choice(GREETINGS)] if rng.random() < 0.5 else []
    for q in rng.sample(questions(), rng.randint(3, 6)):
        plan.append(q)
        r = rng.random()
        if r < 0.15:
            plan.append(OPTION)
        elif r < 0.3:
            plan.append(rng.choice(FOLLOW_UPS))
        elif r < 0.4:
            plan.append(rng.choice(THANKS))
    if rng.random() < 0.15:
        plan.append(rng.choice(PERSON))
    if rng.random() < 0.3:
        plan.append(rng.choice(GOODBYES))
    return plan


def chat_problem(body: Any, sent_session: str | None) -> str | None:
    """What is wrong with a 200 answer to POST /api/chat by the contract, or None."""
    if not isinstance(body, dict):
        return "invalid reply: not a JSON object"
    sid = body.get("session_id")
    if not isinstance(sid, str) or not sid:
        return "invalid reply: no session_id"
    if sent_session and sid != sent_session:
        return "conversation lost: a new session_id mid-conversation"
    replies = body.get("replies")
    if not isinstance(replies, list) or not replies:
        return "invalid reply: no replies"
    for reply in replies:
        kind = reply.get("kind") if isinstance(reply, dict) else None
        if kind not in REPLY_KINDS:
            return f"invalid reply: unknown kind {kind!r}"
        text = reply.get("text")
        if not isinstance(text, str) or not text.strip():
            return f"invalid reply: empty text in a {kind} reply"
        answer = reply.get("answer")
        if kind == "answer" and not (isinstance(answer, dict) and answer.get("citations")):
            return "invalid reply: an answer without a citation"
        if kind != "answer" and answer is not None:
            return f"invalid reply: a {kind} reply carrying an answer"
        if not isinstance(reply.get("options", []), list):
            return "invalid reply: options is not a list"
    return None


def search_problem(body: Any) -> str | None:
    """What is wrong with a 200 answer to GET /api/search by the contract, or None."""
    if not isinstance(body, dict) or not isinstance(body.get("results"), list):
        return "invalid search answer: no results list"
    if not body["results"]:
        return "invalid search answer: nothing found for a dev-set question"
    for r in body["results"]:
        if not isinstance(r, dict) or r.get("kind") not in RESULT_KINDS or not r.get("id") or not r.get("text"):
            return "invalid search answer: a result without id, kind or text"
    return None


def status_failure(status: int, error: BaseException | None) -> str:
    if error is not None and not status:
        return f"no answer: {type(error).__name__}: {error}"
    if status == 429:
        tally["429"] += 1
        return "HTTP 429 (rate limited)"
    return f"HTTP {status}"


class ChatVisitor(FastHttpUser):
    """A visitor chatting through the widget: one conversation after another, 1 to 3 s between messages."""

    wait_time = between(1, 3)

    def on_start(self) -> None:
        self.rng = random.Random()
        self.plan: list[str] = []
        self.session_id: str | None = None
        self.options: list[str] = []

    @task
    def say(self) -> None:
        if not self.plan:
            self.plan = conversation(self.rng)
            self.session_id, self.options = None, []
            tally["conversations"] += 1
        message = self.plan.pop(0)
        if message == OPTION:
            message = self.rng.choice(self.options) if self.options else self.rng.choice(FOLLOW_UPS)
        payload = {"message": message, "session_id": self.session_id}
        with self.client.post("/api/chat", json=payload, name="/api/chat", catch_response=True) as resp:
            if resp.status_code != 200:
                resp.failure(status_failure(resp.status_code, resp.error))
                return
            try:
                body = resp.json()
            except ValueError:
                resp.failure("invalid reply: not JSON")
                return
            problem = chat_problem(body, self.session_id)
            if problem:
                resp.failure(problem)
                return
            resp.success()
        self.session_id = body["session_id"]
        self.options = [
            o["payload"]
            for r in body["replies"]
            for o in r.get("options") or []
            if isinstance(o, dict) and isinstance(o.get("payload"), str) and o["payload"].strip()
        ]
        if body.get("degraded"):
            tally["degraded"] += 1
        for r in body["replies"]:
            tally[f"kind:{r['kind']}"] += 1


class StaffSearcher(FastHttpUser):
    """Helpline staff on the staff page: a search every 0.5 to 1.5 s with a bearer token of role staff."""

    wait_time = between(0.5, 1.5)
    token: ClassVar[str] = os.environ.get("LOAD_STAFF_TOKEN", "")

    def on_start(self) -> None:
        self.rng = random.Random()

    def search(self, q: str) -> None:
        headers = {"Authorization": f"Bearer {self.token}"}
        with self.client.get(
            "/api/search", params={"q": q, "k": 5}, headers=headers, name="/api/search", catch_response=True
        ) as resp:
            if resp.status_code != 200:
                resp.failure(status_failure(resp.status_code, resp.error))
                return
            try:
                problem = search_problem(resp.json())
            except ValueError:
                problem = "invalid search answer: not JSON"
            if problem:
                resp.failure(problem)
            else:
                resp.success()

    @task
    def look_up(self) -> None:
        q = self.rng.choice(questions())
        words = q.split()
        if len(words) >= 6 and self.rng.random() < 0.25:  # the first words typed, then the whole question
            self.search(" ".join(words[: len(words) // 2]))
            self.wait()
        self.search(q)
