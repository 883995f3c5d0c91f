"""Settings of the retrieval layer (config.yml `encoder:` and `retrieval:`), with their only defaults.

`api/settings.py` composes these with the other layers' settings from config.yml and FAQBOT_*;
nothing here reads a file or the environment.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, Field, model_validator

if TYPE_CHECKING:
    from embeddings.retriever import Scoring, Thresholds


class EncoderSettings(BaseModel):
    # A local sentence-transformers model folder. Empty: the packaged all-MiniLM-L6-v2.
    model_path: str = ""
    backend: Literal["onnx", "torch"] = "onnx"
    # Query embeddings kept in memory for repeated questions.
    cache_size: int = Field(2048, ge=0)
    # Where the ONNX export and the fine-tuned model are kept. Empty: <data_dir>/encoder.
    cache_dir: str = ""
    # Fine-tune the encoder on the knowledge base's own alternates on first start (embeddings/finetune.py).
    finetune: bool = True

    def cache_path(self, data_dir: Path) -> Path:
        return Path(self.cache_dir).expanduser().resolve() if self.cache_dir else data_dir / "encoder"


class RetrievalSettings(BaseModel):
    """Thresholds and scoring of the retriever (see embeddings/retriever.py for what each does)."""

    answer_threshold: float = Field(0.6, ge=0, le=1)
    clarify_threshold: float = Field(0.3, ge=0, le=1)
    clarify_margin: float = Field(0.02, ge=0, le=1)
    clarify_options: int = Field(3, ge=2, le=5)
    ask_on_unknown_names: bool = True
    lexical_weight: float = Field(1.0, ge=0)
    lexical_saturation: float = Field(2.0, gt=0)
    lexical_per_term: bool = True
    answer_weight: float = Field(0.0, ge=0)
    spelling: bool = True
    # Each collection searched by its tag with the encoder its own check prefers (embeddings/choice.py):
    # the fine-tuned one or the model it was fine-tuned from. Only collections with at least
    # choice_min_alternates alternates can be checked; the others use the served encoder.
    encoder_per_collection: bool = True
    choice_min_alternates: int = Field(30, ge=1)
    # The confidence fitted for the fine-tuned encoder (python -m tests.eval.tune).
    calibration_a: float = 6.195
    calibration_b: float = -3.480
    calibration_rare: float = -0.790
    calibration_unknown: float = -2.530
    # The same, fitted for the packaged encoder: used when it is not fine-tuned (finetune off or failed).
    calibration_base_a: float = 7.403
    calibration_base_rare: float = -0.291
    calibration_base_unknown: float = -1.722
    calibration_base_b: float = -5.850

    def thresholds(self) -> Thresholds:
        from embeddings.retriever import Thresholds

        return Thresholds(
            self.answer_threshold,
            self.clarify_threshold,
            self.clarify_margin,
            self.clarify_options,
            self.ask_on_unknown_names,
        )

    def scoring(self, finetuned: bool = True) -> Scoring:
        """The scoring, with the confidence fitted for the encoder in use (fine-tuned or packaged)."""
        from embeddings.retriever import Scoring

        if finetuned:
            a, b = self.calibration_a, self.calibration_b
            rare, unknown = self.calibration_rare, self.calibration_unknown
        else:
            a, b = self.calibration_base_a, self.calibration_base_b
            rare, unknown = self.calibration_base_rare, self.calibration_base_unknown
        return Scoring(
            lexical_weight=self.lexical_weight,
            lexical_saturation=self.lexical_saturation,
            answer_weight=self.answer_weight,
            lexical_per_term=self.lexical_per_term,
            spelling=self.spelling,
            calibration_a=a,
            calibration_b=b,
            calibration_rare=rare,
            calibration_unknown=unknown,
        )

    @model_validator(mode="after")
    def _ordered(self) -> RetrievalSettings:
        if self.clarify_threshold > self.answer_threshold:
            raise ValueError("retrieval.clarify_threshold must not exceed retrieval.answer_threshold")
        return self


class RetrainSettings(BaseModel):
    """Retraining the fine-tuned encoder and refitting its confidence in the background (config.yml `retrain:`).

    See embeddings/retraining.py. Needs `encoder.finetune: true`.
    """

    # Allow retraining (POST /api/retrain from the editors' page, and the schedule). false: neither.
    enabled: bool = True
    # Retrain every this many hours while the service runs (0: only when an editor starts it). A
    # scheduled run is skipped when nothing it learns from changed since the last retrain.
    schedule_hours: float = Field(0, ge=0)
    # Labelled questions the confidence is fitted on besides the golden questions: JSON lines with
    # `query`, `split` and `expected` (pair ids; none: out of scope). Only rows of the dev split are
    # read, and only files that exist. Relative paths are from the project folder.
    calibration_sets: list[str] = ["tests/eval/devset.jsonl", "tests/eval/out_of_scope.jsonl"]
    # Training passes over the examples (0: the recipe's own, embeddings/finetune.py Recipe.epochs).
    epochs: int = Field(0, ge=0)
    # A job running longer than this is stopped (and counts as failed; the old model keeps serving).
    timeout_minutes: float = Field(60, gt=0)
