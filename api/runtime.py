"""What the service loads once at start-up and shares: store, tokens, encoder, retriever, answerer,
Rasa, sessions and the rate limiter.

Built in FastAPI's lifespan (in a worker thread), never at import time. Each step of the build is
timed and logged at INFO ("start-up: index 0.41 s"), so that an operator sees where a slow start's
seconds go. (Running the steps side by side in threads was measured: no faster, as they hold the GIL.)

The service never fine-tunes in this process: without a fine-tuned model it serves the base model and
the retrainer trains one in a child process (Retrainer.start_first, called by the lifespan).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from api.auth import Tokens
from api.limits import Limiter, RateLimiter, RedisRateLimiter
from api.rasa_runtime import RasaRuntime
from api.settings import Settings
from bot.answering import Answerer
from bot.safety.semantic import CrisisNet, load_net
from bot.sessions import RedisSessions, Sessions
from embeddings.calibration import calibrate_at_start, labelled_questions, served_scoring
from embeddings.encoder import SentenceEncoder
from embeddings.finetune import is_finetuned
from embeddings.loading import base_model_path, current_encoder_path, is_packaged, load_encoder
from embeddings.retraining import Retrainer
from embeddings.retriever import Retriever
from knowledge.loader import load_pairs
from knowledge.passages import Passage, load_passages
from knowledge.store import Store

log = logging.getLogger("faqbot")


def load_base_encoder(settings: Settings, served: SentenceEncoder) -> SentenceEncoder | None:
    """The model the served encoder was fine-tuned from, for the collections whose own check prefers it
    (retrieval.encoder_per_collection); None when the served encoder is not a fine-tuned one."""
    if (
        not settings.retrieval.encoder_per_collection
        or served.model_path is None
        or not is_finetuned(served.model_path)
    ):
        return None
    path = None if is_packaged(base_model_path(settings.encoder)) else base_model_path(settings.encoder)
    return SentenceEncoder(
        path,
        backend=settings.encoder.backend,
        cache_dir=settings.encoder_cache_dir,
        cache_size=settings.encoder.cache_size,
    )


def load_crisis_net(
    settings: Settings, served: SentenceEncoder, base: SentenceEncoder | None = None
) -> CrisisNet | None:
    """The crisis net (bot/safety/semantic.py) on the packaged all-MiniLM-L6-v2, whatever model serves
    retrieval: the net was fitted and calibrated on its vectors, and a fine-tuned encoder changes with
    every retraining. None when config.yml turns the net off."""
    if not settings.conversation.crisis_net:
        return None
    if is_packaged(served.model_path):
        encoder = served
    elif base is not None and is_packaged(base.model_path):
        encoder = base
    else:
        encoder = SentenceEncoder(None, backend=settings.encoder.backend, cache_dir=settings.encoder_cache_dir)
    net = load_net(encoder, settings.encoder_cache_dir)
    log.info("crisis net: %s", encoder.model_id)
    return net


class StartClock:
    """How long each step of the start took, logged at INFO as it ends, and in all at the end."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.cpu = time.process_time()
        self.seconds: dict[str, float] = {}

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        began = time.monotonic()
        try:
            yield
        finally:
            self.seconds[name] = time.monotonic() - began
            log.info("start-up: %s %.2f s", name, self.seconds[name])

    def done(self) -> None:
        steps = ", ".join(f"{name} {seconds:.2f}" for name, seconds in self.seconds.items())
        log.info(
            "start-up: runtime built in %.2f s, %.2f s of CPU (%s)",
            time.monotonic() - self.started,
            time.process_time() - self.cpu,
            steps,
        )


def shared_state(settings: Settings) -> dict:
    """Sessions and rate limits: in Redis when `redis_url` is set (every replica sees them), else here."""
    idle = settings.conversation.session_idle_minutes * 60
    if not settings.redis_url:
        return {
            "sessions": Sessions(idle_seconds=idle),
            "limiter": RateLimiter(settings.chat.rate_limit_per_minute),
            "search_limiter": RateLimiter(settings.search.rate_limit_per_minute),
        }
    import redis

    # Short timeouts: a Redis that does not answer must not hold a visitor's reply for long.
    client = redis.Redis.from_url(
        settings.redis_url, socket_timeout=0.5, socket_connect_timeout=0.5, health_check_interval=15
    )
    return {
        "sessions": RedisSessions(client, idle_seconds=idle),
        "limiter": RedisRateLimiter(client, settings.chat.rate_limit_per_minute, "chat"),
        "search_limiter": RedisRateLimiter(client, settings.search.rate_limit_per_minute, "search"),
    }


@dataclass
class Runtime:
    store: Store
    tokens: Tokens
    retriever: Retriever
    answerer: Answerer
    rasa: RasaRuntime
    passages: list[Passage]
    sessions: Sessions | RedisSessions
    limiter: Limiter
    settings: Settings
    search_limiter: Limiter
    # Background retraining of the encoder and its confidence (embeddings/retraining.py), set by build_runtime.
    retrainer: Retrainer = field(init=False)
    # The store's content version the index was last built from (Store.content_version).
    content_version: int = -1
    # How many times the served index changed (faqbot_index_updates_total in /metrics).
    index_updates: int = 0
    # Why the index is behind the store (a failed re-index), None when it is not.
    index_problem: str | None = None

    def reindex(self) -> bool:
        """Serve what the store holds now; the old index serves until the new one is ready."""
        version = self.store.content_version()
        try:
            built = self.retriever.load(self.store.published_pairs(), self.passages)
        except OSError as exc:
            self.index_problem = f"the index could not be written ({exc.strerror or exc}); retrying"
            raise
        self.content_version, self.index_problem = version, None
        self.index_updates += int(built)
        return built

    def reindex_after_change(self) -> None:
        """After a change was saved: serve it now if the index can be written. If it cannot (a full disk),
        the change stays saved, the previous index keeps serving, and the sync loop retries until it can."""
        try:
            self.reindex()
        except OSError:
            log.error(
                "re-indexing after a change failed: %s; the change is saved and will be served once it works",
                self.index_problem,
            )

    def sync(self) -> list[str]:
        """Catch up with what another replica (or a failed re-index here) left behind: content published
        since this index was built, and a fine-tuned model another replica made current. What changed."""
        changed = []
        if self.store.content_version() != self.content_version:
            self.reindex()
            changed.append("content")
        if self.settings.encoder.finetune and not self.retrainer.running:
            path = current_encoder_path(self.settings.encoder, self.settings.encoder_cache_dir)
            served = getattr(self.retriever.encoder, "model_path", None)
            if path is not None and (served is None or path.resolve() != Path(served).resolve()):
                self.retrainer.adopt(path)
                changed.append("model")
        return changed


def build_runtime(settings: Settings, rasa: RasaRuntime | None = None) -> Runtime:
    """Everything the service serves with; `rasa`: the Rasa supervisor when the caller started it already
    (the lifespan does, so that Rasa loads while this runs)."""
    clock = StartClock()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    with clock.step("store"):
        store = Store(settings.database_url)
    with clock.step("seed"):
        report = store.seed(load_pairs())
        golden = store.seed_golden(store.published_pairs())
    if golden:
        log.info("golden questions: %d seeded from the published pairs' alternates", golden)
    log.info(
        "store: %d created, %d updated from knowledge/, %d editor changes kept",
        report.created,
        report.updated,
        report.kept_editor_changes,
    )
    with clock.step("encoder"):
        # The fine-tuned model when there is one; never trained here (see Retrainer.start_first).
        encoder = load_encoder(settings.encoder, settings.encoder_cache_dir, [], train=False)
    with clock.step("base encoder"):
        base = load_base_encoder(settings, encoder)
    with clock.step("crisis net"):
        net = load_crisis_net(settings, encoder, base)
    retriever = Retriever(
        encoder,
        settings.index_dir,
        settings.retrieval.thresholds(),
        # The confidence fitted for this model (its calibration.json) when it has one, else config.yml's.
        served_scoring(settings.retrieval, encoder.model_path, finetuned=is_finetuned(encoder.model_path)),
        base_encoder=base,
        base_scoring=settings.retrieval.scoring(finetuned=False),
        min_alternates=settings.retrieval.choice_min_alternates,
    )
    runtime = Runtime(
        store=store,
        tokens=Tokens(store.engine),
        retriever=retriever,
        answerer=Answerer(retriever, settings.bot_config, net),
        rasa=rasa or RasaRuntime(settings),
        passages=load_passages(),
        settings=settings,
        **shared_state(settings),
    )
    runtime.retrainer = Retrainer(
        retriever,
        settings.retrain,
        settings.encoder,
        settings.retrieval,
        cache_dir=settings.encoder_cache_dir,
        work_dir=settings.retrain_dir,
        pairs=store.published_pairs,
        passages=lambda: runtime.passages,
        golden=lambda: [(g.question, g.pair_id) for g in store.list_golden()],
        calibration_sets=settings.calibration_sets,
    )
    with clock.step("index"):  # with the English word lists every collection's typo check reads
        built = runtime.reindex()
    log.info("index: %d vectors, %s", len(retriever.snapshot.index), "built" if built else "reused")
    with clock.step("calibration"):
        # config.yml's confidence was fitted for all-MiniLM-L6-v2: another model gets its own (fitted now if it has none).
        calibrate_at_start(
            retriever,
            settings.retrieval,
            settings.encoder_cache_dir,
            labelled_questions([(g.question, g.pair_id) for g in store.list_golden()], settings.calibration_sets),
            config_fitted=is_packaged(base_model_path(settings.encoder)),
        )
    clock.done()
    return runtime


def warm_after_start(runtime: Runtime) -> threading.Thread:
    """What the first messages need and the port need not wait for, in a thread: the small-talk
    examples embedded with the served encoder (bot/intents.py: 226 examples, 0.7 s on two quiet cores,
    else paid by the first visitor, who now waits only if they come sooner)."""

    def warm() -> None:
        began = time.monotonic()
        try:
            runtime.answerer.intents.warm()
        except Exception:  # the first message tries again, and says what is wrong
            log.exception("start-up: embedding the small-talk examples failed")
            return
        log.info("start-up: small-talk examples %.2f s (in the background)", time.monotonic() - began)

    thread = threading.Thread(target=warm, name="warm-intents", daemon=True)
    thread.start()
    return thread
