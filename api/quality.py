"""The quality loop: what visitors asked that the bot could not answer, kept, grouped and offered to editors.

What is kept (quality.keep_misses, on by default): every chat turn passes through
api/transcripts.py finish_turn, which calls `QualityLoop.record`. A visitor's question is kept as a
miss (knowledge/store.py `misses`) when the bot's reply to it was the fallback or a "did you mean"
(clarify); a "None of these" or a choice after a clarify is recorded on that clarify's miss, and a
not-helpful vote on an answer keeps the question that answer was for. What is kept: the question with
email addresses, phone numbers, NHS numbers, postcodes and people's names replaced (bot/redact.py; a
word of the knowledge base is no name), the reply kind, the candidates offered and the one chosen, the
time. Never a safety message (the phrase rules, the crisis net, Rasa's crisis intent, or the crisis
numbers added under a reply): such a turn is counted, nothing more, and it also ends the link to the
turn before. No session id is stored: a question waits for its follow-up (the choice, the vote) under
the session id's SHA-256 (api/transcripts.py session_key), redacted, in memory or in Redis with the
production profile, for as long as the conversation lasts (conversation.session_idle_minutes).
Every turn is also counted by day and kind (no text), for the dashboard's rates; counts are written
every 30 s and at shutdown. Misses older than quality.retention_days are deleted at start and hourly.

Grouping and suggestions (for the editors' routes, api/routes/quality.py): the misses no editor has
dealt with are clustered (embeddings/clusters.py: the served encoder and retriever, deterministic), and
each cluster gets its size, examples (most central first), outcomes, trend (per day, this week against
the week before), its nearest pair with its score, and suggestions, best first: add its questions as
alternates of the pair the cluster reaches (or that visitors chose after a "did you mean") when that
pair's score reaches quality.alternate_min_score; else start a draft pair; or mark it out of scope.

Marks out of scope are loaded into the answerer (bot/answering.py `scope`) at start and whenever the
store's marks change (checked every operations.sync_seconds, so every replica follows).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import threading
import time
import weakref
from collections import Counter, OrderedDict
from collections.abc import Container
from dataclasses import asdict, dataclass, replace
from typing import Any

from api.runtime import Runtime
from api.schemas import ChatResponse
from api.transcripts import session_key
from bot.answering import is_none_of_these, parse_choice, parse_feedback
from bot.redact import redact
from embeddings.clusters import Located, ScopeMatcher, group, locate, nearest
from knowledge.store import MISS_QUESTION_MAX, Miss

log = logging.getLogger("faqbot.quality")

# Kinds a turn is counted under: the first reply's kind for a typed message, else what the visitor did.
TURN_KINDS = (
    "answer",
    "clarify",
    "fallback",
    "none_of_these",
    "choice",
    "vote",
    "smalltalk",
    "handoff",
    "safety",
)
QUESTION_KINDS = ("answer", "clarify", "fallback")  # typed questions the retriever decided on
FLUSH_SECONDS = 30.0
PURGE_SECONDS = 3600.0
# A kept question holding one of bot/redact.py's placeholders is never offered as an alternate or draft text.
PLACEHOLDER = "["
ALTERNATES_PER_SUGGESTION = 5
# A retriever's guess for a question whose visitor turned its offers down counts half: in the dev split's
# traffic (tests/eval/quality_loop.py) such guesses named the right pair 3 times in 9, where visitors' own
# choices after a "did you mean" were right 16 times in 16.
REFUSED_WEIGHT = 0.5
DRAFT_ALTERNATES = 10
EXAMPLES = 5


@dataclass(frozen=True)
class Last:
    """A conversation's last question, while its follow-up (a choice, a vote) may come."""

    question: str  # redacted
    at: str  # ISO time
    kind: str  # the bot's reply: fallback, clarify, answer; "chosen": a clarify the visitor answered
    pair: str | None = None  # the pair answered (or chosen)
    candidates: tuple[str, ...] = ()
    miss: int | None = None  # the kept miss, once there is one


class MemoryRecent:
    """Conversations' last questions in this process (one replica), forgotten when idle."""

    def __init__(self, idle_seconds: float, limit: int = 50_000):
        self._items: OrderedDict[str, tuple[float, Last]] = OrderedDict()
        self._idle, self._limit = idle_seconds, limit
        self._lock = threading.Lock()

    def get(self, key: str) -> Last | None:
        now = time.monotonic()
        with self._lock:
            item = self._items.get(key)
            if item is None or now - item[0] > self._idle:
                self._items.pop(key, None)
                return None
            return item[1]

    def put(self, key: str, last: Last) -> None:
        with self._lock:
            self._items[key] = (time.monotonic(), last)
            self._items.move_to_end(key)
            while len(self._items) > self._limit:
                self._items.popitem(last=False)

    def forget(self, key: str) -> None:
        with self._lock:
            self._items.pop(key, None)


class RedisRecent:
    """The same in Redis, shared by every replica (redis_url); a Redis that is away loses the link only."""

    def __init__(self, client: Any, idle_seconds: float, prefix: str = "faqbot:quality:"):
        self._client, self._prefix = client, prefix
        self._idle_ms = max(1000, int(idle_seconds * 1000))

    def get(self, key: str) -> Last | None:
        from redis.exceptions import RedisError

        try:
            raw = self._client.get(self._prefix + key)
            data = json.loads(raw) if raw else None
            return Last(**{**data, "candidates": tuple(data.get("candidates") or ())}) if data else None
        except (RedisError, ValueError, TypeError):
            return None

    def put(self, key: str, last: Last) -> None:
        from redis.exceptions import RedisError

        with contextlib.suppress(RedisError):
            self._client.set(self._prefix + key, json.dumps(asdict(last)), px=self._idle_ms)

    def forget(self, key: str) -> None:
        from redis.exceptions import RedisError

        with contextlib.suppress(RedisError):
            self._client.delete(self._prefix + key)


def turn_kind(message: str, response: ChatResponse, safety: str | None = None) -> str:
    """What kind of turn this was (TURN_KINDS)."""
    kinds = [r.kind for r in response.replies]
    if safety or "safety" in kinds:
        return "safety"
    text = message.strip()
    if parse_feedback(text):
        return "vote"
    if is_none_of_these(text):
        return "none_of_these"
    if parse_choice(text) is not None:
        return "choice"
    return kinds[0] if kinds and kinds[0] in TURN_KINDS else "smalltalk"


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def day_bounds(first: dt.date, last: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """[first 00:00 UTC, the day after last 00:00 UTC)."""
    return (
        dt.datetime.combine(first, dt.time(), dt.UTC),
        dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), dt.UTC),
    )


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


class QualityLoop:
    def __init__(self, runtime: Runtime, recent: MemoryRecent | RedisRecent | None = None):
        self.runtime = runtime
        self.settings = runtime.settings.quality
        idle = runtime.settings.conversation.session_idle_minutes * 60
        if recent is None and runtime.settings.redis_url:
            import redis

            client = redis.Redis.from_url(runtime.settings.redis_url, socket_timeout=0.5, socket_connect_timeout=0.5)
            recent = RedisRecent(client, idle)
        self.recent = recent or MemoryRecent(idle)
        self._counts: Counter[tuple[dt.date, str]] = Counter()
        self._counts_lock = threading.Lock()
        self._located: dict[int, Located] = {}
        self._located_for: tuple[Any, str] | None = None
        self._located_lock = threading.Lock()
        self._scope_seen: tuple[Any, ...] | None = None
        self._scope_lock = threading.Lock()

    @property
    def store(self):
        return self.runtime.store

    # --- recording ------------------------------------------------------------------------

    def record(self, session_id: str, message: str, response: ChatResponse, safety: str | None = None) -> str:
        """Count the turn and keep what the quality loop keeps of it (see the module's docstring); its kind."""
        kind = turn_kind(message, response, safety)
        with self._counts_lock:
            self._counts[(dt.datetime.now(dt.UTC).date(), kind)] += 1
        key = session_key(session_id)
        if kind == "safety" or not self.settings.keep_misses:
            self.recent.forget(key)
            return kind
        text = message.strip()
        if kind == "vote":
            self._vote(key, text)
            return kind
        last = self.recent.get(key)
        if kind == "none_of_these":
            if last is not None and last.kind == "clarify" and last.miss is not None:
                self.store.follow_miss(last.miss, "none_of_these")
            self.recent.forget(key)
            return kind
        if kind == "choice":
            chosen = parse_choice(text)
            if last is not None and last.kind == "clarify" and last.miss is not None and chosen in last.candidates:
                self.store.follow_miss(last.miss, "chosen", chosen)
                self.recent.put(key, replace(last, kind="chosen", pair=chosen))
            else:
                self.recent.forget(key)  # a menu or "related" option: no question of the visitor's own
            return kind
        if kind not in QUESTION_KINDS:
            self.recent.forget(key)
            return kind
        question = redact(text, self._keep())[:MISS_QUESTION_MAX]
        now = dt.datetime.now(dt.UTC)
        if kind == "answer":
            answered = next((r.answer.id for r in response.replies if r.answer), None)
            self.recent.put(key, Last(question, now.isoformat(), "answer", answered))
        elif kind == "fallback":
            # A question like those marked out of scope got the fallback on purpose: kept, as dealt with.
            mark = self.runtime.answerer.marked_out_of_scope(text)
            miss = self.store.add_miss(
                question,
                "fallback",
                "fallback",
                at=now,
                resolution="out_of_scope" if mark else None,
                resolved_ref=str(mark.mark_id) if mark else None,
            )
            self.recent.put(key, Last(question, now.isoformat(), "fallback", miss=miss))
        else:
            options = response.replies[0].options
            candidates = tuple(c for c in (parse_choice(o.payload) for o in options) if c)
            miss = self.store.add_miss(question, "clarify", "open", candidates, at=now)
            self.recent.put(key, Last(question, now.isoformat(), "clarify", candidates=candidates, miss=miss))
        return kind

    def _vote(self, key: str, text: str) -> None:
        """A not-helpful vote on the answer to the conversation's last question keeps that question."""
        vote = parse_feedback(text)
        last = self.recent.get(key)
        if vote is None or vote[1] or last is None or last.pair != vote[0] or last.kind not in ("answer", "chosen"):
            return
        if self.runtime.retriever.pair(vote[0]) is None:
            return
        if last.miss is not None:
            self.store.follow_miss(last.miss, "not_helpful", vote[0])
            return
        at = dt.datetime.fromisoformat(last.at)
        miss = self.store.add_miss(last.question, "answer", "not_helpful", (vote[0],), chosen=vote[0], at=at)
        self.recent.put(key, replace(last, miss=miss))

    def _keep(self) -> Container[str]:
        """The knowledge base's words, which redaction does not take for names."""
        try:
            vocabulary = getattr(self.runtime.retriever.snapshot, "vocabulary", None)
        except RuntimeError:
            return frozenset()
        counts = getattr(vocabulary, "counts", None)
        return counts if counts is not None else frozenset()

    def flush(self) -> int:
        """Write the turns counted since the last flush; how many. A store that is down keeps them for later."""
        with self._counts_lock:
            counts, self._counts = self._counts, Counter()
        if not counts:
            return 0
        try:
            self.store.add_turn_counts(dict(counts))
        except Exception:
            with self._counts_lock:
                self._counts.update(counts)
            raise
        return sum(counts.values())

    # --- upkeep ---------------------------------------------------------------------------

    def purge(self, now: dt.datetime | None = None) -> int:
        """Delete the misses older than the retention; how many."""
        now = now or dt.datetime.now(dt.UTC)
        return self.store.purge_misses(now - dt.timedelta(days=self.settings.retention_days))

    def refresh_scope(self, force: bool = False) -> bool:
        """Load the out-of-scope marks into the answerer when they (or the served encoder) changed."""
        encoder = self.runtime.retriever.encoder
        with self._scope_lock:
            seen = (self.store.scope_version(), encoder.model_id)
            if not force and seen == self._scope_seen:
                return False
            marks = self.store.scope_marks()
            self.runtime.answerer.scope = (
                ScopeMatcher(
                    encoder, [(m.id, m.reason, list(m.questions)) for m in marks], self.settings.out_of_scope_similarity
                )
                if marks
                else None
            )
            self._scope_seen = seen
        return True

    def start(self) -> None:
        """At start: delete what is past the retention, load the marks."""
        deleted = self.purge()
        if deleted:
            log.info("quality: %d kept questions older than %d days deleted", deleted, self.settings.retention_days)
        self.refresh_scope(force=True)

    async def keep_up(self) -> None:
        """Until cancelled: follow the marks (every operations.sync_seconds), write the counts, purge hourly.
        A store that is down is logged once per outage."""
        flushed = purged = time.monotonic()
        failing = False
        while True:
            await asyncio.sleep(self.runtime.settings.operations.sync_seconds)
            try:
                await asyncio.to_thread(self.refresh_scope)
                now = time.monotonic()
                if now - flushed >= FLUSH_SECONDS:
                    await asyncio.to_thread(self.flush)
                    flushed = now
                if now - purged >= PURGE_SECONDS:
                    await asyncio.to_thread(self.purge)
                    purged = now
            except Exception as exc:
                if not failing:
                    log.warning("quality loop: upkeep failed (%s); trying again", type(exc).__name__)
                failing = True
                continue
            failing = False

    # --- grouping -------------------------------------------------------------------------

    def _locate(self, misses: list[Miss]) -> list[Located]:
        """Each miss as the retriever serving now sees it (kept while the same snapshot and encoder serve)."""
        retriever = self.runtime.retriever
        snap, model = retriever.snapshot, retriever.encoder.model_id
        with self._located_lock:
            current = self._located_for
            if current is None or current[0]() is not snap or current[1] != model:
                self._located = {}
                self._located_for = (weakref.ref(snap), model)
            have = {m.id: self._located[m.id] for m in misses if m.id in self._located}
        todo = [m for m in misses if m.id not in have]
        found = dict(zip((m.id for m in todo), locate(retriever, [m.question for m in todo]), strict=True))
        with self._located_lock:
            current = self._located_for
            if current is not None and current[0]() is snap and current[1] == model:
                self._located.update(found)
                if len(self._located) > 4 * self.settings.cluster_max_questions:
                    self._located = {m.id: self._located[m.id] for m in misses if m.id in self._located}
        have.update(found)
        return [have[m.id] for m in misses]

    def clusters(
        self, since: dt.datetime | None = None, until: dt.datetime | None = None, limit: int = 50
    ) -> tuple[int, list[dict[str, Any]]]:
        """(how many misses were grouped, the clusters largest first) of the misses no editor dealt with,
        kept in [since, until); at most quality.cluster_max_questions of the newest."""
        misses = self.store.misses(since, until, unresolved=True, limit=self.settings.cluster_max_questions)
        misses.sort(key=lambda m: m.id)
        if not misses:
            return 0, []
        located = self._locate(misses)
        groups = group(located, self.settings.cluster_similarity)
        end = until or dt.datetime.now(dt.UTC)
        etags = {s.pair.id: s.etag for s in self.store.list_pairs(status="published")}
        return len(misses), [
            self._cluster([misses[i] for i in members], [located[i] for i in members], end, etags)
            for members in groups[:limit]
        ]

    def _cluster(self, items: list[Miss], located: list[Located], end: dt.datetime, etags: dict[str, str]) -> dict:
        retriever = self.runtime.retriever
        near = nearest(located)
        near_pair = retriever.pair(near.pair_id) if near else None
        chosen = Counter(m.chosen for m in items if m.outcome == "chosen" and m.chosen)
        days = Counter(m.at.date() for m in items)
        week = dt.timedelta(days=7)
        return {
            "id": f"c{min(m.id for m in items)}",
            "size": len(items),
            "miss_ids": [m.id for m in items],
            "examples": [
                {
                    "miss_id": m.id,
                    "question": m.question,
                    "at": m.at.isoformat(),
                    "reply_kind": m.reply_kind,
                    "outcome": m.outcome,
                }
                for m in items[:EXAMPLES]
            ],
            "outcomes": dict(Counter(m.outcome for m in items)),
            "chosen": dict(chosen),
            "first_at": min(m.at for m in items).isoformat(),
            "last_at": max(m.at for m in items).isoformat(),
            "trend": {
                "days": [{"day": d.isoformat(), "count": n} for d, n in sorted(days.items())],
                "this_week": sum(1 for m in items if end - week <= m.at < end),
                "last_week": sum(1 for m in items if end - 2 * week <= m.at < end - week),
            },
            "nearest": (
                {"pair_id": near.pair_id, "question": near_pair.question, "score": near.score, "first": near.first}
                if near and near_pair
                else None
            ),
            "suggestions": self._suggest(items, located, chosen, etags),
        }

    def _suggest(
        self,
        items: list[Miss],
        located: list[Located],
        chosen: Counter[str],
        etags: dict[str, str],
    ) -> list[dict[str, Any]]:
        """The actions for a cluster, best first; the first is the recommended one."""
        retriever = self.runtime.retriever
        # The pair the cluster belongs to, by what its visitors did and what the retriever says.
        support = {k: v for k, v in pair_support(items, located).items() if (p := retriever.pair(k)) and p.citable}
        out: list[dict[str, Any]] = []
        score = 0.0
        if support:
            target = min(support, key=lambda k: (-support[k], k))
            pair = retriever.pair(target)
            have = {q.casefold() for q in [pair.question, *pair.alternates]} if pair else set()
            picked: list[Miss] = []
            strength = []
            for m, loc in zip(items, located, strict=True):
                lean = leaning(m, loc)
                if (
                    lean is not None
                    and lean[0] == target
                    and PLACEHOLDER not in m.question
                    and m.question.casefold() not in have
                ):
                    have.add(m.question.casefold())
                    picked.append(m)
                    strength.append(lean[1])
            picked, strength = picked[:ALTERNATES_PER_SUGGESTION], strength[:ALTERNATES_PER_SUGGESTION]
            if picked:
                # How sure the tool is that these questions belong to the pair: their strength, averaged.
                score = round(sum(strength) / len(strength), 4)
                out.append(
                    {
                        "action": "alternate",
                        "score": score,
                        "pair_id": target,
                        "etag": etags.get(target),
                        "question": pair.question if pair else None,
                        "miss_ids": [m.id for m in picked],
                        "alternates": [m.question for m in picked],
                        "why": f"these questions lead to this pair with a score of {score:.2f}"
                        + (f"; visitors chose it {chosen[target]} time(s)" if chosen.get(target) else ""),
                    }
                )
        clean = [m for m in items if PLACEHOLDER not in m.question] or items
        texts = list(dict.fromkeys(m.question for m in clean))
        out.append(
            {
                "action": "draft",
                "score": round(1.0 - score, 4),
                "pair_id": None,
                "etag": None,
                "question": texts[0],
                "miss_ids": [m.id for m in items],
                "alternates": texts[1 : 1 + DRAFT_ALTERNATES],
                "why": "no published pair answers these questions well: write one",
            }
        )
        out.append(
            {
                "action": "out_of_scope",
                "score": round(1.0 - score, 4),
                "pair_id": None,
                "etag": None,
                "question": None,
                "miss_ids": [m.id for m in items],
                "alternates": [],
                "why": "the bot should not answer these: send them to the helpline, with a reason",
            }
        )
        if out[0]["action"] == "alternate" and score < self.settings.alternate_min_score:
            out = [*out[1:2], out[0], *out[2:]]
        for i, s in enumerate(out):
            s["recommended"] = i == 0
        return out

    # --- the dashboard --------------------------------------------------------------------

    def dashboard(self, first: dt.date, last: dt.date, clusters: int = 10) -> dict[str, Any]:
        """Counts per day by kind with the fallback and clarify rates, helpful votes per pair, the misses
        kept, and the largest clusters no editor dealt with, for the days first..last (UTC)."""
        with contextlib.suppress(Exception):  # the counts of this replica's last seconds; the rest are stored
            self.flush()
        counts = self.store.turn_counts(first, last)
        days = []
        totals: Counter[str] = Counter()
        day = first
        while day <= last:
            c = counts.get(day, {})
            totals.update(c)
            days.append(_day_row(day.isoformat(), c))
            day += dt.timedelta(days=1)
        since, until = day_bounds(first, last)
        votes = self.store.feedback_between(since, until)
        retriever = self.runtime.retriever
        helpful = sorted(
            (
                {
                    "pair_id": pair_id,
                    "question": p.question if (p := retriever.pair(pair_id)) else None,
                    "helpful": v["helpful"],
                    "not_helpful": v["not_helpful"],
                    "votes": v["helpful"] + v["not_helpful"],
                    "helpful_rate": _rate(v["helpful"], v["helpful"] + v["not_helpful"]),
                }
                for pair_id, v in votes.items()
            ),
            key=lambda r: (-r["votes"], r["pair_id"]),
        )
        kept = self.store.miss_counts(since, until)
        by_outcome: Counter[str] = Counter()
        by_resolution: Counter[str] = Counter()
        for (outcome, resolution), n in kept.items():
            by_outcome[outcome] += n
            if resolution:
                by_resolution[resolution] += n
        grouped, top = self.clusters(since, until, limit=clusters)
        return {
            "from": first.isoformat(),
            "to": last.isoformat(),
            "days": days,
            "totals": _day_row(None, dict(totals)),
            "helpful": helpful,
            "misses": {
                "kept": sum(kept.values()),
                "open": sum(n for (_, resolution), n in kept.items() if resolution is None),
                "by_outcome": dict(by_outcome),
                "by_resolution": dict(by_resolution),
            },
            "clusters": [
                {
                    "id": c["id"],
                    "size": c["size"],
                    "example": c["examples"][0]["question"],
                    "this_week": c["trend"]["this_week"],
                    "last_week": c["trend"]["last_week"],
                    "nearest": c["nearest"],
                    "recommended": c["suggestions"][0]["action"],
                }
                for c in top
            ],
            "clustered": grouped,
        }


def leaning(miss: Miss, located: Located) -> tuple[str, float] | None:
    """The pair one kept question points to, and how strongly: the pair its visitor chose after a "did you
    mean" (1.0); else the retriever's best hit with its confidence, among the pairs its visitor did not turn
    down (an answer voted not helpful, the options of a "None of these"), halved when they turned any down."""
    if miss.outcome == "chosen" and miss.chosen:
        return miss.chosen, 1.0
    refused: set[str | None] = set()
    if miss.outcome == "not_helpful":
        refused |= {miss.chosen, *miss.candidates}
    elif miss.outcome == "none_of_these":
        refused |= set(miss.candidates)
    weight = REFUSED_WEIGHT if refused else 1.0
    return next(((key, weight * c) for key, c, _ in located.hits if key not in refused), None)


def pair_support(items: list[Miss], located: list[Located]) -> dict[str, float]:
    """Each pair's support in a cluster: the strength of the kept questions that point to it (`leaning`), summed."""
    total: dict[str, float] = {}
    for miss, loc in zip(items, located, strict=True):
        lean = leaning(miss, loc)
        if lean is not None:
            total[lean[0]] = total.get(lean[0], 0.0) + lean[1]
    return total


def _day_row(day: str | None, counts: dict[str, int]) -> dict[str, Any]:
    c = {k: int(counts.get(k, 0)) for k in TURN_KINDS}
    questions = sum(c[k] for k in QUESTION_KINDS)
    return {
        "day": day,
        "counts": c,
        "questions": questions,
        "fallback_rate": _rate(c["fallback"], questions),
        "clarify_rate": _rate(c["clarify"], questions),
        "none_of_these_rate": _rate(c["none_of_these"], c["clarify"]),
    }
