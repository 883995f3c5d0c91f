"""Prometheus metrics (prometheus_client) for GET /metrics, when operations.metrics is on.

Each replica is one process with its own registry and its own /metrics; Prometheus scrapes each
replica and adds them up (no multiprocess mode). /metrics is for the monitoring network only: the
nginx in front of the replicas answers 404 for it (api/prod.py writes that configuration), and it
carries no visitor's or staff member's words, only counts.

What is counted, and where:
- requests by route pattern, method and status, and their latency per route (api/observability.py's
  middleware calls `request`);
- chat replies by kind; safety replies by what caught the message (the phrase `rules`, the crisis
  `net`, or Rasa's crisis intent with the net agreeing, `rasa`); the crisis numbers added under a
  reply; answers given from the retriever directly because Rasa could not answer (`chat_turn`, called
  by api/transcripts.py's `finish_turn` from api/routes/chat.py);
- read at each scrape from the running service: Rasa's state; the index (vectors, passages, published
  pairs, encoder and checksum); the store's content version the index was built from (it grows with
  every change any replica makes to a pair, so `changes(faqbot_index_content_version[1h])` counts the
  changes this replica has taken in); and `faqbot_index_updates_total`, the times it loaded new content;
- the time each chat message spends per stage (`stage`, called by api/routes/chat.py and
  api/routes/actions.py): the safety rules, the crisis net, the round trip to Rasa, our action
  inside that round trip (so Rasa's own share is the difference), the direct answer without Rasa;
- the process's own memory and CPU (prometheus_client's process collector).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Histogram, ProcessCollector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from api.runtime import Runtime
    from api.schemas import ChatResponse

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
RASA_STATES = ("disabled", "pending", "training", "starting", "ready", "down")
# Seconds: the chat answers in tens of milliseconds, a publish or a golden-question test in seconds.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
# The stages of one chat message take from a fraction of a millisecond (the phrase rules) to tens of milliseconds.
STAGE_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.035, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1, 2.5)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "faqbot_http_requests", "HTTP requests answered", ["route", "method", "status"], registry=r
        )
        self.latency = Histogram(
            "faqbot_http_request_duration_seconds",
            "Time to answer an HTTP request",
            ["route", "method"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.replies = Counter("faqbot_chat_replies", "Replies sent to visitors, by kind", ["kind"], registry=r)
        self.safety = Counter(
            "faqbot_chat_safety_replies",
            "Messages answered with the safety reply, by what caught them (rules, net or rasa)",
            ["source"],
            registry=r,
        )
        self.reminders = Counter(
            "faqbot_chat_crisis_numbers_added",
            "Replies with the crisis numbers added under them (the crisis net unsure)",
            registry=r,
        )
        self.direct = Counter(
            "faqbot_chat_direct_answers",
            "Chat messages answered from the retriever directly because Rasa could not answer",
            registry=r,
        )
        self.stages = Histogram(
            "faqbot_chat_stage_seconds",
            "Time a chat message spends in each stage: the safety rules, the crisis net, the round trip to "
            "Rasa (its NLU, policies and the action call), our action inside it, and the direct answer",
            ["stage"],
            buckets=STAGE_BUCKETS,
            registry=r,
        )
        ProcessCollector(registry=r)

    def stage(self, name: str, seconds: float) -> None:
        self.stages.labels(name).observe(seconds)

    def request(self, route: str, method: str, status: int, seconds: float) -> None:
        method = method if method in METHODS else "other"
        self.requests.labels(route, method, str(status)).inc()
        self.latency.labels(route, method).observe(seconds)

    def chat_turn(self, response: ChatResponse, safety: str | None = None) -> None:
        kinds = [r.kind for r in response.replies]
        for kind in kinds:
            self.replies.labels(kind).inc()
        if safety is None and kinds[:1] == ["safety"]:
            safety = "rasa"  # Rasa's crisis intent, where the crisis net agreed (bot/actions/answer.py)
        if safety:
            self.safety.labels(safety).inc()
        elif "safety" in kinds[1:]:
            self.reminders.inc()
        if response.degraded:
            self.direct.inc()

    def watch(self, runtime: Callable[[], Runtime | None]) -> None:
        """Read the service's state at every scrape (nothing before the runtime is built)."""
        self.registry.register(_RuntimeCollector(runtime))


@contextlib.contextmanager
def timed(state: object, stage: str) -> Iterator[None]:
    """Time the block as one stage of a chat message in the app's metrics (app.state), when they are on."""
    metrics = getattr(state, "metrics", None)
    start = time.perf_counter()
    try:
        yield
    finally:
        if isinstance(metrics, Metrics):
            metrics.stage(stage, time.perf_counter() - start)


class _RuntimeCollector(Collector):
    def __init__(self, runtime: Callable[[], Runtime | None]):
        self.runtime = runtime

    def collect(self) -> Iterator[Metric]:
        runtime = self.runtime()
        if runtime is None:
            return
        state = GaugeMetricFamily("faqbot_rasa_state", "Rasa's state (1 for the current one)", labels=["state"])
        for name in RASA_STATES:
            state.add_metric([name], 1.0 if runtime.rasa.state == name else 0.0)
        yield state
        yield GaugeMetricFamily("faqbot_rasa_ready", "1 while chat goes through Rasa", value=float(runtime.rasa.ready))
        snap = runtime.retriever.snapshot
        yield GaugeMetricFamily("faqbot_index_vectors", "Vectors in the served index", value=len(snap.index))
        yield GaugeMetricFamily("faqbot_index_passages", "Article passages served", value=len(snap.passages))
        yield GaugeMetricFamily("faqbot_published_pairs", "Published Q&A pairs served", value=len(snap.pairs))
        yield GaugeMetricFamily(
            "faqbot_index_content_version",
            "The store's content version the served index was built from (grows with every change to a pair)",
            value=float(getattr(runtime, "content_version", 0)),
        )
        updates = getattr(runtime, "index_updates", None)  # Runtime.reindex counts them, where it does
        if updates is not None:
            yield CounterMetricFamily(
                "faqbot_index_updates",
                "Times the served content was loaded: at start, after a publish here, and after one elsewhere",
                value=float(updates),
            )
        yield InfoMetricFamily(
            "faqbot_index",
            "The served index",
            value={"model": snap.index.model_id, "checksum": snap.index.checksum[:16]},
        )
