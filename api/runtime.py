"""What the service loads once at start-up and shares: store, encoder, retriever, Rasa, sessions.

Built in FastAPI's lifespan, never at import time.
"""
from __future__ import annotations

import logging
import secrets
import threading
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from pathlib import Path

from api.answering import Answerer
from api.rasa_runtime import RasaRuntime
from api.settings import Settings
from api.store import Store
from embeddings.encoder import SentenceEncoder, default_model_path, model_digest
from embeddings.finetune import current, finetune, is_finetuned
from embeddings.retriever import Retriever
from knowledge.loader import load_pairs
from knowledge.passages import Passage, load_passages
from knowledge.schema import QAPair

log = logging.getLogger("faqbot")


class Sessions:
    """Session ids the service issued. Random and unguessable; an unknown id gets a new one."""

    def __init__(self, limit: int = 50_000, idle_seconds: float = 6 * 3600):
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._limit = limit
        self._idle = idle_seconds
        self._lock = threading.Lock()

    def resolve(self, session_id: str | None) -> tuple[str, bool]:
        """(session id to use, whether it is new)."""
        now = time.monotonic()
        with self._lock:
            if session_id and session_id in self._seen and now - self._seen[session_id] < self._idle:
                self._seen[session_id] = now
                self._seen.move_to_end(session_id)
                return session_id, False
            sid = secrets.token_urlsafe(18)
            self._seen[sid] = now
            while len(self._seen) > self._limit:
                self._seen.popitem(last=False)
            return sid, True


class RateLimiter:
    """A sliding one-minute window per client."""

    def __init__(self, per_minute: int):
        self.per_minute = per_minute
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def check(self, client: str) -> float:
        """0 when allowed, else the seconds to wait."""
        if not self.per_minute:
            return 0.0
        now = time.monotonic()
        with self._lock:
            q = self._hits.setdefault(client, deque())
            while q and now - q[0] >= 60:
                q.popleft()
            if len(q) >= self.per_minute:
                return max(1.0, 60 - (now - q[0]))
            q.append(now)
            if len(self._hits) > 100_000:
                self._hits = {k: v for k, v in self._hits.items() if v and now - v[-1] < 60}
            return 0.0


@dataclass
class Runtime:
    settings: Settings
    store: Store
    encoder: SentenceEncoder
    retriever: Retriever
    answerer: Answerer
    rasa: RasaRuntime
    passages: list[Passage]
    sessions: Sessions = field(default_factory=Sessions)
    limiter: RateLimiter | None = None

    def reindex(self) -> bool:
        """Serve what the store holds now; the old index serves until the new one is ready."""
        return self.retriever.load(self.store.published_pairs(), self.passages)


def base_model_path(settings: Settings) -> Path:
    """The model that is fine-tuned or, without fine-tuning, used as it is."""
    return Path(settings.encoder.model_path).expanduser() if settings.encoder.model_path else default_model_path()


def encoder_path(settings: Settings, pairs: list[QAPair]) -> Path | None:
    """The model folder to encode with: the fine-tuned one when enabled (trained now if missing), else the base.

    None means the packaged all-MiniLM-L6-v2. A failed fine-tuning is logged and the base model serves.
    """
    configured = Path(settings.encoder.model_path).expanduser() if settings.encoder.model_path else None
    if not settings.encoder.finetune:
        return configured
    base = base_model_path(settings)
    base_id = model_digest(base)
    tuned = current(settings.finetune_dir, base_id)
    if tuned is None:
        try:
            tuned = finetune(base, base_id, pairs, settings.finetune_dir)
        except Exception:  # noqa: BLE001 - the service must start; the base model still answers
            log.exception("fine-tuning the encoder failed; serving with the base model")
    return tuned or configured


def load_encoder(settings: Settings, store: Store) -> SentenceEncoder:
    path = encoder_path(settings, store.published_pairs())
    encoder = SentenceEncoder(path, backend=settings.encoder.backend, cache_dir=settings.encoder_cache_dir,
                              cache_size=settings.encoder.cache_size)
    log.info("encoder: %s (%s)", encoder.model_id, encoder.model_path)
    return encoder


def build_runtime(settings: Settings) -> Runtime:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = Store(settings.database_url)
    report = store.seed(load_pairs())
    log.info("store: %d created, %d updated from knowledge/, %d editor changes kept", report.created,
             report.updated, report.kept_editor_changes)
    encoder = load_encoder(settings, store)
    retriever = Retriever(encoder, settings.data_dir / "index", settings.retrieval.thresholds(),
                          settings.retrieval.scoring(finetuned=is_finetuned(encoder.model_path)))
    runtime = Runtime(settings=settings, store=store, encoder=encoder, retriever=retriever,
                      answerer=Answerer(retriever, settings), rasa=RasaRuntime(settings), passages=load_passages(),
                      limiter=RateLimiter(settings.chat.rate_limit_per_minute))
    built = runtime.reindex()
    log.info("index: %d vectors, %s", len(retriever.snapshot.index), "built" if built else "reused")
    return runtime
