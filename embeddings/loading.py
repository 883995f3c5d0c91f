"""Which encoder serves: the fine-tuned one when enabled and present, else the base.

Tools (`make eval`, the benchmarks) may train a missing fine-tuned model in process (`train=True`);
the service never does (`train=False`): it serves the base model and fine-tunes in a child process
in the background (embeddings/retraining.py Retrainer.start_first), so torch never loads in it.

Moved here from the API so that the service, `make finetune` and the evaluation scripts choose
the encoder the same way, from the encoder settings alone.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from pathlib import Path

from embeddings.encoder import SentenceEncoder, default_model_path, model_digest
from embeddings.finetune import current, finetune
from embeddings.settings import EncoderSettings
from knowledge.schema import QAPair

log = logging.getLogger("faqbot")

FINETUNED = "finetuned"


def base_model_path(settings: EncoderSettings) -> Path:
    """The model that is fine-tuned or, without fine-tuning, used as it is."""
    return Path(settings.model_path).expanduser() if settings.model_path else default_model_path()


def is_packaged(model_path: Path | None) -> bool:
    """Whether this folder is the packaged all-MiniLM-L6-v2 (the model config.yml's confidence was fitted for)."""
    return model_path is None or Path(model_path).expanduser().resolve() == default_model_path().resolve()


def finetune_dir(cache_dir: Path, base: Path | None = None) -> Path:
    """Where the models fine-tuned from this base are kept (each with its own CURRENT).

    <cache_dir>/finetuned for the packaged model; <cache_dir>/finetuned/base-<folder name> for
    another (encoder.model_path), so that switching models back and forth retrains neither.
    """
    root = cache_dir / FINETUNED
    return root if base is None or is_packaged(base) else root / f"base-{Path(base).name}"


def encoder_path(settings: EncoderSettings, cache_dir: Path, pairs: list[QAPair], train: bool = True) -> Path | None:
    """The model folder to encode with: the fine-tuned one when enabled (trained now if missing and
    `train`), else the base.

    None means the packaged all-MiniLM-L6-v2. A failed fine-tuning is logged and the base model serves.
    """
    configured = Path(settings.model_path).expanduser() if settings.model_path else None
    if not settings.finetune:
        return configured
    tuned = current_encoder_path(settings, cache_dir)
    if tuned is None and train:
        base = base_model_path(settings)
        try:
            tuned = finetune(base, model_digest(base), pairs, finetune_dir(cache_dir, base))
        except Exception:
            log.exception("fine-tuning the encoder failed; serving with the base model")
    return tuned or configured


def load_encoder(
    settings: EncoderSettings, cache_dir: Path, pairs: list[QAPair], train: bool = True
) -> SentenceEncoder:
    """The encoder to search with, for these published pairs (see encoder_path for `train`)."""
    path = encoder_path(settings, cache_dir, pairs, train)
    encoder = SentenceEncoder(path, backend=settings.backend, cache_dir=cache_dir, cache_size=settings.cache_size)
    log.info("encoder: %s (%s)", encoder.model_id, encoder.model_path)
    return encoder


def retrain(settings: EncoderSettings, cache_dir: Path, pairs: list[QAPair]) -> Path:
    """Fine-tune on these pairs now (or reuse the model already trained on exactly them); it becomes current."""
    base = base_model_path(settings)
    return finetune(base, model_digest(base), pairs, finetune_dir(cache_dir, base))


@lru_cache(maxsize=8)
def _digest(folder: str, mtime_ns: int) -> str:
    return model_digest(Path(folder))


def current_encoder_path(settings: EncoderSettings, cache_dir: Path) -> Path | None:
    """The fine-tuned model made current in this cache folder (by this process or another replica
    sharing it), without training one; None when there is none for the base model."""
    base = base_model_path(settings)
    stamp = (base / "config.json").stat().st_mtime_ns if (base / "config.json").exists() else 0
    return current(finetune_dir(cache_dir, base), _digest(str(base.resolve()), stamp))
