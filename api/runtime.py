"""What the service loads once at start-up and shares: store, tokens, encoder, retriever, answerer,
Rasa, sessions and the rate limiter.

Built in FastAPI's lifespan (in a worker thread), never at import time.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from api.auth import Tokens
from api.limits import RateLimiter
from api.rasa_runtime import RasaRuntime
from api.settings import Settings
from bot.answering import Answerer
from bot.safety.semantic import CrisisNet, load_net
from bot.sessions import Sessions
from embeddings.calibration import calibrate_at_start, labelled_questions, served_scoring
from embeddings.encoder import SentenceEncoder
from embeddings.finetune import is_finetuned
from embeddings.loading import base_model_path, is_packaged, load_encoder
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


@dataclass
class Runtime:
    store: Store
    tokens: Tokens
    retriever: Retriever
    answerer: Answerer
    rasa: RasaRuntime
    passages: list[Passage]
    sessions: Sessions
    limiter: RateLimiter
    settings: Settings
    # Background retraining of the encoder and its confidence (embeddings/retraining.py), set by build_runtime.
    retrainer: Retrainer = field(init=False)

    def reindex(self) -> bool:
        """Serve what the store holds now; the old index serves until the new one is ready."""
        return self.retriever.load(self.store.published_pairs(), self.passages)


def build_runtime(settings: Settings) -> Runtime:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = Store(settings.database_url)
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
    encoder = load_encoder(settings.encoder, settings.encoder_cache_dir, store.published_pairs())
    base = load_base_encoder(settings, encoder)
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
        answerer=Answerer(retriever, settings.bot_config, load_crisis_net(settings, encoder, base)),
        rasa=RasaRuntime(settings),
        passages=load_passages(),
        sessions=Sessions(idle_seconds=settings.conversation.session_idle_minutes * 60),
        limiter=RateLimiter(settings.chat.rate_limit_per_minute),
        settings=settings,
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
    built = runtime.reindex()
    log.info("index: %d vectors, %s", len(retriever.snapshot.index), "built" if built else "reused")
    # config.yml's confidence was fitted for all-MiniLM-L6-v2: another model gets its own (fitted now if it has none).
    calibrate_at_start(
        retriever,
        settings.retrieval,
        settings.encoder_cache_dir,
        labelled_questions([(g.question, g.pair_id) for g in store.list_golden()], settings.calibration_sets),
        config_fitted=is_packaged(base_model_path(settings.encoder)),
    )
    return runtime
